"""The rendered user data passes cloud-init's own schema validation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from k0smotron_core.api.bootstrap import K0sConfigSpec, K0sWorkerConfigSpec
from k0smotron_core.cloudinit import BootstrapFile, render_controller, render_worker

from ._cloud_init import as_cloud_init_sees_it

pytestmark = pytest.mark.skipif(shutil.which("cloud-init") is None,
                                reason="the cloud-init command is not installed (`make setup` installs it as root)")

WORKER = K0sWorkerConfigSpec.from_dict({
    "version": "v1.27.2+k0s.0",
    "preStartCommands": ["apt-get update && apt-get install -y curl jq", "echo '{{x}}' >> /etc/environment"],
    "postStartCommands": ["kubectl describe node $(hostname) --kubeconfig=/var/lib/k0s/pki/admin.conf"],
    "downloadURL": "oci://registry.example.com/k0s@sha256:abc",
})
CONTROLLER = K0sConfigSpec.from_dict({"k0s": {"spec": {"api": {"sans": ["a"]}}}, "args": ["--enable-worker"]})
FILES = [BootstrapFile(path="/etc/pem", content="-----BEGIN X-----\nabc\n-----END X-----\n", permissions="0600")]


@pytest.mark.parametrize("user_data", [
    pytest.param(render_worker(WORKER, machine_name="w", join_token="t", files=FILES), id="worker"),
    pytest.param(render_worker(WORKER, machine_name="w", join_token="t", files=[],
                               custom_user_data="#cloud-config\nbootcmd:\n- echo hi\n"), id="worker-custom"),
    pytest.param(render_controller(CONTROLLER, version="v1.32.1+k0s.0", machine_name="c", join_token="t",
                                   ca_files=FILES, files=FILES), id="controller"),
])
def test_cloud_init_schema_accepts_the_user_data(tmp_path: Path, user_data: str) -> None:
    # This cloud-init (22.4) validates only after its Jinja pass, which the header asks for; so validate what the
    # node's cloud-init parses.
    config = tmp_path / "user-data"
    config.write_text(as_cloud_init_sees_it(user_data))
    result = subprocess.run(["cloud-init", "schema", "--config-file", str(config)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
