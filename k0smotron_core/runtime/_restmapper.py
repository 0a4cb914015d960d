"""Kind → resource mapping through discovery, cached and refreshed on a miss (a CRD may have just been installed)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ._transport import APIError, Transport


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, namespace: str | None, name: str, subresource: str = "") -> str:
        path = f"{self.collection_path(namespace if self.namespaced else None)}/{name}"
        return f"{path}/{subresource}" if subresource else path


class NoKindMatch(LookupError):
    """The server serves no such kind (`no matches for kind "X" in version "g/v"`)."""


class RESTMapper:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._by_group_version: dict[str, dict[str, ResourceInfo]] = {}
        self._lock = asyncio.Lock()

    async def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        known = self._by_group_version.get(api_version, {}).get(kind)
        if known is not None:
            return known
        async with self._lock:
            await self._discover(api_version)
        found = self._by_group_version.get(api_version, {}).get(kind)
        if found is None:
            raise NoKindMatch(f'no matches for kind "{kind}" in version "{api_version}"')
        return found

    async def _discover(self, api_version: str) -> None:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = await self._transport.request("GET", path)
        except APIError as error:
            if error.not_found:
                return
            raise
        kinds: dict[str, ResourceInfo] = {}
        for resource in listing.get("resources", ()):
            if "/" in resource["name"]:
                continue
            kinds[resource["kind"]] = ResourceInfo(group, version, resource["kind"], resource["name"],
                                                   bool(resource.get("namespaced")))
        self._by_group_version[api_version] = kinds
