"""SSH fan-out: provision N real-sshd hosts at once with the infrastructure provider's provisioner, then run the same
bootstrap on the same hosts with Ansible (ansible-core, forks=N), and compare the wall times.

Prints one JSON line: {"hosts", "ours_s", "ansible_s", "speedup", ...}.

Each host is OpenSSH's sshd in a network namespace (k0smotron_core.envtest.hosts) with the simulated k0s; the worker
bootstrap data is what the bootstrap provider renders for a Machine named after the host (join token for a child
API server on the hosts' gateway). "ours" is `providers.infrastructure._provision.Provisioner` over
`k0smotron_core.ssh` for every host concurrently, exactly what a RemoteMachine reconcile runs (with host key pinning).
"ansible" is one `ansible-playbook -f N` run doing the same: write the files with their modes, run each command in
order (stopping a host at its first failure), require the sentinel; host keys are checked against a known_hosts file
of the N keys; SSH pipelining is on and ControlPersist is Ansible's default, so Ansible is not handicapped. Between
the two runs every host is reset (k0s stop/reset, records, sentinel, its Node), so both start from the same state.

Needs root (network namespaces) and `pip install -e '.[bench]'` (ansible-core).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncssh

from k0smotron_core import cloudinit, ssh, tokens
from k0smotron_core.api.bootstrap import K0sWorkerConfigSpec
from k0smotron_core.envtest import EnvTest
from k0smotron_core.envtest.hosts import NetnsHost, NetnsNetwork, netns_unavailable
from providers.infrastructure._bootstrapdata import parse
from providers.infrastructure._provision import SENTINEL, Provisioner, plan, records_dir

K0S_VERSION = "v1.27.2+k0s.0"
WORKING_DIR = "/etc/k0smotron"


def _bootstrap(host: NetnsHost, join_token: str) -> bytes:
    spec = K0sWorkerConfigSpec.model_validate({"version": K0S_VERSION})
    return cloudinit.render_worker(spec, machine_name=host.name, join_token=join_token, files=[]).encode()


async def _ours(hosts: list[NetnsHost], data: dict[str, bytes], private_key: bytes) -> float:
    async def provision(host: NetnsHost) -> None:
        bootstrap = parse(data[host.name])
        steps, uploads = plan(bootstrap, working_dir=WORKING_DIR, commands_as_script=False)
        target = ssh.Target(host.address, private_key, port=host.port,
                            host_key=ssh.HostKeyVerification(fingerprints=(host.host_key_fingerprint,)))
        async with ssh.connect(target, timeouts=ssh.Timeouts(connect=30, command=120, overall=600),
                               redact=bootstrap.secrets()) as shell:
            await Provisioner(shell, steps, uploads, records=records_dir(WORKING_DIR, f"bench-{host.name}"),
                              command_timeout=120, secrets=bootstrap.secrets()).run()

    started = time.perf_counter()
    await asyncio.gather(*(provision(host) for host in hosts))
    return time.perf_counter() - started


def _ansible_inputs(scratch: Path, hosts: list[NetnsHost], data: dict[str, bytes], key_file: Path) -> Path:
    known_hosts = scratch / "known_hosts"
    known_hosts.write_text("".join(f"{host.known_hosts_line}\n" for host in hosts))
    inventory: dict[str, Any] = {"all": {"hosts": {}, "vars": {
        "ansible_user": "root", "ansible_ssh_private_key_file": str(key_file),
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes",
    }}}
    for host in hosts:
        bootstrap = parse(data[host.name])
        inventory["all"]["hosts"][host.name] = {
            "ansible_host": host.address, "ansible_port": host.port,
            "bootstrap_files": [{"path": f.path, "content": f.content.decode(), "mode": f"{f.mode:04o}"}
                                for f in bootstrap.files],
            "bootstrap_commands": list(bootstrap.commands),
        }
    (scratch / "inventory.json").write_text(json.dumps(inventory))
    playbook = [{
        "hosts": "all", "gather_facts": False,
        "tasks": [
            {"name": "write files", "loop": "{{ bootstrap_files }}", "no_log": True,
             "ansible.builtin.copy": {"dest": "{{ item.path }}", "content": "{{ item.content }}",
                                      "mode": "{{ item.mode }}"}},
            {"name": "run commands", "loop": "{{ bootstrap_commands }}",
             "ansible.builtin.shell": "{{ item }}"},
            {"name": "sentinel", "ansible.builtin.stat": {"path": SENTINEL}, "register": "sentinel"},
            {"name": "require sentinel", "ansible.builtin.assert": {"that": "sentinel.stat.exists"}},
        ],
    }]
    (scratch / "playbook.json").write_text(json.dumps(playbook))
    (scratch / "ansible.cfg").write_text(f"[defaults]\nforks = {len(hosts)}\nhost_key_checking = True\n"
                                         "interpreter_python = /usr/bin/python3\n"
                                         "[ssh_connection]\npipelining = True\n")
    return scratch


async def _ansible(scratch: Path, forks: int) -> float:
    playbook = Path(sys.executable).parent / "ansible-playbook"
    env = {**os.environ, "ANSIBLE_CONFIG": str(scratch / "ansible.cfg"), "ANSIBLE_LOCAL_TEMP": str(scratch / "tmp"),
           "ANSIBLE_HOME": str(scratch / "home"), "ANSIBLE_NOCOLOR": "1"}
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        str(playbook), "-i", str(scratch / "inventory.json"), "-f", str(forks), str(scratch / "playbook.json"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 1800)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        sys.stderr.write(output.decode()[-4000:])
        raise SystemExit(f"ssh_fanout: ansible-playbook exited {process.returncode}")
    return elapsed


async def _reset(hosts: list[NetnsHost], child: EnvTest) -> None:
    """Back to the state before provisioning, on every host and in the child cluster."""
    async def reset(host: NetnsHost) -> None:
        await host.sandbox.run(f"k0s stop || true; k0s reset || true; rm -rf {WORKING_DIR}/.k0smotron {SENTINEL}",
                               timeout=120)

    await asyncio.gather(*(reset(host) for host in hosts))
    for host in hosts:
        rt = child.resource_type("v1", "Node")
        if child.store.get(rt.group_resource, "", host.name) is not None:
            raise SystemExit(f"ssh_fanout: Node {host.name} survived k0s reset")


def _nodes_ready(child: EnvTest, hosts: list[NetnsHost]) -> int:
    rt = child.resource_type("v1", "Node")
    return sum(1 for host in hosts if child.store.get(rt.group_resource, "", host.name) is not None)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    args = parser.parse_args()
    reason = netns_unavailable()
    if reason is not None:
        raise SystemExit(f"ssh_fanout: cannot run real-sshd hosts here: {reason}")
    if shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) is None:
        raise SystemExit("ssh_fanout: ansible-playbook not found; install the bench extra: pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory(prefix="ssh-fanout-") as scratch_dir:
        scratch = Path(scratch_dir)
        network = await NetnsNetwork.create(scratch / "hosts")
        try:
            boot_started = time.perf_counter()
            hosts = await network.add_hosts([f"fanout-{i:03d}" for i in range(args.hosts)])
            boot_s = time.perf_counter() - boot_started
            key = asyncssh.generate_private_key("ssh-ed25519")
            private_key = key.export_private_key()
            key_file = scratch / "id_ed25519"
            key_file.write_bytes(private_key)
            key_file.chmod(0o600)
            for host in hosts:
                host.authorize(key.export_public_key().decode())
            async with EnvTest(name="fanout-child", host=network.gateway) as child:
                token = tokens.new_token()
                child.create(tokens.bootstrap_token_secret(token, role="worker", now=dt.datetime.now(dt.UTC),
                                                           ttl=dt.timedelta(hours=2)))
                join = tokens.join_token(token, server=child.url, ca_pem=child.ca_pem, role="worker")
                data = {host.name: _bootstrap(host, join) for host in hosts}
                ours_s = await _ours(hosts, data, private_key)
                ours_nodes = _nodes_ready(child, hosts)
                await _reset(hosts, child)
                _ansible_inputs(scratch, hosts, data, key_file)
                ansible_s = await _ansible(scratch, len(hosts))
                ansible_nodes = _nodes_ready(child, hosts)
        finally:
            await network.close()
    if ours_nodes != args.hosts or ansible_nodes != args.hosts:
        raise SystemExit(f"ssh_fanout: nodes joined: ours {ours_nodes}, ansible {ansible_nodes} of {args.hosts}")
    print(json.dumps({"hosts": args.hosts, "ours_s": round(ours_s, 2), "ansible_s": round(ansible_s, 2),
                      "speedup": round(ansible_s / ours_s, 2), "host_boot_s": round(boot_s, 2),
                      "ansible_forks": args.hosts, "ansible_pipelining": True}))


if __name__ == "__main__":
    asyncio.run(main())
