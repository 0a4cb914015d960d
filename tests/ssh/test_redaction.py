"""Secrets never leave the transport: not in results, error messages, reprs or asyncssh's logs."""

from __future__ import annotations

import logging

import pytest

from k0smotron_core import ssh

from .conftest import Keys, TestServer

TOKEN = "H4sIAAAAAAAC-join-token-0123456789"


class TestRedact:
    def test_every_occurrence_of_each_secret_is_replaced(self) -> None:
        assert ssh.redact("a=s3cr3t b=s3cr3t c=tok", ["s3cr3t", "tok"]) == "a=[REDACTED] b=[REDACTED] c=[REDACTED]"

    def test_empty_secrets_are_ignored(self) -> None:
        assert ssh.redact("nothing to hide", ["", ""]) == "nothing to hide"

    def test_overlapping_and_nested_secrets_are_covered_whole(self) -> None:
        assert ssh.redact("xaaay", ["aa"]) == "x[REDACTED]y"
        assert ssh.redact("token=abcdef", ["abcdef", "cd"]) == "token=[REDACTED]"
        assert ssh.redact("abcdef", ["abcd", "cdef"]) == "[REDACTED]"

    def test_long_lines_of_a_multi_line_secret_are_secrets_too(self) -> None:
        pem = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQAB\nshort\n-----END KEY-----\n"
        text = "line: AAAAB3NzaC1yc2EAAAADAQAB and short and -----BEGIN KEY-----"
        assert ssh.redact(text, [pem]) == "line: [REDACTED] and short and [REDACTED]"
        assert ssh.redact("a\r\nlongsecretline\r\nb", ["x\r\nlongsecretline\r\ny"]) == "a\r\n[REDACTED]\r\nb"

    def test_the_private_key_is_not_in_the_repr_or_str_of_a_target(self, keys: Keys) -> None:
        target = ssh.Target("10.0.0.5", keys.client_pem)
        pem = keys.client_pem.decode()
        body = pem.splitlines()[1]
        for text in (repr(target), str(target)):
            assert body not in text and "PRIVATE KEY" not in text
        assert "10.0.0.5" in repr(target)


class TestSessionRedaction:
    async def test_secrets_never_appear_in_a_command_result(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target(), redact=[TOKEN]) as session:
            result = await session.run(f"echo token={TOKEN}; echo {TOKEN} >&2")
        assert result.command == "echo token=[REDACTED]; echo [REDACTED] >&2"
        assert result.stdout == "token=[REDACTED]\n" and result.stderr == "[REDACTED]\n"

    async def test_redact_accepts_any_iterable_once(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target(), redact=(s for s in [TOKEN])) as session:
            first = await session.run(f"echo {TOKEN}")
            second = await session.run(f"echo {TOKEN}")
        assert first.stdout == second.stdout == "[REDACTED]\n"

    async def test_a_secret_cut_by_the_output_bound_is_still_redacted(self, ssh_server: TestServer) -> None:
        secret = "SECRET-abcdefghijklmnop"
        async with ssh.connect(ssh_server.target(), redact=[secret], max_output=15) as session:
            # The kept tail starts inside the secret: neither half may show.
            cut = await session.run(f"printf '%s%s' {secret} 0123456789")
            # The second secret shrinks to [REDACTED]; that must not pull the first one's tail into view.
            twice = await session.run(f"printf '%s-%s' {secret} {secret}")
        assert cut.stdout == f"[... {len(secret) - 5} bytes truncated]\n[REDACTED]0123456789"
        assert twice.stdout.endswith("\n[REDACTED]") and "jklmnop" not in twice.stdout
        assert "abc" not in cut.stdout and "lmnop" not in cut.stdout

    async def test_the_private_key_is_redacted_from_output_even_when_not_listed(
        self, ssh_server: TestServer, keys: Keys
    ) -> None:
        (ssh_server.home / "key").write_bytes(keys.client_pem)
        async with ssh.connect(ssh_server.target()) as session:
            result = await session.run("cat key; tr -d '\\n' < key")
        body_lines = [line for line in keys.client_pem.decode().splitlines() if len(line) > 8]
        for line in body_lines:
            assert line not in result.stdout
        assert "[REDACTED]" in result.stdout

    async def test_secrets_never_appear_in_error_messages(self, ssh_server: TestServer) -> None:
        (ssh_server.home / TOKEN).mkdir()
        async with ssh.connect(ssh_server.target(), redact=[TOKEN]) as session:
            with pytest.raises(ssh.CommandTimeout) as timed_out:
                await session.run(f"k0s install --token {TOKEN}; sleep 30", timeout=0.2)
            # Both fail (the path is a directory) with a stderr line that names the path, and with it the token.
            with pytest.raises(ssh.UploadFailed) as upload_failed:
                await session.upload(TOKEN, b"data")
            with pytest.raises(ssh.CommandFailed) as read_failed:
                await session.read(TOKEN)
        assert timed_out.value.command == "k0s install --token [REDACTED]; sleep 30"
        assert upload_failed.value.path == "[REDACTED]" and "[REDACTED]" in upload_failed.value.stderr_tail
        assert "[REDACTED]" in read_failed.value.stderr_tail
        for error in (timed_out.value, upload_failed.value, read_failed.value):
            assert TOKEN not in str(error) and TOKEN not in repr(error)

    async def test_asyncssh_does_not_log_command_lines(
        self, ssh_server: TestServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        async with ssh.connect(ssh_server.target(), redact=[TOKEN]) as session:
            await session.run(f"echo {TOKEN}")
        assert TOKEN not in caplog.text
