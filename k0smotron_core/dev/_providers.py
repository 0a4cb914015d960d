"""The three provider binaries, each a subprocess of its own against the management cluster."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PROVIDERS = ("k0smotron-bootstrap", "k0smotron-controlplane", "k0smotron-infrastructure")
_PR_SET_PDEATHSIG = 1


def _detach() -> None:
    """In the child before exec: a process group of its own (a terminal's Ctrl-C reaches k0smotron-dev only, which
    then stops the providers in order), and SIGTERM should k0smotron-dev die without stopping them."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ProviderError(Exception):
    """A provider binary is missing or could not start."""


def binary(name: str) -> Path:
    """The console script next to this Python (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found is None:
        raise ProviderError(f"{name} is not installed next to {sys.executable} nor on PATH (pip install -e .)")
    return Path(found)


@dataclass
class Provider:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    _log: IO[bytes]

    @property
    def exited(self) -> bool:
        return self.process.returncode is not None

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Providers:
    """Start all three (`start`), notice one that died (`crashed`), SIGTERM them (`stop`)."""

    def __init__(self, kubeconfig: Path, log_dir: Path, *, names: tuple[str, ...] = PROVIDERS,
                 extra_args: tuple[str, ...] = ("--log-format", "text")) -> None:
        self.kubeconfig = kubeconfig
        self.log_dir = log_dir
        self.names = names
        self.extra_args = extra_args
        self.running: list[Provider] = []

    def argv(self, name: str) -> list[str]:
        return [str(binary(name)), "--kubeconfig", str(self.kubeconfig), "--metrics-bind-address", "0",
                "--health-probe-bind-address", "0", *self.extra_args]

    async def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            argv = self.argv(name)
            log_path = self.log_dir / f"{name}.log"
            log = log_path.open("wb")
            try:
                process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                                                               stderr=asyncio.subprocess.STDOUT,
                                                               process_group=0, preexec_fn=_detach)
            except OSError as error:
                log.close()
                raise ProviderError(f"cannot start {name}: {error}") from None
            self.running.append(Provider(name, process, log_path, log))

    def crashed(self) -> Provider | None:
        return next((p for p in self.running if p.exited), None)

    async def stop(self, *, grace_s: float = 10.0) -> None:
        for provider in self.running:
            if not provider.exited:
                with contextlib.suppress(ProcessLookupError):
                    provider.process.send_signal(signal.SIGTERM)
        for provider in self.running:
            try:
                await asyncio.wait_for(provider.process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    provider.process.kill()
                await provider.process.wait()
            provider._log.close()
        self.running.clear()
