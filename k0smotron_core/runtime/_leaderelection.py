"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics.

Expiry is judged by when *this* process last saw the lease record change (a monotonic local clock), never by
the `renewTime` written by the holder, so clock skew between machines cannot make two processes lead at once.
Every write carries the resourceVersion it was based on: when two candidates race, the API server lets one win
and answers the other 409 Conflict.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import math
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from ._transport import APIError, ConnectionFailed, Transport

log = structlog.get_logger("k0smotron.runtime.leaderelection")

LEASES_API = "/apis/coordination.k8s.io/v1"
JITTER_FACTOR = 1.2
"""client-go waits between retry_period and retry_period * (1 + 1.2) between attempts to acquire."""
RELEASED_LEASE_DURATION_S = 1
"""What a released lease claims, so whoever sees it next may take it at once."""


def leader_election_id(role: str) -> str:
    """k0smotron's lease name for a provider: the md5 of its role, e.g. bootstrap → ca4c50b9….k0smotron.io."""
    return f"{hashlib.md5(role.encode(), usedforsecurity=False).hexdigest()}.k0smotron.io"


def default_identity() -> str:
    """client-go's candidate identity: the hostname (the pod name in a cluster) and a fresh UUID."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def micro_time(moment: datetime) -> str:
    """A metav1.MicroTime as the API server serialises it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionRecord:
    """The part of a Lease's spec leader election reads and writes."""

    holder_identity: str
    lease_duration_s: int
    acquire_time: str
    renew_time: str
    leader_transitions: int

    @staticmethod
    def from_lease(lease: dict[str, Any]) -> LeaderElectionRecord:
        spec = lease.get("spec") or {}
        return LeaderElectionRecord(
            holder_identity=spec.get("holderIdentity") or "",
            lease_duration_s=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime") or "",
            renew_time=spec.get("renewTime") or "",
            leader_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_s,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.leader_transitions,
        }


class Attempt(enum.Enum):
    """The outcome of one try to acquire or renew."""

    HELD = "held"
    """This identity holds the lease now."""
    TAKEN = "taken"
    """Another identity holds an unexpired lease."""
    FAILED = "failed"
    """The API server could not be asked or refused the write (e.g. 409: someone else wrote first)."""


class LeaderElector:
    """One candidate for one lease: `await acquire()`, then `await hold()` (returns when leadership is lost),
    and `await release()` on a graceful shutdown so that a successor need not wait for the lease to expire."""

    def __init__(
        self,
        transport: Transport,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration_s: float = 15.0,
        renew_deadline_s: float = 10.0,
        retry_period_s: float = 2.0,
        on_status: Callable[[bool], None] | None = None,
    ) -> None:
        # client-go's validation: a leader must be able to renew (retrying, with jitter) before its lease expires.
        if retry_period_s <= 0:
            raise ValueError("the retry period must be positive")
        if not lease_duration_s > renew_deadline_s:
            raise ValueError("the lease duration must be greater than the renew deadline")
        if not renew_deadline_s > retry_period_s * JITTER_FACTOR:
            raise ValueError(f"the renew deadline must be greater than {JITTER_FACTOR} times the retry period")
        if not identity:
            raise ValueError("the leader election identity must not be empty")
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self._lease_duration_s = max(1, math.ceil(lease_duration_s))  # the Lease field is whole seconds
        self._renew_deadline_s = renew_deadline_s
        self._retry_period_s = retry_period_s
        self._transport = transport
        self._on_status = on_status
        self._leading = False
        self._lease: dict[str, Any] | None = None
        """The Lease as last read or written: its resourceVersion guards the next update."""
        self._observed: LeaderElectionRecord | None = None
        self._observed_at = 0.0
        """time.monotonic() when the record last changed, as seen from here."""

    @property
    def path(self) -> str:
        return f"{LEASES_API}/namespaces/{self.namespace}/leases/{self.name}"

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def observed_holder(self) -> str:
        """Who held the lease when it was last read or written ("" when free or never seen)."""
        return self._observed.holder_identity if self._observed is not None else ""

    # --- the three phases --------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this identity holds the lease; try every retry period, with jitter, until then."""
        log.info("attempting to acquire leader lease", lease=f"{self.namespace}/{self.name}", identity=self.identity)
        while True:
            if await self._attempt(self._renew_deadline_s) is Attempt.HELD:
                log.info("acquired leader lease", lease=f"{self.namespace}/{self.name}", identity=self.identity)
                self._set_leading(True)
                return
            await asyncio.sleep(random.uniform(self._retry_period_s, self._retry_period_s * (1 + JITTER_FACTOR)))

    async def hold(self) -> None:
        """Renew every retry period; return when leadership is lost (renewal kept failing for the renew deadline,
        or someone else holds the lease). Cancel it to stop renewing, e.g. before `release()`."""
        while self._leading:
            await asyncio.sleep(self._retry_period_s)
            outcome = await self._renew()
            if outcome is not Attempt.HELD:
                reason = "lease taken by another candidate" if outcome is Attempt.TAKEN else "renew deadline passed"
                log.error("leader lease lost", lease=f"{self.namespace}/{self.name}", identity=self.identity,
                          reason=reason, holder=self.observed_holder)
                self._set_leading(False)

    async def release(self) -> None:
        """Give the lease up if this identity still holds it: no holder, a one-second duration, so that a
        successor takes over at its next try (client-go's ReleaseOnCancel)."""
        self._set_leading(False)
        if self.observed_holder != self.identity:
            return  # never led, or already lost it: nothing of ours to give up
        try:
            async with asyncio.timeout(self._renew_deadline_s):
                await self._release()
        except (TimeoutError, APIError, ConnectionFailed) as error:
            # Not fatal: the successor takes over once the lease expires.
            log.warning("could not release the leader lease", lease=f"{self.namespace}/{self.name}", error=str(error))

    # --- one attempt, as client-go's tryAcquireOrRenew -----------------------------------------------------

    async def _renew(self) -> Attempt:
        """Retry every retry period until the renew deadline; stop early when someone else holds the lease."""
        deadline = time.monotonic() + self._renew_deadline_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    outcome = await self._attempt(remaining)
            except TimeoutError:
                return Attempt.FAILED
            if outcome is not Attempt.FAILED:
                return outcome
            await asyncio.sleep(min(self._retry_period_s, max(deadline - time.monotonic(), 0)))
        return Attempt.FAILED

    async def _attempt(self, timeout_s: float) -> Attempt:
        # Fast path for a leader whose lease has not expired: update the lease as last written, without reading
        # it first. A conflict means it changed meanwhile; the slow path then finds out how.
        if self._holds_unexpired_lease() and self._lease is not None and self._observed is not None:
            try:
                await self._update(self._renewal_of(self._observed), timeout_s)
                return Attempt.HELD
            except (APIError, ConnectionFailed) as error:
                log.debug("fast lease renewal failed, reading the lease", error=str(error))

        try:
            lease = await self._transport.request("GET", self.path, timeout_s=timeout_s)
        except APIError as error:
            if error.not_found:
                return await self._create(timeout_s)
            log.warning("cannot read the leader lease", lease=f"{self.namespace}/{self.name}", error=str(error))
            return Attempt.FAILED
        except ConnectionFailed as error:
            log.warning("cannot read the leader lease", lease=f"{self.namespace}/{self.name}", error=str(error))
            return Attempt.FAILED

        self._lease = lease
        current = LeaderElectionRecord.from_lease(lease)
        self._observe(current)
        ours = current.holder_identity == self.identity
        if current.holder_identity and not ours and self._observed_unexpired():
            log.debug("leader lease held by another candidate", holder=current.holder_identity)
            return Attempt.TAKEN

        desired = self._renewal_of(current) if ours else self._takeover_of(current)
        try:
            await self._update(desired, timeout_s)
        except (APIError, ConnectionFailed) as error:
            log.debug("leader lease update failed", lease=f"{self.namespace}/{self.name}", error=str(error))
            return Attempt.FAILED
        if not ours:
            log.info("took over the leader lease", previous=current.holder_identity or "(released)",
                     transitions=desired.leader_transitions)
        return Attempt.HELD

    async def _create(self, timeout_s: float) -> Attempt:
        now = micro_time(datetime.now(UTC))
        record = LeaderElectionRecord(self.identity, self._lease_duration_s, now, now, 0)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": record.to_spec(),
        }
        try:
            self._lease = await self._transport.request(
                "POST", f"{LEASES_API}/namespaces/{self.namespace}/leases", body=body, timeout_s=timeout_s)
        except (APIError, ConnectionFailed) as error:
            # 409 AlreadyExists: another candidate created it first; the next attempt reads it.
            log.debug("cannot create the leader lease", lease=f"{self.namespace}/{self.name}", error=str(error))
            return Attempt.FAILED
        self._observe(record)
        return Attempt.HELD

    async def _update(self, record: LeaderElectionRecord, timeout_s: float) -> None:
        assert self._lease is not None
        body = {**self._lease, "spec": {**(self._lease.get("spec") or {}), **record.to_spec()}}
        try:
            self._lease = await self._transport.request("PUT", self.path, body=body, timeout_s=timeout_s)
        except APIError as error:
            if error.conflict or error.not_found:
                self._lease = None  # stale: read it again before the next write
            raise
        self._observe(record)

    async def _release(self) -> None:
        while True:
            if self._lease is None:
                try:
                    self._lease = await self._transport.request("GET", self.path, timeout_s=self._renew_deadline_s)
                except APIError as error:
                    if error.not_found:
                        return
                    raise
            current = LeaderElectionRecord.from_lease(self._lease)
            if current.holder_identity != self.identity:
                return
            now = micro_time(datetime.now(UTC))
            released = LeaderElectionRecord("", RELEASED_LEASE_DURATION_S, now, now, current.leader_transitions)
            try:
                await self._update(released, self._renew_deadline_s)
            except APIError as error:
                if error.conflict:
                    continue  # written meanwhile (by us or a successor): look again
                raise
            log.info("released the leader lease", lease=f"{self.namespace}/{self.name}", identity=self.identity)
            return

    # --- records and observations ------------------------------------------------------------------------

    def _renewal_of(self, current: LeaderElectionRecord) -> LeaderElectionRecord:
        """Our record renewed: the acquire time and transitions stay, the renew time moves on."""
        return LeaderElectionRecord(self.identity, self._lease_duration_s, current.acquire_time,
                                    micro_time(datetime.now(UTC)), current.leader_transitions)

    def _takeover_of(self, current: LeaderElectionRecord) -> LeaderElectionRecord:
        now = micro_time(datetime.now(UTC))
        return LeaderElectionRecord(self.identity, self._lease_duration_s, now, now, current.leader_transitions + 1)

    def _observe(self, record: LeaderElectionRecord) -> None:
        if record != self._observed:
            self._observed = record
            self._observed_at = time.monotonic()

    def _observed_unexpired(self) -> bool:
        if self._observed is None:
            return False
        return self._observed_at + self._observed.lease_duration_s > time.monotonic()

    def _holds_unexpired_lease(self) -> bool:
        return self.observed_holder == self.identity and self._observed_unexpired()

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        if self._on_status is not None:
            self._on_status(leading)
