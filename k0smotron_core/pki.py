"""Certificate authorities and certificates (X.509 via `cryptography`), the Cluster API certificate Secrets that
carry them and the kubeconfigs that trust them.

Kept free of Kubernetes client and model types (manifests are plain dicts) so that envtest (serving
certificates) and the providers (cluster CAs, kubeconfigs) share one implementation without envtest pulling in
the API models.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ruamel.yaml import YAML

KeyAlgorithm = Literal["rsa2048", "ecdsa-p256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=365)
# Clocks of the machines that verify a fresh certificate may lag a little behind ours.
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM encoded. For the service-account purpose (`sa`) there is no
    certificate: `cert_pem` holds the PEM public key, as in the Cluster API `<cluster>-sa` Secret."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)  # a private key must never reach a log line

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def private_key(self) -> PrivateKey:
        return _load_private_key(self.key_pem)


@functools.lru_cache(maxsize=512)
def _load_private_key(key_pem: bytes) -> PrivateKey:
    """Loading checks an RSA key's consistency (~40 ms); a CA signs many certificates with the same key."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("unsupported private key type")
    return key


def _new_key(algorithm: KeyAlgorithm) -> PrivateKey:
    if algorithm == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def generate_ca(
    common_name: str, *, algorithm: KeyAlgorithm = "rsa2048", validity: dt.timedelta = CA_VALIDITY
) -> KeyPair:
    key = _new_key(algorithm)
    now = dt.datetime.now(dt.UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _subject_alternative_names(names: Iterable[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def issue_certificate(
    ca: KeyPair,
    common_name: str,
    *,
    usage: Literal["server", "client", "both"],
    sans: Iterable[str] = (),
    organizations: Iterable[str] = (),
    algorithm: KeyAlgorithm = "rsa2048",
    validity: dt.timedelta = LEAF_VALIDITY,
) -> KeyPair:
    """A leaf certificate signed by `ca`. Server certificates carry `sans` as DNS names or IP addresses."""
    key = _new_key(algorithm)
    ca_cert = ca.certificate
    ca_key = ca.private_key()
    now = dt.datetime.now(dt.UTC)
    usages = {
        "server": [ExtendedKeyUsageOID.SERVER_AUTH],
        "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
        "both": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    }[usage]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    alt_names = _subject_alternative_names(sans)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


# --- Cluster API certificate Secrets -----------------------------------------------------------------------------

# The same values as `k0smotron_core.api.capi`; repeated here so that envtest can use this module without
# importing the API models.
CLUSTER_NAME_LABEL: Final = "cluster.x-k8s.io/cluster-name"
CLUSTER_SECRET_TYPE: Final = "cluster.x-k8s.io/secret"

CLUSTER_CA_PURPOSES: Final = ("ca", "etcd", "proxy", "sa")
"""The certificate Secrets `<cluster>-<purpose>` of a cluster: cluster CA, etcd CA, front-proxy CA and the
service-account signing key pair."""

_CA_COMMON_NAMES: Final = {"ca": "kubernetes", "etcd": "etcd-ca", "proxy": "front-proxy-ca"}
TLS_CERT_KEY: Final = "tls.crt"
TLS_PRIVATE_KEY_KEY: Final = "tls.key"
KUBECONFIG_SECRET_KEY: Final = "value"

ADMIN_COMMON_NAME: Final = "kubernetes-admin"
ADMIN_ORGANIZATION: Final = "system:masters"


def generate_service_account_key_pair(*, algorithm: KeyAlgorithm = "rsa2048") -> KeyPair:
    """A key pair for signing service-account tokens (RSA 2048 or ECDSA P-256, both accepted by kube-apiserver):
    `cert_pem` is the PEM public key."""
    key = _new_key(algorithm)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(public_pem, _key_pem(key))


def generate_cluster_certificates() -> dict[str, KeyPair]:
    """Fresh key material for every purpose of `CLUSTER_CA_PURPOSES`: self-signed RSA 2048 CAs (as CAPI generates
    them) and the service-account key pair."""
    pairs = {purpose: generate_ca(common_name) for purpose, common_name in _CA_COMMON_NAMES.items()}
    pairs["sa"] = generate_service_account_key_pair()
    return pairs


def _cluster_secret_metadata(
    name: str, namespace: str, cluster: str, owner: Mapping[str, Any] | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {CLUSTER_NAME_LABEL: cluster}}
    if owner is not None:
        metadata["ownerReferences"] = [dict(owner)]
    return metadata


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def cluster_certificates_secret(
    cluster: str, namespace: str, purpose: str, pair: KeyPair, *, owner: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Secret `<cluster>-<purpose>` as Cluster API expects it. `owner` is one ownerReference (for generated
    certificates: the control plane object, as controller)."""
    if purpose not in CLUSTER_CA_PURPOSES:
        raise ValueError(f"unknown certificate purpose {purpose!r}; expected one of {', '.join(CLUSTER_CA_PURPOSES)}")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _cluster_secret_metadata(f"{cluster}-{purpose}", namespace, cluster, owner),
        "type": CLUSTER_SECRET_TYPE,
        "data": {TLS_CERT_KEY: _b64(pair.cert_pem), TLS_PRIVATE_KEY_KEY: _b64(pair.key_pem)},
    }


def _secret_value(secret: Mapping[str, Any], key: str) -> bytes:
    """`data[key]` decoded, or `stringData[key]` (a manifest not yet through the API server). Errors name the
    Secret and the key, never the content."""
    name = secret.get("metadata", {}).get("name", "<unnamed>")
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        plain = (secret.get("stringData") or {}).get(key)
        if plain is None:
            raise ValueError(f"secret {name} has no key {key}")
        return str(plain).encode()
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError(f"secret {name} key {key} is not valid base64") from None


def key_pair_from_secret(secret: Mapping[str, Any]) -> KeyPair:
    """The key pair of a certificate Secret, generated or user-supplied (any type with `tls.crt`/`tls.key`, e.g.
    `kubernetes.io/tls`)."""
    return KeyPair(_secret_value(secret, TLS_CERT_KEY), _secret_value(secret, TLS_PRIVATE_KEY_KEY))


# --- kubeconfigs -------------------------------------------------------------------------------------------------


def kubeconfig(
    cluster_name: str,
    server: str,
    ca_pem: bytes,
    *,
    user: str,
    client: KeyPair | None = None,
    token: str | None = None,
    context: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user (client certificate or bearer token, exactly one of them) and one
    context, default name `<user>@<cluster_name>` as CAPI names it. Keys are in the order `clientcmd.Write` emits
    them, so our output reads like the Go tools'."""
    if (client is None) == (token is None):
        raise ValueError("a kubeconfig user needs exactly one of a client certificate or a token")
    credentials = (
        {"token": token}
        if client is None
        else {"client-certificate-data": _b64(client.cert_pem), "client-key-data": _b64(client.key_pem)}
    )
    context_name = context or f"{user}@{cluster_name}"
    return {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": _b64(ca_pem), "server": server}, "name": cluster_name}],
        "contexts": [{"context": {"cluster": cluster_name, "user": user}, "name": context_name}],
        "current-context": context_name,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user, "user": credentials}],
    }


def kubeconfig_yaml(
    cluster_name: str,
    server: str,
    ca_pem: bytes,
    *,
    user: str,
    client: KeyPair | None = None,
    token: str | None = None,
    context: str | None = None,
) -> str:
    """`kubeconfig(...)` rendered as YAML."""
    config = kubeconfig(cluster_name, server, ca_pem, user=user, client=client, token=token, context=context)
    return dump_yaml(config)


def dump_yaml(document: Any) -> str:
    """Block-style YAML; long base64 values stay on one line. libyaml's emitter (ruamel.yaml.clib) when present:
    a join token is minted per Machine, and the pure-Python emitter is five times slower on its kubeconfig."""
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.width = 1 << 20
    stream = StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def admin_kubeconfig_secret(
    cluster: str, namespace: str, ca: KeyPair, server: str, *, owner: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Secret `<cluster>-kubeconfig` (key `value`) with an admin kubeconfig: a client certificate for
    `kubernetes-admin` in `system:masters`, signed by the cluster CA, valid for `LEAF_VALIDITY`, the cluster
    named after the Cluster, user `<cluster>-admin`, as CAPI's kubeconfig generator writes it."""
    client = issue_certificate(ca, ADMIN_COMMON_NAME, usage="client", organizations=[ADMIN_ORGANIZATION])
    config = kubeconfig_yaml(cluster, server, ca.cert_pem, user=f"{cluster}-admin", client=client)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _cluster_secret_metadata(f"{cluster}-kubeconfig", namespace, cluster, owner),
        "type": CLUSTER_SECRET_TYPE,
        "data": {KUBECONFIG_SECRET_KEY: _b64(config.encode())},
    }
