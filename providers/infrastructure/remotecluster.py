"""RemoteCluster: the infrastructure of a cluster whose machines already exist.

There is nothing to build, so it is provisioned at once and only carries `spec.controlPlaneEndpoint` (set by the
user, or by a hosted control plane provider). It honours pausing like every Cluster API provider object.
"""

from __future__ import annotations

import copy
from typing import Any

import structlog

from k0smotron_core import conditions
from k0smotron_core.api import infrastructure
from k0smotron_core.runtime import APIError, Client, Request, Result, paused_condition
from k0smotron_core.runtime._pause import cluster_name_of

log = structlog.get_logger("k0smotron.infrastructure.remotecluster")

API_VERSION = infrastructure.RemoteCluster.crd.api_version
KIND = "RemoteCluster"
CAPI = "cluster.x-k8s.io/v1beta1"


class RemoteClusterReconciler:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def reconcile(self, request: Request) -> Result:
        obj = await self._client.get(API_VERSION, KIND, request.name, request.namespace)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return Result()
        status = copy.deepcopy(obj.get("status") or {})
        generation = obj["metadata"].get("generation")
        cluster_name = cluster_name_of(obj)
        cluster = await self._client.get(CAPI, "Cluster", cluster_name, request.namespace) if cluster_name else None
        paused = paused_condition(cluster, obj)
        conditions.set_v1beta2(status, "Paused", paused["status"], paused["reason"], paused["message"], generation)
        if paused["status"] != "True":
            _mark_provisioned(status, generation)
        await self._write_status(obj, status)
        return Result()

    async def _write_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        if status == (obj.get("status") or {}):
            return
        try:
            await self._client.update_status({**obj, "status": status})
        except APIError as error:
            if not (error.conflict or error.not_found):
                raise
            # A newer version is on its way through the watch, and with it another pass.
            log.debug("status not written", reason=str(error))


def _mark_provisioned(status: dict[str, Any], generation: int | None) -> None:
    status["ready"] = True
    status["initialization"] = {**(status.get("initialization") or {}), "provisioned": True}
    conditions.set_v1beta1(status, "Ready", "True")
    conditions.set_v1beta2(status, "Ready", "True", "Ready", "", generation)
