"""Cloning provider templates into per-Machine objects (CAPI's `external.GenerateTemplate`, spec §4.4)."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from ...runtime import Manager, NoKindMatch
from ._external import ExternalObjects, MissingKind
from ._objects import CLUSTER_NAME_LABEL, Obj, group_of, nested, owner_reference

CLONED_FROM_NAME_ANNOTATION = "cluster.x-k8s.io/cloned-from-name"
CLONED_FROM_GROUP_KIND_ANNOTATION = "cluster.x-k8s.io/cloned-from-groupkind"
# CAPI's utilrand alphabet: no vowels (no accidental words) and no look-alike characters.
_RANDOM_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class TemplateMissing(Exception):
    """The referenced template does not exist."""


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(length))


async def clone_template(
    manager: Manager,
    external: ExternalObjects,
    template_ref: Obj,
    *,
    namespace: str,
    name: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    cluster_name: str,
    owner: Obj,
) -> Obj:
    """Create `<Kind minus Template>` `name` from the template's `spec.template`; returns a reference to it, in the
    style (v1beta1 apiVersion, or v1beta2 apiGroup) of the template reference."""
    api_version = await external.api_version(template_ref)
    template_kind = template_ref["kind"]
    try:
        template = await manager.client.get_live(api_version, template_kind, template_ref["name"], namespace)
    except NoKindMatch as error:
        raise MissingKind(str(error)) from error
    if template is None:
        raise TemplateMissing(f"{template_kind} {namespace}/{template_ref['name']} does not exist")
    body: dict[str, Any] = copy.deepcopy(nested(template, "spec", "template") or {})
    template_meta = body.get("metadata") or {}
    kind = template_kind.removesuffix("Template")
    obj: Obj = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**(template_meta.get("labels") or {}), **labels, CLUSTER_NAME_LABEL: cluster_name},
            "annotations": {
                **(template_meta.get("annotations") or {}), **annotations,
                CLONED_FROM_NAME_ANNOTATION: template_ref["name"],
                CLONED_FROM_GROUP_KIND_ANNOTATION: f"{template_kind}.{group_of(api_version)}",
            },
            "ownerReferences": [owner_reference(owner, controller=False)],
        },
        "spec": body.get("spec") or {},
    }
    try:
        await manager.client.create(obj)
    except NoKindMatch as error:
        raise MissingKind(str(error)) from error
    if template_ref.get("apiVersion") or not template_ref.get("apiGroup"):
        return {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace}
    return {"apiGroup": template_ref["apiGroup"], "kind": kind, "name": name}
