"""Cluster certificate Secrets, service-account keys and kubeconfigs (k0smotron_core.pki)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ruamel.yaml import YAML

from k0smotron_core import pki
from k0smotron_core.api import capi
from k0smotron_core.envtest import EnvTest

KUBECTL = Path(sys.executable).parent / "kubectl"
OWNER = {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "K0sControlPlane", "name": "cp",
         "uid": "1234", "controller": True, "blockOwnerDeletion": True}


@pytest.fixture(scope="module")
def certificates() -> dict[str, pki.KeyPair]:
    return pki.generate_cluster_certificates()


def _load_yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def test_constants_agree_with_the_api_models() -> None:
    assert pki.CLUSTER_NAME_LABEL == capi.CLUSTER_NAME_LABEL
    assert pki.CLUSTER_SECRET_TYPE == capi.CLUSTER_SECRET_TYPE
    assert pki.CLUSTER_CA_PURPOSES == ("ca", "etcd", "proxy", "sa")


@pytest.mark.parametrize("purpose", ["ca", "etcd", "proxy"])
def test_generated_cas_are_self_signed_rsa_2048_certificate_authorities(
    certificates: dict[str, pki.KeyPair], purpose: str
) -> None:
    cert = certificates[purpose].certificate
    key = certificates[purpose].private_key()
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert cert.signature_hash_algorithm is not None
    public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)


def test_every_purpose_gets_distinct_key_material(certificates: dict[str, pki.KeyPair]) -> None:
    assert set(certificates) == set(pki.CLUSTER_CA_PURPOSES)
    assert len({pair.key_pem for pair in certificates.values()}) == len(pki.CLUSTER_CA_PURPOSES)


def test_service_account_pair_holds_the_pem_public_key_of_its_rsa_key(certificates: dict[str, pki.KeyPair]) -> None:
    sa = certificates["sa"]
    assert sa.cert_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert sa.key_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    key = sa.private_key()
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert sa.cert_pem == public_pem


def test_cluster_certificates_secret_is_the_capi_secret(certificates: dict[str, pki.KeyPair]) -> None:
    pair = certificates["etcd"]
    assert pki.cluster_certificates_secret("demo", "ns1", "etcd", pair, owner=OWNER) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "demo-etcd",
            "namespace": "ns1",
            "labels": {"cluster.x-k8s.io/cluster-name": "demo"},
            "ownerReferences": [OWNER],
        },
        "type": "cluster.x-k8s.io/secret",
        "data": {
            "tls.crt": base64.b64encode(pair.cert_pem).decode(),
            "tls.key": base64.b64encode(pair.key_pem).decode(),
        },
    }


def test_cluster_certificates_secret_without_owner_has_no_owner_references(
    certificates: dict[str, pki.KeyPair],
) -> None:
    secret = pki.cluster_certificates_secret("demo", "ns1", "ca", certificates["ca"])
    assert "ownerReferences" not in secret["metadata"]
    assert secret["metadata"]["name"] == "demo-ca"


def test_unknown_purpose_is_refused(certificates: dict[str, pki.KeyPair]) -> None:
    with pytest.raises(ValueError, match="unknown certificate purpose 'apiserver'"):
        pki.cluster_certificates_secret("demo", "ns1", "apiserver", certificates["ca"])


@pytest.mark.parametrize("purpose", pki.CLUSTER_CA_PURPOSES)
def test_key_pair_from_secret_reads_back_what_was_written(certificates: dict[str, pki.KeyPair], purpose: str) -> None:
    secret = pki.cluster_certificates_secret("demo", "ns1", purpose, certificates[purpose])
    assert pki.key_pair_from_secret(secret) == certificates[purpose]


def test_key_pair_from_a_user_supplied_tls_secret_in_string_data(certificates: dict[str, pki.KeyPair]) -> None:
    pair = certificates["ca"]
    secret = {
        "metadata": {"name": "demo-ca"},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": pair.cert_pem.decode(), "tls.key": pair.key_pem.decode()},
    }
    assert pki.key_pair_from_secret(secret) == pair


def test_key_pair_from_secret_errors_name_the_key_and_never_the_content(certificates: dict[str, pki.KeyPair]) -> None:
    missing = {"metadata": {"name": "demo-ca"}, "data": {"tls.crt": "AAAA"}}
    with pytest.raises(ValueError, match=r"^secret demo-ca has no key tls\.key$"):
        pki.key_pair_from_secret(missing)
    garbage = "not*base64*PRIVATE"
    broken = {"metadata": {"name": "demo-ca"}, "data": {"tls.crt": "AAAA", "tls.key": garbage}}
    with pytest.raises(ValueError) as caught:
        pki.key_pair_from_secret(broken)
    assert str(caught.value) == "secret demo-ca key tls.key is not valid base64"
    assert caught.value.__suppress_context__


def test_key_pair_repr_leaves_out_the_private_key(certificates: dict[str, pki.KeyPair]) -> None:
    pair = certificates["ca"]
    assert "PRIVATE" not in repr(pair)
    assert pair.key_pem.decode() not in repr(pair)


def test_kubeconfig_with_a_token_is_the_clientcmd_shape() -> None:
    ca_pem = b"-----BEGIN CERTIFICATE-----\n"
    assert pki.kubeconfig("demo", "https://10.0.0.1:6443", ca_pem, user="me", token="t0k") == {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": base64.b64encode(ca_pem).decode(),
                                  "server": "https://10.0.0.1:6443"}, "name": "demo"}],
        "contexts": [{"context": {"cluster": "demo", "user": "me"}, "name": "me@demo"}],
        "current-context": "me@demo",
        "kind": "Config",
        "preferences": {},
        "users": [{"name": "me", "user": {"token": "t0k"}}],
    }


def test_kubeconfig_with_a_client_certificate_embeds_cert_and_key(certificates: dict[str, pki.KeyPair]) -> None:
    client = pki.issue_certificate(certificates["ca"], "someone", usage="client")
    config = pki.kubeconfig("demo", "https://h:6443", certificates["ca"].cert_pem, user="u", client=client,
                            context="ctx")
    assert config["users"] == [{"name": "u", "user": {
        "client-certificate-data": base64.b64encode(client.cert_pem).decode(),
        "client-key-data": base64.b64encode(client.key_pem).decode(),
    }}]
    assert config["current-context"] == "ctx"


@pytest.mark.parametrize("credentials", [{}, {"token": "t", "client": "both"}])
def test_kubeconfig_needs_exactly_one_credential(
    certificates: dict[str, pki.KeyPair], credentials: dict[str, str]
) -> None:
    client = certificates["ca"] if "client" in credentials else None
    with pytest.raises(ValueError, match="exactly one"):
        pki.kubeconfig("demo", "https://h", b"ca", user="u", client=client, token=credentials.get("token"))


def test_kubeconfig_yaml_parses_back_to_the_kubeconfig() -> None:
    long_ca = b"x" * 3000
    text = pki.kubeconfig_yaml("demo", "https://h:6443", long_ca, user="u", token="t")
    assert _load_yaml(text) == pki.kubeconfig("demo", "https://h:6443", long_ca, user="u", token="t")
    assert "preferences: {}" in text.splitlines()


def test_admin_kubeconfig_secret_is_capis_admin_kubeconfig(certificates: dict[str, pki.KeyPair]) -> None:
    ca = certificates["ca"]
    secret = pki.admin_kubeconfig_secret("demo", "ns1", ca, "https://10.0.0.1:6443", owner=OWNER)
    assert secret["metadata"] == {"name": "demo-kubeconfig", "namespace": "ns1",
                                  "labels": {"cluster.x-k8s.io/cluster-name": "demo"}, "ownerReferences": [OWNER]}
    assert secret["type"] == "cluster.x-k8s.io/secret"
    assert list(secret["data"]) == ["value"]
    config = _load_yaml(base64.b64decode(secret["data"]["value"]).decode())
    assert config["clusters"] == [{"name": "demo", "cluster": {
        "server": "https://10.0.0.1:6443", "certificate-authority-data": base64.b64encode(ca.cert_pem).decode()}}]
    assert config["contexts"] == [{"name": "demo-admin@demo", "context": {"cluster": "demo", "user": "demo-admin"}}]
    assert config["current-context"] == "demo-admin@demo"
    [user] = config["users"]
    assert user["name"] == "demo-admin"
    client = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert client.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert client.issuer == ca.certificate.subject
    client.verify_directly_issued_by(ca.certificate)
    usages = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    client_key = serialization.load_pem_private_key(base64.b64decode(user["user"]["client-key-data"]), None)
    assert client_key.public_key() == client.public_key()


def _kubectl_get_namespaces(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--request-timeout", "20s", "get", "namespaces", "-o", "name"],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.kubectl
def test_kubectl_uses_a_token_kubeconfig_against_envtest(envtest: EnvTest, tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(pki.kubeconfig_yaml("envtest", envtest.url, envtest.ca_pem, user="admin", token=envtest.token))
    listed = _kubectl_get_namespaces(path)
    assert listed.returncode == 0, listed.stderr
    assert "namespace/kube-system" in listed.stdout.split()


@pytest.mark.kubectl
def test_kubectl_is_refused_with_a_wrong_token_so_the_token_is_what_authenticates(
    envtest: EnvTest, tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(pki.kubeconfig_yaml("envtest", envtest.url, envtest.ca_pem, user="admin", token="wrong"))
    assert _kubectl_get_namespaces(path).returncode != 0
