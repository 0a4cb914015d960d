"""Installing manifests (CRDs and anything else) into an envtest directly, without a client."""

from __future__ import annotations

import asyncio
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ._server import EnvTest


def load_manifests(path: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
    documents: list[dict[str, Any]] = []
    yaml = YAML(typ="safe", pure=True)
    for file in files:
        for document in yaml.load_all(StringIO(file.read_text(encoding="utf-8"))):
            if isinstance(document, dict) and document.get("kind"):
                documents.append(document)
    return documents


async def install_manifests(env: EnvTest, path: Path) -> list[dict[str, Any]]:
    """Create every object in the file or directory, CRDs first; waits until the CRDs are established."""
    documents = load_manifests(path)
    documents.sort(key=lambda d: d["kind"] != "CustomResourceDefinition")
    created = []
    for document in documents:
        created.append(env.create(document))
        if document["kind"] == "CustomResourceDefinition":
            await env.settle()
            await asyncio.sleep(0)
    return created
