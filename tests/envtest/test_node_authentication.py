"""How nodes authenticate: bootstrap tokens, client certificates signed by the cluster CA, and kubelet
CertificateSigningRequests approved and signed as kube-controller-manager does it. Every expectation is what a
kube-apiserver with `--enable-bootstrap-token-auth` and `--client-ca-file`, plus kube-controller-manager's
csrapproving and csrsigning controllers, answer."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client, config

from k0smotron_core import pki, tokens
from k0smotron_core.envtest import EnvTest

from ._kube import Kubectl, eventually

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
NOW = dt.datetime.now(dt.UTC)


def _token_secret(token: tokens.BootstrapToken, **overrides: str | None) -> dict[str, Any]:
    secret = tokens.bootstrap_token_secret(token, role="worker", now=dt.datetime.now(dt.UTC))
    for key, value in overrides.items():
        if value is None:
            secret["stringData"].pop(key.replace("_", "-"), None)
        else:
            secret["stringData"][key.replace("_", "-")] = value
    return secret


def _request(common_name: str, organizations: tuple[str, ...] = ("system:nodes",),
             key: ec.EllipticCurvePrivateKey | None = None) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A CSR as base64 of PEM (spec.request), and its key."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(), key


def _csr(name: str, request: str, *, signer: str = KUBELET_SIGNER, usages: tuple[str, ...] = (
        "digital signature", "client auth"), **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": request, "signerName": signer, "usages": list(usages), **spec}}


class Api:
    """aiohttp against one envtest, trusting its CA, with a bearer token or a client certificate."""

    def __init__(self, env: EnvTest, session: aiohttp.ClientSession, tmp_path: Path) -> None:
        self.env = env
        self.session = session
        self.tmp_path = tmp_path

    def tls(self, client_pem: bytes | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.env.ca_pem.decode())
        if client_pem is not None:
            path = self.tmp_path / f"client-{len(list(self.tmp_path.iterdir()))}.pem"
            path.write_bytes(client_pem)
            context.load_cert_chain(path)
        return context

    async def call(self, method: str, path: str, *, token: str | None = None, client_pem: bytes | None = None,
                   body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.env.url + path, json=body, headers=headers,
                                        ssl=self.tls(client_pem)) as response:
            return response.status, await response.json()


@pytest_asyncio.fixture
async def api(async_envtest: EnvTest, tmp_path: Path) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(async_envtest, session, tmp_path)


def _condition_types(csr: dict[str, Any]) -> list[str]:
    return [c["type"] for c in (csr.get("status") or {}).get("conditions") or ()]


def _pem(certificate_b64: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return base64.b64decode(certificate_b64) + key_pem


# --- bootstrap tokens ----------------------------------------------------------------------------------------------


async def test_a_valid_bootstrap_token_authenticates_as_its_bootstrap_user(api: Api) -> None:
    token = tokens.new_token()
    api.env.create(_token_secret(token, auth_extra_groups="system:bootstrappers:k0s,system:bootstrappers:worker"))
    status, _ = await api.call("GET", "/api/v1/namespaces/default/configmaps", token=str(token))
    assert status == 200
    [event] = api.env.audit.events(resource="configmaps")
    assert event.user == f"system:bootstrap:{token.token_id}"
    # The requester's groups show in the CSRs it creates.
    request, _ = _request("system:node:n1")
    status, created = await api.call("POST", CSRS, token=str(token), body=_csr("groups", request))
    assert status == 201
    assert created["spec"]["username"] == f"system:bootstrap:{token.token_id}"
    assert created["spec"]["groups"] == ["system:bootstrappers", "system:bootstrappers:k0s",
                                         "system:bootstrappers:worker", "system:authenticated"]


@pytest.mark.parametrize(
    ("why", "overrides", "presented"),
    [
        ("expired", {"expiration": tokens.rfc3339(NOW - dt.timedelta(minutes=1))}, None),
        ("unparsable expiration", {"expiration": "tomorrow"}, None),
        ("wrong secret", {}, "wrongwrongwrongw"),
        ("not for authentication", {"usage_bootstrap_authentication": "false"}, None),
        ("no authentication usage", {"usage_bootstrap_authentication": None}, None),
        ("invalid extra group", {"auth_extra_groups": "system:masters"}, None),
    ],
)
async def test_a_bootstrap_token_its_secret_does_not_vouch_for_is_unauthorized(
    api: Api, why: str, overrides: dict[str, str | None], presented: str | None
) -> None:
    token = tokens.new_token()
    api.env.create(_token_secret(token, **overrides))
    bearer = f"{token.token_id}.{presented}" if presented else str(token)
    status, body = await api.call("GET", "/api/v1/namespaces", token=bearer)
    assert (status, body["reason"]) == (401, "Unauthorized"), why


async def test_a_token_without_its_secret_or_of_another_type_is_unauthorized(api: Api) -> None:
    absent = tokens.new_token()
    status, _ = await api.call("GET", "/api/v1/namespaces", token=str(absent))
    assert status == 401
    opaque = tokens.new_token()
    secret = _token_secret(opaque)
    secret["type"] = "Opaque"
    api.env.create(secret)
    status, _ = await api.call("GET", "/api/v1/namespaces", token=str(opaque))
    assert status == 401


async def test_deleting_the_secret_revokes_the_token(api: Api) -> None:
    token = tokens.new_token()
    api.env.create(_token_secret(token))
    assert (await api.call("GET", "/api/v1/namespaces", token=str(token)))[0] == 200
    status, _ = await api.call("DELETE", f"/api/v1/namespaces/kube-system/secrets/{token.secret_name}",
                               token=api.env.token)
    assert status == 200
    assert (await api.call("GET", "/api/v1/namespaces", token=str(token)))[0] == 401


# --- kubelet client certificates -----------------------------------------------------------------------------------


async def test_a_kubelet_csr_from_a_bootstrap_token_is_approved_and_signed_and_the_certificate_authenticates(
    api: Api,
) -> None:
    token = tokens.new_token()
    api.env.create(_token_secret(token))
    request, key = _request("system:node:worker-1")
    status, created = await api.call("POST", CSRS, token=str(token),
                                     body=_csr("node-csr-1", request, username="someone-else", groups=["x"]))
    assert status == 201
    # kube-apiserver stamps the requester, whatever the client sent; a new request has an empty status.
    assert created["spec"]["username"] == f"system:bootstrap:{token.token_id}"
    assert created["status"] == {}
    await api.env.settle()
    status, csr = await api.call("GET", f"{CSRS}/node-csr-1", token=str(token))
    [approved] = csr["status"]["conditions"]
    assert (approved["type"], approved["status"], approved["reason"], approved["message"]) == (
        "Approved", "True", "AutoApproved", "Auto approving kubelet client certificate after SubjectAccessReview.")
    assert approved["lastUpdateTime"] and approved["lastTransitionTime"]

    certificate = x509.load_pem_x509_certificate(base64.b64decode(csr["status"]["certificate"]))
    certificate.verify_directly_issued_by(api.env.ca.certificate)
    assert certificate.subject.rfc4514_string() == "CN=system:node:worker-1,O=system:nodes"
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=364) < lifetime <= dt.timedelta(days=365)

    node_pem = _pem(csr["status"]["certificate"], key)
    status, _ = await api.call("POST", "/api/v1/nodes", client_pem=node_pem,
                               body={"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1"}})
    assert status == 201
    [event] = api.env.audit.events(resource="nodes", verb="create")
    assert event.user == "system:node:worker-1"
    # A client certificate wins over a bearer token, as in kube-apiserver's union of authenticators.
    status, _ = await api.call("GET", "/api/v1/nodes/worker-1", client_pem=node_pem, token="not-a-token")
    assert status == 200

    # Renewing: the node asks for its own name with its certificate (O=system:nodes) and is approved too.
    renewal, _ = _request("system:node:worker-1", key=key)
    status, created = await api.call("POST", CSRS, client_pem=node_pem,
                                     body=_csr("renewal", renewal, expirationSeconds=3600))
    assert (created["spec"]["username"], created["spec"]["groups"]) == (
        "system:node:worker-1", ["system:nodes", "system:authenticated"])
    await api.env.settle()
    _, renewed = await api.call("GET", f"{CSRS}/renewal", client_pem=node_pem)
    assert renewed["status"]["conditions"][0]["message"] == (
        "Auto approving self kubelet client certificate after SubjectAccessReview.")
    short = x509.load_pem_x509_certificate(base64.b64decode(renewed["status"]["certificate"]))
    assert short.not_valid_after_utc - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)


async def test_requests_the_approver_does_not_recognize_stay_pending(api: Api) -> None:
    token = tokens.new_token()
    api.env.create(_token_secret(token))
    kubelet_request, _ = _request("system:node:n1")
    wrong_group, _ = _request("system:node:n1", ("system:masters",))
    not_a_node, _ = _request("alice", ("system:nodes",))
    requests = {
        "other-signer": _csr("other-signer", kubelet_request, signer="example.com/my-signer"),
        "apiserver-client": _csr("apiserver-client", kubelet_request, signer="kubernetes.io/kube-apiserver-client"),
        "wrong-group": _csr("wrong-group", wrong_group),
        "not-a-node": _csr("not-a-node", not_a_node),
        "server-usage": _csr("server-usage", kubelet_request, usages=("digital signature", "server auth")),
    }
    for body in requests.values():
        status, created = await api.call("POST", CSRS, token=str(token), body=body)
        assert status == 201, created
    # A node may not ask for another node's certificate.
    node = pki.issue_certificate(api.env.ca, "system:node:n2", usage="client", organizations=["system:nodes"])
    status, _ = await api.call("POST", CSRS, client_pem=node.cert_pem + node.key_pem, body=_csr("other-node",
                                                                                              kubelet_request))
    assert status == 201
    await api.env.settle()
    for name in [*requests, "other-node"]:
        _, csr = await api.call("GET", f"{CSRS}/{name}", token=api.env.token)
        assert csr["status"] == {}, name


async def test_an_admin_approves_through_the_approval_subresource_and_the_signer_signs(api: Api) -> None:
    request, _ = _request("alice", ("developers",))
    body = _csr("alice", request, signer="kubernetes.io/kube-apiserver-client",
                usages=("digital signature", "key encipherment", "client auth"))
    status, csr = await api.call("POST", CSRS, token=api.env.token, body=body)
    assert status == 201
    await api.env.settle()
    approved = {**csr, "status": {"conditions": [{"type": "Approved", "status": "True", "reason": "ByHand",
                                                  "message": "looks fine"}]}}
    # The status endpoint may not add approval conditions; the main endpoint ignores status.
    status, error = await api.call("PUT", f"{CSRS}/alice/status", token=api.env.token, body=approved)
    assert status == 422
    assert 'status.conditions: Forbidden: updates may not add a condition of type "Approved"' in error["message"]
    status, unchanged = await api.call("PUT", f"{CSRS}/alice", token=api.env.token, body=approved)
    assert (status, unchanged["status"]) == (200, {})
    status, updated = await api.call("PUT", f"{CSRS}/alice/approval", token=api.env.token, body=approved)
    assert status == 200
    assert _condition_types(updated) == ["Approved"]
    await api.env.settle()
    _, signed = await api.call("GET", f"{CSRS}/alice", token=api.env.token)
    certificate = x509.load_pem_x509_certificate(base64.b64decode(signed["status"]["certificate"]))
    assert certificate.subject.rfc4514_string() == "CN=alice,O=developers"
    # Once given, an approval cannot be withdrawn, and the certificate is there to stay.
    status, error = await api.call("PUT", f"{CSRS}/alice/approval", token=api.env.token,
                                   body={**signed, "status": {"conditions": []}})
    assert status == 422
    assert 'updates may not remove a condition of type "Approved"' in error["message"]


async def test_a_denied_request_is_not_signed(api: Api) -> None:
    request, _ = _request("bob", ("developers",))
    _, csr = await api.call("POST", CSRS, token=api.env.token,
                            body=_csr("bob", request, signer="kubernetes.io/kube-apiserver-client"))
    denied = {**csr, "status": {"conditions": [{"type": "Denied", "reason": "No", "message": "no"}]}}
    status, updated = await api.call("PUT", f"{CSRS}/bob/approval", token=api.env.token, body=denied)
    assert status == 200
    assert updated["status"]["conditions"][0]["status"] == "True"  # defaulted
    await api.env.settle()
    _, after = await api.call("GET", f"{CSRS}/bob", token=api.env.token)
    assert "certificate" not in after["status"]


async def test_an_invalid_request_is_rejected_with_the_real_messages(api: Api) -> None:
    request, _ = _request("system:node:n1")
    cases = {
        "spec.usages: Required value": _csr("a", request, usages=()),
        'spec.usages[0]: Unsupported value: "flying"': _csr("b", request, usages=("flying",)),
        "spec.signerName: Required value": _csr("c", request, signer=""),
        'spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via '
        "this API version": _csr("d", request, signer="kubernetes.io/legacy-unknown"),
        "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds (10 minutes)":
            _csr("e", request, expirationSeconds=60),
        "PEM block type must be CERTIFICATE REQUEST": _csr("f", base64.b64encode(b"nonsense").decode()),
    }
    for expected, body in cases.items():
        status, error = await api.call("POST", CSRS, token=api.env.token, body=body)
        assert (status, error["reason"]) == (422, "Invalid"), expected
        assert expected in error["message"]


async def test_a_client_certificate_user_without_organization_has_only_the_authenticated_group(api: Api) -> None:
    carol = pki.issue_certificate(api.env.ca, "carol", usage="client")
    request, _ = _request("system:node:n9")
    status, created = await api.call("POST", CSRS, client_pem=carol.cert_pem + carol.key_pem,
                                     body=_csr("carol", request))
    assert status == 201
    assert (created["spec"]["username"], created["spec"]["groups"]) == ("carol", ["system:authenticated"])


# --- real clients --------------------------------------------------------------------------------------------------


def test_kubectl_lists_csrs_and_the_official_client_authenticates_with_the_issued_certificate(
    envtest: EnvTest, envtest_kubeconfig: Path, tmp_path: Path
) -> None:
    kubectl = Kubectl(envtest_kubeconfig, tmp_path / "cache")
    token = tokens.new_token()
    envtest.create(_token_secret(token))
    request, key = _request("system:node:kubectl-node")
    bootstrap_config = tmp_path / "bootstrap.kubeconfig"
    bootstrap_config.write_text(pki.kubeconfig_yaml("k0s", envtest.url, envtest.ca_pem, user="kubelet-bootstrap",
                                                    token=str(token)))
    api = config.new_client_from_config(config_file=str(bootstrap_config))
    try:
        certificates = client.CertificatesV1Api(api)
        certificates.create_certificate_signing_request(_csr("node-csr-kubectl", request))
    finally:
        api.close()

    def issued() -> dict[str, Any] | None:
        csr = envtest.get("certificates.k8s.io/v1", "CertificateSigningRequest", "node-csr-kubectl") or {}
        return csr if (csr.get("status") or {}).get("certificate") else None

    csr = eventually(issued, what="the kubelet CSR is signed")
    table = kubectl.ok("get", "csr")
    assert table.split("\n")[0].split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION",
                                            "CONDITION"]
    assert "node-csr-kubectl" in table and f"system:bootstrap:{token.token_id}" in table and "Approved" in table
    assert kubectl.json("get", "csr", "node-csr-kubectl")["spec"]["signerName"] == KUBELET_SIGNER

    node_pair = pki.KeyPair(base64.b64decode(csr["status"]["certificate"]),
                            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    node_config = tmp_path / "node.kubeconfig"
    node_config.write_text(pki.kubeconfig_yaml("k0s", envtest.url, envtest.ca_pem, user="node", client=node_pair))
    api = config.new_client_from_config(config_file=str(node_config))
    try:
        client.CoreV1Api(api).create_node({"metadata": {"name": "kubectl-node"}})
    finally:
        api.close()
    assert [e.user for e in envtest.audit.events(resource="nodes", verb="create")] == ["system:node:kubectl-node"]
    nodes = Kubectl(node_config, tmp_path / "node-cache").ok("get", "nodes", "-o", "name")
    assert nodes.strip() == "node/kubectl-node"
