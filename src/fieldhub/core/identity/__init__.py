"""Identity and tenancy: realms, users, groups, applications, roles and tokens."""
