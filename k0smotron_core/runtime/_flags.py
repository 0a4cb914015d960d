"""The command-line flags every provider binary shares, and the ManagerOptions they turn into.

Names, defaults and value syntax follow the upstream Go providers (controller-runtime, component-base), so the
Deployments written for them work unchanged: Go durations (`1m30s`), Go booleans (`--leader-elect=true`),
`--feature-gates Name=true,Other=false`.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TypeVar

from ._leaderelection import JITTER_FACTOR, leader_election_id
from ._logging import LogFormat
from ._servers import BindAddress

FEATURE_GATES_ENV = "K0SMOTRON_FEATURE_GATES"
SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("debug", "info", "warning", "error")

_DURATION_UNITS_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


@dataclass(frozen=True)
class ManagerOptions:
    """Everything a Manager needs to know from the command line. The defaults are the flags' defaults."""

    kubeconfig: str | None = None
    """None: in-cluster, then $KUBECONFIG, then ~/.kube/config."""
    namespace: str | None = None
    """Cache (and so reconcile) only this namespace; None for all."""
    watch_filter: str = ""
    """Reconcile only objects labelled cluster.x-k8s.io/watch-filter=<this>; "" for all."""
    concurrency: int = 10
    kube_api_qps: float = 20.0
    kube_api_burst: int = 30
    leader_elect: bool = False
    leader_election_id: str = ""
    leader_election_namespace: str = "default"
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0
    metrics_bind_address: str = ":8080"
    """host:port, or "0" to serve no metrics."""
    health_probe_bind_address: str = ":8081"
    """host:port, or "0" to serve no probes."""
    log_format: LogFormat = "json"
    log_level: str = "info"
    feature_gates: dict[str, bool] = field(default_factory=dict)
    """Every known gate with its value (defaults filled in)."""
    graceful_shutdown_timeout_s: float = 30.0
    user_agent: str = "k0smotron"
    field_manager: str = "k0smotron"
    sync_period_s: float | None = None
    """Reconcile every cached object again this often; None: only when something changes."""
    handle_signals: bool = True
    """Stop on SIGTERM/SIGINT. A manager embedded in another program (the CAPI simulator in a test or in
    `k0smotron-dev`) leaves the signals to that program, which calls `stop()`."""


# --- value syntax ----------------------------------------------------------------------------------------

def parse_duration(text: str) -> float:
    """A Go `time.Duration` string (`15s`, `1m30s`, `500ms`, `0`) in seconds; negative durations are refused."""
    value = text.strip()
    if value == "0":
        return 0.0
    if value.startswith("-"):
        raise ValueError(f'invalid duration "{text}": must not be negative')
    value = value.removeprefix("+")
    position, seconds = 0, 0.0
    while position < len(value):
        match = _DURATION_PART.match(value, position)
        if match is None:
            break
        seconds += float(match.group(1)) * _DURATION_UNITS_S[match.group(2)]
        position = match.end()
    if not value or position != len(value):
        raise ValueError(f'invalid duration "{text}" (Go style, e.g. 15s, 1m30s, 500ms)')
    return seconds


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise ValueError(f'invalid boolean "{text}" (true or false)')


def parse_feature_gates(text: str, known_gates: dict[str, bool]) -> dict[str, bool]:
    """`Name=true,Other=false` over the known gates' defaults; an unknown gate or a bad value is an error."""
    gates = dict(known_gates)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, separator, value = (piece.strip() for piece in item.partition("="))
        if not separator:
            raise ValueError(f'feature gate "{item}" needs a value: {name}=true or {name}=false')
        if name not in known_gates:
            known = ", ".join(sorted(known_gates)) or "none"
            raise ValueError(f'unknown feature gate "{name}" (known: {known})')
        try:
            gates[name] = parse_bool(value)
        except ValueError:
            raise ValueError(f'feature gate {name}: invalid value "{value}" (true or false)') from None
    return gates


def parse_bind_address(text: str) -> str:
    """`host:port`, `:port` or `[v6]:port` as Go's net.Listen takes it, or "0" to disable the server."""
    BindAddress.parse(text)  # the servers' own reading of it, so that what passes here also binds there
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f'"{text}" is not a positive integer')
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f'"{text}" is not a number') from None
    if value < 0 or value != value:
        raise ValueError(f'"{text}" must be zero or more')
    return value


def pod_namespace() -> str:
    """The namespace this pod runs in (from its service account), else "default"."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE_FILE.read_text(encoding="utf-8").strip() or "default"
    except OSError:
        return "default"


# --- the parser ------------------------------------------------------------------------------------------

T = TypeVar("T")


def _flag_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """argparse reports ArgumentTypeError's message as is (a ValueError only as "invalid <function> value")."""
    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return convert


class OneLineArgumentParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit status 2, instead of the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser(prog: str, description: str, known_gates: dict[str, bool]) -> argparse.ArgumentParser:
    """The shared flags. `known_gates` are the feature gates this binary understands, with their defaults."""
    parser = OneLineArgumentParser(prog=prog, description=description, allow_abbrev=False)

    connection = parser.add_argument_group("API server")
    connection.add_argument(
        "--kubeconfig", metavar="PATH",
        help="kubeconfig of the management cluster (default: the in-cluster service account, then $KUBECONFIG, "
             "then ~/.kube/config)")
    connection.add_argument(
        "--kube-api-qps", type=_flag_type(non_negative_float), default="20", metavar="QPS",
        help="requests per second to the API server, sustained (default: %(default)s; 0: unlimited)")
    connection.add_argument(
        "--kube-api-burst", type=_flag_type(positive_int), default=30, metavar="N",
        help="requests to the API server allowed in a burst above --kube-api-qps (default: %(default)s)")

    scope = parser.add_argument_group("what to reconcile")
    scope.add_argument(
        "--namespace", metavar="NAMESPACE",
        help="watch and reconcile objects of this namespace only (default: all namespaces)")
    scope.add_argument(
        "--watch-filter", default="", metavar="VALUE",
        help="reconcile only objects labelled cluster.x-k8s.io/watch-filter=VALUE (default: all objects)")
    scope.add_argument(
        "--concurrency", type=_flag_type(positive_int), default=10, metavar="N",
        help="objects reconciled at the same time, per controller (default: %(default)s)")
    scope.add_argument(
        "--sync-period", type=_flag_type(parse_duration), metavar="DURATION",
        help="reconcile every cached object again this often, e.g. 10m (default: only on changes)")
    known = ", ".join(f"{name}={str(value).lower()}" for name, value in sorted(known_gates.items())) or "none"
    scope.add_argument(
        "--feature-gates", type=_flag_type(lambda text: _feature_gates(text, known_gates)), default="",
        metavar="NAME=BOOL,...",
        help=f"turn experimental features on or off; known gates and defaults: {known}. "
             f"${FEATURE_GATES_ENV}, when set, replaces this flag")

    election = parser.add_argument_group("leader election")
    election.add_argument(
        "--leader-elect", type=_flag_type(parse_bool), nargs="?", const=True, default=False, metavar="BOOL",
        help="run as one of several replicas of which only the holder of a Lease reconciles (default: false)")
    election.add_argument(
        "--leader-election-namespace", metavar="NAMESPACE",
        help="namespace of the leader election Lease (default: this pod's namespace, else default)")
    election.add_argument(
        "--leader-elect-lease-duration", type=_flag_type(parse_duration), default="15s", metavar="DURATION",
        help="how long others wait after the leader's last renewal before taking over (default: %(default)s)")
    election.add_argument(
        "--leader-elect-renew-deadline", type=_flag_type(parse_duration), default="10s", metavar="DURATION",
        help="how long the leader keeps trying to renew before it gives up leading (default: %(default)s)")
    election.add_argument(
        "--leader-elect-retry-period", type=_flag_type(parse_duration), default="2s", metavar="DURATION",
        help="how often candidates try to acquire and the leader renews (default: %(default)s)")

    serving = parser.add_argument_group("serving")
    serving.add_argument(
        "--metrics-bind-address", type=_flag_type(parse_bind_address), default=":8080", metavar="ADDRESS",
        help="where to serve Prometheus metrics on /metrics, host:port; 0 disables (default: %(default)s)")
    serving.add_argument(
        "--health-probe-bind-address", type=_flag_type(parse_bind_address), default=":8081", metavar="ADDRESS",
        help="where to serve /healthz and /readyz, host:port; 0 disables (default: %(default)s)")
    serving.add_argument(
        "--graceful-shutdown-timeout", type=_flag_type(parse_duration), default="30s", metavar="DURATION",
        help="on SIGTERM, how long running reconciles may take to finish (default: %(default)s)")

    logging = parser.add_argument_group("logging")
    logging.add_argument("--log-format", choices=LOG_FORMATS, default="json",
                         help="log lines as JSON objects or as text for people (default: %(default)s)")
    logging.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                         help="the least severe level logged (default: %(default)s)")
    return parser


def _feature_gates(flag_value: str, known_gates: dict[str, bool]) -> dict[str, bool]:
    # Read at parse time so that argparse reports a bad value in the environment as a usage error, too.
    from_env = os.environ.get(FEATURE_GATES_ENV)
    if from_env:
        try:
            return parse_feature_gates(from_env, known_gates)
        except ValueError as error:
            raise ValueError(f"${FEATURE_GATES_ENV}: {error}") from None
    return parse_feature_gates(flag_value, known_gates)


def options_from_args(args: argparse.Namespace, *, role: str) -> ManagerOptions:
    """The ManagerOptions for parsed flags; ValueError when the leader election timings cannot work together."""
    if args.leader_elect:
        _check_leader_election_timings(args.leader_elect_lease_duration, args.leader_elect_renew_deadline,
                                       args.leader_elect_retry_period)
    return ManagerOptions(
        kubeconfig=args.kubeconfig,
        namespace=args.namespace or None,
        watch_filter=args.watch_filter,
        concurrency=args.concurrency,
        kube_api_qps=args.kube_api_qps,
        kube_api_burst=args.kube_api_burst,
        leader_elect=args.leader_elect,
        leader_election_id=leader_election_id(role),
        leader_election_namespace=args.leader_election_namespace or pod_namespace(),
        lease_duration_s=args.leader_elect_lease_duration,
        renew_deadline_s=args.leader_elect_renew_deadline,
        retry_period_s=args.leader_elect_retry_period,
        metrics_bind_address=args.metrics_bind_address,
        health_probe_bind_address=args.health_probe_bind_address,
        log_format=args.log_format,
        log_level=args.log_level,
        feature_gates=args.feature_gates,
        graceful_shutdown_timeout_s=args.graceful_shutdown_timeout,
        user_agent=f"k0smotron-{role}",
        field_manager=f"k0smotron-{role}",
        sync_period_s=args.sync_period,
    )


def parse_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None, *, role: str) -> ManagerOptions:
    """Parse and convert; any problem is a one-line usage error (exit status 2)."""
    return parse_args_and_options(parser, argv, role=role)[1]


def parse_args_and_options(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, *, role: str
) -> tuple[argparse.Namespace, ManagerOptions]:
    """As parse_options, also returning the parsed arguments (for a binary's own flags)."""
    args = parser.parse_args(argv)
    try:
        return args, options_from_args(args, role=role)
    except ValueError as error:
        parser.error(str(error))


def _check_leader_election_timings(lease_duration_s: float, renew_deadline_s: float, retry_period_s: float) -> None:
    # client-go's own checks: the leader must be able to renew, retrying with jitter, before its lease expires.
    if retry_period_s <= 0:
        raise ValueError("--leader-elect-retry-period must be positive")
    if not lease_duration_s > renew_deadline_s:
        raise ValueError("--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline")
    if not renew_deadline_s > retry_period_s * JITTER_FACTOR:
        raise ValueError(f"--leader-elect-renew-deadline must be greater than {JITTER_FACTOR} times "
                         f"--leader-elect-retry-period")
