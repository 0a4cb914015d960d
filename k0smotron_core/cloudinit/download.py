"""Commands that put the k0s binary into the install directory (spec `downloadURL`)."""

from __future__ import annotations

import shlex
from urllib.parse import SplitResult, urlsplit

from .errors import BootstrapDataError

GET_K0S_SCRIPT_URL = "https://get.k0s.sh"


def download_commands(version: str | None, download_url: str | None, install_dir: str) -> list[str]:
    """The commands, in order, that download k0s into `install_dir`; they share one shell (`export HOME` must reach
    `oras`).

    - empty URL or the get.k0s.sh script: pipe the script into sh with the install path and (if given) version;
    - http(s) URL: fetch the binary itself (the version is then whatever the URL serves);
    - `oci://host/path`: `oras blob fetch` the binary (oras must be on the node).
    """
    target = shlex.quote(f"{install_dir.rstrip('/')}/k0s")
    if not download_url or download_url == GET_K0S_SCRIPT_URL:
        env = f"K0S_INSTALL_PATH={shlex.quote(install_dir)}"
        if version:
            env += f" K0S_VERSION={shlex.quote(version)}"
        return [f"curl -sSfL --retry 5 {GET_K0S_SCRIPT_URL} | {env} sh"]
    url = _parse(download_url)
    if url.scheme in ("http", "https"):
        return [f"curl -sSfL --retry 5 {shlex.quote(download_url)} -o {target}", f"chmod +x {target}"]
    if url.scheme == "oci":
        reference = download_url.removeprefix("oci://")
        return [
            # cloud-init runs without HOME; oras looks for registry credentials in $HOME/.docker/config.json.
            "export HOME=/root",
            f"oras blob fetch --output {target} {shlex.quote(reference)}",
            f"chmod +x {target}",
        ]
    raise BootstrapDataError(
        f"unsupported downloadURL scheme {url.scheme!r} in {_redacted(url)}: use http, https or oci")


def _parse(download_url: str) -> SplitResult:
    try:
        url = urlsplit(download_url)
    except ValueError as error:
        # Upstream renders an `echo 'Invalid download URL'` command here, which "succeeds" and fails later at install;
        # refusing the spec up front reports the real cause on the config object.
        raise BootstrapDataError(f"invalid downloadURL: {error}") from None
    if url.scheme in ("http", "https", "oci") and not url.hostname:
        raise BootstrapDataError(f"invalid downloadURL {_redacted(url)}: no host")
    return url


def _redacted(url: SplitResult) -> str:
    """The URL without user-info: a URL may embed registry or web credentials, which must not reach a condition."""
    if url.username is None and url.password is None:
        return url.geturl()
    host = url.hostname or ""
    if url.port is not None:
        host += f":{url.port}"
    return url._replace(netloc=f"***@{host}").geturl()
