"""A small, level-triggered controller runtime on aiohttp, with controller-runtime's semantics.

    manager = Manager(options)
    await manager.connect()
    await manager.controller("k0sworkerconfig").reconciles(K0sWorkerConfig).owns("v1", "Secret").complete(reconcile)
    exit_code = await manager.run()

Informer caches (list then watch, re-list on 410, reconnect with backoff, indexes, restrictions), a de-duplicating
workqueue with per-key backoff, a client reading from the cache and writing to the server, leader election on a
Lease, Prometheus metrics and health probes with controller-runtime's names, structlog logging with CAPI's keys.
Kubeconfigs are read by a small loader of its own (`_kubeconfig`): kubernetes_asyncio's loader imports the whole
generated client (about 60 MiB), which a provider managing hundreds of clusters cannot afford.
"""

from ._cache import EventHandler, Informer, InformerOptions, field_index, label_index, owner_uid_index
from ._client import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, Cache, CacheOptions, CacheSelector, Client
from ._controller import Controller, Reconciler, Request, Result, Stop
from ._entrypoint import Provider, run_provider
from ._events import EventRecorder, EventType
from ._flags import ManagerOptions, build_parser, options_from_args
from ._manager import WATCH_FILTER_LABEL, Manager
from ._pause import PAUSED_ANNOTATION, check_paused, cluster_name_of, merge_condition, paused_condition
from ._restmapper import NoKindMatch, ResourceInfo, RESTMapper
from ._transport import APIError, ConnectionFailed, HTTPTransport, Transport

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "PAUSED_ANNOTATION",
    "WATCH_FILTER_LABEL",
    "APIError",
    "Cache",
    "CacheOptions",
    "CacheSelector",
    "Client",
    "ConnectionFailed",
    "Controller",
    "EventHandler",
    "EventRecorder",
    "EventType",
    "HTTPTransport",
    "Informer",
    "InformerOptions",
    "Manager",
    "ManagerOptions",
    "NoKindMatch",
    "Provider",
    "RESTMapper",
    "Reconciler",
    "Request",
    "ResourceInfo",
    "Result",
    "Stop",
    "Transport",
    "build_parser",
    "check_paused",
    "cluster_name_of",
    "field_index",
    "label_index",
    "merge_condition",
    "options_from_args",
    "owner_uid_index",
    "paused_condition",
    "run_provider",
]
