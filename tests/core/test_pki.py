"""fieldhub's certificate authority: created once, verifiable chains, reused certificates, private keys."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from fieldhub.core.pki import CertificateAuthority


def _ca(directory: Path) -> CertificateAuthority:
    return CertificateAuthority.load_or_create(directory, name="mqtt", common_name="fieldhub CA")


def test_the_server_certificate_chains_to_the_ca_for_each_hostname(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    tls = ca.server_tls(hostnames=["localhost", "127.0.0.1", "mqtt.example.org"])
    certificate = x509.load_pem_x509_certificate(tls.cert_file.read_bytes())
    store = Store([x509.load_pem_x509_certificate(ca.ca_pem)])
    for name in ("localhost", "mqtt.example.org"):
        verifier = PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name))
        chain = verifier.verify(certificate, [])
        assert chain[-1].subject == x509.load_pem_x509_certificate(ca.ca_pem).subject
    verifier = (
        PolicyBuilder().store(store).build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    )
    verifier.verify(certificate, [])
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "mqtt.example.org"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert tls.ca_file.read_bytes() == ca.ca_pem


def test_the_ca_is_created_once_and_valid_for_ten_years(tmp_path: Path) -> None:
    first = _ca(tmp_path)
    again = _ca(tmp_path)
    assert first.ca_pem == again.ca_pem
    certificate = x509.load_pem_x509_certificate(first.ca_pem)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert dt.timedelta(days=3649) < lifetime < dt.timedelta(days=3651)
    assert _ca(tmp_path / "elsewhere").ca_pem != first.ca_pem


def test_a_valid_server_certificate_is_reused_until_the_hostnames_change(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    first = ca.server_tls(hostnames=["localhost", "127.0.0.1"]).cert_file.read_bytes()
    assert _ca(tmp_path).server_tls(hostnames=["127.0.0.1", "localhost"]).cert_file.read_bytes() == first
    changed = ca.server_tls(hostnames=["localhost"]).cert_file.read_bytes()
    assert changed != first


def test_a_server_certificate_from_another_ca_is_replaced(tmp_path: Path) -> None:
    foreign = _ca(tmp_path / "foreign").server_tls(hostnames=["localhost"])
    ca = _ca(tmp_path)
    tls = ca.server_tls(hostnames=["localhost"])
    tls.cert_file.write_bytes(foreign.cert_file.read_bytes())
    tls.key_file.write_bytes(foreign.key_file.read_bytes())
    reissued = x509.load_pem_x509_certificate(ca.server_tls(hostnames=["localhost"]).cert_file.read_bytes())
    reissued.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.ca_pem))


def test_private_keys_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    tls = _ca(tmp_path).server_tls(hostnames=["localhost"])
    for key in (tmp_path / "pki" / "mqtt" / "ca.key", tls.key_file):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_client_certificates_are_for_client_authentication(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    pem, key = ca.issue_client_certificate(common_name="gateway-7", days=30)
    certificate = x509.load_pem_x509_certificate(pem)
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.ca_pem))
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert certificate.subject.rfc4514_string() == "CN=gateway-7"
    assert b"PRIVATE KEY" in key
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert dt.timedelta(days=29) < lifetime <= dt.timedelta(days=31)
