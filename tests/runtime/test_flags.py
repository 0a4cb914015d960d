"""The shared provider flags: defaults, Go durations and booleans, feature gates, one-line usage errors, --help."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from k0smotron_core.runtime import _flags
from k0smotron_core.runtime._flags import (
    FEATURE_GATES_ENV,
    ManagerOptions,
    build_parser,
    options_from_args,
    parse_duration,
    parse_options,
)

GATES = {"CloudInitVars": False, "InPlaceUpdates": False}
ALL_FLAGS = [
    "--kubeconfig", "--namespace", "--watch-filter", "--concurrency", "--kube-api-qps", "--kube-api-burst",
    "--leader-elect", "--leader-elect-lease-duration", "--leader-elect-renew-deadline", "--leader-elect-retry-period",
    "--leader-election-namespace", "--metrics-bind-address", "--health-probe-bind-address", "--log-format",
    "--log-level", "--feature-gates", "--graceful-shutdown-timeout", "--sync-period",
]


@pytest.fixture(autouse=True)
def _no_gates_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(FEATURE_GATES_ENV, raising=False)
    monkeypatch.setattr(_flags, "SERVICE_ACCOUNT_NAMESPACE_FILE", tmp_path / "no-such-file")


def _parser() -> argparse.ArgumentParser:
    return build_parser("k0smotron-test", "a test provider", GATES)


def _options(*argv: str) -> ManagerOptions:
    return parse_options(_parser(), list(argv), role="controlplane")


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        _options(*argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("k0smotron-test: ")
    return lines[0]


def test_defaults_match_the_go_providers() -> None:
    options = _options()
    assert options == ManagerOptions(
        kubeconfig=None, namespace=None, watch_filter="", concurrency=10, kube_api_qps=20.0, kube_api_burst=30,
        leader_elect=False, leader_election_id="7fa8e51321f2d5535ac8ea4121c5a4ba.k0smotron.io",
        leader_election_namespace="default", lease_duration_s=15.0, renew_deadline_s=10.0, retry_period_s=2.0,
        metrics_bind_address=":8080", health_probe_bind_address=":8081", log_format="json", log_level="info",
        feature_gates={"CloudInitVars": False, "InPlaceUpdates": False}, graceful_shutdown_timeout_s=30.0,
        user_agent="k0smotron-controlplane", field_manager="k0smotron-controlplane", sync_period_s=None,
    )


def test_the_leader_election_id_and_user_agent_come_from_the_role() -> None:
    options = options_from_args(_parser().parse_args([]), role="bootstrap")
    assert options.leader_election_id == "ca4c50b905dc21ea17a10549a6f5944f.k0smotron.io"
    assert options.user_agent == options.field_manager == "k0smotron-bootstrap"


def test_every_flag_is_taken() -> None:
    options = _options(
        "--kubeconfig", "/tmp/kc", "--namespace", "ns1", "--watch-filter", "team-a", "--concurrency", "3",
        "--kube-api-qps", "50", "--kube-api-burst", "100", "--leader-elect", "--leader-elect-lease-duration", "1m",
        "--leader-elect-renew-deadline", "40s", "--leader-elect-retry-period", "5s",
        "--leader-election-namespace", "capi-system", "--metrics-bind-address", "127.0.0.1:9090",
        "--health-probe-bind-address", "0", "--log-format", "text", "--log-level", "debug",
        "--feature-gates", "InPlaceUpdates=true", "--graceful-shutdown-timeout", "1m30s", "--sync-period", "10m",
    )
    assert (options.kubeconfig, options.namespace, options.watch_filter) == ("/tmp/kc", "ns1", "team-a")
    assert (options.concurrency, options.kube_api_qps, options.kube_api_burst) == (3, 50.0, 100)
    assert options.leader_elect and options.leader_election_namespace == "capi-system"
    assert (options.lease_duration_s, options.renew_deadline_s, options.retry_period_s) == (60.0, 40.0, 5.0)
    assert (options.metrics_bind_address, options.health_probe_bind_address) == ("127.0.0.1:9090", "0")
    assert _options("--metrics-bind-address", "[::1]:0").metrics_bind_address == "[::1]:0"
    assert (options.log_format, options.log_level) == ("text", "debug")
    assert options.feature_gates == {"CloudInitVars": False, "InPlaceUpdates": True}
    assert (options.graceful_shutdown_timeout_s, options.sync_period_s) == (90.0, 600.0)


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("2h45m", 9900.0), ("1.5s", 1.5),
    (".5s", 0.5), ("0", 0.0), ("250us", 0.00025), ("100ns", 1e-7), ("+3s", 3.0),
])
def test_durations_are_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["15", "", "s", "1x", "1s2", "-5s", "1 s", "one second"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_bad_duration_flag_is_one_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = _usage_error(capsys, "--graceful-shutdown-timeout", "30")
    assert "--graceful-shutdown-timeout" in line and 'invalid duration "30"' in line


@pytest.mark.parametrize(("argv", "elect"), [
    ([], False), (["--leader-elect"], True), (["--leader-elect=true"], True), (["--leader-elect=false"], False),
    (["--leader-elect=1"], True), (["--leader-elect", "false"], False),
])
def test_leader_elect_is_a_go_boolean(argv: list[str], elect: bool) -> None:
    assert _options(*argv).leader_elect is elect


def test_the_lease_namespace_defaults_to_the_pods(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("k0smotron\n")
    monkeypatch.setattr(_flags, "SERVICE_ACCOUNT_NAMESPACE_FILE", namespace_file)
    assert _options().leader_election_namespace == "k0smotron"
    assert _options("--leader-election-namespace", "other").leader_election_namespace == "other"


def test_feature_gates_from_the_flag() -> None:
    assert _options("--feature-gates", "CloudInitVars=true, InPlaceUpdates=false").feature_gates == {
        "CloudInitVars": True, "InPlaceUpdates": False}
    assert _options("--feature-gates", "").feature_gates == GATES


def test_the_environment_replaces_the_feature_gates_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FEATURE_GATES_ENV, "InPlaceUpdates=true")
    assert _options().feature_gates == {"CloudInitVars": False, "InPlaceUpdates": True}
    assert _options("--feature-gates", "CloudInitVars=true").feature_gates == {
        "CloudInitVars": False, "InPlaceUpdates": True}


def test_an_unknown_feature_gate_is_one_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = _usage_error(capsys, "--feature-gates", "CloudInitVars=true,Teleport=true")
    assert 'unknown feature gate "Teleport"' in line and "CloudInitVars, InPlaceUpdates" in line


def test_a_bad_gate_value_is_one_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert 'invalid value "maybe"' in _usage_error(capsys, "--feature-gates", "CloudInitVars=maybe")
    assert "needs a value" in _usage_error(capsys, "--feature-gates", "CloudInitVars")


def test_an_unknown_gate_in_the_environment_is_one_usage_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(FEATURE_GATES_ENV, "Teleport=true")
    line = _usage_error(capsys)
    assert FEATURE_GATES_ENV in line and 'unknown feature gate "Teleport"' in line


def test_a_binary_without_gates_knows_none(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser("k0smotron-test", "a test provider", {})
    assert parse_options(parser, [], role="infrastructure").feature_gates == {}
    with pytest.raises(SystemExit):
        parse_options(parser, ["--feature-gates", "CloudInitVars=true"], role="infrastructure")
    assert "(known: none)" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--concurrency", "0"], "--concurrency"),
    (["--concurrency", "many"], "--concurrency"),
    (["--kube-api-qps", "-1"], "--kube-api-qps"),
    (["--log-format", "xml"], "--log-format"),
    (["--log-level", "trace"], "--log-level"),
    (["--metrics-bind-address", "8080"], "missing port"),
    (["--health-probe-bind-address", "host:port"], "port must be a number"),
    (["--metrics-bind-address", "::1:80"], "too many colons"),
    (["--leader-elect=perhaps"], "--leader-elect"),
    (["--leader-elect", "--leader-elect-renew-deadline", "20s"], "must be greater than --leader-elect-renew"),
    (["--leader-elect", "--leader-elect-retry-period", "9s"], "--leader-elect-retry-period"),
    (["--leader-elec"], "unrecognized arguments"),  # no abbreviations, as Go's flag package
])
def test_bad_flags_are_one_usage_line(capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str) -> None:
    assert fragment in _usage_error(capsys, *argv)


def test_timings_are_only_checked_when_electing() -> None:
    assert _options("--leader-elect-renew-deadline", "20s").renew_deadline_s == 20.0


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _options("--help")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "a test provider" in text
    for flag in ALL_FLAGS:
        assert flag in text, flag
    for documented in [
        "CloudInitVars=false", "InPlaceUpdates=false", FEATURE_GATES_ENV, "cluster.x-k8s.io/watch-filter",
        "$KUBECONFIG", "0 disables", "(default: 15s)", "(default: 10s)", "(default: 2s)", "(default: 30s)",
        "(default: :8080)", "(default: :8081)", "(default: 10)", "(default: 20;", "(default: 30)",
    ]:
        assert documented in text, documented
