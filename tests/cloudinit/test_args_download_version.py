"""Install-arg merging, download commands and version normalisation."""

from __future__ import annotations

import pytest

from k0smotron_core.cloudinit import (
    BootstrapDataError,
    controller_worker_enabled,
    download_commands,
    install_args,
    normalize_k0s_version,
)


@pytest.mark.parametrize(
    ("args", "worker", "use_system_hostname", "expected"),
    [
        (None, True, False, ["--labels=k0smotron.io/machine-name=m", '--kubelet-extra-args="--hostname-override=m"']),
        (None, True, True, ["--labels=k0smotron.io/machine-name=m"]),
        (
            ["--debug", '--kubelet-extra-args="--max-pods=50"', "--profile=x", "--kubelet-extra-args --v=4"],
            True, False,
            ["--labels=k0smotron.io/machine-name=m", "--debug", "--profile=x",
             '--kubelet-extra-args="--hostname-override=m --max-pods=50 --v=4"'],
        ),
        (["--kubelet-extra-args='--a=1 --b=2'"], True, True,
         ["--labels=k0smotron.io/machine-name=m", '--kubelet-extra-args="--a=1 --b=2"']),
        (["--no-taints", "--kubelet-extra-args=--a=1"], False, False, ["--no-taints", '--kubelet-extra-args="--a=1"']),
        (["--no-taints"], False, False, ["--no-taints"]),
    ],
)
def test_install_args(args: list[str] | None, worker: bool, use_system_hostname: bool, expected: list[str]) -> None:
    assert install_args(args, machine_name="m", worker=worker, use_system_hostname=use_system_hostname) == expected


@pytest.mark.parametrize(("args", "enabled"), [
    (["--enable-worker"], True), (["--enable-worker=true"], True), (["--single"], True),
    (["--enable-worker=false"], False), (["--no-taints"], False), (None, False),
])
def test_controller_worker_enabled(args: list[str] | None, enabled: bool) -> None:
    assert controller_worker_enabled(args) is enabled


@pytest.mark.parametrize(
    ("version", "url", "expected"),
    [
        ("v1.30.1+k0s.0", None,
         ["curl -sSfL --retry 5 https://get.k0s.sh | K0S_INSTALL_PATH=/usr/local/bin K0S_VERSION=v1.30.1+k0s.0 sh"]),
        ("", "https://get.k0s.sh", ["curl -sSfL --retry 5 https://get.k0s.sh | K0S_INSTALL_PATH=/usr/local/bin sh"]),
        ("v1.30.1+k0s.0", "https://example.com/k0s?x=1&y=2",
         ["curl -sSfL --retry 5 'https://example.com/k0s?x=1&y=2' -o /usr/local/bin/k0s",
          "chmod +x /usr/local/bin/k0s"]),
        ("v1.30.1+k0s.0", "oci://registry.example.com/k0s/bin@sha256:abc",
         ["export HOME=/root", "oras blob fetch --output /usr/local/bin/k0s registry.example.com/k0s/bin@sha256:abc",
          "chmod +x /usr/local/bin/k0s"]),
    ],
)
def test_download_commands(version: str, url: str | None, expected: list[str]) -> None:
    assert download_commands(version, url, "/usr/local/bin") == expected


@pytest.mark.parametrize("url", ["ftp://user:hunter2@example.com/k0s", "file:///tmp/k0s", "example.com/k0s",
                                 "http://[::1/k0s", "https:///k0s"])
def test_unsupported_download_urls_are_refused_without_leaking_credentials(url: str) -> None:
    with pytest.raises(BootstrapDataError, match="downloadURL") as caught:
        download_commands("v1.30.1+k0s.0", url, "/usr/local/bin")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(("version", "expected"), [
    ("v1.30.1", "v1.30.1+k0s.0"),
    ("v1.30.1-k0s.1", "v1.30.1+k0s.1"),
    ("v1.30.1+k0s.2", "v1.30.1+k0s.2"),
    ("v1.30.1-rc.1-k0s.0", "v1.30.1-rc.1+k0s.0"),
    ("v1.30.1-rc.1", "v1.30.1-rc.1+k0s.0"),
])
def test_normalize_k0s_version(version: str, expected: str) -> None:
    assert normalize_k0s_version(version) == expected


@pytest.mark.parametrize("version", ["", "1.30.1", "v1.30", "latest", "v1.30.1; rm -rf /", "v1.30.1 +k0s.0"])
def test_invalid_versions_are_refused(version: str) -> None:
    with pytest.raises(BootstrapDataError, match="invalid k0s version"):
        normalize_k0s_version(version)
