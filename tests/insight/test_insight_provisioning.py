"""Provisioning: one-time tokens, real X.509 certificates in PKCS#12, packages with a QR code."""

from __future__ import annotations

import base64
import datetime as dt
import io
import threading
import zipfile
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from insight_support import PREFIX, Customer, assert_error
from PIL import Image
from sqlalchemy import update

from conftest import Api
from fieldhub.insight.models import ProvisioningToken

PROVISIONING = f"{PREFIX}/provisioning"


def provision(api: Api, token: str) -> Any:
    return api.client.post(PROVISIONING, json={"token": token})


def realm_ca(api: Api, customer: Customer) -> x509.Certificate:
    path = api.runtime.settings.data_dir / "pki" / f"insight-gateways-{customer.realm.id}" / "ca.pem"
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_prepare_then_provision_delivers_a_certificate_chaining_to_the_realm_ca(api: Api) -> None:
    customer = Customer.build(api)
    gateway = customer.gateway("Dock 1")
    prepared = customer.post(f"/gateways/{gateway['id']}/prepare-provisioning")
    assert prepared.status_code == 200, prepared.text
    assert prepared.json()["registration_path"] == PROVISIONING
    token = prepared.json()["token"]
    assert len(token) >= 43

    response = provision(api, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["cache-control"] == "no-store"
    assert body["certificate_common_name"] == gateway["thing_name"]
    assert body["gateway"]["id"] == gateway["id"]
    assert body["mqtt_endpoint"].startswith("mqtts://")
    assert body["mqtt_topic_prefix"] == f"insight/{customer.realm.id}"

    bundle = pkcs12.load_pkcs12(base64.b64decode(body["pkcs12"]), password=None)
    assert bundle.key is not None
    assert bundle.cert is not None
    certificate = bundle.cert.certificate
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == gateway["thing_name"]
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert certificate.public_key() == bundle.key.public_key()
    ca = realm_ca(api, customer)
    certificate.verify_directly_issued_by(ca)
    assert [extra.certificate for extra in bundle.additional_certs] == [ca]

    # Another realm's CA did not sign it: the certificate is useless there.
    other = Customer.build(api)
    other_token = other.prepare(other.gateway()["id"])
    assert provision(api, other_token).status_code == 200
    with pytest.raises(ValueError, match="issuer"):
        certificate.verify_directly_issued_by(realm_ca(api, other))


def test_prepare_twice_is_refused(api: Api) -> None:
    customer = Customer.build(api)
    gateway = customer.gateway()
    customer.prepare(gateway["id"])
    assert_error(customer.post(f"/gateways/{gateway['id']}/prepare-provisioning"), 409, "already")
    assert api.count("insight_provisioning_tokens") == 1


def test_prepare_bad_gateway_ids(api: Api) -> None:
    customer, other = Customer.build(api), Customer.build(api)
    foreign = other.gateway()
    assert_error(customer.post("/gateways/not-a-uuid/prepare-provisioning"), 400, "gateway_id")
    assert_error(customer.post(f"/gateways/{foreign['id']}/prepare-provisioning"), 404)
    assert api.count("insight_provisioning_tokens") == 0


def test_replayed_guessed_and_expired_tokens_are_403(api: Api) -> None:
    customer = Customer.build(api)
    token = customer.prepare(customer.gateway()["id"])
    assert provision(api, token).status_code == 200
    assert_error(provision(api, token), 403, "already used")
    assert_error(provision(api, "1BuWYYmmCO7K4baxJxB2KGJM11FCb1Ckdr5rR36LzDQ"), 403)

    expired = customer.prepare(customer.gateway()["id"])
    with api.runtime.db.unit_of_work() as uow:
        uow.session.execute(
            update(ProvisioningToken)
            .where(ProvisioningToken.used_at.is_(None))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert_error(provision(api, expired), 403, "expired")
    assert_error(api.client.post(PROVISIONING, json={}), 400)
    assert_error(api.client.post(PROVISIONING, json={"token": "x" * 300}), 400)


def test_failed_attempts_are_rate_limited_but_successes_are_not(api: Api) -> None:
    customer = Customer.build(api)
    # Provisioning many gateways from one address is normal (more than the failure limit of 5).
    for _ in range(7):
        assert provision(api, customer.prepare(customer.gateway()["id"])).status_code == 200
    for attempt in range(5):
        assert_error(provision(api, f"guess-{attempt}"), 403)
    valid = customer.prepare(customer.gateway()["id"])
    limited = provision(api, valid)
    assert_error(limited, 429)
    assert int(limited.headers["retry-after"]) > 0
    # The refused call did not spend the token.
    with api.runtime.db.unit_of_work(write=False) as uow:
        unused = uow.session.query(ProvisioningToken).filter(ProvisioningToken.used_at.is_(None)).count()
    assert unused == 1


def test_two_concurrent_calls_with_one_token_exactly_one_succeeds(api: Api) -> None:
    customer = Customer.build(api)
    token = customer.prepare(customer.gateway()["id"])
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait()
        statuses.append(provision(api, token).status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 403]


def _download(api: Api, url: str) -> Any:
    parts = urlsplit(url)
    return api.client.get(f"{parts.path}?{parts.query}")


@pytest.mark.usefixtures("blob_backend")
def test_provisioning_package_holds_a_qr_code_and_a_working_token(api: Api) -> None:
    customer = Customer.build(api)
    first, second = customer.gateway("One"), customer.gateway("Two")
    wifi = {"ssid": "Warehouse", "password": "wifi-secret", "authentication_type": "WPA2"}
    body = {"gateways": [{"gateway_id": first["id"]}, {"gateway_name": "Two"}], "wifi": wifi}
    response = customer.post("/create-provisioning-package", body)
    assert response.status_code == 200, response.text
    links = response.json()["gateways"]
    assert [link["gateway_id"] for link in links] == [first["id"], second["id"]]

    download = _download(api, links[0]["package_url"])
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert set(archive.namelist()) == {"provisioning-qr.png", "provisioning.json", "README.txt"}
    assert Image.open(io.BytesIO(archive.read("provisioning-qr.png"))).size[0] > 100
    settings = orjson.loads(archive.read("provisioning.json"))
    assert settings["wifi"] == wifi
    assert settings["gateway_id"] == first["id"]
    assert settings["registration_url"].endswith(PROVISIONING)
    assert "One" in archive.read("README.txt").decode()
    assert customer.get(f"/gateways/{first['id']}").json()["connectivity_status"] == "REGISTERING"
    assert provision(api, settings["token"]).json()["gateway"]["id"] == first["id"]


def test_package_links_are_signed(api: Api) -> None:
    customer = Customer.build(api)
    gateway = customer.gateway()
    url = customer.post("/create-provisioning-package", {"gateways": [{"gateway_id": gateway["id"]}]}).json()[
        "gateways"
    ][0]["package_url"]
    path, query = urlsplit(url).path, urlsplit(url).query
    assert_error(api.client.get(f"{path}?{query[:-3]}abc"), 403)
    other_path = path.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert_error(api.client.get(f"{other_path}?{query}"), 403)
    assert_error(api.client.get(path), 400)


def test_package_with_an_unknown_or_prepared_gateway_prepares_nothing(api: Api) -> None:
    customer = Customer.build(api)
    fresh, prepared = customer.gateway("Fresh"), customer.gateway("Prepared")
    customer.prepare(prepared["id"])
    for entry, status in (
        ({"gateway_name": "Nope"}, 404),
        ({"gateway_id": "not-a-uuid"}, 400),
        ({"gateway_id": prepared["id"]}, 409),
        ({}, 400),
        ({"gateway_id": fresh["id"]}, 400),  # the same gateway twice
    ):
        body = {"gateways": [{"gateway_id": fresh["id"]}, entry]}
        assert_error(customer.post("/create-provisioning-package", body), status)
    assert api.count("insight_provisioning_tokens") == 1
    assert customer.get(f"/gateways/{fresh['id']}").json()["connectivity_status"] == "NOT_REGISTERED"
    assert_error(
        customer.post(
            "/create-provisioning-package", {"gateways": [{"gateway_id": fresh["id"]}]}, admin=False
        ),
        403,
    )


def test_two_concurrent_prepares_of_one_gateway_issue_one_token(api: Api) -> None:
    customer = Customer.build(api)
    gateway = customer.gateway()
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait()
        statuses.append(customer.post(f"/gateways/{gateway['id']}/prepare-provisioning").status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]
    assert api.count("insight_provisioning_tokens") == 1
