"""k0smotron-dev: the demo and end-to-end driver."""
