"""k0smotron_core: the shared library behind the k0smotron Cluster API providers."""

__version__ = "0.1.0"
