"""Subprocesses with timeouts, and finding the processes that belong to a simulated host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT_S = 30.0


class HostsError(RuntimeError):
    """Setting up or driving a simulated host failed."""


@dataclass(frozen=True)
class RunResult:
    exit_status: int
    stdout: bytes
    stderr: bytes


async def run(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,  # noqa: ASYNC109 - the process is killed on timeout, not just left
    check: bool = True,
) -> RunResult:
    """Run argv to completion; kill it when it outlives timeout. check: a non-zero exit raises HostsError."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(input), timeout)
    except TimeoutError:
        await _reap(proc)
        raise HostsError(f"{_show(argv)} did not finish within {timeout:g} s") from None
    except asyncio.CancelledError:
        await _reap(proc)
        raise
    assert proc.returncode is not None
    result = RunResult(proc.returncode, stdout, stderr)
    if check and result.exit_status != 0:
        raise HostsError(
            f"{_show(argv)} exited with {result.exit_status}: {stderr.decode(errors='replace').strip()}"
        )
    return result


async def _reap(proc: asyncio.subprocess.Process) -> None:
    kill_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 5)


def _show(argv: Sequence[str]) -> str:
    shown = " ".join(argv)
    return shown if len(shown) < 300 else shown[:300] + "..."


def kill_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by pid (processes started with start_new_session=True lead one)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def namespace_id(pid: int, kind: str) -> str | None:
    """The identity of process pid's namespace of the given kind ("mnt", "net", ...), None once pid is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def pids_in_namespace(namespace: str, kind: str) -> list[int]:
    """Every process whose namespace of the given kind is namespace (an id from namespace_id)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / kind) == namespace:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def children_of(pid: int) -> list[int]:
    """The direct children of pid."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name in parentheses may contain spaces; the fields after it may not.
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 1 and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def process_start_time(pid: int) -> int | None:
    """Start time of pid in clock ticks since boot, which tells a live process from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[19])
