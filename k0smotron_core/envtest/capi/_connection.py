"""HTTP connections to an in-process envtest, built from the EnvTest object itself (no kubeconfig file needed)."""

from __future__ import annotations

import ssl

from ...runtime import Cache, CacheOptions, Client, HTTPTransport, RESTMapper
from ...runtime._transport import ConnectionSettings
from .._server import EnvTest

SIMULATOR_NAME = "capi-simulator"


def transport_for(env: EnvTest, *, user: str) -> HTTPTransport:
    """A transport that authenticates to `env` as `user` (a token of its own, so audit entries name it)."""
    context = ssl.create_default_context(cadata=env.ca_pem.decode())
    settings = ConnectionSettings(env.url, context, {"Authorization": f"Bearer {env.add_user(user)}"})
    # No client-side rate limit (0 QPS): the simulator must never be what slows a test down.
    return HTTPTransport(settings, qps=0.0, user_agent=SIMULATOR_NAME)


def client_for(env: EnvTest, *, user: str) -> Client:
    """A runtime Client on `env` with an (initially empty) cache of its own."""
    transport = transport_for(env, user=user)
    mapper = RESTMapper(transport)
    return Client(transport, mapper, Cache(transport, mapper, CacheOptions()), field_manager=SIMULATOR_NAME)
