"""Running commands: results, shell semantics, output bounds, timeouts, lost connections and sudo."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from k0smotron_core import ssh

from .conftest import TestServer


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie whose orphaned parent is gone (and no init reaps it) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class TestResults:
    async def test_a_command_returns_its_exit_status_stdout_and_stderr(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            result = await session.run("echo out; echo err >&2")
        assert result == ssh.CommandResult(command="echo out; echo err >&2", exit_status=0, stdout="out\n",
                                           stderr="err\n")
        assert result.ok

    async def test_a_failing_command_is_a_result_not_an_error(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            result = await session.run("echo partial; exit 3")
            not_found = await session.run("no-such-command-anywhere")
        assert (result.exit_status, result.stdout, result.ok) == (3, "partial\n", False)
        assert not_found.exit_status == 127

    async def test_a_command_killed_by_a_signal_has_exit_status_minus_one(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            result = await session.run("echo before; kill -KILL $$")
        assert (result.exit_status, result.stdout, result.ok) == (-1, "before\n", False)

    async def test_commands_get_the_shells_quoting_expansion_and_working_directory(
        self, ssh_server: TestServer
    ) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            result = await session.run(
                """x='a b'; printf '[%s]' "$x" "it's" "$HOME" "$(pwd)"; echo 'a;b' | tr ';' '|'"""
            )
        home = str(ssh_server.home)
        assert result.stdout == f"[a b][it's][{home}][{home}]a|b\n"

    async def test_input_is_fed_to_the_command_on_stdin(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            result = await session.run("wc -c; echo done", input=b"x" * 300_000)
            no_input = await session.run("cat; echo end")
        assert result.stdout.split() == ["300000", "done"]
        assert no_input.stdout == "end\n"  # stdin is closed, so reading it does not hang

    async def test_commands_run_concurrently_on_one_session(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            started = time.monotonic()
            results = await asyncio.gather(*(session.run(f"sleep 0.3; echo {n}") for n in range(4)))
            elapsed = time.monotonic() - started
        assert [result.stdout for result in results] == ["0\n", "1\n", "2\n", "3\n"]
        assert elapsed < 1.0

    async def test_a_session_is_a_shell(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            assert isinstance(session, ssh.Shell)
            assert session.host_key_fingerprint == ssh_server.fingerprint


class TestOutputBounds:
    async def test_output_keeps_the_tail_after_a_truncation_marker(self, ssh_server: TestServer) -> None:
        command = 'i=0; while [ $i -lt 2000 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done'
        async with ssh.connect(ssh_server.target(), max_output=1000) as session:
            result = await session.run(command)
        total = sum(len(f"line {i}\n") for i in range(2000))
        marker = f"[... {total - 1000} bytes truncated]\n"
        assert result.stdout.startswith(marker)
        kept = result.stdout.removeprefix(marker)
        assert len(kept) == 1000 and kept.endswith("line 1998\nline 1999\n")
        assert result.stderr.endswith("err 1999\n") and "bytes truncated]" in result.stderr

    async def test_output_within_the_bound_is_untouched(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target(), max_output=6) as session:
            result = await session.run("printf 12345")
        assert result.stdout == "12345"

    async def test_a_large_output_is_not_held_in_memory_whole(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target(), max_output=100) as session:
            result = await session.run("head -c 8000000 /dev/zero | tr '\\0' 'z'; echo END")
        assert result.stdout.endswith("zzzEND\n")
        assert result.stdout.startswith("[... 7999904 bytes truncated]\n")


class TestTimeouts:
    async def test_a_command_past_its_timeout_raises_CommandTimeout_and_is_stopped_with_its_children(
        self, ssh_server: TestServer
    ) -> None:
        command = "echo $$ > pid; sleep 30 & echo $! > child; wait"
        async with ssh.connect(ssh_server.target()) as session:
            started = time.monotonic()
            with pytest.raises(ssh.CommandTimeout) as caught:
                await session.run(command, timeout=0.3)
            assert time.monotonic() - started < 3
            assert await asyncio.wait_for(ssh_server.processes[-1].wait(), 5) == -signal.SIGTERM
            for name in ("pid", "child"):
                assert not _alive(int((ssh_server.home / name).read_text()))
            # The session stays usable after a timed-out command.
            assert (await session.run("echo still here")).stdout == "still here\n"
        assert ssh_server.signals == ["TERM"]
        assert caught.value.reason == "CommandTimeout"
        assert caught.value.command == command
        assert "127.0.0.1" in str(caught.value) and "0.3s" in str(caught.value)

    async def test_a_command_that_ignores_SIGTERM_gets_SIGKILL_after_the_grace_period(
        self, ssh_server: TestServer
    ) -> None:
        timeouts = ssh.Timeouts(kill_grace=0.2)
        async with ssh.connect(ssh_server.target(), timeouts=timeouts) as session:
            with pytest.raises(ssh.CommandTimeout):
                await session.run("trap '' TERM; while :; do sleep 0.05; done", timeout=0.2)
        assert ssh_server.signals == ["TERM", "KILL"]
        assert await asyncio.wait_for(ssh_server.processes[-1].wait(), 5) == -signal.SIGKILL

    async def test_a_cancelled_command_is_stopped_before_the_session_closes(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            running = asyncio.create_task(session.run("sleep 30"))
            await ssh_server.wait_for_commands(1)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
        assert ssh_server.signals == ["TERM"]
        assert await asyncio.wait_for(ssh_server.processes[-1].wait(), 5) == -signal.SIGTERM

    async def test_the_default_command_timeout_comes_from_timeouts(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target(), timeouts=ssh.Timeouts(command=0.2)) as session:
            with pytest.raises(ssh.CommandTimeout):
                await session.run("sleep 30")
            # An explicit timeout overrides it.
            assert (await session.run("sleep 0.4; echo slept", timeout=5)).stdout == "slept\n"

    async def test_past_the_overall_deadline_every_operation_raises_SessionTimeout(
        self, ssh_server: TestServer
    ) -> None:
        async with ssh.connect(ssh_server.target(), timeouts=ssh.Timeouts(overall=0.5)) as session:
            assert (await session.run("echo quick")).ok
            started = time.monotonic()
            with pytest.raises(ssh.SessionTimeout) as caught:
                await session.run("sleep 30", timeout=10)
            assert time.monotonic() - started < 2
            with pytest.raises(ssh.SessionTimeout):
                await session.exists("anything")
        assert caught.value.reason == "SessionTimeout"
        assert ssh_server.signals == ["TERM"]


class TestLostConnections:
    async def test_a_connection_dropped_mid_command_raises_ConnectionLost(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            running = asyncio.create_task(session.run("echo partial; sleep 30"))
            await ssh_server.wait_for_commands(1)
            ssh_server.drop_connections()
            with pytest.raises(ssh.ConnectionLost) as caught:
                await running
            # Nothing else gets through a dead connection either.
            with pytest.raises(ssh.ConnectionLost):
                await session.run("echo again")
        assert caught.value.reason == "ConnectionLost"
        assert "127.0.0.1" in str(caught.value)

    async def test_a_connection_dropped_mid_upload_raises_ConnectionLost(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            uploading = asyncio.create_task(session.upload("big", os.urandom(1 << 20) * 64))
            await ssh_server.wait_for_commands(1)
            ssh_server.drop_connections()
            with pytest.raises(ssh.ConnectionLost):
                await uploading
        assert not (ssh_server.home / "big").exists()


class TestSudo:
    async def test_with_use_sudo_commands_run_as_sudo_n_sh_c_with_their_quoting_intact(
        self, ssh_server: TestServer
    ) -> None:
        command = """x='a b'; printf '[%s]' "$x" "it's" '$HOME' "${SUDO_FAKE:-no}"; echo 'a;b' "c\\"d" """
        async with ssh.connect(ssh_server.target(use_sudo=True)) as session:
            result = await session.run(command)
        assert result.stdout == """[a b][it's][$HOME][1]a;b c"d\n"""
        assert result.command == command
        assert ssh_server.sudo_calls() == [f"-n sh -c {command}"]

    async def test_without_use_sudo_sudo_is_not_involved(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            result = await session.run('echo "${SUDO_FAKE:-no}"')
        assert result.stdout == "no\n"
        assert ssh_server.sudo_calls() == []

    async def test_a_sudo_that_wants_a_password_is_a_failed_result(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            result = await session.run("sudo true")  # no -n: the fake sudo refuses as sudo would
        assert result.exit_status == 1 and "password is required" in result.stderr
