"""Commands and benchmarks over ssh, against a real sshd on loopback standing in for a guest."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sevtui.base.errors import CommandTimeout, SevtuiError
from sevtui.base.ports import free_port
from sevtui.bench.targets import GuestTarget
from sevtui.config import parse_config
from sevtui.vm import remote
from sevtui.vm.ref import lookup

pytestmark = pytest.mark.slow


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """sshd on 127.0.0.1:PORT accepting a fresh key for root; yields (port, private key)."""
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
    subprocess.run([*keygen, "-f", str(tmp_path / "hostkey")], check=True)
    subprocess.run([*keygen, "-f", str(tmp_path / "id_ed25519")], check=True)
    (tmp_path / "authorized_keys").write_text((tmp_path / "id_ed25519.pub").read_text())
    port = free_port()
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'hostkey'}\n"
        f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\nPermitRootLogin yes\n"
        f"PasswordAuthentication no\nUsePAM no\nStrictModes no\nPidFile {tmp_path / 'pid'}\n"
        "SetEnv PYENV_REHASH_TIMEOUT=1\n"  # a stale pyenv lock must not stall root's logins
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    server = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(tmp_path / "sshd_config")], stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "sshd did not start"
            time.sleep(0.05)
    yield port, tmp_path / "id_ed25519"
    server.terminate()
    server.wait(timeout=5)


def test_ssh_run_output_status_and_timeout(sshd: tuple[int, Path]) -> None:
    port, key = sshd
    output, status = remote.ssh_run(key, port, "root", "echo hi; echo '$(id)'; exit 3", 20)
    assert (output, status) == ("hi\n$(id)\n", 3)
    with pytest.raises(CommandTimeout):
        remote.ssh_run(key, port, "root", "sleep 30", 2)
    with pytest.raises(SevtuiError, match=r"ssh to 127\.0\.0\.1"):
        remote.ssh_run(key, free_port(), "root", "true", 10)


def test_cloud_guests_are_reached_over_ssh(sshd: tuple[int, Path], tmp_path: Path) -> None:
    port, key = sshd
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"")
    config = parse_config(
        f'[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[vm.cloud]\nimage = "{disk}"\nssh_port = {port}\nssh_user = "root"\n'
        '[vm.demo]\nimage = "minimal"\n',
        tmp_path / "config.toml",
    )
    cloud, demo = lookup(config, "cloud"), lookup(config, "demo")
    assert not remote.uses_ssh(cloud), "no key yet: the console is the way in"
    cloud.ssh_key.parent.mkdir(parents=True)
    cloud.ssh_key.write_bytes(key.read_bytes())
    cloud.ssh_key.chmod(0o600)
    assert remote.uses_ssh(cloud) and not remote.uses_ssh(demo)
    target = GuestTarget("cloud", remote.runner(cloud), set())
    outcome = target.run("uname -s", 20)
    assert outcome.output.strip() == "Linux" and outcome.status == 0
    with pytest.raises(CommandTimeout):
        target.run("echo started; sleep 30", 2)
