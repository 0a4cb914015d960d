"""k0smotron-dev's handling of an example: machines pointed at their hosts, keys, file order, retries."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import asyncssh
import pytest

from k0smotron_core.dev._apply import ExampleError, apply, find_example, load_example, prepare
from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest._install import install_manifests
from k0smotron_core.envtest.capi import CRDS_DIR

ROOT = Path(__file__).resolve().parents[2]


class FakeHost:
    address = "127.0.0.1"

    def __init__(self, port: int) -> None:
        self.port = port
        self.authorized: list[tuple[str, str]] = []

    @property
    def host_key_fingerprint(self) -> str:
        return f"SHA256:fake-{self.port}"

    def authorize(self, public_key_openssh: str, user: str = "root") -> None:
        self.authorized.append((public_key_openssh, user))


def test_the_hcp_example_gets_its_machine_pointed_at_the_host() -> None:
    example = load_example(find_example("hcp-remote-machine"))
    assert example.clusters == [("default", "remote-test")]
    assert [(m.kind, m.name) for m in example.machines] == [("RemoteMachine", "remote-test-0")]
    host = FakeHost(2222)
    prepare(example, {"remote-test-0": host})
    kinds = [o["kind"] for o in example.objects]
    assert kinds == ["Cluster", "K0smotronControlPlane", "RemoteCluster", "Machine", "K0sWorkerConfig", "Secret",
                     "RemoteMachine"]
    spec = example.objects[-1]["spec"]
    assert (spec["address"], spec["port"], spec["hostKeyFingerprint"]) == ("127.0.0.1", 2222, "SHA256:fake-2222")
    secret = example.objects[-2]
    assert secret["metadata"] == {"name": "footloose-key", "namespace": "default"}
    key = asyncssh.import_private_key(base64.b64decode(secret["data"]["value"]))
    assert host.authorized == [(key.export_public_key().decode().strip(), "root")]
    assert example.generated_secrets == ["default/footloose-key"]


def test_pooled_machines_share_a_key_secret_given_in_the_file(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    block = "".join(f"    {line}\n" for line in key.export_private_key().decode().splitlines())
    (tmp_path / "pool.yaml").write_text(f"""
apiVersion: v1
kind: Secret
metadata: {{name: pool-key}}
stringData:
  value: |
{block}---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: PooledRemoteMachine
metadata: {{name: w0}}
spec: {{pool: default, machine: {{address: 1.2.3.4, user: k0s, sshKeyRef: {{name: pool-key}}}}}}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: PooledRemoteMachine
metadata: {{name: w1}}
spec: {{pool: default, machine: {{address: 1.2.3.5, sshKeyRef: {{name: pool-key}}}}}}
""")
    example = load_example(find_example(str(tmp_path / "pool.yaml")))
    hosts = {"w0": FakeHost(1), "w1": FakeHost(2)}
    prepare(example, dict(hosts))
    assert len(example.objects) == 3 and example.generated_secrets == []
    public = key.export_public_key().decode().strip()
    assert hosts["w0"].authorized == [(public, "k0s")] and hosts["w1"].authorized == [(public, "root")]
    assert [o["spec"]["machine"]["port"] for o in example.objects[1:]] == [1, 2]


def test_an_unknown_example_lists_the_known_ones() -> None:
    with pytest.raises(ExampleError, match=r"no example 'nope' in .*known: .*hcp-remote-machine"):
        find_example("nope")


async def test_objects_wait_for_their_crd_and_namespace() -> None:
    objects = [
        {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "RemoteCluster",
         "metadata": {"name": "c", "namespace": "later"}, "spec": {}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "first", "namespace": "default"}},
    ]
    async with EnvTest() as env:
        await install_manifests(env, CRDS_DIR)

        async def install_later() -> None:
            await asyncio.sleep(0.3)
            env.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "later"}})
            await install_manifests(env, ROOT / "crds" / "infrastructure.cluster.x-k8s.io_remoteclusters.yaml")

        later = asyncio.create_task(install_later())
        applied = await apply(env, objects, timeout_s=10)
        await later
        assert applied == ["ConfigMap default/first", "RemoteCluster later/c"]
        assert env.get("infrastructure.cluster.x-k8s.io/v1beta1", "RemoteCluster", "c", "later") is not None
        with pytest.raises(ExampleError, match="Widget w: no matches for kind"):
            await apply(env, [{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}],
                        timeout_s=0.3)
