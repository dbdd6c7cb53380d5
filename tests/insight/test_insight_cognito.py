"""The AWS SDK's ``cognito-idp`` client logs in against a real ``fieldhub serve`` at ``/cognito``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from server.serve_process import ServerProcess, fieldhub_cli

pytestmark = pytest.mark.slow

PASSWORD = "insight-admin-password"
TARGET = "AWSCognitoIdentityProviderService.InitiateAuth"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("insight-cognito")
    process = ServerProcess(root / "data", root / "logs", FIELDHUB_ADMIN_PASSWORD=PASSWORD)
    yield process
    process.terminate()


def cognito(server: ServerProcess, region: str) -> Any:
    return boto3.client("cognito-idp", endpoint_url=f"{server.base_url}/cognito", region_name=region)


def discovery(server: ServerProcess) -> dict[str, Any]:
    response = server.client.get("/insight/auth-information", params={"id": "demo"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_sdk_password_login_gives_a_token_the_insight_routes_accept(server: ServerProcess) -> None:
    info = discovery(server)
    client = cognito(server, info["region"])
    answer = client.initiate_auth(
        ClientId=info["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "admin", "PASSWORD": PASSWORD},
    )
    result = answer["AuthenticationResult"]
    assert result["TokenType"] == "Bearer"
    assert result["ExpiresIn"] > 0
    me = server.client.get(f"/insight/{info['customer_id']}/me", headers={"Authorization": result["IdToken"]})
    assert me.status_code == 200, me.text
    assert me.json()["roles"] == ["ADMIN_ROLE"]

    refreshed = client.initiate_auth(
        ClientId=info["user_pool_client_id"],
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]},
    )["AuthenticationResult"]
    again = server.client.get(
        f"/insight/{info['customer_id']}/gateways", headers={"Authorization": refreshed["IdToken"]}
    )
    assert again.status_code == 200, again.text


def test_sdk_sees_cognito_errors(server: ServerProcess) -> None:
    info = discovery(server)
    client = cognito(server, info["region"])
    with pytest.raises(ClientError) as refused:
        client.initiate_auth(
            ClientId=info["user_pool_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "admin", "PASSWORD": "wrong-password"},
        )
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    with pytest.raises(ClientError) as unknown:
        client.initiate_auth(
            ClientId="0" * 32,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "a", "PASSWORD": "b"},
        )
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as stale:
        client.initiate_auth(
            ClientId=info["user_pool_client_id"],
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": "not-a-refresh-token"},
        )
    assert stale.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_raw_protocol_errors(server: ServerProcess) -> None:
    info = discovery(server)
    url = f"{server.base_url}/cognito"
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET}
    cases = [
        (
            {**headers, "X-Amz-Target": "AWSCognitoIdentityProviderService.SignUp"},
            b"{}",
            "UnknownOperationException",
        ),
        (headers, b"{not json", "SerializationException"),
        (
            headers,
            b'{"ClientId": "%s", "AuthFlow": "CUSTOM_AUTH"}' % info["user_pool_client_id"].encode(),
            "InvalidParameterException",
        ),
        (
            headers,
            b'{"ClientId": "%s", "AuthFlow": "USER_PASSWORD_AUTH"}' % info["user_pool_client_id"].encode(),
            "InvalidParameterException",
        ),
        (headers, b"x" * 70_000, "InvalidParameterException"),
    ]
    for sent_headers, body, kind in cases:
        response = httpx.post(url, headers=sent_headers, content=body)
        assert response.status_code == 400, response.text
        assert response.json()["__type"] == kind
        assert response.headers["x-amzn-errortype"] == kind
    assert httpx.options(url).headers["access-control-allow-origin"] == "*"


def test_token_of_the_demo_realm_is_403_for_another_customer(server: ServerProcess) -> None:
    info = discovery(server)
    token = cognito(server, info["region"]).initiate_auth(
        ClientId=info["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "admin", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["IdToken"]
    other = "00000000-0000-4000-8000-000000000000"
    response = server.client.get(f"/insight/{other}/gateways", headers={"Authorization": token})
    assert response.status_code == 403
    assert set(response.json()) == {"title", "details"}


def test_refresh_token_of_another_realm_is_refused_and_not_spent(server: ServerProcess) -> None:
    fieldhub_cli(server.data_dir, "realm", "create", "insight-other")
    fieldhub_cli(
        server.data_dir,
        "user",
        "create",
        "--realm",
        "insight-other",
        "--username",
        "bob",
        "--password",
        PASSWORD,
    )
    demo = discovery(server)
    other = server.client.get("/insight/auth-information", params={"id": "insight-other"}).json()
    client = cognito(server, demo["region"])
    refresh = client.initiate_auth(
        ClientId=other["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bob", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["RefreshToken"]
    with pytest.raises(ClientError) as refused:
        client.initiate_auth(
            ClientId=demo["user_pool_client_id"],
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh},
        )
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    # Still usable with its own realm: the refused attempt did not rotate it.
    fresh = client.initiate_auth(
        ClientId=other["user_pool_client_id"],
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": refresh},
    )["AuthenticationResult"]
    assert fresh["IdToken"]
