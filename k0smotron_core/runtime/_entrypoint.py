"""What every provider binary does: parse the shared flags, configure logging, connect, run the manager.

Failures a user can cause (bad flags, no kubeconfig, an unreachable server, a busy port) end in one readable
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from asyncio import sslproto
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from ._flags import build_parser, parse_args_and_options
from ._logging import configure_logging
from ._manager import KubeconfigError, Manager
from ._restmapper import NoKindMatch
from ._servers import BindError
from ._transport import ConnectionFailed

log = structlog.get_logger("k0smotron.runtime.entrypoint")


async def _no_controllers(_manager: Manager, _args: argparse.Namespace) -> None:
    return None


def _no_flags(_parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Provider:
    prog: str
    """The binary's name, prefixed to error lines."""
    role: str
    """The role, naming the leader election lease (as k0smotron's --enable-controller value does)."""
    description: str
    feature_gates: dict[str, bool] = field(default_factory=dict)
    """The gates this binary knows, with their defaults."""
    setup: Callable[[Manager, argparse.Namespace], Awaitable[None]] = _no_controllers
    """Registers the provider's controllers on a connected manager (given the parsed flags)."""
    add_flags: Callable[[argparse.ArgumentParser], None] = _no_flags
    """Adds the binary's own flags to the shared ones."""


TLS_READ_BUFFER = 32 * 1024


def _small_tls_read_buffers() -> None:
    """asyncio gives every TLS connection a 256 KiB read buffer (`SSLProtocol.max_size`, the size passed to each
    read). A provider keeps a connection to every workload cluster it manages; at hundreds of clusters those
    buffers alone are tens of MiB. Reads in 32 KiB chunks cost nothing measurable for Kubernetes API traffic."""
    sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


def run_provider(provider: Provider, argv: list[str] | None = None) -> int:
    """Exit status: 0 after SIGTERM/SIGINT, 1 when the API server cannot be reached or leadership was lost,
    2 for bad flags, 130 for Ctrl-C during start-up."""
    parser = build_parser(provider.prog, provider.description, provider.feature_gates)
    provider.add_flags(parser)
    args, options = parse_args_and_options(parser, argv, role=provider.role)
    # Requests and managed fields name the binary, so audit logs and managedFields tell the providers apart.
    options = dataclasses.replace(options, user_agent=provider.prog, field_manager=provider.prog)
    configure_logging(options.log_format, options.log_level)
    _small_tls_read_buffers()
    if options.kubeconfig and not os.path.isfile(options.kubeconfig):
        # Checked here: the kubeconfig loader would log a warning of its own before failing.
        return _fail(provider, f"cannot load the kubeconfig: no file at {options.kubeconfig}")
    manager = Manager(options)
    try:
        return asyncio.run(_serve(provider, manager, args))
    except KubeconfigError as error:
        return _fail(provider, f"cannot load the kubeconfig: {error}")
    except NoKindMatch as error:
        return _fail(provider, f"a CustomResourceDefinition this provider serves is not installed: {error}")
    except ConnectionFailed as error:
        where = f" at https://{error.host}" if error.host else ""
        return _fail(provider, f"cannot reach the API server{where}: {error.reason}")
    except BindError as error:
        return _fail(provider, str(error))
    except KeyboardInterrupt:
        return 130


async def _serve(provider: Provider, manager: Manager, args: argparse.Namespace) -> int:
    await manager.connect()
    try:
        await provider.setup(manager, args)
    except BaseException:
        await manager.transport.close()
        raise
    return await manager.run()


def _fail(provider: Provider, message: str) -> int:
    print(f"{provider.prog}: {message}", file=sys.stderr)
    return 1
