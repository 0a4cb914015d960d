"""Typed models of every custom resource the k0smotron providers serve (API version v1beta1), and read-side
models of the Cluster API core kinds they use.

    from k0smotron_core import api
    config = api.parse(obj)            # -> api.bootstrap.K0sWorkerConfig, ...
    config.spec.pre_start_commands
    obj = config.to_dict()             # the wire form; parse -> to_dict is lossless

Fields use snake_case in Python and the exact camelCase wire names of the CRDs (`k0sInstallDir`, `downloadURL`).
"""

from __future__ import annotations

from typing import Any

from . import bootstrap, capi, controlplane, infrastructure, k0smotron
from ._base import (
    API_VERSION,
    Condition,
    CRDInfo,
    KubeModel,
    MetaCondition,
    ObjectMeta,
    ObjectReference,
    Resource,
)

PROVIDER_KINDS: tuple[type[Resource], ...] = (
    bootstrap.K0sWorkerConfig,
    bootstrap.K0sWorkerConfigTemplate,
    bootstrap.K0sControllerConfig,
    controlplane.K0sControlPlane,
    controlplane.K0sControlPlaneTemplate,
    controlplane.K0smotronControlPlane,
    controlplane.K0smotronControlPlaneTemplate,
    infrastructure.RemoteCluster,
    infrastructure.RemoteClusterTemplate,
    infrastructure.RemoteMachine,
    infrastructure.RemoteMachineTemplate,
    infrastructure.PooledRemoteMachine,
    k0smotron.Cluster,
    k0smotron.JoinTokenRequest,
)
"""Every kind the three providers serve, in the order their CRDs are listed."""

CAPI_KINDS: tuple[type[Resource], ...] = (
    capi.Cluster,
    capi.Machine,
    capi.MachineSet,
    capi.MachineDeployment,
    capi.MachineHealthCheck,
)
"""The Cluster API core kinds the providers read."""

_BY_API_VERSION_AND_KIND: dict[tuple[str, str], type[Resource]] = {
    (model.crd.api_version, model.crd.kind): model for model in (*PROVIDER_KINDS, *CAPI_KINDS)
}


class UnknownKindError(LookupError):
    """An object whose apiVersion and kind no model describes."""


def model_for(api_version: str, kind: str) -> type[Resource]:
    try:
        return _BY_API_VERSION_AND_KIND[(api_version, kind)]
    except KeyError:
        raise UnknownKindError(f"no model for {kind} in {api_version}") from None


def parse(obj: dict[str, Any]) -> Resource:
    """The typed model of a wire object, chosen by its apiVersion and kind (pydantic's ValidationError on bad input)."""
    return model_for(str(obj.get("apiVersion", "")), str(obj.get("kind", ""))).model_validate(obj)


__all__ = [
    "API_VERSION",
    "CAPI_KINDS",
    "PROVIDER_KINDS",
    "CRDInfo",
    "Condition",
    "KubeModel",
    "MetaCondition",
    "ObjectMeta",
    "ObjectReference",
    "Resource",
    "UnknownKindError",
    "bootstrap",
    "capi",
    "controlplane",
    "infrastructure",
    "k0smotron",
    "model_for",
    "parse",
]
