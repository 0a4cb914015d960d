"""How lists merge: the one question strategic merge patch and server-side apply both ask.

A resolver answers it for a field path (field names from the object root, list positions omitted,
e.g. `("spec", "template", "spec", "containers")`). Built-in kinds answer from a table of the well-known
merge keys; custom resources answer from their schema's `x-kubernetes-list-type` / `x-kubernetes-list-map-keys`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class ListType:
    kind: Literal["atomic", "set", "map"]
    keys: tuple[str, ...] = ()


ATOMIC = ListType("atomic")
SET = ListType("set")

ListTypeResolver = Callable[[FieldPath], ListType]


def atomic_everywhere(_path: FieldPath) -> ListType:
    return ATOMIC
