"""The runtime's own kubeconfig / in-cluster loader, alone and against envtest (tokens, client certificates,
relative paths, contexts, exec plugins), and that the runtime no longer imports kubernetes-asyncio."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from k0smotron_core import pki
from k0smotron_core.envtest import EnvTest
from k0smotron_core.runtime._kubeconfig import (
    ClientConfig,
    ConfigException,
    ExecPlugin,
    NoConfiguration,
    ParserError,
    StaticAuthorization,
    TokenFile,
    from_dict,
    from_file,
    from_files,
    from_yaml,
    in_cluster,
    load,
    merge_kubeconfigs,
    parse_kubeconfig,
)
from k0smotron_core.runtime._transport import APIError, ConnectionFailed, ConnectionSettings, HTTPTransport
from k0smotron_core.runtime._workload import WorkloadClusterUnavailable, transport_from_kubeconfig

SECRET = "s3cr3t-t0ken-do-not-print"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kubeconfig(server: str = "https://127.0.0.1:6443", *, cluster: dict[str, Any] | None = None,
                user: dict[str, Any] | None = None, name: str = "dev") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": name, "user": user if user is not None else {"token": SECRET}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }


async def _authorization(config: ClientConfig) -> str | None:
    return None if config.credentials is None else await config.credentials.authorization()


async def _namespaces(config: ClientConfig) -> list[str]:
    transport = HTTPTransport(ConnectionSettings.from_configuration(config), qps=0)
    try:
        listed = await transport.request("GET", "/api/v1/namespaces")
    finally:
        await transport.close()
    return sorted(item["metadata"]["name"] for item in listed["items"])


def _no_secret_in(error: BaseException, *secrets: str) -> None:
    for secret in (SECRET, *secrets):
        assert secret not in str(error), str(error)
    assert "\n" not in str(error)


# --- the loader alone ----------------------------------------------------------------------------------------

async def test_a_token_kubeconfig() -> None:
    config = from_dict(_kubeconfig("https://10.0.0.1:6443/"))
    assert (config.server, config.context, config.tls_server_name) == ("https://10.0.0.1:6443", "dev", None)
    assert await _authorization(config) == f"Bearer {SECRET}"
    assert isinstance(config.ssl_context, ssl.SSLContext)
    assert config.ssl_context.verify_mode == ssl.CERT_REQUIRED and config.ssl_context.check_hostname
    assert SECRET not in repr(config)
    # A fixed token is a session header; only rotating credentials are asked before each request.
    settings = ConnectionSettings.from_configuration(config)
    assert (settings.headers, settings.credentials) == ({"Authorization": f"Bearer {SECRET}"}, None)


async def test_basic_auth_a_server_without_scheme_and_tls_server_name() -> None:
    config = from_dict(_kubeconfig("10.0.0.1:6443", cluster={"tls-server-name": "kubernetes"},
                                   user={"username": "admin", "password": "pw"}))
    assert config.server == "https://10.0.0.1:6443"
    assert config.tls_server_name == "kubernetes"
    assert await _authorization(config) == "Basic " + _b64(b"admin:pw")
    plain = from_dict(_kubeconfig("http://127.0.0.1:8080", user={}))
    assert (plain.ssl_context, plain.credentials) == (None, None)
    assert ConnectionSettings.from_configuration(plain).ssl_context is True


def test_a_named_context_and_a_missing_one() -> None:
    kubeconfig = _kubeconfig()
    kubeconfig["clusters"].append({"name": "other", "cluster": {"server": "https://other:6443"}})
    kubeconfig["contexts"].append({"name": "other", "context": {"cluster": "other", "user": "dev"}})
    assert from_dict(kubeconfig, context="other").server == "https://other:6443"
    assert from_dict(kubeconfig).server == "https://127.0.0.1:6443"
    with pytest.raises(ConfigException) as error:
        from_dict(kubeconfig, context="nope")
    assert str(error.value) == "context 'nope' is not in the kubeconfig (contexts: dev, other)"
    del kubeconfig["current-context"]
    with pytest.raises(ConfigException, match=r"^Invalid kube-config file\. Expected key current-context"):
        from_dict(kubeconfig)
    kubeconfig["contexts"][0]["context"]["cluster"] = "gone"
    with pytest.raises(ConfigException, match=r"^context 'dev': cluster 'gone' is not in the kubeconfig$"):
        from_dict(kubeconfig, context="dev")


def test_insecure_skip_tls_verify() -> None:
    config = from_dict(_kubeconfig(cluster={"insecure-skip-tls-verify": True}))
    assert config.ssl_context is not None
    assert (config.ssl_context.verify_mode, config.ssl_context.check_hostname) == (ssl.CERT_NONE, False)
    with pytest.raises(ConfigException, match="insecure-skip-tls-verify together are not allowed"):
        from_dict(_kubeconfig(cluster={"insecure-skip-tls-verify": True, "certificate-authority-data": "eA=="}))


@pytest.mark.parametrize("text", [
    f"users:\n- name: x\n  user: {{token: {SECRET}\n",
    f"clusters: [\n  {SECRET}",
    f"a: b\n  c: {SECRET}: q\n",
    f"users:\n- name: x\n  user:\n    token: {SECRET}\n    token: {SECRET}-2\n",  # a duplicate key
    f"- {SECRET}\n",
    SECRET,
    b"\xff\xfe" + SECRET.encode(),
])
def test_garbage_is_refused_without_echoing_it(text: str | bytes) -> None:
    with pytest.raises(ConfigException) as error:
        from_yaml(text)
    _no_secret_in(error.value)


def test_a_parser_error_says_what_and_where() -> None:
    with pytest.raises(ParserError) as error:
        parse_kubeconfig("clusters: [")
    assert str(error.value) == ("while parsing a flow node; expected the node content, but found '<stream end>' "
                                "(line 1, column 12)")


@pytest.mark.parametrize(("user", "message"), [
    ({"client-certificate-data": "!!!", "client-key-data": _b64(b"k")}, "client-certificate-data is not base64"),
    ({"client-certificate-data": _b64(SECRET.encode()), "client-key-data": _b64(SECRET.encode())},
     "the client certificate and key cannot be loaded (SSLError: "),
    ({"client-certificate-data": _b64(b"x")}, "needs both a certificate and a key"),
    ({"auth-provider": {"name": "gcp", "config": {"access-token": SECRET}}},
     "auth-provider 'gcp' is not supported (kubectl removed them; use an exec plugin)"),
    ({"token": SECRET, "exec": {"command": "x"}}, "more than one authentication method (token, exec)"),
    ({"as": "someone", "token": SECRET}, "impersonation (as) is not supported"),
    ({"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1alpha1"}},
     "exec apiVersion 'client.authentication.k8s.io/v1alpha1' is not supported"),
    ({"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Always"}},
     "needs a terminal"),
    ({"tokenFile": "/nonexistent/token"}, "tokenFile /nonexistent/token does not exist"),
])
def test_unusable_users_are_one_clear_line(user: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigException) as error:
        from_dict(_kubeconfig(user=user))
    assert str(error.value).startswith("user 'dev': ")
    assert message in str(error.value)
    _no_secret_in(error.value)


def test_proxy_url_is_refused() -> None:
    with pytest.raises(ConfigException, match=r"^cluster 'dev': proxy-url is not supported$"):
        from_dict(_kubeconfig(cluster={"proxy-url": "http://proxy:3128"}))


def test_inline_only_refuses_files_and_commands(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(SECRET)
    for user in ({"tokenFile": str(token)}, {"exec": {"command": "/bin/true"}}):
        with pytest.raises(ConfigException, match="is not allowed here"):
            from_dict(_kubeconfig(user=user), inline_only=True)
    with pytest.raises(ConfigException, match=r"^cluster 'dev': certificate-authority is not allowed here"):
        from_dict(_kubeconfig(cluster={"certificate-authority": "/etc/ssl/certs/ca-certificates.crt"}),
                  inline_only=True)


async def test_a_token_file_is_read_again_after_its_refresh_period(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    now = [0.0]
    token = TokenFile(path, refresh_s=60, clock=lambda: now[0])
    path.write_text("second")
    assert await token.authorization() == "Bearer first"
    now[0] = 61
    assert await token.authorization() == "Bearer second"
    path.unlink()  # a failed re-read keeps the last token
    now[0] = 200
    assert await token.authorization() == "Bearer second"
    assert "second" not in repr(token)


def test_kubeconfig_merge_first_wins(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _kubeconfig("https://first:6443", user={"tokenFile": "token"}, name="a")
    first["clusters"].append({"name": "shared", "cluster": {"server": "https://from-a:6443"}})
    second = _kubeconfig("https://second:6443", user={"tokenFile": "token"}, name="b")
    second["clusters"].append({"name": "shared", "cluster": {"server": "https://from-b:6443"}})
    second["contexts"].append({"name": "s", "context": {"cluster": "shared", "user": "b"}})
    for directory, document in (("a", first), ("b", second)):
        (tmp_path / directory / "token").write_text(f"token-{directory}")
        (tmp_path / directory / "config").write_text(json.dumps(document))
    merged = merge_kubeconfigs([first, second])
    assert merged["current-context"] == "a"
    assert [c["name"] for c in merged["clusters"]] == ["a", "shared", "b"]
    paths = [tmp_path / "a" / "config", tmp_path / "missing", tmp_path / "b" / "config"]
    environ = {"KUBECONFIG": os.pathsep.join(map(str, paths))}
    assert load(environ=environ).server == "https://first:6443"
    shared = load(environ=environ, context="s")
    assert shared.server == "https://from-a:6443"
    b = from_files(paths[::2], context="b")
    assert isinstance(b.credentials, TokenFile)
    assert b.credentials.path == tmp_path / "b" / "token"  # relative to the file that defined the user


def test_load_order(tmp_path: Path) -> None:
    with pytest.raises(NoConfiguration, match=r"^no kubeconfig: "):
        load(environ={}, home=tmp_path)
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(json.dumps(_kubeconfig("https://home:6443")))
    assert load(environ={"KUBECONFIG": str(tmp_path / "none")}, home=tmp_path).server == "https://home:6443"
    with pytest.raises(ConfigException, match=r"^not in a cluster"):
        load(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, home=tmp_path)


def test_in_cluster_requires_its_files(tmp_path: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigException, match=f"^cannot read the token file {tmp_path}/token"):
        in_cluster(base_dir=tmp_path, environ=environ)
    (tmp_path / "token").write_text(SECRET)
    with pytest.raises(ConfigException, match=f"^cannot load the service account CA {tmp_path}/ca.crt"):
        in_cluster(base_dir=tmp_path, environ=environ)
    (tmp_path / "ca.crt").write_bytes(pki.generate_ca("ca", algorithm="ecdsa-p256").cert_pem)
    assert in_cluster(base_dir=tmp_path, environ=environ).server == "https://[fd00::1]:443"


async def test_a_workload_kubeconfig_error_names_the_problem_not_the_content() -> None:
    with pytest.raises(WorkloadClusterUnavailable) as error:
        await transport_from_kubeconfig(_kubeconfig(user={"client-key-data": _b64(SECRET.encode())}),
                                        user_agent="test")
    assert str(error.value) == ("unusable kubeconfig: user 'dev': a client certificate needs both a certificate "
                                "and a key")


# --- against envtest ---------------------------------------------------------------------------------------------

def _client_certificate(env: EnvTest, name: str = "cert-admin") -> pki.KeyPair:
    return pki.issue_certificate(env.ca, name, usage="client", organizations=["system:masters"],
                                 algorithm="ecdsa-p256")


async def test_envtest_with_a_token_kubeconfig_file(async_envtest: EnvTest, tmp_path: Path) -> None:
    config = from_file(async_envtest.write_kubeconfig(tmp_path / "kubeconfig"))
    assert "default" in await _namespaces(config)
    wrong = from_dict(async_envtest.kubeconfig(token="not-a-token"))
    with pytest.raises(APIError) as error:
        await _namespaces(wrong)
    assert error.value.status == 401


async def test_envtest_with_client_certificate_data(async_envtest: EnvTest) -> None:
    pair = _client_certificate(async_envtest)
    kubeconfig = async_envtest.kubeconfig()
    kubeconfig["users"][0]["user"] = {"client-certificate-data": _b64(pair.cert_pem),
                                      "client-key-data": _b64(pair.key_pem)}
    config = from_dict(kubeconfig)
    assert config.credentials is None
    assert "kube-system" in await _namespaces(config)


async def test_envtest_with_files_relative_to_the_kubeconfig(async_envtest: EnvTest, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pair = _client_certificate(async_envtest)
    directory = tmp_path / "conf"
    (directory / "pki").mkdir(parents=True)
    (directory / "pki" / "ca.crt").write_bytes(async_envtest.ca_pem)
    (directory / "pki" / "client.crt").write_bytes(pair.cert_pem)
    (directory / "pki" / "client.key").write_bytes(pair.key_pem)
    kubeconfig = async_envtest.kubeconfig()
    kubeconfig["clusters"][0]["cluster"] = {"server": async_envtest.url, "certificate-authority": "pki/ca.crt"}
    kubeconfig["users"][0]["user"] = {"client-certificate": "pki/client.crt", "client-key": "pki/client.key"}
    (directory / "config").write_text(json.dumps(kubeconfig))
    monkeypatch.chdir(tmp_path)  # elsewhere: paths must resolve against the kubeconfig's directory
    assert "default" in await _namespaces(from_file(directory / "config"))


async def test_envtest_with_insecure_skip_tls_verify_and_tls_server_name(async_envtest: EnvTest) -> None:
    insecure = async_envtest.kubeconfig()
    insecure["clusters"][0]["cluster"] = {"server": async_envtest.url, "insecure-skip-tls-verify": True}
    assert "default" in await _namespaces(from_dict(insecure))
    named = async_envtest.kubeconfig()
    named["clusters"][0]["cluster"]["tls-server-name"] = "localhost"
    assert "default" in await _namespaces(from_dict(named))
    named["clusters"][0]["cluster"]["tls-server-name"] = "not-the-server.example"
    with pytest.raises(ConnectionFailed, match="certificate verify failed"):
        await _namespaces(from_dict(named))


async def test_envtest_in_cluster_with_a_rotated_token(async_envtest: EnvTest, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(async_envtest.add_user("system:serviceaccount:k0smotron:controller",
                                                           groups=["system:masters"]))
    (tmp_path / "ca.crt").write_bytes(async_envtest.ca_pem)
    environ = {"KUBERNETES_SERVICE_HOST": async_envtest.host, "KUBERNETES_SERVICE_PORT": str(async_envtest.port)}
    config = in_cluster(base_dir=tmp_path, environ=environ)
    assert isinstance(config.credentials, TokenFile)
    config.credentials._refresh_s = 0  # read the file before every request
    transport = HTTPTransport(ConnectionSettings.from_configuration(config), qps=0)
    try:
        await transport.request("GET", "/api/v1/namespaces")
        (tmp_path / "token").write_text("revoked")
        with pytest.raises(APIError):
            await transport.request("GET", "/api/v1/namespaces")
        (tmp_path / "token").write_text(async_envtest.token)  # kubelet's rotation
        await transport.request("GET", "/api/v1/namespaces")
    finally:
        await transport.close()


def _plugin(tmp_path: Path, credential: dict[str, Any] | str, exit_code: int = 0) -> Path:
    """An exec plugin printing `credential`, counting its runs in `runs` and saving what it was told."""
    script = tmp_path / "plugin.py"
    script.write_text(textwrap.dedent(f"""\
        import json, os, sys
        with open({str(tmp_path / "runs")!r}, "a") as runs:
            runs.write("x")
        with open({str(tmp_path / "told.json")!r}, "w") as told:
            json.dump({{"info": json.loads(os.environ["KUBERNETES_EXEC_INFO"]), "args": sys.argv[1:],
                       "env": os.environ.get("PLUGIN_ENV")}}, told)
        print({json.dumps(credential) if isinstance(credential, dict) else credential!r})
        print("something {SECRET}", file=sys.stderr)
        sys.exit({exit_code})
        """))
    return script


@pytest.fixture
def exec_user(tmp_path: Path) -> dict[str, Any]:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": [str(tmp_path / "plugin.py"), "--flag"], "env": [{"name": "PLUGIN_ENV", "value": "v"}],
                     "interactiveMode": "Never", "provideClusterInfo": True}}


async def test_envtest_with_an_exec_plugin_cached_until_expiry(async_envtest: EnvTest, tmp_path: Path,
                                                               exec_user: dict[str, Any]) -> None:
    expiry = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    _plugin(tmp_path, {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                       "status": {"token": async_envtest.token, "expirationTimestamp": "2030-01-01T00:00:00Z"}})
    kubeconfig = async_envtest.kubeconfig()
    kubeconfig["users"][0]["user"] = exec_user
    config = from_dict(kubeconfig)
    assert isinstance(config.credentials, ExecPlugin)
    now = [expiry - dt.timedelta(hours=1)]
    config.credentials._now = lambda: now[0]
    assert "default" in await _namespaces(config)
    assert "default" in await _namespaces(config)
    assert (tmp_path / "runs").read_text() == "x"  # cached
    now[0] = expiry
    assert "default" in await _namespaces(config)
    assert (tmp_path / "runs").read_text() == "xx"  # expired: run again
    told = json.loads((tmp_path / "told.json").read_text())
    assert told["args"] == ["--flag"] and told["env"] == "v"
    assert told["info"]["spec"]["interactive"] is False
    assert told["info"]["spec"]["cluster"]["server"] == async_envtest.url


@pytest.mark.parametrize(("output", "exit_code", "message"), [
    ("not json", 0, "did not print an ExecCredential (not JSON)"),
    ({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "status": {"token": SECRET}},
     0, "answered with apiVersion 'client.authentication.k8s.io/v1beta1', not 'client.authentication.k8s.io/v1'"),
    ({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1",
      "status": {"clientCertificateData": SECRET, "clientKeyData": SECRET}}, 0,
     "answered with a client certificate: not supported, only tokens"),
    ({}, 3, "failed with exit status 3"),
])
async def test_exec_plugin_failures_are_clear_and_quote_nothing(
        tmp_path: Path, exec_user: dict[str, Any], output: dict[str, Any] | str, exit_code: int, message: str) -> None:
    _plugin(tmp_path, output, exit_code)
    config = from_dict(_kubeconfig(user=exec_user))
    with pytest.raises(ConfigException) as error:
        await _authorization(config)
    assert message in str(error.value)
    _no_secret_in(error.value)
    # Through the transport, a plugin failure is a connection failure with that reason.
    transport = HTTPTransport(ConnectionSettings.from_configuration(config), qps=0)
    with pytest.raises(ConnectionFailed, match=message.split("(")[0].split("'")[0]):
        await transport.request("GET", "/version")
    await transport.close()


async def test_a_missing_exec_plugin_gives_its_install_hint() -> None:
    config = from_dict(_kubeconfig(user={"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "no-such-plugin-anywhere",
        "installHint": "install it with brew"}}))
    with pytest.raises(ConfigException, match=(r"^exec plugin 'no-such-plugin-anywhere' cannot be run "
                                               r"\(FileNotFoundError\); install it with brew$")):
        await _authorization(config)


def test_static_authorization_repr_hides_the_token() -> None:
    assert SECRET not in repr(StaticAuthorization(f"Bearer {SECRET}"))


# --- no kubernetes-asyncio ---------------------------------------------------------------------------------------

_CONNECT_AND_CHECK = """
import asyncio, json, sys
from k0smotron_core.runtime import Manager, ManagerOptions

async def main() -> None:
    manager = Manager(ManagerOptions(kubeconfig=sys.argv[1], metrics_bind_address="0",
                                     health_probe_bind_address="0"))
    await manager.connect()
    namespaces = await manager.client.list("v1", "Namespace")
    await manager.transport.close()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("kubernetes_asyncio", "kubernetes"))
    print(json.dumps({"namespaces": len(namespaces), "loaded": loaded}))

asyncio.run(main())
"""


def test_the_runtime_never_imports_kubernetes_asyncio(envtest: EnvTest, tmp_path: Path) -> None:
    kubeconfig = envtest.write_kubeconfig(tmp_path / "kubeconfig")
    done = subprocess.run([sys.executable, "-c", _CONNECT_AND_CHECK, str(kubeconfig)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["namespaces"] >= 1
    assert result["loaded"] == []
