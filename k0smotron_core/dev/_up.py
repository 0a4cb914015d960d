"""`k0smotron-dev up`: management cluster, CAPI core, the providers, simulated hosts, the example, progress."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..envtest.hosts import HostsError
from ._apply import Example, ExampleError, apply, find_example, load_example, prepare
from ._cluster import Management, SetupError
from ._hosts import Hosts, hosts_unavailable
from ._progress import Blocker, Collector, Display, Snapshot, assess
from ._providers import ProviderError, Providers

PROG = "k0smotron-dev"


@dataclass
class UpOptions:
    example: str = "hcp-remote-machine"
    directory: Path = Path(".demo")
    exit_when_ready: bool = False
    timeout_s: float | None = None
    poll_s: float = 0.5


def shown(path: Path) -> str:
    """A path as the user should type it from the current directory: relative when it lies below it."""
    absolute = Path(os.path.abspath(path))
    with contextlib.suppress(ValueError):
        return shlex.quote(str(absolute.relative_to(Path.cwd())))
    return shlex.quote(str(absolute))


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    return shown(beside) if beside.is_file() else "kubectl"


def usage_lines(directory: Path, clusters: list[str]) -> list[str]:
    """The kubectl commands that show the result, exactly as printed."""
    lines = [f"{kubectl()} --kubeconfig {shown(directory / 'kubeconfig')} "
             "get clusters,machines,k0smotroncontrolplanes -A"]
    lines += [f"{kubectl()} --kubeconfig {shown(directory / f'{name}.kubeconfig')} get nodes" for name in clusters]
    return lines


def blocker_line(blocker: Blocker) -> str:
    message = f": {blocker.message}" if blocker.message else ""
    return f"  - {blocker.object}: condition {blocker.type} is not True (reason {blocker.reason or '-'}){message}"


class Up:
    def __init__(self, options: UpOptions, out: TextIO, err: TextIO, stopping: asyncio.Event | None = None) -> None:
        self.options = options
        self.stopping = stopping or asyncio.Event()
        """Set on SIGINT/SIGTERM: providers exiting then are no crash."""
        self.handlers_installed = False
        self.out = out
        self.err = err
        self.directory = options.directory
        self.started = time.monotonic()

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM set `stopping` (in the main thread; elsewhere the caller stops by cancelling)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stopping.set)
                self.handlers_installed = True

    def remove_signal_handlers(self) -> None:
        if self.handlers_installed:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def say(self, text: str) -> None:
        self.out.write(f"{PROG}: {text}\n")
        self.out.flush()

    def fail(self, text: str) -> int:
        self.out.flush()
        self.err.write(f"{PROG}: {text}\n")
        self.err.flush()
        return 1

    async def run(self) -> int:
        try:
            example = load_example(find_example(self.options.example))
        except ExampleError as error:
            return self.fail(str(error))
        if example.machines:
            reason = hosts_unavailable()
            if reason is not None:
                return self.fail(f"the example's machines run on simulated SSH hosts, and {reason}: "
                                 "run it as root (e.g. sudo make demo)")
        if not example.clusters:
            return self.fail(f"{example.path} has no Cluster (cluster.x-k8s.io) to bring up")
        self.directory.mkdir(parents=True, exist_ok=True)
        management = Management(self.directory / "kubeconfig")
        providers = Providers(self.directory / "kubeconfig", self.directory / "logs")
        hosts = Hosts(self.directory / "hosts")
        collector: Collector | None = None
        try:
            try:
                await management.start()
            except SetupError as error:
                return self.fail(str(error))
            self.say(f"management cluster at {management.env.url}, kubeconfig {shown(self.directory / 'kubeconfig')}")
            try:
                await providers.start()
            except ProviderError as error:
                return self.fail(str(error))
            self.say("providers: " + ", ".join(f"{p.name} (pid {p.process.pid})" for p in providers.running)
                     + f"; logs in {shown(self.directory / 'logs')}")
            try:
                by_machine = await hosts.create(example.machines)
            except (OSError, RuntimeError, HostsError) as error:
                return self.fail(f"cannot start the simulated hosts: {error}")
            for name, host in by_machine.items():
                self.say(f"simulated host {name}: ssh on {host.address}:{host.port}, "
                         f"sandbox {shown(host.sandbox.root_dir)}")
            try:
                prepare(example, dict(by_machine))
                applied = await apply(management.env, example.objects)
            except ExampleError as error:
                return self.fail(str(error))
            self.say(f"applied {shown(example.path)}: {', '.join(applied)}")
            collector = Collector(management.env, example.clusters)
            return await self._watch(example, collector, providers)
        finally:
            await providers.stop()
            if collector is not None:
                await collector.close()
            await hosts.close()
            await management.stop()

    async def _watch(self, example: Example, collector: Collector, providers: Providers) -> int:
        display = Display(self.out)
        deadline = None if self.options.timeout_s is None else self.started + self.options.timeout_s
        announced = False
        snapshot = Snapshot([])
        while True:
            crashed = providers.crashed()
            if crashed is not None and not self.stopping.is_set():
                display.release()
                return self.fail(f"{crashed.name} exited with status {crashed.process.returncode}; the end of "
                                 f"{shown(crashed.log_path)}:\n{crashed.log_tail()}")
            snapshot = assess(await collector.collect())
            elapsed = time.monotonic() - self.started
            state = "Ready" if snapshot.ready else "waiting"
            display.show(snapshot, header=f"{PROG} up --example {example.name}: {state}, {elapsed:.0f}s")
            if snapshot.ready and not announced:
                announced = True
                display.release()
                self._announce(example, collector, elapsed)
                if self.options.exit_when_ready:
                    return 0
            if not announced and deadline is not None and time.monotonic() > deadline:
                display.release()
                lines = [blocker_line(b) for b in snapshot.blockers] or ["  - (nothing reported)"]
                return self.fail(f"not Ready after {self.options.timeout_s:g}s; blocked by:\n" + "\n".join(lines))
            await asyncio.sleep(self.options.poll_s)

    def _announce(self, example: Example, collector: Collector, elapsed: float) -> None:
        names = []
        for namespace, name in example.clusters:
            found = collector.kubeconfig(namespace, name)
            if found is not None:
                path = self.directory / f"{name}.kubeconfig"
                path.write_bytes(found[1])
                path.chmod(0o600)
                names.append(name)
        commands = "\n".join(f"    {line}" for line in usage_lines(self.directory, names))
        tail = ("\n(They work while `k0smotron-dev up` runs; --exit-when-ready stops everything now.)"
                if self.options.exit_when_ready else "\nPress Ctrl-C to stop.")
        self.out.write(f"\nReady after {elapsed:.1f}s: {', '.join(n for _, n in example.clusters)}.\n"
                       f"The management cluster, and the child cluster{'s' if len(names) > 1 else ''}:\n"
                       f"{commands}\n{tail}\n")
        self.out.flush()


async def up(options: UpOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run until Ready (`exit_when_ready`), the timeout, a crashed provider, or SIGINT/SIGTERM (exit 0)."""
    stop = asyncio.Event()
    runner = Up(options, out or sys.stdout, err or sys.stderr, stop)
    runner.install_signal_handlers()
    try:
        work = asyncio.create_task(runner.run())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if work.done() and not stop.is_set():
            return work.result()
        runner.out.write(f"\n{PROG}: stopping\n")
        runner.out.flush()
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        runner.out.write(f"{PROG}: stopped\n")
        runner.out.flush()
        return 0
    finally:
        runner.remove_signal_handlers()
