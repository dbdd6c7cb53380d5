"""The shared core: configuration, database, identity, errors and pagination.

Nothing in here imports an API family or the composition layer (enforced by import-linter).
"""
