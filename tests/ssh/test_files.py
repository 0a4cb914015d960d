"""Files: upload (atomic, with mode and parents, through sudo), read and exists."""

from __future__ import annotations

import os
import stat

import pytest

from k0smotron_core import ssh

from .conftest import TestServer


def _mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


class TestUpload:
    async def test_upload_writes_content_and_mode_and_creates_parent_directories(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            await session.upload(f"{ssh_server.home}/etc/k0s/k0s.yaml", b"apiVersion: x\n", mode=0o600)
            await session.upload("relative/script.sh", b"#!/bin/sh\n", mode=0o755)
        written = ssh_server.home / "etc/k0s/k0s.yaml"
        assert written.read_bytes() == b"apiVersion: x\n" and _mode(written) == 0o600
        script = ssh_server.home / "relative/script.sh"
        assert script.read_bytes() == b"#!/bin/sh\n" and _mode(script) == 0o755

    async def test_upload_replaces_the_file_by_rename_truncating_it_and_leaving_no_temporary(
        self, ssh_server: TestServer
    ) -> None:
        target = ssh_server.home / "conf"
        target.write_bytes(b"a much longer previous content\n")
        target.chmod(0o666)
        before = os.stat(target).st_ino
        async with ssh.connect(ssh_server.target()) as session:
            await session.upload(str(target), b"short")
        assert target.read_bytes() == b"short"
        assert _mode(target) == 0o644
        assert os.stat(target).st_ino != before  # a new file renamed over the old: readers never see half of it
        assert sorted(p.name for p in ssh_server.home.iterdir()) == ["conf"]

    async def test_an_empty_upload_leaves_an_empty_file(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            await session.upload("empty", b"")
        assert (ssh_server.home / "empty").read_bytes() == b""

    async def test_a_5_MiB_binary_upload_arrives_intact(self, ssh_server: TestServer) -> None:
        content = os.urandom(5 * 1024 * 1024)
        async with ssh.connect(ssh_server.target()) as session:
            await session.upload("bin/k0s", content, mode=0o755)
            assert await session.read("bin/k0s") == content
        assert (ssh_server.home / "bin/k0s").read_bytes() == content

    async def test_paths_with_spaces_quotes_dollars_and_a_leading_dash_are_taken_literally(
        self, ssh_server: TestServer
    ) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            await session.upload("dir with space/it's $HOME;x", b"1")
            await session.upload("-n", b"2")
            assert await session.read("-n") == b"2"
            assert await session.exists("dir with space/it's $HOME;x")
        assert (ssh_server.home / "dir with space" / "it's $HOME;x").read_bytes() == b"1"
        assert (ssh_server.home / "-n").read_bytes() == b"2"

    async def test_a_failed_upload_raises_UploadFailed_with_path_status_and_stderr(
        self, ssh_server: TestServer
    ) -> None:
        (ssh_server.home / "plain").write_text("not a directory")
        (ssh_server.home / "dir").mkdir()
        async with ssh.connect(ssh_server.target()) as session:
            with pytest.raises(ssh.UploadFailed) as under_a_file:
                await session.upload("plain/x", b"data")
            with pytest.raises(ssh.UploadFailed) as onto_a_directory:
                await session.upload("dir", b"data")
        error = under_a_file.value
        assert error.reason == "UploadFailed" and error.path == "plain/x" and error.exit_status != 0
        assert "plain" in error.stderr_tail and f"127.0.0.1:{ssh_server.port}" in str(error)
        assert "dir is a directory" in str(onto_a_directory.value)
        assert (ssh_server.home / "dir").is_dir() and list((ssh_server.home / "dir").iterdir()) == []

    async def test_with_use_sudo_upload_read_and_exists_go_through_sudo(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target(use_sudo=True)) as session:
            await session.upload("etc/secret", b"s", mode=0o600)
            assert await session.read("etc/secret") == b"s"
            assert await session.exists("etc/secret")
        calls = ssh_server.sudo_calls()
        assert len(calls) == 3 and all(call.startswith("-n sh -c ") for call in calls)

    async def test_a_mode_outside_the_permission_bits_is_rejected(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            with pytest.raises(ValueError):
                await session.upload("f", b"", mode=0o10000)
        assert ssh_server.commands == []


class TestReadAndExists:
    async def test_read_returns_the_content_or_None_when_missing(self, ssh_server: TestServer) -> None:
        (ssh_server.home / "present").write_bytes(b"\x00binary\xff" * 20_000)
        async with ssh.connect(ssh_server.target(), max_output=16) as session:
            # max_output bounds command output, not files.
            assert await session.read("present") == b"\x00binary\xff" * 20_000
            assert await session.read("missing") is None
            assert await session.read("missing/deeper") is None

    async def test_exists_follows_the_shells_test_e(self, ssh_server: TestServer) -> None:
        (ssh_server.home / "file").write_text("x")
        (ssh_server.home / "dir").mkdir()
        (ssh_server.home / "dangling").symlink_to(ssh_server.home / "nowhere")
        async with ssh.connect(ssh_server.target()) as session:
            found = [await session.exists(name) for name in ("file", "dir", "missing", "dangling")]
        assert found == [True, True, False, False]

    async def test_a_read_that_fails_raises_CommandFailed(self, ssh_server: TestServer) -> None:
        (ssh_server.home / "dir").mkdir()
        async with ssh.connect(ssh_server.target()) as session:
            with pytest.raises(ssh.CommandFailed) as caught:
                await session.read("dir")
        assert caught.value.reason == "CommandFailed" and "reading dir" in str(caught.value)
