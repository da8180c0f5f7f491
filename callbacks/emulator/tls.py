"""Certificates for ``--tls``, made at start: a local CA and a server certificate it signs.

The server certificate names 127.0.0.1, ::1 and localhost (and the listening host, when it is
another one) in subjectAltName and carries the authority and subject key identifiers, key usage
and extended key usage, so strict verification (Python 3.13's default ``VERIFY_X509_STRICT``)
accepts it. Only the CA certificate is meant to leave this module: clients trust it through
``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``. The CA's private key is never written; the server
key is written with mode 0600 to a private temporary directory.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
VALID_FOR = datetime.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Certificates:
    """Where the CA certificate, the server certificate and the server key were written."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def default_ca_file(port: int) -> Path:
    """Where the CA certificate goes unless the user says: one file per port, in the temp dir."""
    return Path(tempfile.gettempdir()) / f"callbacks-emulator-{port}-ca.pem"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acs-callbacks emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _pem(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


def make_certificates(directory: Path, ca_file: Path | None = None, host: str = "") -> Certificates:
    """Make a CA and a server certificate for the loopback names (and ``host``); write the CA
    certificate to ``ca_file`` (default: in ``directory``), the server pair to ``directory``."""
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(minutes=5), now + VALID_FOR
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("acs-callbacks emulator local CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    hosts = list(LOOPBACK_NAMES)
    shown = host.strip("[]")
    if shown and shown not in hosts and shown not in ("0.0.0.0", "::"):
        hosts.append(shown)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(LOOPBACK_NAMES[0]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = ca_file or directory / "ca.pem"
    cert_path, key_path = directory / "server.pem", directory / "server-key.pem"
    _pem(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    _pem(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _pem(key_path, key_bytes, 0o600)
    return Certificates(ca_path, cert_path, key_path)
