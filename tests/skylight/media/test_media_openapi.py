"""The OpenAPI document lists every Session Media route of the spec with its success code."""

from __future__ import annotations

from typing import Any

from conftest import Api

BASE = "/application/applications/{applicationId}/sessions/{sessionId}"
MEDIA = BASE + "/media/{mediaId}"
ROUTES = {
    (BASE + "/media", "get"): "200",
    (BASE + "/media", "post"): "201",
    (MEDIA, "get"): "200",
    (MEDIA, "patch"): "200",
    (MEDIA, "delete"): "200",
    (MEDIA + "/unarchive", "post"): "200",
    (MEDIA + "/annotations", "post"): "201",
    (MEDIA + "/annotations/{annotationId}", "delete"): "200",
    (MEDIA + "/uploads", "post"): "201",
    (MEDIA + "/uploads/{uploadId}", "put"): "201",
    (MEDIA + "/content", "get"): "206",
    (MEDIA + "/thumbnail", "get"): "200",
    (BASE + "/mediaLabels", "get"): "200",
}


def test_every_media_route_is_documented(api: Api) -> None:
    document: dict[str, Any] = api.client.get("/v1/openapi.json").json()
    paths = document["paths"]
    media_paths = {path for path in paths if "/media" in path}
    assert media_paths == {path for path, _ in ROUTES}
    for (path, method), success in ROUTES.items():
        operation = paths[path][method]
        assert success in operation["responses"], (path, method)
        assert {"400", "401", "403", "404"} <= set(operation["responses"]), (path, method)
        assert operation["security"] == [{"bearerAuth": []}]
    upload_body = paths[MEDIA + "/uploads"]["post"]["requestBody"]["content"]
    assert upload_body["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert "422" in paths[MEDIA + "/thumbnail"]["get"]["responses"]  # undecodable content
