"""The `k0smotron-core` command: offline tools around the core library, such as minting and inspecting k0s join
tokens.

Commands come in groups (`token ...`). A group is a function that adds its parser to the top-level sub-command
set and gives every command a `run(args) -> int`; to add a group, write such a function and list it in
`COMMAND_GROUPS`. Errors are one line on stderr: exit 2 for a wrong invocation, exit 1 for a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from cryptography import x509

from . import pki, tokens

PROG = "k0smotron-core"

CommandGroup = Callable[["argparse._SubParsersAction[Any]"], None]


class UsageError(Exception):
    """The command line is wrong (exit 2)."""


class CommandError(Exception):
    """The command could not do its work (exit 1)."""


class _Parser(argparse.ArgumentParser):
    """Raises instead of printing usage and exiting, so that every error is reported the same way, on one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


# --- token ---------------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)([smhd])")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _duration(text: str) -> dt.timedelta:
    match = _DURATION.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"not a positive duration like 30m, 24h: {text!r}")
    return dt.timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def _read_ca(path: Path) -> bytes:
    try:
        ca_pem = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read CA file {path}: {exc.strerror}") from None
    try:
        x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise CommandError(f"CA file {path} holds no PEM certificate") from None
    return ca_pem


def _write_private_file(path: Path, text: str) -> None:
    """Write `text` readable by the owner only: the file holds a credential."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None


def _token_create(args: argparse.Namespace) -> int:
    if not args.server.startswith("https://"):
        raise UsageError(f"{PROG} token create: --server must be an https:// URL")
    if args.token is None:
        token = tokens.new_token()
    else:
        try:
            token = tokens.BootstrapToken.parse(args.token)
        except tokens.InvalidBootstrapToken as exc:
            raise UsageError(f"{PROG} token create: --token: {exc}") from None
    ca_pem = _read_ca(args.ca_file)
    if args.secret_manifest is not None:
        secret = tokens.bootstrap_token_secret(token, role=args.role, now=dt.datetime.now(dt.UTC), ttl=args.ttl)
        _write_private_file(args.secret_manifest, pki.dump_yaml(secret))
    print(tokens.join_token(token, server=args.server, ca_pem=ca_pem, role=args.role))
    return 0


def _read_input(name: str, stdin: TextIO) -> str:
    if name == "-":
        return stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CommandError(f"cannot read {name}: {reason}") from None


def _token_decode(args: argparse.Namespace) -> int:
    text = _read_input(args.file, sys.stdin)
    try:
        decoded = tokens.decode_join_token(text)
    except tokens.InvalidJoinToken as exc:
        raise CommandError(str(exc)) from None
    print(f"server: {decoded.server}")
    print(f"user: {decoded.user}")
    print(f"role: {decoded.role}")
    print(f"ca: {decoded.ca_subject}")
    print(f"token-id: {decoded.token.token_id}")
    if args.show_secret:
        print(f"token: {decoded.token}")
    return 0


def add_token_commands(commands: argparse._SubParsersAction[Any]) -> None:
    group = commands.add_parser("token", help="mint and inspect k0s join tokens")
    actions = group.add_subparsers(dest="token_command", metavar="COMMAND", required=True)

    create = actions.add_parser(
        "create",
        help="print a join token for a new bootstrap token",
        description="Print a k0s join token. The bootstrap token it carries must exist in the child cluster: "
        "write its Secret with --secret-manifest and apply it there.",
    )
    create.add_argument("--server", required=True, metavar="URL", help="API server URL the node joins, https://")
    create.add_argument("--ca-file", required=True, type=Path, metavar="PEM", help="cluster CA certificate")
    create.add_argument("--role", choices=("worker", "controller"), default="worker")
    create.add_argument(
        "--token",
        metavar="ID.SECRET",
        help="use this bootstrap token instead of a random one (visible to local users in the process list)",
    )
    create.add_argument(
        "--secret-manifest", type=Path, metavar="FILE", help="also write the bootstrap-token Secret (mode 0600)"
    )
    create.add_argument(
        "--ttl",
        type=_duration,
        default=tokens.DEFAULT_BOOTSTRAP_TOKEN_TTL,
        metavar="DURATION",
        help="lifetime of the Secret's token, e.g. 30m, 24h (default 30m)",
    )
    create.set_defaults(run=_token_create)

    decode = actions.add_parser("decode", help="show what a join token holds, without its secret")
    decode.add_argument("file", nargs="?", default="-", metavar="FILE", help="join token file, - for stdin")
    decode.add_argument("--show-secret", action="store_true", help="also print the bootstrap token")
    decode.set_defaults(run=_token_decode)


# --- render-bootstrap ----------------------------------------------------------------------------------------------


def _render_bootstrap(args: argparse.Namespace) -> int:
    """Print the user data a K0sWorkerConfig or K0sControllerConfig manifest produces with the given join token."""
    # Imported here: the token commands should not pay for loading the API models and templates.
    from pydantic import ValidationError
    from ruamel.yaml import YAML

    from . import cloudinit
    from .api import bootstrap

    source = sys.stdin.read() if str(args.file) == "-" else _read(Path(args.file), "config")
    documents = [d for d in YAML(typ="safe", pure=True).load_all(source) if isinstance(d, dict)]
    if len(documents) != 1:
        raise CommandError(f"expected one K0sWorkerConfig or K0sControllerConfig, found {len(documents)} documents")
    document = documents[0]
    token = _read(args.token_file, "token file").strip() if args.token_file else None
    name = args.machine_name or (document.get("metadata") or {}).get("name") or "machine"
    try:
        if document.get("kind") == "K0sWorkerConfig":
            worker = bootstrap.K0sWorkerConfig.model_validate(document)
            if token is None:
                raise UsageError(f"{PROG}: error: a worker needs --token-file")
            rendered = cloudinit.render_worker(worker.spec, machine_name=name, join_token=token,
                                               files=_inline_files(worker.spec.files))
        elif document.get("kind") == "K0sControllerConfig":
            controller = bootstrap.K0sControllerConfig.model_validate(document)
            spec = controller.spec
            rendered = cloudinit.render_controller(
                spec, version=cloudinit.normalize_k0s_version(spec.version) if spec.version else "",
                machine_name=name, join_token=token, ca_files=[], files=_inline_files(spec.files))
        else:
            raise CommandError(f"kind {document.get('kind')!r} has no bootstrap data")
    except ValidationError as error:
        first = error.errors()[0]
        raise CommandError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    except cloudinit.BootstrapDataError as error:
        raise CommandError(str(error)) from None
    sys.stdout.write(rendered)
    return 0


def _inline_files(files: Sequence[Any] | None) -> list[Any]:
    from . import cloudinit

    result = []
    for file in files or ():
        if file.content_from is not None:
            raise CommandError(f"file {file.path}: contentFrom refers to the cluster; give the content inline")
        result.append(cloudinit.BootstrapFile.from_spec(file))
    return result


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot read the {what} {path}: {error.strerror}") from None


def add_render_commands(commands: argparse._SubParsersAction[Any]) -> None:
    render = commands.add_parser(
        "render-bootstrap",
        help="print the cloud-init a bootstrap config produces",
        description="Print the user data (cloud-config) that the bootstrap provider would write for a "
        "K0sWorkerConfig or K0sControllerConfig manifest, given a join token. Files must have inline content.",
    )
    render.add_argument("-f", "--file", required=True, metavar="CONFIG", help="the config manifest, - for stdin")
    render.add_argument("--token-file", type=Path, metavar="FILE",
                        help="the join token (required for workers; a controller without one is the first)")
    render.add_argument("--machine-name", metavar="NAME", help="the Machine's name (default: the config's name)")
    render.set_defaults(run=_render_bootstrap)


# --- entry point ---------------------------------------------------------------------------------------------------

COMMAND_GROUPS: tuple[CommandGroup, ...] = (add_token_commands, add_render_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Offline tools of the k0smotron providers.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_group in COMMAND_GROUPS:
        add_group(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        run: Callable[[argparse.Namespace], int] = args.run
        return run(args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
