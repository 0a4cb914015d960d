"""kubectl against envtest: `kubectl get -w --output-watch-events` sees the changes made while it runs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator

import pytest

from k0smotron_core.envtest import EnvTest

from ._kube import Kubectl, LineReader, eventually, stop, widget

Watch = Callable[..., LineReader]


@pytest.fixture
def watch(kubectl: Kubectl, envtest: EnvTest) -> Iterator[Watch]:
    """Start `kubectl get ... -w --output-watch-events` and give a reader of its lines; stopped at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> LineReader:
        watches_before = envtest.store.open_watches
        proc = kubectl.popen("get", *args, "-w", "--output-watch-events")
        started.append(proc)
        eventually(lambda: envtest.store.open_watches > watches_before, what="kubectl opened its watch")
        return LineReader(proc)

    yield start
    for proc in started:
        stop(proc)


def _event(line: str) -> tuple[str, ...]:
    """EVENT, NAME, REPLICAS and MODE of one printed line."""
    return tuple(line.split()[:4])


def test_kubectl_get_watch_prints_added_modified_and_deleted_lines_for_changes_made_meanwhile(
    kubectl: Kubectl, watch: Watch,
) -> None:
    kubectl.apply(widget("a"))
    lines: LineReader = watch("widgets")
    assert lines.next().split() == ["EVENT", "NAME", "REPLICAS", "MODE", "READY", "AGE"]
    assert _event(lines.next()) == ("ADDED", "a", "1", "tunnel")

    kubectl.apply(widget("b"))
    assert _event(lines.next()) == ("ADDED", "b", "1", "tunnel")
    kubectl.ok("patch", "widget", "b", "--type=merge", "-p", '{"spec":{"mode":"proxy","replicas":2}}')
    assert _event(lines.next()) == ("MODIFIED", "b", "2", "proxy")
    kubectl.ok("delete", "widget", "b")
    assert _event(lines.next()) == ("DELETED", "b", "2", "proxy")


def test_kubectl_get_watch_only_prints_only_the_changes_made_after_it_started(kubectl: Kubectl, watch: Watch) -> None:
    kubectl.apply(widget("a"))
    lines: LineReader = watch("widgets", "--watch-only")

    kubectl.apply(widget("c"))

    assert lines.next().split()[0] == "EVENT"
    assert _event(lines.next()) == ("ADDED", "c", "1", "tunnel")


def test_kubectl_get_watch_of_one_widget_prints_only_the_changes_to_it(kubectl: Kubectl, watch: Watch) -> None:
    kubectl.apply(widget("a"))
    kubectl.apply(widget("b"))
    lines: LineReader = watch("widget", "a")
    lines.next()
    assert _event(lines.next()) == ("ADDED", "a", "1", "tunnel")

    kubectl.ok("patch", "widget", "b", "--type=merge", "-p", '{"spec":{"replicas":5}}')
    kubectl.ok("patch", "widget", "a", "--type=merge", "-p", '{"spec":{"replicas":3}}')

    assert _event(lines.next()) == ("MODIFIED", "a", "3", "tunnel")


def test_kubectl_get_watch_with_a_label_selector_sees_a_widget_relabelled_out_as_deleted(
    kubectl: Kubectl, watch: Watch,
) -> None:
    kubectl.apply(widget("a", labels={"app": "web"}))
    lines: LineReader = watch("widgets", "-l", "app=web")
    lines.next()
    assert _event(lines.next()) == ("ADDED", "a", "1", "tunnel")

    kubectl.ok("label", "widget", "a", "app=db", "--overwrite")
    assert _event(lines.next()) == ("DELETED", "a", "1", "tunnel")
    kubectl.apply(widget("b", labels={"app": "web"}))
    assert _event(lines.next()) == ("ADDED", "b", "1", "tunnel")


def test_kubectl_get_watch_sees_a_status_change_as_modified(kubectl: Kubectl, watch: Watch) -> None:
    kubectl.apply(widget("a"))
    lines: LineReader = watch("widgets")
    lines.next()
    lines.next()

    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    kubectl.ok("patch", "widget", "a", "--subresource=status", "--type=merge", "-p", json.dumps(patch))

    assert lines.next().split()[:5] == ["MODIFIED", "a", "1", "tunnel", "True"]
