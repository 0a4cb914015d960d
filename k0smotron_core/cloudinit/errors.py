"""The one error bootstrap-data generation raises for bad input."""

from __future__ import annotations


class BootstrapDataError(ValueError):
    """The spec cannot be turned into bootstrap data (bad download URL, version, file entry, ...).

    Messages name the offending field and value but never carry file contents: those may hold the join token or CA
    keys, and the message ends up in a condition on the config object.
    """
