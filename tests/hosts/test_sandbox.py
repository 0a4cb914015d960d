"""A simulated host's filesystem view: writes land in its sandbox, never on the real machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k0smotron_core.envtest.hosts import HOST_INFO_PATH, Sandbox, SandboxUnavailable, sandbox_unavailable
from k0smotron_core.envtest.hosts.pytest_plugin import SimulatedHostFactory

from ._support import exists, read_text


@pytest.fixture
def sandboxes_allowed() -> None:
    reason = sandbox_unavailable()
    if reason is not None:
        pytest.skip(reason)


async def test_a_file_written_inside_a_host_lands_in_its_sandbox_and_not_on_the_real_filesystem(
    simulated_host: SimulatedHostFactory,
) -> None:
    host = await simulated_host("h1")
    result = await host.sandbox.run(
        "echo secret > /etc/k0s.token && printf '#!/bin/sh\\necho hi\\n' > /usr/local/bin/k0smotron-x"
        " && chmod 755 /usr/local/bin/k0smotron-x && k0smotron-x"
        " && mkdir -p /run/cluster-api && touch /run/cluster-api/bootstrap-success.complete"
    )

    assert result.exit_status == 0, result.stderr
    assert result.stdout == b"hi\n"
    assert not exists(Path("/etc/k0s.token"))
    assert not exists(Path("/usr/local/bin/k0smotron-x"))
    assert not exists(Path("/run/cluster-api/bootstrap-success.complete"))
    assert read_text(host.sandbox.path("/etc/k0s.token")) == "secret\n"
    assert exists(host.sandbox.path("/run/cluster-api/bootstrap-success.complete"))


async def test_a_host_still_sees_the_real_files_it_has_not_changed(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")

    result = await host.sandbox.run("cat /etc/os-release")

    assert result.stdout == read_text(Path("/etc/os-release")).encode()


async def test_two_hosts_do_not_see_each_others_files(simulated_host: SimulatedHostFactory) -> None:
    first, second = await simulated_host("h1"), await simulated_host("h2")

    await first.sandbox.run("echo one > /var/lib/only-on-h1", check=True)

    assert (await second.sandbox.run("test -e /var/lib/only-on-h1")).exit_status == 1
    assert (await first.sandbox.run("cat /var/lib/only-on-h1")).stdout == b"one\n"


async def test_hostname_prints_the_hosts_name(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("worker-7")

    assert (await host.sandbox.run("hostname; cat /etc/hostname")).stdout == b"worker-7\nworker-7\n"


async def test_a_host_starts_with_the_given_files_and_its_name_and_address(
    simulated_host: SimulatedHostFactory,
) -> None:
    host = await simulated_host("h1", files={"/usr/local/bin/k0s": (b"#!/bin/sh\necho k0s\n", 0o755)})

    assert (await host.sandbox.run("k0s; stat -c %a /usr/local/bin/k0s")).stdout == b"k0s\n755\n"
    assert json.loads(read_text(host.sandbox.path(HOST_INFO_PATH))) == {"name": "h1", "address": "127.0.0.1"}


async def test_a_user_with_sudo_becomes_root_without_a_password(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1", users=["k0s"])

    result = await host.sandbox.run("id -un; echo $HOME; sudo -n id -un", user="k0s")

    assert result.exit_status == 0, result.stderr
    assert result.stdout == b"k0s\n/home/k0s\nroot\n"
    assert not any(line.startswith("k0s:") for line in read_text(Path("/etc/passwd")).splitlines())


async def test_a_user_without_sudo_cannot_become_root(simulated_host: SimulatedHostFactory) -> None:
    host = await simulated_host("h1")
    await host.add_user("guest", sudo=False)

    result = await host.sandbox.run("sudo -n true", user="guest")

    assert result.exit_status == 1
    assert b"password is required" in result.stderr


async def test_closing_a_host_kills_what_runs_in_it(sandboxes_allowed: None, tmp_path: Path) -> None:
    sandbox = await Sandbox.create(tmp_path / "h1", "h1", address="127.0.0.1")
    await sandbox.run("setsid sleep 300 >/dev/null 2>&1 < /dev/null &", check=True)
    assert len(sandbox.processes()) == 2

    await sandbox.close()

    assert sandbox.processes() == []


async def test_paths_outside_the_sandboxed_directories_are_refused(sandboxes_allowed: None, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not in a sandboxed directory"):
        await Sandbox.create(tmp_path / "h1", "h1", {"/usr/bin/k0s": (b"", 0o755)}, address="127.0.0.1")


def test_sandbox_unavailable_carries_its_reason() -> None:
    assert SandboxUnavailable("not root").reason == "not root"
