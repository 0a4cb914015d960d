"""What cloud-init does with our user data, so tests see the node's view of it."""

from __future__ import annotations

from typing import Any

import jinja2
from ruamel.yaml import YAML

JINJA_HEADER = "## template: jinja\n"


def as_cloud_init_sees_it(user_data: str) -> str:
    """Drop the Jinja header and render the rest as cloud-init does (trim_blocks, no instance data needed)."""
    assert user_data.startswith(JINJA_HEADER)
    template = jinja2.Template(user_data.removeprefix(JINJA_HEADER), trim_blocks=True, keep_trailing_newline=True)
    rendered: str = template.render()
    return rendered


def load_cloud_config(user_data: str) -> dict[str, Any]:
    """The YAML document cloud-init acts on."""
    document: dict[str, Any] = YAML(typ="safe").load(as_cloud_init_sees_it(user_data))
    return document


def runcmd_script(document: dict[str, Any]) -> str:
    """The script cloud-init writes for `runcmd` (cloudinit.util.shellify): string items verbatim, one per line."""
    lines: list[str] = document["runcmd"]
    return "#!/bin/sh\n" + "".join(f"{line}\n" for line in lines)
