"""Several envtest instances in one process (a management cluster and child clusters), from asyncio code."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from kubernetes_asyncio import client, config

from k0smotron_core.envtest import EnvTest


async def _core_api(env: EnvTest, kubeconfig: Path) -> tuple[client.ApiClient, client.CoreV1Api]:
    env.write_kubeconfig(kubeconfig)
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    return api, client.CoreV1Api(api)


async def test_two_instances_in_one_loop_keep_separate_objects(tmp_path: Path) -> None:
    async with EnvTest(name="management") as management, EnvTest(name="child") as child:
        assert management.port != child.port
        mgmt_api, mgmt = await _core_api(management, tmp_path / "management")
        child_api, child_core = await _core_api(child, tmp_path / "child")
        try:
            await mgmt.create_namespaced_config_map("default", {"metadata": {"name": "only-here"}})
            names = [cm.metadata.name for cm in (await child_core.list_namespaced_config_map("default")).items]
            assert names == []
            assert (await mgmt.read_namespaced_config_map("only-here", "default")).metadata.name == "only-here"
        finally:
            await mgmt_api.close()
            await child_api.close()


async def test_each_instance_has_its_own_ca_and_token(tmp_path: Path) -> None:
    async with EnvTest(name="a") as a, EnvTest(name="b") as b:
        trusting_a = ssl.create_default_context(cadata=a.ca_pem.decode())
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.get(f"{b.url}/version", ssl=trusting_a)
            response = await session.get(f"{a.url}/api/v1/namespaces", ssl=trusting_a,
                                         headers={"Authorization": f"Bearer {b.token}"})
            assert response.status == 401
            assert (await response.json())["reason"] == "Unauthorized"
            response = await session.get(f"{a.url}/api/v1/namespaces", ssl=trusting_a,
                                         headers={"Authorization": f"Bearer {a.token}"})
            assert response.status == 200


async def test_a_user_token_is_recorded_as_that_user_in_the_audit_log(async_envtest: EnvTest) -> None:
    token = async_envtest.add_user("system:serviceaccount:capi:bootstrap")
    tls = ssl.create_default_context(cadata=async_envtest.ca_pem.decode())
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{async_envtest.url}/api/v1/namespaces/default/secrets", ssl=tls,
                                     headers={"Authorization": f"Bearer {token}", "User-Agent": "probe/1.0"})
        assert response.status == 200
    [event] = async_envtest.audit.events(user="system:serviceaccount:capi:bootstrap")
    assert (event.verb, event.resource, event.namespace, event.code, event.user_agent) == (
        "list", "secrets", "default", 200, "probe/1.0")


async def test_the_extra_sans_are_in_the_serving_certificate() -> None:
    async with EnvTest(extra_sans=["198.18.0.1", "mgmt.example"]) as env:
        assert env.serving is not None
        names = env.serving.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        rendered = {str(n.value) for n in names}
        assert {"198.18.0.1", "mgmt.example", "127.0.0.1", "localhost"} <= rendered
