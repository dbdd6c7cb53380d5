"""The route template a request matched, used as a bounded label by the log and the metrics."""

from __future__ import annotations

from starlette.routing import Host, Mount
from starlette.types import Scope

#: Label for requests no route claimed; one shared value keeps label cardinality bounded even
#: when scanners probe thousands of random paths.
UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    """Return ``root_path + route.path`` for the matched route, or :data:`UNMATCHED`.

    Must be called after the inner app ran: the router writes the matched route into the shared
    scope dict as it dispatches.  The raw path is never used because it carries ids (unbounded
    cardinality) and could carry data a caller did not mean to publish.
    """
    route = scope.get("route")
    # A Mount or Host left in the scope means the outer router matched a prefix but the mounted
    # app found nothing under it (a 404 inside a sub-app); its path is only the prefix.
    if route is None or isinstance(route, Mount | Host):
        return UNMATCHED
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    # Inside a mount the scope's root_path holds the mount prefix (e.g. "/v1") while route.path
    # is relative to it, so both are needed to name the endpoint unambiguously.
    root_path = scope.get("root_path", "")
    return (root_path if isinstance(root_path, str) else "") + path
