"""Gateway credentials: the per-realm gateway CA, PKCS#12 bundles and provisioning packages.

The private key of a gateway is made when the gateway fetches it and is never stored, so the
bundle exists only in the one response that delivers it.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from pathlib import Path

import jwt
import orjson
import segno
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from fieldhub.core.errors import PermissionDenied
from fieldhub.core.identity.keys import SigningKey
from fieldhub.core.pki import CertificateAuthority

PACKAGE_AUDIENCE = "insight-provisioning-package"


#: A realm's gateway CA lives in ``pki/{GATEWAY_CA_PREFIX}{realm_id}/`` of the data directory.
GATEWAY_CA_PREFIX = "insight-gateways-"


def gateway_authority(data_dir: Path, *, realm_id: uuid.UUID) -> CertificateAuthority:
    """The CA that signs the certificates of one realm's gateways (and nothing else)."""
    return CertificateAuthority.load_or_create(
        data_dir, name=f"{GATEWAY_CA_PREFIX}{realm_id}", common_name=f"fieldhub Insight gateways {realm_id}"
    )


def gateway_bundle(authority: CertificateAuthority, *, thing_name: str, days: int) -> bytes:
    """A PKCS#12 holding a new key, its certificate (CN = ``thing_name``) and the CA certificate.

    Not encrypted: it travels once, over TLS, to the gateway that asked with its one-time token.
    """
    certificate_pem, key_pem = authority.issue_client_certificate(common_name=thing_name, days=days)
    key = serialization.load_pem_private_key(key_pem, password=None)
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    ca_certificate = x509.load_pem_x509_certificate(authority.ca_pem)
    return pkcs12.serialize_key_and_certificates(
        name=thing_name.encode(),
        key=key,  # type: ignore[arg-type]
        cert=certificate,
        cas=[ca_certificate],
        encryption_algorithm=serialization.NoEncryption(),
    )


README = """Provisioning package for the gateway {name} ({gateway_id})

1. Connect the gateway to the network{wifi_hint}.
2. Open the gateway's provisioning screen and scan provisioning-qr.png
   (or enter the token from provisioning.json by hand).
3. The gateway posts the token to {registration_url} and receives its certificate.

The token works once and expires at {expires} (UTC). Keep this package private until then.
"""


def package_zip(
    *,
    gateway_id: uuid.UUID,
    name: str,
    token: str,
    registration_url: str,
    expires_at: dt.datetime,
    wifi: dict[str, str] | None,
) -> bytes:
    """The zip an installer takes to the gateway: QR code, machine-readable settings, README."""
    settings = {"registration_url": registration_url, "token": token, "gateway_id": str(gateway_id)}
    qr_png = io.BytesIO()
    segno.make(orjson.dumps(settings).decode(), error="m").save(qr_png, kind="png", scale=8)
    wifi_hint = (
        f" (WiFi network {wifi['ssid']!r}, settings in provisioning.json)"
        if wifi and wifi.get("ssid")
        else ""
    )
    readme = README.format(
        name=name,
        gateway_id=gateway_id,
        wifi_hint=wifi_hint,
        registration_url=registration_url,
        expires=expires_at.strftime("%Y-%m-%d %H:%M"),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("provisioning-qr.png", qr_png.getvalue())
        archive.writestr(
            "provisioning.json", orjson.dumps({**settings, "wifi": wifi}, option=orjson.OPT_INDENT_2)
        )
        archive.writestr("README.txt", readme)
    return buffer.getvalue()


def package_key(realm_id: uuid.UUID, package_id: uuid.UUID) -> str:
    return f"insight/{realm_id}/provisioning-packages/{package_id}.zip"


def sign_package_download(
    key: SigningKey,
    *,
    issuer: str,
    realm_id: uuid.UUID,
    package_id: uuid.UUID,
    now: dt.datetime,
    ttl_seconds: int,
) -> str:
    """A short-lived signature for one package's download URL (no credentials needed to use it)."""
    claims = {
        "iss": issuer,
        "aud": PACKAGE_AUDIENCE,
        "sub": str(package_id),
        "realm": str(realm_id),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl_seconds,
    }
    return jwt.encode(claims, key.private_key, algorithm=SigningKey.algorithm, headers={"kid": key.kid})


def verify_package_download(key: SigningKey, *, issuer: str, package_id: str, signature: str) -> str:
    """The blob key a valid signature grants; an expired, altered or foreign one is a 403."""
    try:
        claims = jwt.decode(
            signature,
            key.public_key,
            algorithms=[SigningKey.algorithm],
            audience=PACKAGE_AUDIENCE,
            issuer=issuer,
            options={"require": ["exp", "sub", "realm"]},
        )
        if claims["sub"] != package_id:
            raise jwt.InvalidTokenError
        return package_key(uuid.UUID(str(claims["realm"])), uuid.UUID(package_id))
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise PermissionDenied("The download link is invalid or has expired") from None
