"""The resumable step runner, against a local shell: what runs, what is skipped on resume, what a failure says."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from k0smotron_core import ssh
from providers.infrastructure import _cleanup
from providers.infrastructure._bootstrapdata import BootstrapData, File
from providers.infrastructure._provision import (
    SENTINEL,
    Provisioner,
    SentinelMissing,
    StepFailed,
    StepInProgress,
    plan,
    records_dir,
)


@dataclass
class LocalShell:
    """Runs commands with the local sh; absolute upload paths land under `root` (a stand-in for a host)."""

    root: Path
    host_key_fingerprint: str = "SHA256:" + "A" * 43
    commands: list[str] = field(default_factory=list)

    async def run(self, command: str, *, timeout: float | None = None,  # noqa: ASYNC109 (ssh.Shell's signature)
                  input: bytes | None = None) -> ssh.CommandResult:
        self.commands.append(command)
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, "ROOT": str(self.root)})
        stdout, stderr = await asyncio.wait_for(process.communicate(input), timeout)
        return ssh.CommandResult(command, process.returncode if process.returncode is not None else -1,
                                 stdout.decode(), stderr.decode())

    def local(self, path: str) -> Path:
        return Path(path) if path.startswith(str(self.root)) else self.root / path.lstrip("/")

    async def upload(self, path: str, content: bytes, mode: int = 0o644) -> None:
        target = self.local(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)

    async def read(self, path: str) -> bytes | None:
        target = self.local(path)
        return target.read_bytes() if target.exists() else None

    async def exists(self, path: str) -> bool:
        return self.local(path).exists()


SENTINEL_LINE = f'mkdir -p "$ROOT{os.path.dirname(SENTINEL)}" && touch "$ROOT{SENTINEL}"'


def bootstrap(*commands: str) -> BootstrapData:
    return BootstrapData(files=(File("/etc/k0s.token", b"secret-join-token-0123456789abcdef", 0o600),),
                         commands=tuple(commands))


def counted(name: str) -> str:
    """A command that leaves a mark each time it runs."""
    return f'echo ran >> "$ROOT/{name}.count"'


def runs(root: Path, name: str) -> int:
    path = root / f"{name}.count"
    return len(path.read_text().splitlines()) if path.exists() else 0


def write_records(records: Path, files: dict[str, str]) -> None:
    records.mkdir(parents=True)
    for name, content in files.items():
        (records / name).write_text(content)


def provisioner(shell: LocalShell, data: BootstrapData, *, as_script: bool = False) -> Provisioner:
    steps, uploads = plan(data, working_dir=str(shell.root / "etc/k0smotron"), commands_as_script=as_script)
    return Provisioner(shell, steps, uploads, records=records_dir(str(shell.root / "etc/k0smotron"), "uid-1"),
                       command_timeout=30, secrets=data.secrets())


@pytest.fixture
def shell(tmp_path: Path) -> LocalShell:
    return LocalShell(tmp_path)


class TestAFreshHost:
    async def test_uploads_the_files_then_runs_every_command_once_and_requires_the_sentinel(
            self, shell: LocalShell) -> None:
        data = bootstrap(counted("install"), counted("start"), SENTINEL_LINE)
        completed = await provisioner(shell, data).run()
        assert len(completed) == 4
        assert (shell.root / "etc/k0s.token").read_bytes() == b"secret-join-token-0123456789abcdef"
        assert (shell.root / "etc/k0s.token").stat().st_mode & 0o777 == 0o600
        assert runs(shell.root, "install") == 1 and runs(shell.root, "start") == 1

    async def test_without_the_sentinel_provisioning_fails(self, shell: LocalShell) -> None:
        with pytest.raises(SentinelMissing, match=r"bootstrap-success\.complete"):
            await provisioner(shell, bootstrap(counted("install"))).run()

    async def test_commands_as_script_upload_one_executable_script_and_run_it_once(self, shell: LocalShell) -> None:
        data = bootstrap(counted("install"), counted("start"), SENTINEL_LINE)
        completed = await provisioner(shell, data, as_script=True).run()
        assert len(completed) == 2
        script = shell.root / "etc/k0smotron/k0s_install.sh"
        assert script.read_text().startswith("#!/bin/sh\nset -e\n")
        assert script.stat().st_mode & 0o777 == 0o700
        assert runs(shell.root, "install") == 1


class TestResuming:
    async def test_a_second_attempt_runs_nothing_that_already_succeeded(self, shell: LocalShell) -> None:
        data = bootstrap(counted("install"), SENTINEL_LINE)
        await provisioner(shell, data).run()
        await provisioner(shell, data).run()
        assert runs(shell.root, "install") == 1

    async def test_after_a_failure_the_next_attempt_starts_at_the_failed_step(self, shell: LocalShell) -> None:
        gate = shell.root / "gate"
        data = bootstrap(counted("install"), f'{counted("check")}; test -e "{gate}"', SENTINEL_LINE)
        with pytest.raises(StepFailed) as failure:
            await provisioner(shell, data).run()
        assert failure.value.exit_status == 1
        assert "step 3/4" in str(failure.value)
        gate.touch()
        await provisioner(shell, data).run()
        assert runs(shell.root, "install") == 1
        assert runs(shell.root, "check") == 2

    async def test_a_step_still_running_on_the_host_is_waited_for_not_started_again(self, shell: LocalShell) -> None:
        data = bootstrap(counted("install"), SENTINEL_LINE)
        runner = provisioner(shell, data)
        steps, _ = plan(data, working_dir=str(shell.root / "etc/k0smotron"), commands_as_script=False)
        records = Path(records_dir(str(shell.root / "etc/k0smotron"), "uid-1"))
        sleeper = await asyncio.create_subprocess_exec("sleep", "30")
        try:
            write_records(records, {f"{steps[0].id}.exit": "0\n", f"{steps[1].id}.pid": f"{sleeper.pid}\n"})
            with pytest.raises(StepInProgress, match="step 2/3"):
                await runner.run()
            assert runs(shell.root, "install") == 0
        finally:
            sleeper.kill()
            await sleeper.wait()
        # The process is gone without an exit record: the step was interrupted, and runs again.
        await runner.run()
        assert runs(shell.root, "install") == 1


class TestFailureMessages:
    async def test_name_the_step_its_exit_status_and_its_output_without_secrets(self, shell: LocalShell) -> None:
        data = bootstrap("echo using secret-join-token-0123456789abcdef >&2; exit 7", SENTINEL_LINE)
        with pytest.raises(StepFailed) as failure:
            await provisioner(shell, data).run()
        message = str(failure.value)
        assert "step 2/3" in message and "exited 7" in message
        assert "secret-join-token-0123456789abcdef" not in message
        assert "[REDACTED]" in message


class TestCleanupCommands:
    def test_a_controller_leaves_etcd_before_k0s_is_stopped_and_reset(self) -> None:
        commands = [c.split("; ", 1)[1] for c in _cleanup.commands("controller", custom=None, kubelet_root_dir=None)]
        assert commands == ['"$K0S" etcd leave', '"$K0S" stop || true', '"$K0S" reset']

    def test_a_worker_is_stopped_and_reset_with_its_kubelet_root_dir(self) -> None:
        commands = _cleanup.commands("worker", custom=None, kubelet_root_dir="/data/kubelet")
        assert [c.split("; ", 1)[1] for c in commands] == ['"$K0S" stop || true',
                                                          '"$K0S" reset --kubelet-root-dir /data/kubelet']

    def test_custom_commands_replace_everything(self) -> None:
        assert _cleanup.commands("controller", custom=["wipe"], kubelet_root_dir=None) == ["wipe"]

    def test_a_host_without_k0s_is_left_alone(self) -> None:
        assert _cleanup.commands("other", custom=None, kubelet_root_dir=None) == []

    def test_the_kubelet_root_dir_is_read_from_the_install_command_inside_its_wrapper(self) -> None:
        line = "sh -c '/usr/local/bin/k0s install worker --kubelet-root-dir=/data/kubelet' || exit 1"
        assert _cleanup.kubelet_root_dir([line]) == "/data/kubelet"

    async def test_a_failing_cleanup_command_is_reported_and_the_records_go_anyway(self, shell: LocalShell) -> None:
        records = shell.root / "records"
        write_records(records, {"x.exit": "0\n"})
        result = await _cleanup.run(shell, ["echo nope >&2; exit 4", "true"], records=str(records),
                                    command_timeout=10)
        assert result.failures == ["echo nope >&2; exit 4 exited 4: nope"]
        assert not records.exists()
