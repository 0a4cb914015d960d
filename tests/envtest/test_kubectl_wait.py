"""kubectl against envtest: `kubectl wait` for conditions, JSONPath values and deletion."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from k0smotron_core.envtest import EnvTest

from ._kube import Kubectl, eventually, stop, widget


@pytest.fixture
def kubectl(kubectl: Kubectl) -> Kubectl:
    kubectl.apply(widget("x", finalizers=["example.com/hold"]))
    return kubectl


def _patch_status(kubectl: Kubectl, status: dict[str, Any]) -> None:
    kubectl.ok("patch", "widget", "x", "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


def _waiting(kubectl: Kubectl, envtest: EnvTest, *condition: str) -> subprocess.Popen[str]:
    """Start `kubectl wait` and return once it watches the widget."""
    watches_before = envtest.store.open_watches
    proc = kubectl.popen("wait", *condition, "widget/x", "--timeout=20s")
    eventually(lambda: envtest.store.open_watches > watches_before or proc.poll() is not None,
               what="kubectl wait is watching")
    assert proc.poll() is None, proc.communicate()
    return proc


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        stop(proc)
    return proc.returncode, out, err


def test_kubectl_wait_for_condition_ready_returns_0_once_a_status_patch_sets_ready(
    kubectl: Kubectl, envtest: EnvTest,
) -> None:
    proc = _waiting(kubectl, envtest, "--for=condition=Ready")

    _patch_status(kubectl, {"conditions": [{"type": "Ready", "status": "True"}]})

    assert _finish(proc) == (0, "widget.example.com/x condition met\n", "")


def test_kubectl_wait_for_a_condition_already_met_returns_0_at_once(kubectl: Kubectl) -> None:
    _patch_status(kubectl, {"conditions": [{"type": "Ready", "status": "True"}]})

    result = kubectl("wait", "--for=condition=Ready", "widget/x", "--timeout=20s")

    assert result == (0, "widget.example.com/x condition met\n", "")


def test_kubectl_wait_for_condition_ready_false_matches_a_false_condition(kubectl: Kubectl) -> None:
    _patch_status(kubectl, {"conditions": [{"type": "Ready", "status": "False"}]})

    result = kubectl("wait", "--for=condition=Ready=false", "widget/x", "--timeout=20s")

    assert result == (0, "widget.example.com/x condition met\n", "")


def test_kubectl_wait_times_out_with_exit_1_when_ready_never_comes(kubectl: Kubectl) -> None:
    _patch_status(kubectl, {"conditions": [{"type": "Ready", "status": "False"}]})

    result = kubectl("wait", "--for=condition=Ready", "widget/x", "--timeout=1s")

    assert result.code == 1
    assert result.err == "error: timed out waiting for the condition on widgets/x\n"


def test_kubectl_wait_for_jsonpath_returns_0_once_the_status_phase_matches(kubectl: Kubectl, envtest: EnvTest) -> None:
    proc = _waiting(kubectl, envtest, "--for=jsonpath={.status.phase}=Running")

    _patch_status(kubectl, {"phase": "Pending"})
    _patch_status(kubectl, {"phase": "Running"})

    assert _finish(proc) == (0, "widget.example.com/x condition met\n", "")


def test_kubectl_wait_for_delete_returns_0_once_the_finalizer_is_removed(kubectl: Kubectl, envtest: EnvTest) -> None:
    kubectl.ok("delete", "widget", "x", "--wait=false")
    proc = _waiting(kubectl, envtest, "--for=delete")

    kubectl.ok("patch", "widget", "x", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')

    assert _finish(proc) == (0, "widget.example.com/x condition met\n", "")


def test_kubectl_wait_for_a_missing_widget_fails_with_not_found(kubectl: Kubectl) -> None:
    result = kubectl("wait", "--for=condition=Ready", "widget/missing", "--timeout=2s")

    assert result.code == 1
    assert result.err == 'Error from server (NotFound): widgets.example.com "missing" not found\n'
