"""The cloud-config document: `write_files` and `runcmd` as YAML under cloud-init's Jinja header.

The `## template: jinja` header (kept for parity with upstream, and so custom user data may use instance data) makes
cloud-init render the whole text as a Jinja template before parsing the YAML. A user command such as
`docker inspect -f '{{.Id}}'` would then be mangled, so every `{` that opens a Jinja delimiter in a generated value
is written as the YAML escape `\\x7B` inside a double-quoted scalar: Jinja sees no delimiter, YAML reads `{` back.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import jinja2
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from .files import BootstrapFile

_JINJA_OPENER = re.compile(r"\{(?=[{%#])")
# Characters a YAML literal block cannot carry (or would alter, like `\r` or a trailing space before a newline).
_NOT_LITERAL_SAFE = re.compile(r"[^\n\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]| \n|\t|^\s| $")

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("k0smotron_core.cloudinit", "templates"),
    # The output is YAML for cloud-init, not HTML.
    autoescape=False,
    undefined=jinja2.StrictUndefined,
)


def render_cloud_config(files: Sequence[BootstrapFile], runcmd: Sequence[str], custom_user_data: str | None) -> str:
    """The user data: header, YAML with `write_files` (path, content, permissions) and `runcmd`, then the custom
    user data as a second `#cloud-config` part when given."""
    document = {
        "write_files": [
            {"path": _scalar(file.path), "content": _scalar(file.content), "permissions": file.permissions}
            for file in files
        ],
        "runcmd": [_scalar(line) for line in runcmd],
    }
    template = _templates.get_template("cloud-config.j2")
    user_data: str = template.render(body=_dump(document), custom_user_data=custom_user_data)
    return user_data


_YAML_LINE_BREAKS = re.compile("[\x85\u2028\u2029\r]")


def _scalar(value: str) -> str:
    styled: str = value
    if _JINJA_OPENER.search(value) or _YAML_LINE_BREAKS.search(value):
        # Double quotes escape both: `{` for cloud-init's Jinja pass, and the characters YAML would otherwise read
        # as line breaks (NEL, LS, PS, CR) and fold away in plain or single-quoted scalars.
        styled = DoubleQuotedScalarString(value)
    elif "\n" in value and not _NOT_LITERAL_SAFE.search(value):
        # PEM blocks and manifests stay readable on the node and in the Secret.
        styled = LiteralScalarString(value)
    return styled


def _dump(document: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=2, offset=0)
    # Never fold long lines: a fold could split a `{{` across lines and hide it from the escaping below.
    yaml.width = 1 << 30
    stream = io.StringIO()
    yaml.dump(document, stream)
    # Every `{` opening a Jinja delimiter is inside a double-quoted scalar (see _scalar), where `\x7B` is `{`.
    dumped: str = stream.getvalue()
    return _JINJA_OPENER.sub(r"\\x7B", dumped)
