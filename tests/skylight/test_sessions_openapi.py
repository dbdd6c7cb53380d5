"""The Skylight family's OpenAPI document lists every session route with the spec's names and shapes."""

from __future__ import annotations

from typing import Any

from sessions_support import PAGE_FIELDS, SESSION_FIELDS

from conftest import Api

BASE = "/application/applications/{applicationId}/sessions"
ROUTES = {
    (BASE, "get"): "200",
    (BASE, "post"): "201",
    (BASE + "/{sessionId}", "get"): "200",
    (BASE + "/{sessionId}", "patch"): "200",
    (BASE + "/{sessionId}/participants", "get"): "200",
    (BASE + "/{sessionId}/participants", "post"): "204",
    (BASE + "/{sessionId}/participants/{participantId}", "delete"): "204",
    (BASE + "/{sessionId}/data", "get"): "200",
    (BASE + "/{sessionId}/data", "patch"): "200",
}
CHANGES = {
    (BASE + "/{sessionId}", "patch"),
    (BASE + "/{sessionId}/participants", "post"),
    (BASE + "/{sessionId}/participants/{participantId}", "delete"),
    (BASE + "/{sessionId}/data", "patch"),
}


def _document(api: Api) -> dict[str, Any]:
    response = api.client.get("/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def test_every_session_route_is_documented_with_its_success_code(api: Api) -> None:
    document = _document(api)
    assert {"url": "/v1"} in document.get("servers", [])
    paths = document["paths"]
    for (path, method), success in ROUTES.items():
        operation = paths[path][method]
        responses = operation["responses"]
        assert success in responses, (path, method)
        assert "422" not in responses, "bad input is a 400, never a 422"
        for code in ("400", "401", "403", "404"):
            schema = responses[code]["content"]["application/json"]["schema"]
            assert _resolve(document, schema)["properties"] == {"error": {"type": "string", "title": "Error"}}
        assert ("409" in responses) == ((path, method) in CHANGES), (path, method)
        assert operation["security"] == [{"bearerAuth": []}]
    # Media routes are checked in tests/skylight/media/test_media_openapi.py.
    session_paths = {path for path in paths if path.startswith("/application/") and "/media" not in path}
    assert session_paths == {path for path, _ in ROUTES}
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_list_parameters_match_the_spec(api: Api) -> None:
    operation = _document(api)["paths"][BASE]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert set(parameters) == {
        "applicationId",
        "status",
        "participants",
        "name",
        "limit",
        "sort",
        "nextCursor",
        "prevCursor",
        "createdBy",
        "modifiedBy",
        "createdFrom",
        "createdTo",
        "modifiedFrom",
        "modifiedTo",
    }
    limit = parameters["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 200, 50)
    assert "prop." in operation["description"]


def test_write_routes_document_the_device_headers(api: Api) -> None:
    paths = _document(api)["paths"]
    for path, method in [(BASE, "post"), *CHANGES]:
        headers = {p["name"] for p in paths[path][method]["parameters"] if p["in"] == "header"}
        assert headers == {"deviceid", "devicetimestamp"}, (path, method)


def test_schemas_use_the_spec_field_names(api: Api) -> None:
    document = _document(api)
    schemas = document["components"]["schemas"]
    session = schemas["Session"]
    assert set(session["properties"]) == SESSION_FIELDS
    assert set(session["required"]) == SESSION_FIELDS
    assert session["properties"]["createdAt"]["format"] == "date-time"
    assert session["properties"]["sessionId"]["format"] == "uuid"
    assert session["properties"]["isDraft"]["type"] == "boolean"
    page = schemas["SessionPage"]
    assert set(page["properties"]) == {"data", "page"}
    assert set(_resolve(document, page["properties"]["page"])["properties"]) == PAGE_FIELDS
    assert set(schemas["Participant"]["properties"]) == {"id", "type", "isGuest"}
    assert schemas["Participant"]["properties"]["type"]["enum"] == ["user", "group"]
    create = schemas["SessionCreate"]
    assert set(create["properties"]) == {
        "version",
        "name",
        "description",
        "participants",
        "status",
        "properties",
    }
    assert set(create["required"]) == {"version", "participants"}
    assert create["properties"]["version"]["minimum"] == 1
    assert create["properties"]["name"]["maxLength"] == 255
    assert create["properties"]["description"]["maxLength"] == 1000
    assert create["properties"]["status"]["enum"] == ["open", "closed"]
    assert create["properties"]["properties"]["anyOf"][0]["maxProperties"] == 50
    assert set(schemas["SessionPatch"]["properties"]) == set(create["properties"])
    assert "required" not in schemas["SessionPatch"]
    data_patch = schemas["SessionDataPatch"]
    assert set(data_patch["required"]) == {"data", "version"}
    assert data_patch["properties"]["data"]["propertyNames"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
    assert set(schemas["EventIdResponse"]["properties"]) == {"eventId"}
    create_response = document["paths"][BASE]["post"]["responses"]["201"]["content"]["application/json"]
    assert create_response["schema"] == {"$ref": "#/components/schemas/Session"}
