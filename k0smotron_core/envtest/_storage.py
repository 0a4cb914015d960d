"""The generic registry: create, read, update, patch and delete with the API server's object semantics.

This layer knows nothing of HTTP. It is what `_http` calls for every resource request, and what the garbage
collector and the built-in controllers of envtest call directly.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import _managedfields, _patch, _schema
from ._errors import (
    FieldError,
    GoLiteral,
    StatusError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    go_sharp_v,
    invalid,
    method_not_allowed,
    not_found,
    stale_resource_version,
    unsupported_media_type,
)
from ._listtypes import ListTypeResolver
from ._registry import Registry, ResourceType
from ._selectors import FieldSelector, LabelSelector
from ._store import Store
from ._validation import validate_object_meta

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"

FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_SUPPORTED_FIELD_SELECTORS = {"metadata.name", "metadata.namespace"}
_KIND_FIELD_SELECTORS: dict[tuple[str, str], set[str]] = {
    ("", "pods"): {"spec.nodeName", "status.phase", "spec.serviceAccountName", "spec.restartPolicy",
                   "spec.schedulerName", "status.podIP", "status.nominatedNodeName", "spec.hostNetwork"},
    ("", "secrets"): {"type"},
    ("", "events"): {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                     "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"},
    ("", "namespaces"): {"status.phase"},
    ("", "nodes"): {"spec.unschedulable"},
    ("", "services"): {"spec.clusterIP", "spec.type"},
    ("batch", "jobs"): {"status.successful"},
}
_GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class RequestContext:
    """Who asks, and the write options of the request."""

    user: str = "admin"
    user_agent: str = ""
    dry_run: bool = False
    field_manager: str | None = None
    field_validation: str = "Warn"
    warnings: list[str] = field(default_factory=list)

    def manager(self) -> str:
        return self.field_manager or _managedfields.default_manager(self.user_agent)


@dataclass
class ListResult:
    items: list[dict[str, Any]]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


@dataclass
class DeleteOptions:
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    preconditions_uid: str | None = None
    preconditions_resource_version: str | None = None
    grace_period_seconds: int | None = None

    @staticmethod
    def from_body(body: dict[str, Any] | None, query: dict[str, str]) -> DeleteOptions:
        body = body or {}
        pre = body.get("preconditions") or {}
        policy = body.get("propagationPolicy") or query.get("propagationPolicy")
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        return DeleteOptions(
            propagation_policy=policy,
            orphan_dependents=None if orphan is None else orphan in (True, "1", "t", "T", "TRUE", "true", "True"),
            preconditions_uid=pre.get("uid"),
            preconditions_resource_version=pre.get("resourceVersion"),
            grace_period_seconds=None if grace is None else int(grace),
        )


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_continue(resource_version: int, last_key: tuple[str, str]) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": resource_version, "start": f"{last_key[0]}/{last_key[1]}\x00"}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, _, name = raw["start"].rstrip("\x00").partition("/")
        return int(raw["rv"]), (namespace, name)
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_request(f"continue key is not valid: {exc}") from exc


def _continue_expired(current: int, start_after: tuple[str, str]) -> StatusError:
    return StatusError(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can start a new list "
        "without the continue parameter, or use the continue token in this response to retrieve the remainder of "
        "the results. Continuing with the provided token results in an inconsistent list - objects that were "
        "created, modified, or deleted between the time the first chunk was returned and now may show up in the "
        "list.",
        list_meta={"continue": encode_continue(current, start_after)},
    )


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything that counts towards metadata.generation: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ResourceStorage:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self._random = random.Random()
        self.after_write: list[Callable[[ResourceType, dict[str, Any] | None, dict[str, Any]], None]] = []
        """Hooks run after a stored create or update (the CRD controller registers resources from here)."""
        self.admission: list[Callable[[ResourceType, dict[str, Any] | None, dict[str, Any]], None]] = []
        """Hooks that may default or reject an object before it is stored (built-in defaulting of Services)."""

    # --- helpers -----------------------------------------------------------------------------------------

    def _storage_type(self, rt: ResourceType) -> ResourceType:
        return self.registry.lookup(rt.group, rt.storage_version, rt.plural) or rt

    @staticmethod
    def as_version(obj: dict[str, Any], rt: ResourceType) -> dict[str, Any]:
        if obj.get("apiVersion") == rt.api_version:
            return obj
        converted = dict(obj)
        converted["apiVersion"] = rt.api_version
        return converted

    def lists_of(self, rt: ResourceType) -> ListTypeResolver:
        if rt.custom and rt.schema is not None:
            return _schema.list_type_resolver(rt.schema)
        return _patch.builtin_list_types(rt.group, rt.kind)

    def _require_namespace(self, rt: ResourceType, namespace: str, *, creating: bool, name: str = "") -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise not_found("", "namespaces", namespace)
        if creating and ns["metadata"].get("deletionTimestamp"):
            raise forbidden(
                rt.group, rt.plural, name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _require_crd_not_terminating(self, rt: ResourceType) -> None:
        if not rt.custom:
            return
        crd = self.store.get(("apiextensions.k8s.io", "customresourcedefinitions"), "", f"{rt.plural}.{rt.group}")
        if crd is not None and crd["metadata"].get("deletionTimestamp"):
            raise method_not_allowed("create not allowed while custom resource definition is terminating")

    def _check_body_identity(self, rt: ResourceType, body: dict[str, Any], namespace: str) -> None:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        api_version = body.get("apiVersion")
        kind = body.get("kind")
        if api_version and api_version != rt.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        body_ns = (meta or {}).get("namespace")
        if rt.namespaced and body_ns and body_ns != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")

    def _prepare_custom(self, rt: ResourceType, obj: dict[str, Any], ctx: RequestContext) -> list[FieldError]:
        """Defaulting, pruning and schema validation of a custom resource (in place); returns the errors."""
        schema = rt.schema or {"type": "object"}
        # The real server's order: prune unknown fields, drop nulls the schema does not allow, then default.
        pruned = _schema.prune(obj, schema)
        _schema.prune_non_nullable_nulls(obj, schema)
        _schema.apply_defaults(obj, schema)
        errors: list[FieldError] = []
        if pruned:
            if ctx.field_validation == "Strict":
                return [FieldError("FieldValueInvalid", "", f'unknown field "{p}"') for p in pruned]
            if ctx.field_validation == "Warn":
                ctx.warnings.extend(f'unknown field "{p}"' for p in pruned)
        errors += _schema.validate(obj, schema)
        return errors

    def _validate(self, rt: ResourceType, obj: dict[str, Any], ctx: RequestContext) -> None:
        _drop_empty_metadata_collections(obj["metadata"])
        errors = validate_object_meta(obj["metadata"], dns_label_name=rt.plural == "namespaces")
        if rt.custom:
            errors += self._prepare_custom(rt, obj, ctx)
        if _is_crd(rt):
            errors += _schema.validate_crd(obj)
        strict_unknown = [e for e in errors if e.field == "" and e.detail.startswith("unknown field")]
        if strict_unknown:
            raise bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: '
                + ", ".join(e.detail for e in strict_unknown)
            )
        if errors:
            raise invalid(rt.group, rt.kind, obj["metadata"].get("name", ""), errors)

    def _builtin_defaults(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        if rt.group == "" and rt.plural == "secrets":
            obj.setdefault("type", "Opaque")
            string_data = obj.pop("stringData", None)
            if string_data:
                data = dict(obj.get("data") or {})
                for key, value in string_data.items():
                    data[key] = base64.b64encode(str(value).encode()).decode()
                obj["data"] = data
        if _is_crd(rt):
            _schema.crd_defaults(obj)
        for hook in self.admission:
            hook(rt, old, obj)

    def _generate_name(self, prefix: str) -> str:
        return prefix + "".join(self._random.choice(_GENERATE_NAME_ALPHABET) for _ in range(5))

    def _stamp(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["resourceVersion"] = str(self.store.next_resource_version())

    def _commit(self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
        self._stamp(new)
        stored = self.store.put(rt.group_resource, new, created=old is None)
        for hook in self.after_write:
            hook(rt, old, stored)
        return stored

    # --- create ------------------------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: dict[str, Any],
        ctx: RequestContext,
        *,
        applied_managed_fields: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Create an object; `applied_managed_fields` is set when the create comes from server-side apply."""
        self._check_body_identity(rt, body, namespace)
        obj = copy.deepcopy(body)
        obj["apiVersion"] = self._storage_type(rt).api_version
        obj["kind"] = rt.kind
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = self._generate_name(meta["generateName"])
            else:
                raise invalid(rt.group, rt.kind, "", [
                    FieldError("FieldValueRequired", "metadata.name", "name or generateName is required")
                ])
        self._require_namespace(rt, namespace, creating=True, name=meta["name"])
        self._require_crd_not_terminating(rt)
        if self.store.get(rt.group_resource, namespace if rt.namespaced else "", meta["name"]) is not None:
            if meta.get("generateName") and body.get("metadata", {}).get("name") in (None, ""):
                # The real server retries a clash of generated names a few times before giving up.
                meta["name"] = self._generate_name(meta["generateName"])
            if self.store.get(rt.group_resource, namespace if rt.namespaced else "", meta["name"]) is not None:
                raise already_exists(rt.group, rt.plural, meta["name"])
        for server_field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
            meta.pop(server_field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.ignore_status_on_write:
            obj.pop("status", None)
        self._builtin_defaults(rt, obj, None)
        if _is_namespace(rt):
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
        self._validate(rt, obj, ctx)
        if applied_managed_fields is not None:
            obj["metadata"]["managedFields"] = applied_managed_fields
        else:
            obj = _managedfields.track_update(
                None, obj, manager=ctx.manager(), lists=self.lists_of(rt), api_version=rt.api_version,
                now=now_rfc3339(), ignore_status=rt.ignore_status_on_write,
            )
        if ctx.dry_run:
            return self.as_version(obj, rt)
        return self.as_version(self._commit(rt, None, obj), rt)

    # --- read --------------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.group_resource, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt.group, rt.plural, name)
        return self.as_version(obj, rt)

    def check_field_selector(self, rt: ResourceType, selector: FieldSelector) -> None:
        kind_specific = _KIND_FIELD_SELECTORS.get(rt.group_resource)
        allowed = _SUPPORTED_FIELD_SELECTORS | (kind_specific or set())
        for path in selector.fields:
            if path in allowed:
                continue
            if kind_specific is not None or rt.custom:
                # Custom resources and kinds with their own field label conversion answer tersely ...
                raise bad_request(f"field label not supported: {path}")
            # ... the others use apimachinery's DefaultMetaV1FieldSelectorConversion.
            raise bad_request(f'"{path}" is not a known field selector: only "metadata.name", "metadata.namespace"')

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        *,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> ListResult:
        current = self.store.resource_version
        if resource_version and resource_version != "0":
            try:
                requested = int(resource_version)
            except ValueError as exc:
                raise bad_request(f"invalid resource version: {resource_version}") from exc
            if requested > current:
                raise StatusError(504, "Timeout",
                                  f"Timeout: Too large resource version: {requested}, current: {current}",
                                  {"causes": [{"reason": "ResourceVersionTooLarge",
                                               "message": "Too large resource version"}], "retryAfterSeconds": 1})
        if fields is not None:
            self.check_field_selector(rt, fields)
        start_after: tuple[str, str] | None = None
        list_rv = current
        scope = namespace if rt.namespaced else None
        if continue_token:
            list_rv, start_after = _decode_continue(continue_token)
            try:
                # Every page of a list shows the state at the first page's resourceVersion.
                candidates = self.store.snapshot(rt.group_resource, list_rv, scope)
            except StatusError:
                raise _continue_expired(current, start_after) from None
        elif resource_version_match == "Exact" and resource_version not in ("", "0"):
            list_rv = int(resource_version)
            candidates = self.store.snapshot(rt.group_resource, list_rv, scope)
        else:
            candidates = self.store.objects(rt.group_resource, scope)
        items: list[dict[str, Any]] = []
        token = ""
        remaining: int | None = None
        for index, obj in enumerate(candidates):
            meta = obj["metadata"]
            key = (meta.get("namespace") or "", meta["name"])
            if start_after is not None and key <= start_after:
                continue
            if labels is not None and not labels.matches(meta.get("labels") or {}):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            if limit and len(items) == limit:
                last = items[-1]["metadata"]
                token = encode_continue(list_rv, (last.get("namespace") or "", last["name"]))
                remaining = len(candidates) - index if labels is None and fields is None else None
                break
            items.append(self.as_version(obj, rt))
        return ListResult(items, list_rv, token, remaining)

    # --- update ------------------------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: dict[str, Any],
        ctx: RequestContext,
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        self._check_body_identity(rt, body, namespace)
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        old = self.store.get(rt.group_resource, namespace if rt.namespaced else "", name)
        if old is None:
            raise not_found(rt.group, rt.plural, name)
        requested_rv = (body.get("metadata") or {}).get("resourceVersion")
        if not requested_rv and rt.custom:
            # Custom resources do not allow unconditional updates (built-in kinds mostly do). The generic
            # registry names the resource, not the kind, in this error.
            raise invalid(rt.group, rt.plural, name, [FieldError(
                "FieldValueInvalid", "metadata.resourceVersion", "must be specified for an update", GoLiteral("0x0"))])
        if requested_rv and requested_rv != old["metadata"]["resourceVersion"]:
            raise stale_resource_version(rt.group, rt.plural, name)
        new = self._merge_update(rt, old, copy.deepcopy(body), subresource)
        return self._finish_update(rt, old, new, ctx, subresource=subresource)

    def _merge_update(
        self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str
    ) -> dict[str, Any]:
        """Keep what this endpoint may not change: server-set metadata, and status or all-but-status."""
        if subresource == "status":
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            client_managed = (new.get("metadata") or {}).get("managedFields")
            if client_managed is not None:
                merged["metadata"]["managedFields"] = client_managed
            return merged
        new["apiVersion"] = old["apiVersion"]
        new["kind"] = rt.kind
        meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "generateName"):
            if fixed in old_meta:
                meta[fixed] = old_meta[fixed]
            else:
                meta.pop(fixed, None)
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        if rt.ignore_status_on_write:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if _is_namespace(rt):
            new["spec"] = copy.deepcopy(old.get("spec") or {})
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        return new

    def _finish_update(
        self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any], ctx: RequestContext, *, subresource: str
    ) -> dict[str, Any]:
        self._builtin_defaults(rt, new, old)
        if old["metadata"].get("deletionTimestamp"):
            added = set(new["metadata"].get("finalizers") or ()) - set(old["metadata"].get("finalizers") or ())
            if added:
                new_finalizers = [f for f in new["metadata"].get("finalizers") or () if f in added]
                raise invalid(rt.group, rt.kind, old["metadata"]["name"], [FieldError(
                    "FieldValueForbidden", "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new finalizers "
                    + go_sharp_v(new_finalizers),
                )])
        self._validate(rt, new, ctx)
        if rt.has_generation and _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        new = _managedfields.track_update(
            old, new, manager=ctx.manager(), lists=self.lists_of(rt), api_version=rt.api_version,
            now=now_rfc3339(), ignore_status=rt.ignore_status_on_write, subresource=subresource,
        )
        return self._store_update(rt, old, new, ctx)

    def _store_update(
        self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _unchanged(old, new):
            # A no-op write stores nothing, bumps no resourceVersion and sends no watch event.
            return self.as_version(old, rt)
        if ctx.dry_run:
            return self.as_version(new, rt)
        if new["metadata"].get("deletionTimestamp") and not _held_by_finalizers(rt, new):
            self._stamp(new)
            self.store.remove(rt.group_resource, new)
            return self.as_version(new, rt)
        return self.as_version(self._commit(rt, old, new), rt)

    # --- patch -------------------------------------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch_type: str,
        patch: Any,
        ctx: RequestContext,
        *,
        subresource: str = "",
        force: bool = False,
    ) -> dict[str, Any]:
        ns_key = namespace if rt.namespaced else ""
        old = self.store.get(rt.group_resource, ns_key, name)
        if patch_type in (APPLY_PATCH, APPLY_PATCH_CBOR):
            return self._apply(rt, namespace, name, old, patch, ctx, subresource=subresource, force=force)
        if old is None:
            raise not_found(rt.group, rt.plural, name)
        current = self.as_version(old, rt)
        if patch_type == JSON_PATCH:
            patched = _patch.apply_json_patch(current, patch)
        elif patch_type == MERGE_PATCH:
            patched = _patch.apply_merge_patch(current, patch)
        elif patch_type == STRATEGIC_MERGE_PATCH and not rt.custom:
            patched = _patch.apply_strategic_merge_patch(current, patch, self.lists_of(rt))
        else:
            accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
            if not rt.custom:
                accepted.insert(2, STRATEGIC_MERGE_PATCH)
            raise unsupported_media_type(patch_type, accepted)
        if not isinstance(patched, dict):
            raise bad_request("the patch produced a value that is not an object")
        requested_rv = (patched.get("metadata") or {}).get("resourceVersion")
        if requested_rv and requested_rv != old["metadata"]["resourceVersion"]:
            raise stale_resource_version(rt.group, rt.plural, name)
        patched.setdefault("metadata", {})
        if patched["metadata"].get("name", name) != name:
            raise bad_request(
                f"the name of the object ({patched['metadata'].get('name')}) does not match the name on the URL "
                f"({name})"
            )
        new = self._merge_update(rt, old, patched, subresource)
        return self._finish_update(rt, old, new, ctx, subresource=subresource)

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        old: dict[str, Any] | None,
        applied: Any,
        ctx: RequestContext,
        *,
        subresource: str,
        force: bool,
    ) -> dict[str, Any]:
        _managedfields.validate_field_manager(ctx.field_manager or "", True)
        assert ctx.field_manager is not None
        if not isinstance(applied, dict):
            raise bad_request("the apply configuration must be an object")
        self._check_body_identity(rt, applied, namespace)
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise bad_request("apply configurations must specify apiVersion and kind")
        applied_name = (applied.get("metadata") or {}).get("name")
        if applied_name and applied_name != name:
            raise bad_request(f"the name of the object ({applied_name}) does not match the name on the URL ({name})")
        if old is None and subresource:
            raise not_found(rt.group, rt.plural, name)
        self._check_apply_configuration_is_typed(rt, namespace, name, applied)
        result = _managedfields.server_side_apply(
            self.as_version(old, rt) if old is not None else None,
            applied,
            manager=ctx.field_manager,
            force=force,
            lists=self.lists_of(rt),
            api_version=rt.api_version,
            now=now_rfc3339(),
            ignore_status=rt.ignore_status_on_write,
            subresource=subresource,
        )
        if old is None:
            result.setdefault("metadata", {})["name"] = name
            managed = result["metadata"].pop("managedFields", None) or []
            return self.create(rt, namespace, result, ctx, applied_managed_fields=managed)
        managed = (result.get("metadata") or {}).get("managedFields")
        new = self._merge_update(rt, old, result, subresource)
        if managed is not None:
            new["metadata"]["managedFields"] = managed
        self._builtin_defaults(rt, new, old)
        self._validate(rt, new, ctx)
        if rt.has_generation and _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        return self._store_update(rt, old, new, ctx)

    @staticmethod
    def _check_apply_configuration_is_typed(
        rt: ResourceType, namespace: str, name: str, applied: dict[str, Any]
    ) -> None:
        """An apply configuration must fit the schema: structured-merge-diff cannot type undeclared fields."""
        if not rt.custom or rt.schema is None:
            return
        undeclared = _schema.prune(copy.deepcopy(applied), rt.schema)
        if not undeclared:
            return
        problems = [f".{path}: field not declared in schema" for path in undeclared]
        detail = problems[0] if len(problems) == 1 else "errors:\n  " + "\n  ".join(problems)
        # The real server fails this without a reason, which clients show as a bare 500.
        raise StatusError(500, "", f"failed to create typed patch object ({namespace}/{name}; "
                                   f"{rt.api_version}, Kind={rt.kind}): {detail}")

    # --- delete ------------------------------------------------------------------------------------------

    def delete(
        self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions, ctx: RequestContext
    ) -> tuple[dict[str, Any], bool]:
        """Delete or mark for deletion; returns the object and whether it is gone already."""
        ns_key = namespace if rt.namespaced else ""
        old = self.store.get(rt.group_resource, ns_key, name)
        if old is None:
            raise not_found(rt.group, rt.plural, name)
        meta = old["metadata"]
        if options.preconditions_uid and options.preconditions_uid != meta["uid"]:
            raise conflict(rt.group, rt.plural, name,
                           f"Precondition failed: UID in precondition: {options.preconditions_uid}, "
                           f"UID in object meta: {meta['uid']}")
        if options.preconditions_resource_version and options.preconditions_resource_version != meta[
            "resourceVersion"
        ]:
            raise conflict(rt.group, rt.plural, name,
                           f"Precondition failed: ResourceVersion in precondition: "
                           f"{options.preconditions_resource_version}, ResourceVersion in object meta: "
                           f"{meta['resourceVersion']}")
        policy = options.propagation_policy
        if policy is None and options.orphan_dependents is not None:
            policy = "Orphan" if options.orphan_dependents else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise invalid("meta.k8s.io", "DeleteOptions", "", [FieldError(
                "FieldValueNotSupported", "propagationPolicy",
                'supported values: "Foreground", "Background", "Orphan", "nil"', policy)])
        finalizers = list(meta.get("finalizers") or ())
        if policy == "Orphan" and FINALIZER_ORPHAN not in finalizers:
            finalizers.append(FINALIZER_ORPHAN)
        if policy == "Foreground" and FINALIZER_FOREGROUND not in finalizers:
            finalizers.append(FINALIZER_FOREGROUND)
        if _is_crd(rt) and CRD_CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CRD_CLEANUP_FINALIZER)
        namespace_pending = _is_namespace(rt) and bool((old.get("spec") or {}).get("finalizers"))
        if not finalizers and not namespace_pending:
            if ctx.dry_run:
                return self.as_version(old, rt), True
            final = copy.deepcopy(old)
            self._stamp(final)
            self.store.remove(rt.group_resource, final)
            return self.as_version(final, rt), True
        if meta.get("deletionTimestamp") and finalizers == list(meta.get("finalizers") or ()):
            return self.as_version(old, rt), False
        marked = copy.deepcopy(old)
        marked["metadata"]["finalizers"] = finalizers
        if not marked["metadata"].get("deletionTimestamp"):
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            if rt.has_generation:
                marked["metadata"]["generation"] = meta.get("generation", 0) + 1
        if namespace_pending:
            marked["status"] = {**(marked.get("status") or {}), "phase": "Terminating"}
        if _is_crd(rt):
            status = marked.get("status") or {}
            conditions = [c for c in status.get("conditions") or () if c["type"] != "Terminating"]
            conditions.append({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress",
                               "message": "CustomResource deletion is in progress",
                               "lastTransitionTime": now_rfc3339()})
            marked.setdefault("status", {})["conditions"] = conditions
        if ctx.dry_run:
            return self.as_version(marked, rt), False
        return self.as_version(self._commit(rt, old, marked), rt), False

    def remove_finalizer(self, rt: ResourceType, obj: dict[str, Any], finalizer: str) -> None:
        """What a controller does when it is done with its finalizer (used by envtest's own controllers)."""
        current = self.store.get(rt.group_resource, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
        if current is None or finalizer not in (current["metadata"].get("finalizers") or ()):
            return
        new = copy.deepcopy(current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != finalizer]
        if not new["metadata"]["finalizers"]:
            del new["metadata"]["finalizers"]
        self._store_update(rt, current, new, RequestContext(user="system:serviceaccount:kube-system:generic-"
                                                                     "garbage-collector"))

    def replace_internal(self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        """A write by envtest's own controllers, bypassing admission (status conditions, GC owner updates)."""
        return self._store_update(rt, old, new, RequestContext(user="system:envtest"))


def _drop_empty_metadata_collections(meta: dict[str, Any]) -> None:
    """ObjectMeta's maps and lists are `omitempty`: an empty one is never stored, for any kind."""
    for key in ("labels", "annotations", "finalizers", "ownerReferences", "managedFields"):
        if key in meta and not meta[key]:
            del meta[key]


def _is_namespace(rt: ResourceType) -> bool:
    return rt.group == "" and rt.plural == "namespaces"


def _held_by_finalizers(rt: ResourceType, obj: dict[str, Any]) -> bool:
    """Finalizers keep a deleted object; a namespace is also kept by its spec.finalizers (`kubernetes`)."""
    if obj["metadata"].get("finalizers"):
        return True
    return _is_namespace(rt) and bool((obj.get("spec") or {}).get("finalizers"))


def _is_crd(rt: ResourceType) -> bool:
    return rt.group == "apiextensions.k8s.io" and rt.plural == "customresourcedefinitions"


def _unchanged(old: dict[str, Any], new: dict[str, Any]) -> bool:
    if old.keys() != new.keys():
        return False
    for key in old:
        if key == "metadata":
            continue
        if old[key] != new[key]:
            return False
    old_meta = {k: v for k, v in old["metadata"].items() if k != "managedFields"}
    new_meta = {k: v for k, v in new["metadata"].items() if k != "managedFields"}
    if old_meta != new_meta:
        return False
    return _managed_sets(old) == _managed_sets(new)


def _managed_sets(obj: dict[str, Any]) -> list[tuple[Any, ...]]:
    """managedFields without their timestamps: a write that changes nothing but the time is a no-op."""
    return [
        (m.get("manager"), m.get("operation"), m.get("apiVersion"), m.get("subresource"),
         json.dumps(m.get("fieldsV1"), sort_keys=True))
        for m in obj["metadata"].get("managedFields") or ()
    ]
