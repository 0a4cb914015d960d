"""`python -m k0smotron_core.envtest serve --port PORT --kubeconfig PATH`: run an embedded API server."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from ._server import EnvTest


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m k0smotron_core.envtest",
                                     description="An embedded Kubernetes API server for tests and demos.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("serve", "run the API server until SIGTERM or Ctrl-C"),
                            ("demo", "run the API server and explain how to reach it")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        command.add_argument("--port", type=int, default=0 if name == "serve" else 6443,
                             help="port to listen on; 0 picks a free one")
        command.add_argument("--kubeconfig", type=Path,
                             default=None if name == "serve" else Path(".demo/kubeconfig"),
                             help="where to write an admin kubeconfig for the server")
        command.add_argument("--audit-log", type=Path, default=None, help="append every request as a JSON line")
        command.add_argument("--crds", type=Path, nargs="*", default=[],
                             help="CRD manifests (files or directories) to install at start")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    env = EnvTest(host=args.host, port=args.port, audit_file=args.audit_log)
    try:
        await env.start()
    except OSError as exc:
        print(f"envtest: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        for path in args.crds:
            from ._install import install_manifests

            await install_manifests(env, path)
        if args.kubeconfig is not None:
            env.write_kubeconfig(args.kubeconfig)
        print(env.url, flush=True)
        if args.command == "demo":
            _explain(env, args.kubeconfig)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await env.stop()
    return 0


def _explain(env: EnvTest, kubeconfig: Path) -> None:
    kubectl = Path(sys.executable).parent / "kubectl"
    print(f"""
The embedded management cluster's API server is running at {env.url}.

In another terminal:
    export KUBECONFIG={kubeconfig.resolve()}
    {kubectl} get namespaces
    {kubectl} apply -f <a CRD or manifest>

Press Ctrl-C to stop it.""", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
