"""Users, roles, /me and consents over HTTP, with the permission matrix."""

from __future__ import annotations

from insight_support import PREFIX, Customer, assert_error
from typer.testing import CliRunner

from conftest import Api
from fieldhub.cli import app as cli_app
from fieldhub.core.config import Settings

NEW_USER = {"first_name": "John", "last_name": "Doe", "role": "USER_ROLE", "email": "John.Doe@Example.com"}


def test_create_get_list_patch_delete_user(api: Api) -> None:
    customer = Customer.build(api)
    created = customer.post("/users", NEW_USER)
    assert created.status_code == 200, created.text
    user = created.json()
    assert user["email"] == "john.doe@example.com"
    assert user["roles"] == ["USER_ROLE"]
    assert "event.read" in user["permissions"]
    assert "users.create" not in user["permissions"]
    assert user["consent_general_terms"] is None
    assert user["created"] > 0

    assert customer.get(f"/users/{user['id']}").json() == user
    listed = customer.get("/users").json()
    assert user["id"] in [item["id"] for item in listed["items"]]
    assert listed["metadata"]["size"] == len(listed["items"]) == 3
    assert listed["links"]["next"] is None

    change = {"first_name": "Jo", "role": "ADMIN_ROLE", "language": "German"}
    assert customer.patch(f"/users/{user['id']}", change).status_code == 204
    changed = customer.get(f"/users/{user['id']}").json()
    assert (changed["first_name"], changed["last_name"], changed["language"]) == ("Jo", "Doe", "German")
    assert changed["roles"] == ["ADMIN_ROLE"]
    assert "users.create" in changed["permissions"]
    assert changed["last_updated"] >= user["last_updated"]

    assert customer.delete(f"/users/{user['id']}").status_code == 204
    assert_error(customer.get(f"/users/{user['id']}"), 404)
    assert api.count("users") == 2


def test_duplicate_email_is_409_and_changes_nothing(api: Api) -> None:
    customer = Customer.build(api)
    assert customer.post("/users", NEW_USER).status_code == 200
    before = api.count("users")
    assert_error(customer.post("/users", {**NEW_USER, "email": "JOHN.DOE@example.com"}), 409, "email")
    assert_error(customer.post("/users", {**NEW_USER, "email": "user@example.com"}), 409)
    assert api.count("users") == before


def test_bad_user_input_is_400_and_changes_nothing(api: Api) -> None:
    customer = Customer.build(api)
    before = api.count("users")
    for body in (
        {**NEW_USER, "email": "not-an-email"},
        {**NEW_USER, "role": "ROOT"},
        {**NEW_USER, "first_name": ""},
        {**NEW_USER, "first_name": "a\x00b"},
        {k: v for k, v in NEW_USER.items() if k != "email"},
        {**NEW_USER, "extra": 1},
    ):
        assert_error(customer.post("/users", body), 400)
    assert_error(customer.get("/users/not-a-uuid"), 400, "user_id")
    assert_error(customer.patch(f"/users/{customer.user.id}", {"role": "GOD"}), 400)
    assert api.count("users") == before


def test_users_of_another_realm_are_404(api: Api) -> None:
    customer, other = Customer.build(api), Customer.build(api)
    foreign = other.user.id
    assert_error(customer.get(f"/users/{foreign}"), 404)
    assert_error(customer.patch(f"/users/{foreign}", {"first_name": "x"}), 404)
    assert_error(customer.delete(f"/users/{foreign}"), 404)
    assert other.get(f"/users/{foreign}").json()["first_name"] is None


def test_user_role_reads_but_cannot_change(api: Api) -> None:
    customer = Customer.build(api)
    assert customer.get("/users", admin=False).status_code == 200
    assert customer.get(f"/users/{customer.admin.id}", admin=False).status_code == 200
    assert customer.get("/roles", admin=False).status_code == 200
    assert_error(customer.post("/users", NEW_USER, admin=False), 403, "users.create")
    assert_error(customer.patch(f"/users/{customer.admin.id}", {"first_name": "x"}, admin=False), 403)
    assert_error(customer.delete(f"/users/{customer.admin.id}", admin=False), 403, "users.delete")
    assert api.count("users") == 2


def test_admin_cannot_delete_or_demote_themselves(api: Api) -> None:
    customer = Customer.build(api)
    assert_error(customer.delete(f"/users/{customer.admin.id}"), 409)
    assert_error(customer.patch(f"/users/{customer.admin.id}", {"role": "USER_ROLE"}), 409)
    assert customer.get("/me").json()["roles"] == ["ADMIN_ROLE"]


def test_users_pagination_walks_every_user_once(api: Api) -> None:
    customer = Customer.build(api)
    with api.runtime.db.unit_of_work() as uow:
        identity = api.runtime.identity(uow.session)
        for number in range(120):
            identity.create_user(realm=customer.realm, username=f"bulk{number:03}", password=None)
    seen: list[str] = []
    link = customer.url("/users")
    while link:
        page = api.client.get(link, headers=customer.admin_headers).json()
        seen += [item["id"] for item in page["items"]]
        link = page["links"]["next"]
    assert len(seen) == len(set(seen)) == 122
    assert_error(customer.get("/users", params={"next_token": "garbage"}), 400, "next_token")
    other = Customer.build(api)
    first = customer.get("/users").json()["links"]["next"]
    token = first.split("next_token=")[1]
    assert_error(other.get("/users", params={"next_token": token}), 400, "next_token")


def test_me_roles_and_consents(api: Api) -> None:
    customer = Customer.build(api)
    me = customer.get("/me", admin=False).json()
    assert me["id"] == str(customer.user.id)
    assert me["roles"] == ["USER_ROLE"]
    roles = {role["name"]: role for role in customer.get("/roles").json()["items"]}
    assert set(roles) == {"ADMIN_ROLE", "USER_ROLE"}
    assert set(roles["USER_ROLE"]["permissions"]) < set(roles["ADMIN_ROLE"]["permissions"])

    empty = customer.get("/me/consents", admin=False).json()
    assert empty["privacy_policy"] == {"versions": []}
    given = {"privacy_policy_version": "1.0.0", "terms_and_conditions_version": "2.1.0"}
    assert customer.post("/me/consents", given, admin=False).status_code == 204
    assert customer.post("/me/consents", {"privacy_policy_version": "1.1.0"}, admin=False).status_code == 204
    consents = customer.get("/me/consents", admin=False).json()
    assert [v["version"] for v in consents["privacy_policy"]["versions"]] == ["1.0.0", "1.1.0"]
    assert consents["terms_and_conditions_agreement"]["versions"][0]["agreed_on"] > 0
    only = customer.get("/me/consents", admin=False, params={"type": "CONNECTED_POLICY"}).json()
    assert only == {"connected_policy": {"versions": []}}
    me = customer.get("/me", admin=False).json()
    assert me["consent_privacy_policy"]["version"] == "1.1.0"
    assert me["consent_general_terms"]["version"] == "2.1.0"
    # The admin's consents are their own.
    assert customer.get("/me").json()["consent_privacy_policy"] is None


def test_bad_consents_are_400_and_store_nothing(api: Api) -> None:
    customer = Customer.build(api)
    assert_error(customer.get("/me/consents", params={"type": "COOKIES"}), 400, "type")
    for body in ({}, {"privacy_policy_version": "one"}, {"cookies_version": "1.0.0"}, [1]):
        assert_error(customer.post("/me/consents", body), 400)
    assert api.count("insight_consents") == 0


def test_new_user_sets_password_with_link_from_cli_and_logs_in(api: Api, settings: Settings) -> None:
    customer = Customer.build(api)
    assert customer.post("/users", NEW_USER).status_code == 200
    runner = CliRunner()
    env = {"FIELDHUB_DATA_DIR": str(settings.data_dir), "FIELDHUB_DATABASE_URL": settings.database_url}
    args = ["user", "set-password-link", "--realm", customer.realm.name, "--username", "john.doe@example.com"]
    result = runner.invoke(cli_app, [*args, "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    link = result.stdout.strip().split('"link":"')[1].rstrip('"}')
    assert link.startswith(f"{settings.issuer}{PREFIX}/set-password#token=")
    token = link.split("#token=")[1]
    assert api.client.get(f"{PREFIX}/set-password").status_code == 200

    assert_error(api.client.post(f"{PREFIX}/set-password", json={"token": token, "password": "short"}), 400)
    assert (
        api.client.post(
            f"{PREFIX}/set-password", json={"token": token, "password": "a-good-password"}
        ).status_code
        == 204
    )
    # One time only.
    assert_error(
        api.client.post(f"{PREFIX}/set-password", json={"token": token, "password": "another-one!"}), 401
    )
    login = api.client.post(
        f"/v1/authentication/login/realms/{customer.realm.name}",
        json={
            "username": "john.doe@example.com",
            "password": "a-good-password",
            "realm": customer.realm.name,
        },
    )
    assert login.status_code == 200, login.text


def test_unknown_user_for_set_password_link_fails_in_one_line(api: Api, settings: Settings) -> None:
    customer = Customer.build(api)
    env = {"FIELDHUB_DATA_DIR": str(settings.data_dir), "FIELDHUB_DATABASE_URL": settings.database_url}
    args = ["user", "set-password-link", "--realm", customer.realm.name, "--username", "nobody", "--json"]
    result = CliRunner().invoke(cli_app, args, env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "unknown user" in result.stderr
