"""Authentication and customer scoping of the Insight family, login discovery, CORS, OpenAPI."""

from __future__ import annotations

import uuid

import pytest
from insight_support import PREFIX, Customer, assert_error, custom_api

from conftest import Api
from fieldhub.core.config import Settings

ROUTES = [
    ("GET", "/users"),
    ("GET", "/me"),
    ("GET", "/roles"),
    ("GET", "/me/consents"),
    ("GET", "/gateways"),
    ("GET", "/devices"),
    ("GET", "/device-configs"),
]


def test_auth_information_by_customer_id_and_by_name(api: Api) -> None:
    customer = Customer.build(api)
    for key in (str(customer.realm.id), customer.realm.name):
        response = api.client.get(f"{PREFIX}/auth-information", params={"id": key})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["customer_id"] == str(customer.realm.id)
        assert body["region"] == "eu-west-1"
        assert body["user_pool_client_id"] == customer.realm.id.hex
        assert body["user_pool_id"].startswith("eu-west-1_")


def test_auth_information_unknown_or_missing_id(api: Api) -> None:
    assert_error(api.client.get(f"{PREFIX}/auth-information", params={"id": str(uuid.uuid4())}), 404)
    assert_error(api.client.get(f"{PREFIX}/auth-information", params={"id": "no-such-realm"}), 404)
    assert_error(api.client.get(f"{PREFIX}/auth-information"), 400, "id")


def test_token_without_scheme_and_with_bearer_are_accepted(api: Api) -> None:
    customer = Customer.build(api)
    raw = customer.admin_headers["Authorization"]
    for header in (raw, f"Bearer {raw}"):
        response = api.client.get(customer.url("/me"), headers={"Authorization": header})
        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(customer.admin.id)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_or_bad_token_is_401(api: Api, method: str, path: str) -> None:
    customer = Customer.build(api)
    assert_error(api.client.request(method, customer.url(path)), 401, "No Authorization header")
    bad = api.client.request(method, customer.url(path), headers={"Authorization": "not-a-token"})
    assert_error(bad, 401)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_other_realms_or_unknown_customer_is_403(api: Api, method: str, path: str) -> None:
    customer, other = Customer.build(api), Customer.build(api)
    for customer_id in (other.realm.id, uuid.uuid4()):
        response = api.client.request(method, f"{PREFIX}/{customer_id}{path}", headers=customer.admin_headers)
        assert_error(response, 403, "customer")


def test_malformed_customer_id_is_400_but_401_without_token(api: Api) -> None:
    customer = Customer.build(api)
    assert_error(
        api.client.get(f"{PREFIX}/not-a-uuid/gateways", headers=customer.admin_headers), 400, "customer_id"
    )
    assert_error(api.client.get(f"{PREFIX}/not-a-uuid/gateways"), 401)


def test_bad_input_without_token_is_401_not_400(api: Api) -> None:
    customer = Customer.build(api)
    assert_error(api.client.post(customer.url("/gateways"), json={"name": 1}), 401)


def test_hard_deleted_users_token_stops_working_at_once(api: Api) -> None:
    customer = Customer.build(api)
    assert customer.get("/me", admin=False).status_code == 200
    assert customer.delete(f"/users/{customer.user.id}").status_code == 204
    assert_error(customer.get("/me", admin=False), 401)


def test_every_path_answers_options_with_cors_headers(api: Api) -> None:
    customer = Customer.build(api)
    for path in ("/gateways", "/users/x", "/me/consents", "/devices/x", "/device-configs/x", "/events"):
        response = api.client.options(customer.url(path))
        assert response.status_code == 200
        for header in ("origin", "methods", "headers"):
            assert response.headers[f"access-control-allow-{header}"]
    assert api.client.options(f"{PREFIX}/auth-information").status_code == 200
    assert customer.get("/gateways").headers["access-control-allow-origin"] == "*"


def test_configured_cors_origins(settings: Settings) -> None:
    with custom_api(settings, insight_cors_origins=["https://app.example"]) as api:
        allowed = api.client.options(f"{PREFIX}/auth-information", headers={"Origin": "https://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        refused = api.client.get(
            f"{PREFIX}/auth-information?id=x", headers={"Origin": "https://evil.example"}
        )
        assert refused.headers["access-control-allow-origin"] == "https://app.example"


def test_configurable_prefix(settings: Settings) -> None:
    with custom_api(settings, insight_prefix="/api/insight") as api:
        realm = api.realm()
        response = api.client.get("/api/insight/auth-information", params={"id": realm.name})
        assert response.status_code == 200


def test_openapi_document_is_served(api: Api) -> None:
    response = api.client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert "/{customer_id}/gateways" in document["paths"]
    assert "/provisioning" in document["paths"]
    assert document["components"]["securitySchemes"]["EndpointAuthorizer"]["in"] == "header"
    operation = document["paths"]["/{customer_id}/gateways"]["get"]
    assert "422" not in operation["responses"]
    assert operation["security"] == [{"EndpointAuthorizer": []}]
    assert "security" not in document["paths"]["/provisioning"]["post"]


def test_odd_auth_information_ids_are_404_not_500(api: Api) -> None:
    for value in ("a\x00b", "UPPER", "x" * 64):
        assert_error(api.client.get(f"{PREFIX}/auth-information", params={"id": value}), 404)
    assert_error(api.client.get(f"{PREFIX}/auth-information", params={"id": "x" * 65}), 400)
