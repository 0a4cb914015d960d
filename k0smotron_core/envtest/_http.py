"""The HTTP face of envtest: kube-apiserver's URL layout, discovery, OpenAPI, content negotiation and watch."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from io import StringIO
from typing import Any

from aiohttp import web
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from . import _openapi, _selectors
from ._audit import AuditEvent, AuditLog, Faults, now
from ._certificates import (
    AUTHENTICATED_GROUP,
    CSRS,
    REQUEST,
    RequestInfo,
    UserInfo,
    authenticate_bootstrap_token,
    user_from_peer_certificate,
)
from ._errors import (
    FieldError,
    GoLiteral,
    StatusError,
    bad_request,
    go_sharp_v,
    internal_error,
    invalid,
    method_not_allowed,
    stale_resource_version,
    unauthorized,
)
from ._patch import apply_json_patch, apply_merge_patch
from ._registry import Registry, ResourceType
from ._storage import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    DeleteOptions,
    RequestContext,
    ResourceStorage,
)
from ._store import Store, WatchEvent
from ._table import jsonpath, partial_object_metadata, table

log = logging.getLogger("k0smotron_core.envtest")

SERVER_VERSION = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.0+envtest",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
_DEFAULT_WATCH_TIMEOUT_S = 1800.0
_ENCODED_EVENTS_KEPT = 4096


@dataclass
class Route:
    group: str
    version: str
    rt: ResourceType
    namespace: str | None
    name: str
    subresource: str
    watch_prefix: bool = False


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


def _query_bool(request: web.Request, name: str) -> bool:
    """Boolean query parameters parse like Go's strconv.ParseBool, as the real server's do."""
    return request.query.get(name, "") in _TRUE


def _yaml_load(text: str) -> Any:
    try:
        return YAML(typ="safe", pure=True).load(StringIO(text))
    except YAMLError as exc:
        raise bad_request(f"error decoding YAML: {exc}") from exc


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json_response(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join(f'299 - "{w.replace(chr(34), chr(92) + chr(34))}"' for w in warnings)
    return web.Response(body=_dump(obj), status=status, content_type="application/json", headers=headers)


def _accept(request: web.Request) -> dict[str, str]:
    """The preferred JSON representation asked for: `as` (Table, PartialObjectMetadata[List]) or plain JSON."""
    for clause in request.headers.get("Accept", "application/json").split(","):
        parts = [p.strip() for p in clause.split(";")]
        media = parts[0]
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if media not in ("application/json", "*/*", "application/*"):
            continue
        if params.get("as") in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
            if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                return params
            continue
        if "as" in params:
            continue
        return {}
    return {}


_OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _protobuf_string_field(number: int, text: str) -> bytes:
    data = text.encode()
    length = len(data)
    varint = bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([number << 3 | 2]) + bytes(varint) + data


def _openapi_v2(request: web.Request) -> web.Response:
    """A Swagger 2.0 document without definitions.

    kubectl only reads OpenAPI v2 for client-side validation where OpenAPI v3 cannot tell it that the server
    validates (e.g. `kind: List`), and it skips kinds a document does not define: the server then validates.
    client-go asks for it as gnostic's protobuf only; `swagger` is field 1 and `info` (title 1, version 2) field 2.
    """
    title, version = "Kubernetes", SERVER_VERSION["gitVersion"]
    if "protobuf" in request.headers.get("Accept", ""):
        info = _protobuf_string_field(1, title) + _protobuf_string_field(2, version)
        body = _protobuf_string_field(1, "2.0") + bytes([2 << 3 | 2, len(info)]) + info
        return web.Response(body=body, content_type=_OPENAPI_V2_PROTOBUF)
    return _json_response({"swagger": "2.0", "info": {"title": title, "version": version}, "paths": {},
                           "definitions": {}})


_OPTIONS_KIND = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions",
                 "delete": "DeleteOptions", "deletecollection": "DeleteOptions"}


class APIServerApp:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        storage: ResourceStorage,
        audit: AuditLog,
        faults: Faults,
        tokens: dict[str, str],
        bookmark_interval_s: float,
        address: str,
        user_groups: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._store = store
        self._registry = registry
        self._storage = storage
        self._audit = audit
        self._faults = faults
        self._tokens = tokens
        self._user_groups = user_groups if user_groups is not None else {}
        """Groups of the users of `tokens` (the static token file's groups column)."""
        self._bookmark_interval_s = bookmark_interval_s
        self._address = address
        self._openapi_cache: tuple[int, dict[str, dict[str, Any]], dict[str, Any]] | None = None
        self._audited_at_start: set[int] = set()
        """Requests (watches) already audited when their response started."""
        self._encoded_events: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()

    def application(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    # --- entry -------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"].strip("/")
        user_info = self._authenticate(request)
        user = user_info.name if user_info is not None else None
        event_base = {"user": user or "system:anonymous", "user_agent": request.headers.get("User-Agent", ""),
                      "uri": str(request.rel_url)}
        request_token = REQUEST.set(RequestInfo(user_info) if user_info is not None else None)
        try:
            if user is None and path not in _PUBLIC_PATHS:
                raise unauthorized()
            response, audit_fields = await self._dispatch(request, path, user or "system:anonymous")
        except StatusError as error:
            self._audit_record(event_base, request, path, error.code)
            return _json_response(error.to_status(), error.code)
        except Exception as exc:  # a bug in envtest must surface as a 500, not a dropped connection
            log.exception("envtest: unhandled error for %s %s", request.method, path)
            failure = internal_error(f"{type(exc).__name__}: {exc}")
            self._audit_record(event_base, request, path, 500)
            return _json_response(failure.to_status(), 500)
        finally:
            REQUEST.reset(request_token)
        if id(request) in self._audited_at_start:
            self._audited_at_start.discard(id(request))
        else:
            self._audit.record(AuditEvent(timestamp=now(), code=response.status, **event_base, **audit_fields))
        return response

    def _audit_record(self, base: dict[str, str], request: web.Request, path: str, code: int) -> None:
        fields = self._audit_fields_for_path(request, path)
        self._audit.record(AuditEvent(timestamp=now(), code=code, **base, **fields))

    def _audit_fields_for_path(self, request: web.Request, path: str) -> dict[str, str]:
        try:
            route = self._route(path)
        except StatusError:
            route = None
        if route is None:
            return {"verb": request.method.lower(), "api_group": "", "api_version": "", "resource": "",
                    "subresource": "", "namespace": "", "name": ""}
        return self._audit_fields(request, route)

    def _audit_fields(self, request: web.Request, route: Route) -> dict[str, str]:
        return {
            "verb": self._verb(request, route),
            "api_group": route.group,
            "api_version": route.version,
            "resource": route.rt.plural,
            "subresource": route.subresource,
            "namespace": route.namespace or "",
            "name": route.name,
        }

    def _authenticate(self, request: web.Request) -> UserInfo | None:
        """kube-apiserver's union of authenticators, in its order: a client certificate verified against the CA
        (the TLS layer verified it), then bearer tokens (static tokens, then bootstrap tokens)."""
        transport = request.transport
        if transport is not None:
            certificate_user = user_from_peer_certificate(transport.get_extra_info("peercert"))
            if certificate_user is not None:
                return certificate_user
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = header[len("Bearer "):].strip()
        name = self._tokens.get(token)
        if name is not None:
            return UserInfo(name, groups=(*self._user_groups.get(name, ()), AUTHENTICATED_GROUP))
        return authenticate_bootstrap_token(self._store, token)

    def _user_name(self, request: web.Request) -> str:
        user = self._authenticate(request)
        return user.name if user is not None else "system:anonymous"

    @staticmethod
    def _verb(request: web.Request, route: Route) -> str:
        method = request.method
        if method == "GET":
            if route.name:
                return "get"
            return "watch" if route.watch_prefix or _query_bool(request, "watch") else "list"
        return {
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if route.name else "deletecollection",
        }.get(method, method.lower())

    async def _dispatch(self, request: web.Request, path: str, user: str) -> tuple[web.StreamResponse, dict[str, str]]:
        none = {"verb": request.method.lower(), "api_group": "", "api_version": "", "resource": "",
                "subresource": "", "namespace": "", "name": ""}
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok"), none
        if path == "/version":
            return _json_response(SERVER_VERSION), none
        if path.startswith("/openapi/"):
            return self._openapi(path, request), none
        discovery = self._discovery(path)
        if discovery is not None:
            return _json_response(discovery), none
        route = self._route(path)
        if route is None:
            raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
        fields = self._audit_fields(request, route)
        if fields["verb"] != "watch":
            await self._inject_faults(route.rt.plural)
        return await self._resource(request, route, user), fields

    async def _inject_faults(self, resource: str) -> None:
        delay = self._faults.latency_for(resource)
        if delay > 0:
            await asyncio.sleep(delay)
        if self._faults.should_fail(resource):
            code = self._faults.error_code
            reason = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "Timeout"}.get(code, "InternalError")
            raise StatusError(code, reason, f"injected fault for {resource}")

    # --- discovery and OpenAPI ---------------------------------------------------------------------------

    def _discovery(self, path: str) -> dict[str, Any] | None:
        segments = [s for s in path.split("/") if s]
        groups = self._registry.group_versions()
        if segments == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self._address}]}
        if segments == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [self._api_group(g, v) for g, v in groups.items() if g]}
        if len(segments) == 2 and segments[0] == "apis":
            if segments[1] not in groups:
                raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
            return {"kind": "APIGroup", "apiVersion": "v1", **self._api_group(segments[1], groups[segments[1]])}
        if segments == ["api", "v1"]:
            return self._resource_list("", "v1")
        if len(segments) == 3 and segments[0] == "apis":
            if segments[2] not in groups.get(segments[1], []):
                raise StatusError(404, "NotFound", "the server could not find the requested resource", {})
            return self._resource_list(segments[1], segments[2])
        return None

    @staticmethod
    def _api_group(group: str, versions: list[str]) -> dict[str, Any]:
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources: list[dict[str, Any]] = []
        for rt in self._registry.resources_in(group, version):
            entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular_name, "namespaced": rt.namespaced,
                                     "kind": rt.kind, "verbs": list(rt.verbs)}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            for sub in sorted(rt.subresources):
                if sub == "scale":
                    resources.append({"name": f"{rt.plural}/scale", "singularName": "", "namespaced": rt.namespaced,
                                      "group": "autoscaling", "version": "v1", "kind": "Scale",
                                      "verbs": ["get", "patch", "update"]})
                else:
                    resources.append({"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                                      "kind": rt.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    def _openapi_documents(self) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        if self._openapi_cache is None or self._openapi_cache[0] != self._registry.generation:
            documents: dict[str, dict[str, Any]] = {}
            for group, versions in self._registry.group_versions().items():
                for version in versions:
                    resources = [
                        _openapi.OpenAPIResource(rt.group, rt.version, rt.kind, rt.plural, rt.namespaced,
                                                 rt.schema if rt.custom else None, rt.subresources)
                        for rt in self._registry.resources_in(group, version)
                    ]
                    key = f"apis/{group}/{version}" if group else f"api/{version}"
                    documents[key] = _openapi.openapi_v3_document(group, version, resources)
            hashes = {key: _openapi.document_hash(doc) for key, doc in documents.items()}
            group_versions = [(g, v) for g, vs in self._registry.group_versions().items() for v in vs]
            root = _openapi.openapi_v3_root(group_versions, hashes)
            self._openapi_cache = (self._registry.generation, documents, root)
        return self._openapi_cache[1], self._openapi_cache[2]

    def _openapi(self, path: str, request: web.Request) -> web.Response:
        if path == "/openapi/v2":
            return _openapi_v2(request)
        if path == "/openapi/v3":
            return _json_response(self._openapi_documents()[1])
        if path.startswith("/openapi/v3/"):
            documents, _root = self._openapi_documents()
            document = documents.get(path[len("/openapi/v3/"):])
            if document is not None:
                return _json_response(document)
        raise StatusError(404, "NotFound", "the server could not find the requested resource", {})

    # --- resources ---------------------------------------------------------------------------------------

    def _route(self, path: str) -> Route | None:
        segments = [s for s in path.split("/") if s]
        if len(segments) >= 2 and segments[0] == "api":
            group, version, rest = "", segments[1], segments[2:]
        elif len(segments) >= 3 and segments[0] == "apis":
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            return None
        watch_prefix = bool(rest) and rest[0] == "watch"
        if watch_prefix:
            rest = rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            return None
        rt = self._registry.lookup(group, version, rest[0])
        if rt is None:
            return None
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        if subresource and subresource not in rt.subresources:
            return None
        if rt.namespaced and namespace is None and name:
            return None
        if not rt.namespaced and namespace is not None:
            return None
        return Route(group, version, rt, namespace, name, subresource, watch_prefix)

    def _context(self, request: web.Request, user: str, verb: str) -> RequestContext:
        query = request.query
        options_kind = _OPTIONS_KIND.get(verb, "CreateOptions")
        dry_run = query.getall("dryRun", [])
        if any(value != "All" for value in dry_run):
            raise invalid("meta.k8s.io", options_kind, "", [FieldError(
                "FieldValueNotSupported", "dryRun", 'supported values: "All"', GoLiteral(go_sharp_v(dry_run)))])
        validation = query.get("fieldValidation", "") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise invalid("meta.k8s.io", options_kind, "", [FieldError(
                "FieldValueNotSupported", "fieldValidation", 'supported values: "", "Ignore", "Strict", "Warn"',
                validation)])
        return RequestContext(
            user=user,
            user_agent=request.headers.get("User-Agent", ""),
            dry_run=bool(dry_run),
            field_manager=query.get("fieldManager"),
            field_validation=validation,
        )

    async def _body(self, request: web.Request) -> Any:
        text = await request.text()
        if not text.strip():
            return None
        content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
        if content_type.endswith("yaml"):
            return _yaml_load(text)
        if "protobuf" in content_type or "cbor" in content_type:
            raise StatusError(415, "UnsupportedMediaType",
                              "the body of the request was in an unknown format - accepted media types include: "
                              "application/json, application/yaml")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    def _render(self, request: web.Request, route: Route, obj: dict[str, Any], status: int,
                ctx: RequestContext | None = None) -> web.Response:
        accept = _accept(request)
        warnings = ctx.warnings if ctx else None
        if accept.get("as") == "Table":
            rendered = table(route.rt, [obj], resource_version=obj["metadata"].get("resourceVersion", ""),
                             include_object=request.query.get("includeObject", "Metadata"))
            return _json_response(rendered, status, warnings)
        if accept.get("as") == "PartialObjectMetadata":
            return _json_response(partial_object_metadata(obj), status, warnings)
        return _json_response(obj, status, warnings)

    async def _resource(self, request: web.Request, route: Route, user: str) -> web.StreamResponse:
        verb = self._verb(request, route)
        if route.subresource == "scale":
            return await self._scale(request, route, user, verb)
        if route.rt.group_resource == CSRS and route.subresource in ("status", "approval"):
            # Both write the status; which parts of it each may change is the CSR admission's business.
            current = REQUEST.get()
            if current is not None:
                REQUEST.set(RequestInfo(current.user, route.subresource))
            route = replace(route, subresource="status")
        rt = route.rt
        namespace = route.namespace or ""
        if verb == "get":
            return self._render(request, route, self._storage.get(rt, namespace, route.name), 200)
        if verb == "list":
            return self._list(request, route)
        if verb == "watch":
            return await self._watch(request, route)
        ctx = self._context(request, user, verb)
        if verb == "create":
            if route.subresource:
                raise method_not_allowed()
            created = self._storage.create(rt, namespace, await self._body(request) or {}, ctx)
            return self._render(request, route, created, 201, ctx)
        if verb == "update":
            updated = self._storage.update(rt, namespace, route.name, await self._body(request) or {}, ctx,
                                           subresource=route.subresource)
            return self._render(request, route, updated, 200, ctx)
        if verb == "patch":
            return await self._patch(request, route, ctx)
        if verb == "delete":
            return await self._delete(request, route, ctx)
        if verb == "deletecollection":
            return await self._delete_collection(request, route, ctx)
        raise method_not_allowed()

    async def _patch(self, request: web.Request, route: Route, ctx: RequestContext) -> web.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH):
            accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
            if not route.rt.custom:
                accepted.insert(2, STRATEGIC_MERGE_PATCH)
            raise StatusError(415, "UnsupportedMediaType",
                              "the body of the request was in an unknown format - accepted media types include: "
                              + ", ".join(accepted))
        body = await self._body(request)
        force = _query_bool(request, "force")
        if force and content_type != APPLY_PATCH:
            raise bad_request("force may only be specified with apply patches")
        existed = self._store.get(route.rt.group_resource, route.namespace or "", route.name) is not None
        result = self._storage.patch(route.rt, route.namespace or "", route.name, content_type, body, ctx,
                                     subresource=route.subresource, force=force)
        return self._render(request, route, result, 200 if existed else 201, ctx)

    async def _delete(self, request: web.Request, route: Route, ctx: RequestContext) -> web.Response:
        body = await self._body(request)
        options = DeleteOptions.from_body(body if isinstance(body, dict) else None, dict(request.query))
        obj, gone = self._storage.delete(route.rt, route.namespace or "", route.name, options, ctx)
        if not gone:
            # The real server answers 202 only to the legacy orphanDependents=false; otherwise 200.
            return self._render(request, route, obj, 202 if options.orphan_dependents is False else 200, ctx)
        if route.rt.custom or route.rt.plural in ("pods", "namespaces", "customresourcedefinitions"):
            return self._render(request, route, obj, 200, ctx)
        details = {"name": route.name, "kind": route.rt.plural, "uid": obj["metadata"]["uid"]}
        if route.rt.group:
            details["group"] = route.rt.group
        return _json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                               "details": details}, 200, ctx.warnings)

    async def _delete_collection(self, request: web.Request, route: Route, ctx: RequestContext) -> web.Response:
        body = await self._body(request)
        options = DeleteOptions.from_body(body if isinstance(body, dict) else None, dict(request.query))
        labels, fields = self._selectors(request)
        listed = self._storage.list(route.rt, route.namespace, labels=labels, fields=fields)
        deleted = []
        for obj in listed.items:
            meta = obj["metadata"]
            try:
                final, _gone = self._storage.delete(route.rt, meta.get("namespace") or "", meta["name"], options, ctx)
            except StatusError as error:
                if error.code != 404:
                    raise
                continue
            deleted.append(final)
        return _json_response({"kind": route.rt.list_kind, "apiVersion": route.rt.api_version,
                               "metadata": {"resourceVersion": str(self._store.resource_version)}, "items": deleted})

    def _selectors(
        self, request: web.Request
    ) -> tuple[_selectors.LabelSelector | None, _selectors.FieldSelector | None]:
        label_text = request.query.get("labelSelector", "")
        field_text = request.query.get("fieldSelector", "")
        labels = _selectors.parse_label_selector(label_text) if label_text else None
        fields = _selectors.parse_field_selector(field_text) if field_text else None
        return labels, fields

    def _list(self, request: web.Request, route: Route) -> web.Response:
        labels, fields = self._selectors(request)
        try:
            limit = int(request.query.get("limit", "0") or 0)
        except ValueError as exc:
            raise bad_request("limit must be an integer") from exc
        result = self._storage.list(
            route.rt, route.namespace, labels=labels, fields=fields, limit=max(limit, 0),
            continue_token=request.query.get("continue", ""),
            resource_version=request.query.get("resourceVersion", ""),
            resource_version_match=request.query.get("resourceVersionMatch", ""),
        )
        accept = _accept(request)
        if accept.get("as") == "Table":
            return _json_response(table(route.rt, result.items, resource_version=str(result.resource_version),
                                        continue_token=result.continue_token,
                                        include_object=request.query.get("includeObject", "Metadata")))
        metadata: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
        if result.continue_token:
            metadata["continue"] = result.continue_token
            if result.remaining is not None:
                metadata["remainingItemCount"] = result.remaining
        if accept.get("as") in ("PartialObjectMetadataList", "PartialObjectMetadata"):
            return _json_response({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                   "metadata": metadata,
                                   "items": [partial_object_metadata(o) for o in result.items]})
        return _json_response({"kind": route.rt.list_kind, "apiVersion": route.rt.api_version, "metadata": metadata,
                               "items": result.items})

    # --- watch -------------------------------------------------------------------------------------------

    async def _watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        query = request.query
        labels, fields = self._selectors(request)
        if fields is not None:
            self._storage.check_field_selector(route.rt, fields)
        rv_text = query.get("resourceVersion", "")
        send_initial = _query_bool(request, "sendInitialEvents")
        bookmarks = _query_bool(request, "allowWatchBookmarks")
        try:
            timeout = float(query["timeoutSeconds"]) if "timeoutSeconds" in query else _DEFAULT_WATCH_TIMEOUT_S
        except ValueError as exc:
            raise bad_request("timeoutSeconds must be a number") from exc
        name = route.name

        def predicate(obj: dict[str, Any]) -> bool:
            meta = obj["metadata"]
            if name and meta["name"] != name:
                return False
            if labels is not None and not labels.matches(meta.get("labels") or {}):
                return False
            return fields is None or fields.matches(obj)

        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                           "Transfer-Encoding": "chunked"})
        await response.prepare(request)
        # Audited when the response starts, as the real server's ResponseStarted stage, not when the watch ends.
        self._audit.record(AuditEvent(
            timestamp=now(), code=200, user=self._user_name(request),
            user_agent=request.headers.get("User-Agent", ""), uri=str(request.rel_url),
            **self._audit_fields(request, route)))
        self._audited_at_start.add(id(request))
        since: int | None
        if send_initial or rv_text in ("", "0"):
            since = None
        else:
            try:
                since = int(rv_text)
            except ValueError:
                await self._write_event(response, {"type": "ERROR", "object": bad_request(
                    f"invalid resource version: {rv_text}").to_status()})
                return response
        try:
            watcher = self._store.watch(route.rt.group_resource, namespace=route.namespace, predicate=predicate,
                                        since=since)
        except StatusError as error:
            await self._write_event(response, {"type": "ERROR", "object": error.to_status()})
            return response
        as_table = _accept(request).get("as") == "Table"
        try:
            await self._stream(response, route, watcher, duration_s=timeout, bookmarks=bookmarks,
                               initial_end=send_initial, as_table=as_table,
                               include_object=query.get("includeObject", "Metadata"))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._store.stop_watch(watcher)
        return response

    async def _stream(self, response: web.StreamResponse, route: Route, watcher: Any, *, duration_s: float,
                      bookmarks: bool, initial_end: bool, as_table: bool, include_object: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration_s
        headers_sent = False
        if initial_end:
            # Everything queued so far is the initial state; a bookmark marks its end (the WatchList protocol).
            initial = watcher.queue.qsize()
            for _ in range(initial):
                event = watcher.queue.get_nowait()
                if event is None:
                    return
                headers_sent = await self._send(response, route, event, as_table, include_object, headers_sent)
            await self._write_event(response, self._bookmark(route, initial_events_end=True))
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            wait = min(remaining, self._bookmark_interval_s) if bookmarks else remaining
            try:
                event = await asyncio.wait_for(watcher.queue.get(), wait)
            except TimeoutError:
                if bookmarks and watcher.queue.empty() and loop.time() < deadline:
                    await self._write_event(response, self._bookmark(route))
                continue
            if event is None:
                return
            headers_sent = await self._send(response, route, event, as_table, include_object, headers_sent)

    async def _send(self, response: web.StreamResponse, route: Route, event: WatchEvent, as_table: bool,
                    include_object: str, headers_sent: bool) -> bool:
        obj = self._storage.as_version(event.object, route.rt)
        if as_table:
            rendered = table(route.rt, [obj], resource_version=obj["metadata"]["resourceVersion"],
                             include_object=include_object, with_headers=not headers_sent)
            await self._write_event(response, {"type": event.type, "object": rendered})
            return True
        meta = obj["metadata"]
        key = (meta.get("uid", ""), meta.get("resourceVersion", ""), event.type, route.rt.api_version)
        line = self._encoded_events.get(key)
        if line is None:
            # Every watcher of a resource gets the same bytes: encode each event once, not once per watcher.
            line = _dump({"type": event.type, "object": obj}) + b"\n"
            self._encoded_events[key] = line
            if len(self._encoded_events) > _ENCODED_EVENTS_KEPT:
                self._encoded_events.popitem(last=False)
        await response.write(line)
        return headers_sent

    def _bookmark(self, route: Route, *, initial_events_end: bool = False) -> dict[str, Any]:
        metadata: dict[str, Any] = {"resourceVersion": str(self._store.resource_version)}
        if initial_events_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK", "object": {"kind": route.rt.kind, "apiVersion": route.rt.api_version,
                                               "metadata": metadata}}

    @staticmethod
    async def _write_event(response: web.StreamResponse, event: dict[str, Any]) -> None:
        await response.write(_dump(event) + b"\n")

    # --- scale subresource -------------------------------------------------------------------------------

    def _scale_of(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        scale = rt.scale or {}
        spec_replicas = jsonpath(obj, scale.get("specReplicasPath", ".spec.replicas"))
        status_replicas = jsonpath(obj, scale.get("statusReplicasPath", ".status.replicas"))
        selector_values = jsonpath(obj, scale["labelSelectorPath"]) if scale.get("labelSelectorPath") else []
        selector = ""
        if selector_values:
            value = selector_values[0]
            selector = str(_selectors.label_selector_from_match(value)) if isinstance(value, dict) else str(value)
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            # Scale's spec.replicas and status.selector are omitempty; status.replicas is not.
            "spec": {"replicas": spec_replicas[0]} if spec_replicas and spec_replicas[0] else {},
            "status": {"replicas": status_replicas[0] if status_replicas else 0,
                       **({"selector": selector} if selector else {})},
        }

    async def _scale(self, request: web.Request, route: Route, user: str, verb: str) -> web.Response:
        rt = route.rt
        namespace = route.namespace or ""
        obj = self._storage.get(rt, namespace, route.name)
        current = self._scale_of(rt, obj)
        if verb == "get":
            return _json_response(current)
        ctx = self._context(request, user, verb)
        body = await self._body(request)
        if verb == "update":
            desired = body or {}
            requested_rv = (desired.get("metadata") or {}).get("resourceVersion")
            if requested_rv and requested_rv != obj["metadata"]["resourceVersion"]:
                raise stale_resource_version(rt.group, rt.plural, route.name)
        elif verb == "patch":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type == JSON_PATCH:
                desired = apply_json_patch(current, body)
            elif content_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
                desired = apply_merge_patch(current, body)
            else:
                raise StatusError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                  f"accepted media types include: {JSON_PATCH}, {MERGE_PATCH}")
        else:
            raise method_not_allowed()
        replicas = (desired.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid("autoscaling", "Scale", route.name, [
                FieldError("FieldValueInvalid", "spec.replicas", "must be greater than or equal to 0", replicas)])
        updated = copy.deepcopy(obj)
        path = [p for p in (rt.scale or {}).get("specReplicasPath", ".spec.replicas").split(".") if p]
        target = updated
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = replicas
        result = self._storage.update(rt, namespace, route.name, updated, ctx, subresource="scale")
        return _json_response(self._scale_of(rt, result))

