"""Pure-ASGI HTTP plumbing shared by every API family.

Request ids and the access log, Prometheus metrics and the request-body limit live here so that
each family's app gets identical behaviour without importing the others.  Nothing in this package
knows a family's error envelope: callers pass a renderer where one is needed.
"""
