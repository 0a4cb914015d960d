"""The generated CRDs and the user guides' manifests (examples/) against a real client and server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from k0smotron_core import api

from .conftest import EXAMPLES_DIR, PROVIDER_CRDS_DIR, Kubectl

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text()) if isinstance(d, dict)]


def _our_documents() -> list[tuple[str, dict[str, Any]]]:
    known = {(m.crd.api_version, m.crd.kind) for m in (*api.PROVIDER_KINDS, *api.CAPI_KINDS)}
    return [
        (f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc)
        for path in EXAMPLES for doc in _documents(path) if (doc["apiVersion"], doc["kind"]) in known
    ]


def test_every_provider_kind_has_its_crd_in_the_crds_directory() -> None:
    names = sorted(p.name for p in PROVIDER_CRDS_DIR.glob("*.yaml"))
    assert names == sorted(f"{m.crd.group}_{m.crd.plural}.yaml" for m in api.PROVIDER_KINDS)


def test_every_crd_applied_with_kubectl_is_established(cluster: Kubectl) -> None:
    listed = json.loads(cluster.ok("get", "crd", "-o", "json"))["items"]
    status = {crd["metadata"]["name"]: {c["type"]: c["status"] for c in crd["status"]["conditions"]} for crd in listed}
    for model in api.PROVIDER_KINDS:
        assert status[model.crd.crd_name] == {"NamesAccepted": "True", "Established": "True"}, model.crd.crd_name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_a_server_side_dry_run(cluster: Kubectl, example: Path) -> None:
    result = cluster("apply", "--dry-run=server", "-f", str(example))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(("where", "document"), _our_documents(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_example_object_parses_into_its_model_and_dumps_back_unchanged(
    where: str, document: dict[str, Any]
) -> None:
    model = api.parse(document)
    expected = {k: v for k, v in document.items() if not (k in ("spec", "status") and v is None)}
    assert model.to_dict() == expected, where


def test_kubectl_explain_prints_the_tunneling_field_descriptions(cluster: Kubectl) -> None:
    explained = cluster.ok("explain", "k0scontrolplane.spec.k0sConfigSpec.tunneling")
    assert "KIND:       K0sControlPlane" in explained
    assert "DESCRIPTION:" in explained
    for field in ("enabled", "mode", "serverAddress", "serverNodePort", "tunnelingNodePort"):
        assert f"  {field}\t" in explained, field
    mode = cluster.ok("explain", "k0scontrolplane.spec.k0sConfigSpec.tunneling.mode")
    assert "ENUM:" in mode and "tunnel" in mode and "proxy" in mode
