"""`k0smotron-dev up [--example NAME] [--exit-when-ready] [--timeout S] [--dir .demo]`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ._up import UpOptions, up


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="k0smotron-dev", description="The k0smotron providers on one machine, "
                                   "against an embedded management cluster, for demos and end-to-end checks.")
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "up", help="bring an example up and show its progress",
        description="Start an embedded management cluster (CRDs, workload simulation, CAPI core), the three "
                    "provider binaries and a simulated SSH host per machine of the example (needs root), apply the "
                    "example and show its progress until every Cluster is Ready; then print how to use kubectl and "
                    "keep running until Ctrl-C.")
    run.add_argument("--example", default="hcp-remote-machine", metavar="NAME",
                     help="a file of examples/ (without .yaml), or a path to a YAML file (default: %(default)s)")
    run.add_argument("--exit-when-ready", action="store_true", help="exit 0 as soon as every Cluster is Ready")
    run.add_argument("--timeout", type=_positive, default=None, metavar="S",
                     help="exit 1, printing what blocks, when not Ready within S seconds (default: wait forever)")
    run.add_argument("--dir", type=Path, default=Path(".demo"), metavar="DIR",
                     help="where the kubeconfigs, logs and host sandboxes go (default: %(default)s)")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = UpOptions(example=args.example, directory=args.dir, exit_when_ready=args.exit_when_ready,
                        timeout_s=args.timeout)
    try:
        return asyncio.run(up(options))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
