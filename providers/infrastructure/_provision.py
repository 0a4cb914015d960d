"""Running the bootstrap data on a host over SSH, resumably.

The bootstrap is a list of steps: upload the files, then each command (or the commands as one script). Every
command runs on the host detached from the SSH session (`setsid -w`, bounded there by `timeout`) and records, under
`<workingDir>/.k0smotron/<machine uid>/`, a pid file while it runs and its exit status when it ends, with its output
in a log file rather than on the SSH channel. So:

- neither a dropped connection nor a stopped controller kills a step, and its result is still recorded;
- a new attempt (next pass, restarted controller) first reads the records and skips every step that succeeded,
  waits for one that is still running, and re-runs only failed or interrupted ones: `k0s install` runs once;
- success needs Cluster API's bootstrap-success sentinel, which the last command writes.

The host's records are the authority; the RemoteMachine's status mirrors them for users (`status.provisioning`).
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from k0smotron_core import ssh

from ._bootstrapdata import BootstrapData, display_command

SENTINEL = "/run/cluster-api/bootstrap-success.complete"
SCRIPT_NAME = "k0s_install.sh"
RECORDS_DIR = ".k0smotron"
OUTPUT_TAIL_BYTES = 2048
MESSAGE_OUTPUT_CHARS = 400
MESSAGE_COMMAND_CHARS = 160
KILL_AFTER_S = 10
TIMED_OUT = 124
"""`timeout`'s exit status when it had to stop the step."""


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    kind: Literal["files", "command"]
    command: str = ""


class ProvisioningError(Exception):
    """Provisioning stopped; `reason` is a condition reason, the message is safe to show (redacted)."""

    reason = "ProvisioningFailed"


class StepFailed(ProvisioningError):
    reason = "BootstrapCommandFailed"

    def __init__(self, step: Step, number: int, total: int, exit_status: int, output: str,
                 secrets: Sequence[str] = ()) -> None:
        detail = f": {output}" if output else ""
        title = _short(ssh.redact(step.title, secrets))
        super().__init__(f"step {number}/{total} ({title}) exited {exit_status}{detail}")
        self.step = step
        self.exit_status = exit_status


class StepInProgress(ProvisioningError):
    reason = "StepInProgress"

    def __init__(self, step: Step, number: int, total: int, secrets: Sequence[str] = ()) -> None:
        title = _short(ssh.redact(step.title, secrets))
        super().__init__(f"step {number}/{total} ({title}) is still running on the host, started by an "
                         "earlier connection; waiting for it to finish")


class SentinelMissing(ProvisioningError):
    reason = "BootstrapSentinelMissing"

    def __init__(self) -> None:
        super().__init__(f"all steps succeeded but {SENTINEL} does not exist: the bootstrap data did not report "
                         "success")


@dataclass
class HostRecords:
    """What the host says about the steps of this machine."""

    exit_status: dict[str, int] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)

    def succeeded(self, step: Step) -> bool:
        return self.exit_status.get(step.id) == 0 and step.id not in self.running


def records_dir(working_dir: str, machine_uid: str) -> str:
    return f"{working_dir.rstrip('/') or ''}/{RECORDS_DIR}/{machine_uid}"


Upload = tuple[str, bytes, int]
"""A file to write on the host: path, content, mode."""


def plan(data: BootstrapData, *, working_dir: str, commands_as_script: bool) -> tuple[list[Step], list[Upload]]:
    """The steps, in order, and the files the first step uploads (path, content, mode)."""
    uploads = [(file.path, file.content, file.mode) for file in data.files]
    commands = list(data.commands)
    if commands_as_script:
        script_path = f"{working_dir.rstrip('/')}/{SCRIPT_NAME}"
        script = "#!/bin/sh\nset -e\n" + "".join(f"{line}\n" for line in commands)
        uploads.append((script_path, script.encode(), 0o700))
        commands = [shlex.quote(script_path)]
    digest = hashlib.sha256()
    for path, content, mode in uploads:
        digest.update(f"{path}\0{mode}\0".encode())
        digest.update(hashlib.sha256(content).digest())
    steps = [Step(f"00-files-{digest.hexdigest()[:10]}", f"upload {len(uploads)} files", "files")]
    for index, command in enumerate(commands, start=1):
        command_digest = hashlib.sha256(command.encode()).hexdigest()[:10]
        # Each step gets a shell of its own anyway, so the bootstrap's `sh -c '<command>' || exit 1` wrapper (which
        # turns every failure into exit 1) is taken off: the condition then reports the command's own exit status.
        inner = display_command(command)
        steps.append(Step(f"{index:02d}-{command_digest}", inner, "command", inner))
    return steps, uploads


class Provisioner:
    """Runs the planned steps on one host through an `ssh.Shell`."""

    def __init__(
        self,
        shell: ssh.Shell,
        steps: Sequence[Step],
        uploads: Sequence[Upload],
        *,
        records: str,
        command_timeout: float,
        secrets: Sequence[str] = (),
        on_step_done: Callable[[Step], Awaitable[None]] | None = None,
    ) -> None:
        self._shell = shell
        self._steps = list(steps)
        self._uploads = list(uploads)
        self._records = records
        self._timeout = command_timeout
        self._secrets = list(secrets)
        self._on_step_done = on_step_done

    async def host_records(self) -> HostRecords:
        d = shlex.quote(self._records)
        script = (
            f'd={d}; for f in "$d"/*.exit; do [ -e "$f" ] && echo "exit ${{f##*/}} $(cat "$f")"; done; '
            f'for f in "$d"/*.pid; do [ -e "$f" ] || continue; '
            f'if kill -0 "$(cat "$f")" 2>/dev/null; then echo "running ${{f##*/}}"; fi; done; true'
        )
        result = await self._shell.run(script, timeout=self._timeout)
        records = HostRecords()
        for line in result.stdout.splitlines():
            words = line.split()
            if len(words) == 3 and words[0] == "exit" and words[1].endswith(".exit"):
                try:
                    records.exit_status[words[1].removesuffix(".exit")] = int(words[2])
                except ValueError:
                    continue
            elif len(words) == 2 and words[0] == "running" and words[1].endswith(".pid"):
                records.running.add(words[1].removesuffix(".pid"))
        return records

    async def run(self) -> list[str]:
        """Run what is left; returns the ids of all completed steps. Raises a ProvisioningError (or ssh.SSHError)."""
        records = await self.host_records()
        total = len(self._steps)
        completed: list[str] = []
        for number, step in enumerate(self._steps, start=1):
            if records.succeeded(step):
                completed.append(step.id)
                continue
            if step.id in records.running:
                raise StepInProgress(step, number, total, self._secrets)
            if step.kind == "files":
                await self._upload_files(step)
            else:
                await self._run_command(step, number, total)
            completed.append(step.id)
            if self._on_step_done is not None:
                await self._on_step_done(step)
        if not await self._shell.exists(SENTINEL):
            raise SentinelMissing()
        return completed

    async def _upload_files(self, step: Step) -> None:
        for path, content, mode in self._uploads:
            await self._shell.upload(path, content, mode)
        d = shlex.quote(self._records)
        result = await self._shell.run(f"umask 077; mkdir -p {d} && echo 0 > {d}/{step.id}.exit",
                                       timeout=self._timeout)
        if not result.ok:
            raise ProvisioningError(f"cannot record progress in {self._records} (exit {result.exit_status}): "
                                    f"{_tail(result.stderr, self._secrets)}")

    async def _run_command(self, step: Step, number: int, total: int) -> None:
        d = shlex.quote(self._records)
        # The step runs detached (its own session, via `setsid -w`) with its output in a file: neither a dropped
        # connection nor a signal to the SSH session's process group (a cancelled or restarted controller) stops it,
        # and its exit status is recorded whatever happens to the connection. `timeout` bounds it on the host, so a
        # hung step cannot be "in progress" forever.
        inner = (f'echo $$ > "$0/{step.id}.pid"; '
                 f'timeout -k {KILL_AFTER_S} {int(self._timeout)} sh -c "$1" > "$0/{step.id}.log" 2>&1 < /dev/null; '
                 f'rc=$?; echo $rc > "$0/{step.id}.exit"; rm -f "$0/{step.id}.pid"; exit $rc')
        wrapper = (f'd={d}; umask 077; mkdir -p "$d" && rm -f "$d/{step.id}.exit" || exit 125; umask 022; '
                   f'exec setsid -w sh -c {shlex.quote(inner)} "$d" {shlex.quote(step.command)}')
        result = await self._shell.run(wrapper, timeout=self._timeout + KILL_AFTER_S + 30)
        if result.exit_status == 0:
            return
        if result.exit_status == 125:
            raise ProvisioningError(f"cannot record progress in {self._records}: {_tail(result.stderr, self._secrets)}")
        output = await self._shell.run(f"tail -c {OUTPUT_TAIL_BYTES} {d}/{step.id}.log", timeout=self._timeout)
        if result.exit_status == TIMED_OUT:
            raise StepFailed(step, number, total, result.exit_status,
                             f"timed out after {int(self._timeout)}s; " + _tail(output.stdout, self._secrets),
                             self._secrets)
        raise StepFailed(step, number, total, result.exit_status, _tail(output.stdout, self._secrets),
                         self._secrets)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_COMMAND_CHARS else text[: MESSAGE_COMMAND_CHARS - 3] + "..."


def _tail(text: str, secrets: Sequence[str]) -> str:
    text = ssh.redact(text, secrets).strip()
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_OUTPUT_CHARS else "..." + text[-(MESSAGE_OUTPUT_CHARS - 3):]
