"""The session attachments family (Mobile Data Anywhere style), mounted at ``/api``."""
