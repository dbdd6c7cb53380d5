"""The family's OpenAPI document: every operation of the spec, as served (no 422s, both auth schemes)."""

from __future__ import annotations

from snapshots_support import PREFIX

from conftest import Api

OPERATIONS = {
    ("get", "/"),
    ("get", "/{snapshotId}"),
    ("get", "/signed/{snapshotId}/{expiration}"),
    ("post", "/request"),
    ("post", "/acquire"),
    ("post", "/upload"),
    ("post", "/approve"),
    ("post", "/discard"),
    ("post", "/cameraRequest"),
    ("post", "/cameraRequestRespond"),
    ("post", "/signedUrl"),
    ("post", "/security/oauth/token"),
}


def test_the_document_lists_every_operation_with_its_security(api: Api) -> None:
    response = api.client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    served = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == OPERATIONS
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "clientCredentials"}
    for path, item in document["paths"].items():
        for operation in item.values():
            assert "422" not in operation["responses"]
            public = path.startswith(("/security/", "/signed/"))
            assert ("security" in operation) is not public, path
    for name in ("Snapshot", "SnapshotRequestWebCommand", "SignedUrl", "ErrorBody"):
        assert name in document["components"]["schemas"]


def test_paths_beside_the_prefix_are_not_served_by_the_family(api: Api) -> None:
    assert api.client.get("/rtc-api/snapshotsX").status_code == 404
    assert api.client.get("/rtc-api").status_code == 404
