"""Host key verification: pinned fingerprints, known_hosts, the three policies, and fingerprint()."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import subprocess

import asyncssh
import pytest

from k0smotron_core import ssh

from .conftest import Keys, ServeFactory, TestServer


def _known_hosts_line(hosts: str, key: asyncssh.SSHKey, marker: str = "") -> str:
    public = key.convert_to_public().export_public_key().decode().split()
    return " ".join(filter(None, [marker, hosts, public[0], public[1]]))


def _hashed(host: str) -> str:
    """An OpenSSH hashed host name (HashKnownHosts yes): |1|base64(salt)|base64(HMAC-SHA1(salt, host))."""
    salt = os.urandom(20)
    digest = hmac.new(salt, host.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def _verification(**kwargs: object) -> ssh.HostKeyVerification:
    return ssh.HostKeyVerification(**kwargs)  # type: ignore[arg-type]


class TestPinnedFingerprints:
    async def test_the_host_with_the_pinned_key_is_accepted(self, ssh_server: TestServer) -> None:
        async with ssh.connect(ssh_server.target()) as session:
            assert session.host_key_fingerprint == ssh_server.fingerprint
        assert ssh_server.auth_attempts == ["root"]

    async def test_one_of_several_pinned_fingerprints_is_enough(self, ssh_server: TestServer, keys: Keys) -> None:
        pins = (ssh.fingerprint(keys.other_host), ssh_server.fingerprint)
        async with ssh.connect(ssh_server.target(host_key=_verification(fingerprints=pins))):
            pass

    async def test_a_rekeyed_host_is_refused_with_HostKeyChanged_before_any_auth_attempt(
        self, serve: ServeFactory, keys: Keys
    ) -> None:
        rekeyed = await serve(host_key=keys.other_host)
        pinned = ssh.fingerprint(keys.host)
        with pytest.raises(ssh.HostKeyMismatch) as caught:
            async with ssh.connect(rekeyed.target(host_key=_verification(fingerprints=(pinned,)))):
                pass
        assert rekeyed.auth_attempts == []
        error = caught.value
        assert error.reason == "HostKeyChanged"
        assert error.presented == ssh.fingerprint(keys.other_host)
        assert error.expected == (pinned,)
        assert f"127.0.0.1:{rekeyed.port}" in str(error) and error.presented in str(error)

    async def test_a_padded_fingerprint_pins_the_same_key(self, ssh_server: TestServer) -> None:
        padded = _verification(fingerprints=(ssh_server.fingerprint + "=",))
        async with ssh.connect(ssh_server.target(host_key=padded)):
            pass

    def test_a_malformed_fingerprint_is_rejected_up_front(self) -> None:
        with pytest.raises(ValueError, match="not a SHA256 host key fingerprint"):
            ssh.HostKeyVerification(fingerprints=("MD5:00:11",))
        with pytest.raises(ValueError, match="unknown host key policy"):
            _verification(policy="Sometimes")


class TestKnownHosts:
    async def test_an_entry_for_the_bracketed_address_and_port_is_accepted(
        self, ssh_server: TestServer, keys: Keys
    ) -> None:
        known_hosts = "\n".join([
            "# comment",
            _known_hosts_line(f"[127.0.0.1]:{ssh_server.port + 1}", keys.other_host),
            _known_hosts_line(f"[127.0.0.1]:{ssh_server.port}", keys.host),
        ])
        async with ssh.connect(ssh_server.target(host_key=_verification(known_hosts=known_hosts))) as session:
            assert session.host_key_fingerprint == ssh_server.fingerprint

    async def test_hashed_and_wildcard_entries_are_matched(self, ssh_server: TestServer, keys: Keys) -> None:
        for hosts in (_hashed(f"[127.0.0.1]:{ssh_server.port}"), f"[127.0.0.?]:{ssh_server.port}", "*"):
            known_hosts = _known_hosts_line(hosts, keys.host)
            async with ssh.connect(ssh_server.target(host_key=_verification(known_hosts=known_hosts))):
                pass

    async def test_no_matching_entry_refuses_with_HostKeyChanged_before_any_auth_attempt(
        self, ssh_server: TestServer, keys: Keys
    ) -> None:
        known_hosts = "\n".join([
            _known_hosts_line(f"[127.0.0.1]:{ssh_server.port + 1}", keys.host),
            _known_hosts_line("10.0.0.1,[10.0.0.1]:2222", keys.host),
            _known_hosts_line(_hashed(f"[127.0.0.2]:{ssh_server.port}"), keys.host),
        ])
        with pytest.raises(ssh.HostKeyMismatch) as caught:
            async with ssh.connect(ssh_server.target(host_key=_verification(known_hosts=known_hosts))):
                pass
        assert caught.value.expected == ()
        assert "no key pinned for this address" in str(caught.value)
        assert ssh_server.auth_attempts == []

    async def test_an_entry_with_another_key_refuses_and_names_the_expected_key(
        self, ssh_server: TestServer, keys: Keys
    ) -> None:
        known_hosts = _known_hosts_line(f"[127.0.0.1]:{ssh_server.port}", keys.other_host)
        with pytest.raises(ssh.HostKeyMismatch) as caught:
            async with ssh.connect(ssh_server.target(host_key=_verification(known_hosts=known_hosts))):
                pass
        assert caught.value.expected == (ssh.fingerprint(keys.other_host),)
        assert caught.value.presented == ssh_server.fingerprint
        assert ssh_server.auth_attempts == []

    async def test_an_entry_without_a_port_applies_when_no_entry_names_the_port(
        self, ssh_server: TestServer, keys: Keys
    ) -> None:
        # asyncssh's rule (OpenSSH would not fall back): documented in docs/ssh.md.
        known_hosts = _known_hosts_line("127.0.0.1", keys.host)
        async with ssh.connect(ssh_server.target(host_key=_verification(known_hosts=known_hosts))):
            pass

    async def test_a_revoked_key_is_refused_even_when_it_is_also_listed(
        self, ssh_server: TestServer, keys: Keys
    ) -> None:
        known_hosts = "\n".join([
            _known_hosts_line(f"[127.0.0.1]:{ssh_server.port}", keys.host),
            _known_hosts_line("*", keys.host, marker="@revoked"),
        ])
        for policy in ("Pinned", "Insecure"):
            with pytest.raises(ssh.HostKeyMismatch) as caught:
                verification = _verification(policy=policy, known_hosts=known_hosts)
                async with ssh.connect(ssh_server.target(host_key=verification)):
                    pass
            assert caught.value.revoked and "revoked" in str(caught.value)
        assert ssh_server.auth_attempts == []

    async def test_known_hosts_and_fingerprints_combine(self, ssh_server: TestServer, keys: Keys) -> None:
        known_hosts = _known_hosts_line(f"[127.0.0.1]:{ssh_server.port}", keys.other_host)
        verification = _verification(known_hosts=known_hosts, fingerprints=(ssh_server.fingerprint,))
        async with ssh.connect(ssh_server.target(host_key=verification)):
            pass

    async def test_unparseable_known_hosts_raises_InvalidKnownHosts_without_quoting_it(
        self, ssh_server: TestServer
    ) -> None:
        known_hosts = "# fine\n127.0.0.1 ssh-ed25519 AAAA\nnot-a-line-SECRETISH"
        with pytest.raises(ssh.InvalidKnownHosts) as caught:
            async with ssh.connect(ssh_server.target(host_key=_verification(known_hosts=known_hosts))):
                pass
        assert "line 3" in str(caught.value) and "SECRETISH" not in str(caught.value)
        assert caught.value.reason == "InvalidKnownHosts"
        assert ssh_server.connections == []


class TestHostsWithSeveralKeys:
    async def test_the_ed25519_key_is_asked_for_first_as_openssh_does(self, serve: ServeFactory, keys: Keys) -> None:
        # asyncssh on its own would ask for RSA first, and a pinned Ed25519 fingerprint would never match.
        server = await serve(keys.host, keys.rsa_host)
        async with ssh.connect(server.target()) as session:
            assert session.host_key_fingerprint == ssh.fingerprint(keys.host)

    async def test_the_key_type_pinned_in_known_hosts_is_asked_for(self, serve: ServeFactory, keys: Keys) -> None:
        server = await serve(keys.host, keys.rsa_host)
        known_hosts = _known_hosts_line(f"[127.0.0.1]:{server.port}", keys.rsa_host)
        async with ssh.connect(server.target(host_key=_verification(known_hosts=known_hosts))) as session:
            assert session.host_key_fingerprint == ssh.fingerprint(keys.rsa_host)


class TestPolicies:
    async def test_pinned_with_nothing_pinned_refuses_without_connecting(self, ssh_server: TestServer) -> None:
        for verification in (_verification(), _verification(known_hosts="# nothing here\n\n")):
            with pytest.raises(ssh.HostKeyNotPinned) as caught:
                async with ssh.connect(ssh_server.target(host_key=verification)):
                    pass
            assert caught.value.reason == "HostKeyNotPinned"
            message = str(caught.value)
            assert "spec.hostKeyFingerprint" in message and "spec.hostKeyRef" in message
            assert "TrustOnFirstUse" in message and "Insecure" in message
        assert ssh_server.connections == []

    async def test_trust_on_first_use_with_nothing_pinned_connects_and_reports_the_fingerprint(
        self, ssh_server: TestServer
    ) -> None:
        async with ssh.connect(ssh_server.target(host_key=_verification(policy="TrustOnFirstUse"))) as session:
            assert session.host_key_fingerprint == ssh_server.fingerprint
            assert (await session.run("echo ok")).ok

    async def test_trust_on_first_use_with_a_fingerprint_behaves_as_pinned(
        self, serve: ServeFactory, keys: Keys
    ) -> None:
        first = await serve()
        recorded = _verification(policy="TrustOnFirstUse", fingerprints=(ssh.fingerprint(keys.host),))
        async with ssh.connect(first.target(host_key=recorded)):
            pass
        rekeyed = await serve(host_key=keys.other_host)
        with pytest.raises(ssh.HostKeyMismatch):
            async with ssh.connect(rekeyed.target(host_key=recorded)):
                pass
        assert rekeyed.auth_attempts == []

    async def test_insecure_accepts_any_key_and_still_reports_it(self, serve: ServeFactory, keys: Keys) -> None:
        server = await serve(host_key=keys.other_host)
        pinned_elsewhere = _verification(policy="Insecure", fingerprints=(ssh.fingerprint(keys.host),))
        for verification in (_verification(policy="Insecure"), pinned_elsewhere):
            async with ssh.connect(server.target(host_key=verification)) as session:
                assert session.host_key_fingerprint == ssh.fingerprint(keys.other_host)


class TestFingerprint:
    def test_it_is_the_unpadded_base64_sha256_of_the_key_blob(self, keys: Keys) -> None:
        line = keys.host.convert_to_public().export_public_key().decode()
        blob = base64.b64decode(line.split()[1])
        expected = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        assert ssh.fingerprint(line) == ssh.fingerprint(line.encode()) == ssh.fingerprint(keys.host) == expected

    @pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
    def test_it_matches_ssh_keygen(self, keys: Keys) -> None:
        line = keys.host.convert_to_public().export_public_key()
        printed = subprocess.run(["ssh-keygen", "-lf", "-"], input=line, capture_output=True, check=True).stdout
        assert printed.split()[1].decode() == ssh.fingerprint(line)

    def test_a_non_key_is_a_ValueError(self) -> None:
        with pytest.raises(ValueError):
            ssh.fingerprint("ssh-ed25519 not-base64")
