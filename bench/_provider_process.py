"""Measuring a provider binary the benchmarks run as a process of its own: peak RSS and CPU from /proc, and a stop
that never blocks the event loop (the bench process serves the API the provider shuts down against)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stop(provider: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    provider.terminate()
    for _ in range(int(timeout_s / 0.05)):
        if provider.poll() is not None:
            return
        await asyncio.sleep(0.05)
    provider.kill()
