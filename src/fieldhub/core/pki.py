"""fieldhub's own certificate authority: the CA that signs the MQTT broker's TLS certificate.

The CA is created on first start in the data directory so that a deployment without a public
certificate still offers verifiable TLS: clients download ``ca.pem`` once and pin it.  Creation of
the CA key is race-free across processes sharing the data dir (the same scheme as the signing key):
a process that loses the race reads the winner's key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fieldhub.core.identity.keys import create_exclusively

CA_VALIDITY = dt.timedelta(days=3650)
SERVER_VALIDITY = dt.timedelta(days=397)  # the longest validity browsers accept for a leaf
#: A server certificate this close to expiry is replaced at the next start.
RENEW_BEFORE = dt.timedelta(days=30)
#: Tolerates clocks of clients that run slightly behind ours.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The files a TLS listener needs."""

    cert_file: Path
    key_file: Path
    ca_file: Path


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ec_key(pem: bytes, path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return key


def _write_atomically(path: Path, content: bytes, *, mode: int) -> None:
    """Replaces ``path`` so that readers see either the old or the new content, never a partial file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _san(hostname: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        return x509.DNSName(hostname)


class CertificateAuthority:
    def __init__(
        self, *, directory: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
    ) -> None:
        self._directory = directory
        self._key = key
        self._certificate = certificate

    @classmethod
    def load_or_create(cls, directory: Path, *, name: str, common_name: str) -> CertificateAuthority:
        """The CA stored under ``directory/pki/<name>/``, created with a new key on first use."""
        home = directory / "pki" / name
        key_path, cert_path = home / "ca.key", home / "ca.pem"
        if key_path.exists():
            key = _load_ec_key(key_path.read_bytes(), key_path)
        else:
            key = _load_ec_key(
                create_exclusively(key_path, _private_pem(ec.generate_private_key(ec.SECP256R1()))), key_path
            )
        if cert_path.exists():
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if certificate.public_key() == key.public_key():
                return cls(directory=home, key=key, certificate=certificate)
        # No certificate yet, or one left from a key that lost the creation race: (re)issue it.
        certificate = cls._self_signed(key, common_name)
        _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
        return cls(directory=home, key=key, certificate=certificate)

    @staticmethod
    def _self_signed(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        public_key = key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(key, hashes.SHA256())
        )

    @property
    def ca_pem(self) -> bytes:
        return self._certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def ca_file(self) -> Path:
        return self._directory / "ca.pem"

    def server_tls(self, *, hostnames: list[str]) -> ServerTls:
        """The server certificate for ``hostnames``, reissued unless a valid one names exactly them."""
        cert_path, key_path = self._directory / "server.pem", self._directory / "server.key"
        files = ServerTls(cert_file=cert_path, key_file=key_path, ca_file=self.ca_file)
        if self._reusable(cert_path, key_path, hostnames):
            return files
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._issue(
            key,
            common_name=hostnames[0] if hostnames else "fieldhub",
            validity=SERVER_VALIDITY,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            sans=[_san(name) for name in hostnames],
        )
        # Key first: a concurrent reader that sees the new certificate must find its key.
        _write_atomically(key_path, _private_pem(key), mode=0o600)
        _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
        return files

    def issue_client_certificate(self, *, common_name: str, days: int) -> tuple[bytes, bytes]:
        """A client certificate and its key (both PEM), e.g. for an Insight gateway."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._issue(
            key,
            common_name=common_name,
            validity=dt.timedelta(days=days),
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            sans=[],
        )
        return certificate.public_bytes(serialization.Encoding.PEM), _private_pem(key)

    def _reusable(self, cert_path: Path, key_path: Path, hostnames: list[str]) -> bool:
        if not (cert_path.exists() and key_path.exists()):
            return False
        try:
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = _load_ec_key(key_path.read_bytes(), key_path)
            sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, x509.ExtensionNotFound):
            return False
        return (
            certificate.issuer == self._certificate.subject
            and certificate.public_key() == key.public_key()
            and certificate.not_valid_after_utc - RENEW_BEFORE > dt.datetime.now(dt.UTC)
            and set(sans) == {_san(name) for name in hostnames}
            and self._signed_by_me(certificate)
        )

    def _signed_by_me(self, certificate: x509.Certificate) -> bool:
        try:
            certificate.verify_directly_issued_by(self._certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def _issue(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        common_name: str,
        validity: dt.timedelta,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName],
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + validity, self._certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self._key, hashes.SHA256())
