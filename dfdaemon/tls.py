"""Certificates: `dfdaemon gen-ca`, and the per-host leaf certificates of HTTPS hijacking.

When the configured hijack certificate is a CA, every hijacked host gets a leaf certificate
minted for it (valid 24 h, SAN = the host name or IP), signed by the CA and cached (LRU, 100
entries, dropped when expired). Otherwise the configured certificate is presented as it is.
Python's ssl module loads certificates from files only: each leaf is written to a private
temporary directory, loaded into its SSLContext and deleted at once.
"""

import datetime
import ipaddress
import os
import secrets
import ssl
import tempfile
import threading
from collections import OrderedDict

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

LEAF_LIFETIME = datetime.timedelta(hours=24)
CACHE_SIZE = 100


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def generate_ca(common_name: str, lifetime: datetime.timedelta) -> "tuple[bytes, bytes]":
    """(key PEM, certificate PEM) of a new self-signed CA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _san(host: str):
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


class CertMinter:
    """SSL server contexts for hijacked hosts."""

    def __init__(self, cert_path: str, key_path: str, clock=_now):
        with open(cert_path, "rb") as f:
            self.cert_pem = f.read()
        with open(key_path, "rb") as f:
            key_pem = f.read()
        self.cert = x509.load_pem_x509_certificate(self.cert_pem)
        self.key = serialization.load_pem_private_key(key_pem, password=None)
        self.cert_path, self.key_path = cert_path, key_path
        try:
            self.is_ca = self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            self.is_ca = False
        self.clock = clock
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._cache: OrderedDict[str, tuple[ssl.SSLContext, datetime.datetime]] = OrderedDict()
        self._lock = threading.Lock()
        self._static = None

    def context_for(self, host: str) -> ssl.SSLContext:
        if not self.is_ca:
            if self._static is None:
                self._static = self._context(self.cert_path, self.key_path)
            return self._static
        now = self.clock()
        with self._lock:
            hit = self._cache.get(host)
            if hit is not None and hit[1] > now + datetime.timedelta(minutes=5):
                self._cache.move_to_end(host)
                return hit[0]
        ctx, expires = self._mint(host, now)
        with self._lock:
            self._cache[host] = (ctx, expires)
            self._cache.move_to_end(host)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return ctx

    def cached_hosts(self) -> "list[str]":
        with self._lock:
            return list(self._cache)

    def leaf_pem(self, host: str, now: datetime.datetime) -> "tuple[bytes, datetime.datetime]":
        expires = now + LEAF_LIFETIME
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self.cert.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(expires)
            .add_extension(x509.SubjectAlternativeName([_san(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), expires

    def _mint(self, host: str, now):
        cert_pem, expires = self.leaf_pem(host, now)
        key_pem = self._leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with tempfile.TemporaryDirectory(prefix="dfdaemon-leaf-") as d:
            cert_file, key_file = os.path.join(d, "leaf.crt"), os.path.join(d, "leaf.key")
            with open(cert_file, "wb") as f:
                f.write(cert_pem + self.cert_pem)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key_pem)
            return self._context(cert_file, key_file), expires

    @staticmethod
    def _context(cert_file: str, key_file: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx
