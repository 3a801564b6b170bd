"""Certificates and kubeconfigs of the local cluster.

Owns the cluster's public key infrastructure: one CA that signs every serving and client certificate,
the service-account signing keypair, and the kubeconfig files each component authenticates with.
Files are created once per state directory and reused; nothing here talks to the network or starts a
process.

Identities (the subject is what RBAC and the Node authorizer see):

    admin                      CN=kubernetes-admin                O=system:masters
    kube-controller-manager    CN=system:kube-controller-manager
    kube-scheduler             CN=system:kube-scheduler
    kubelet                    CN=system:node:<node>              O=system:nodes
    kube-proxy                 CN=system:kube-proxy
    apiserver -> kubelet       CN=kube-apiserver-kubelet-client   O=system:masters
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Pki:
    """Paths of the files under one PKI directory."""

    root: Path

    def cert(self, name: str) -> Path:
        """The certificate file of `name` (PEM)."""
        return self.root / f"{name}.crt"

    def key(self, name: str) -> Path:
        """The private key file of `name` (PEM)."""
        return self.root / f"{name}.key"

    @property
    def ca_cert(self) -> Path:
        return self.cert("ca")

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _make_ca(pki: Pki) -> None:
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    name = _name("packgate-localcluster-ca")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + 10 * VALIDITY)
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
    _write_key(pki.key("ca"), key)
    pki.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(
    pki: Pki,
    name: str,
    common_name: str,
    organization: str | None = None,
    *,
    server: bool = False,
    client: bool = False,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> None:
    ca_key = _load_key(pki.key("ca"))
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if dns or ips:
        alt_names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        alt_names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(pki.key(name), key)
    pki.cert(name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure(root: Path, *, node_name: str, service_ip: str, node_ip: str) -> Pki:
    """Create every certificate and key under `root` that does not exist yet; return their paths."""
    pki = Pki(root)
    root.mkdir(parents=True, exist_ok=True)
    if not pki.ca_cert.exists() or not pki.key("ca").exists():
        _make_ca(pki)
    wanted: dict[str, dict[str, object]] = {
        "apiserver": {
            "common_name": "kube-apiserver",
            "server": True,
            "dns": (
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            "ips": ("127.0.0.1", service_ip, node_ip),
        },
        "apiserver-kubelet-client": {
            "common_name": "kube-apiserver-kubelet-client",
            "organization": "system:masters",
            "client": True,
        },
        "admin": {"common_name": "kubernetes-admin", "organization": "system:masters", "client": True},
        "controller-manager": {"common_name": "system:kube-controller-manager", "client": True},
        "scheduler": {"common_name": "system:kube-scheduler", "client": True},
        "node": {"common_name": f"system:node:{node_name}", "organization": "system:nodes", "client": True},
        "kube-proxy": {"common_name": "system:kube-proxy", "client": True},
        "kubelet-serving": {
            "common_name": f"system:node:{node_name}",
            "organization": "system:nodes",
            "server": True,
            "dns": ("localhost", node_name),
            "ips": ("127.0.0.1", node_ip),
        },
    }
    for name, options in wanted.items():
        if not pki.cert(name).exists() or not pki.key(name).exists():
            _issue(pki, name, **options)  # type: ignore[arg-type]
    if not pki.sa_key.exists() or not pki.sa_pub.exists():
        key = _new_key()
        _write_key(pki.sa_key, key)
        pki.sa_pub.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return pki


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_cert: Path,
    user: str,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    token: str | None = None,
    namespace: str | None = None,
    cluster_name: str = "packgate-local",
) -> Path:
    """Write a self-contained kubeconfig (certificates embedded) for one user; return its path."""
    credentials: dict[str, str] = {}
    if client_cert and client_key:
        credentials["client-certificate-data"] = _b64(client_cert)
        credentials["client-key-data"] = _b64(client_key)
    if token:
        credentials["token"] = token
    context: dict[str, str] = {"cluster": cluster_name, "user": user}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}}
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": f"{user}@{cluster_name}", "context": context}],
        "current-context": f"{user}@{cluster_name}",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path
