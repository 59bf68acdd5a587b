"""The fleet for real: two "hosts" are sshd instances on 127.0.0.1 with their own folders,
driven by the shipped playbook through ansible-runner. One host goes away mid-run."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from sevtui.base.ports import free_port
from tests.conftest import sevtui

pytestmark = [pytest.mark.slow, pytest.mark.heavy]
SSHD = "/usr/sbin/sshd"
HOSTS = ("milan-a", "genoa-b")
SHELL_RC_GUARD = "SetEnv PYENV_REHASH_TIMEOUT=1\n"
"""The test hosts are this machine: its root shell rc may run `pyenv rehash`, whose lock a
killed session leaves behind, and every later login would then wait a minute for it."""


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@dataclass
class LoopbackHost:
    """One sshd on 127.0.0.1 standing in for a machine, with its own sevtui folder."""

    name: str
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def home(self) -> Path:
        return self.folder / "home"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SSHD, "-D", "-f", str(self.folder / "sshd_config"), "-E", str(self.folder / "log")]
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"sshd for {self.name} did not listen")

    def go_away(self) -> None:
        """The machine disappears: its sshd, its open sessions and everything sevtui runs
        there (ssh's multiplexed connections included)."""
        assert self.process is not None
        sessions = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        for session in sessions:
            with contextlib.suppress(psutil.Error):
                session.terminate()
        psutil.wait_procs(sessions, timeout=2)
        for session in sessions:
            with contextlib.suppress(psutil.Error):
                session.kill()
        subprocess.run(["pkill", "-9", "-f", str(self.home)], check=False)


@pytest.fixture
def fleet() -> Iterator[tuple[Path, dict[str, LoopbackHost], Path]]:
    """Two loopback hosts, an inventory naming them, and the controller's config."""
    if not Path(SSHD).is_file():
        pytest.fail("openssh-server is missing: make installs it")
    root = Path(tempfile.mkdtemp(prefix="svf", dir="/tmp"))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)
    key = root / "client_key"
    keygen(key)
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    hosts = {}
    for name in HOSTS:
        host = LoopbackHost(name, root / name, free_port())
        host.folder.mkdir()
        hostkey = host.folder / "hostkey"
        keygen(hostkey)
        (host.folder / "sshd_config").write_text(
            f"Port {host.port}\nListenAddress 127.0.0.1\nHostKey {hostkey}\n"
            f"AuthorizedKeysFile {root / 'authorized_keys'}\nPidFile {host.folder / 'pid'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            f"{SHELL_RC_GUARD}"
            "StrictModes no\nPermitRootLogin prohibit-password\n"
            "Subsystem sftp internal-sftp\n"
        )
        host.start()
        hosts[name] = host
    inventory = root / "hosts.ini"
    inventory.write_text(
        "[sevtui]\n"
        + "".join(
            f"{h.name} ansible_host=127.0.0.1 ansible_port={h.port} sevtui_home={h.home}\n"
            for h in hosts.values()
        )
        + "[sevtui:vars]\n"
        f"ansible_user={getpass.getuser()}\nansible_ssh_private_key_file={key}\n"
        f"ansible_python_interpreter={shutil.which('python3') or sys.executable}\n"
        f"sevtui_python={sys.executable}\n"
        "ansible_ssh_common_args='-o UserKnownHostsFile=/dev/null'\n"
        "sevtui_install_system_packages=false\nsevtui_poll_s=1\n"
    )
    config = root / "config.toml"
    config.write_text(
        f'[paths]\ndata_dir = "{root / "controller"}"\n'
        "[bench]\nwarmup = 0\nmax_repetitions = 2\nattest = false\n"
        '[qemu]\naccel = "tcg"\n[vm.demo]\nkind = "nosev"\nmemory = "256M"\n'
    )
    yield inventory, hosts, config
    for host in hosts.values():
        if host.process is not None and host.process.poll() is None:
            host.go_away()
    shutil.rmtree(root, ignore_errors=True)


def measured(database: Path, host: str) -> int:
    """Repetitions stored for HOST's run(s) in the merged database."""
    with sqlite3.connect(database) as db:
        return int(
            db.execute(
                "SELECT count(*) FROM results JOIN runs ON runs.id = results.run_id "
                "WHERE json_extract(runs.provenance, '$.host') = ? AND results.status = 'ok'",
                (host,),
            ).fetchone()[0]
        )


def wait_for_progress(host: LoopbackHost, timeout: float) -> None:
    """Until HOST's run has stored its first repetition."""
    events = host.home / "run" / "events.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if events.is_file() and '"RepetitionDone"' in events.read_text():
            return
        time.sleep(0.5)
    raise AssertionError(f"{host.name} never measured anything")


@pytest.mark.timeout(1800)
def test_a_fleet_run_of_host_and_a_guest_survives_a_lost_host_and_a_rerun_completes_it(
    fleet: tuple[Path, dict[str, LoopbackHost], Path],
) -> None:
    inventory, hosts, config = fleet
    caps = sevtui(config, "fleet", "caps", "--inventory", str(inventory), "--json", timeout=900)
    assert caps.returncode == 0, caps.stderr[-3000:]
    rows = {row["host"]: row for row in json.loads(caps.stdout)}
    assert set(rows) == set(HOSTS)
    for row in rows.values():
        assert row["status"] == "ok" and row["cpu"] and row["kernel"]
        assert row["qemu"].startswith("QEMU emulator version")
        assert {row["sev"], row["sev-es"], row["sev-snp"]} <= {"yes", "no"}

    run = ["fleet", "run", "--inventory", str(inventory), "--vm", "host", "--vm", "demo"]
    run += ["--label", "f1"]
    first = subprocess.Popen(
        [sys.executable, "-m", "sevtui", "--config", str(config), *run, "--repetitions", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_progress(hosts["genoa-b"], timeout=600)
    hosts["genoa-b"].go_away()
    out, err = first.communicate(timeout=900)
    assert first.returncode == 1, err[-3000:]
    assert "milan-a  bench  " in err, "per-host progress names host, phase and benchmark"
    assert "genoa-b  unreachable" in err or "genoa-b  failed" in err, err[-2000:]
    summary = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert "unreachable" in summary["genoa-b"] or "failed" in summary["genoa-b"]
    assert " ok" in summary["milan-a"]
    assert "minimal image: built in" in summary["milan-a"], "each host builds what demo needs"
    merged = config.parent / "controller" / "sevtui.db"
    milan_first = measured(merged, "milan-a")
    assert milan_first > 0 and measured(merged, "genoa-b") == 0

    hosts["genoa-b"].start()
    again = sevtui(config, *run, "--repetitions", "2", timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert measured(merged, "milan-a") == milan_first, "nothing is measured twice"
    assert measured(merged, "genoa-b") > 0
    with sqlite3.connect(merged) as db:
        stored = db.execute(
            "SELECT json_extract(provenance, '$.host'), status FROM runs WHERE label = 'f1'"
        ).fetchall()
    assert sorted(stored) == [("genoa-b", "done"), ("milan-a", "done")]

    shown = json.loads(sevtui(config, "results", "show", "f1", "--json").stdout)
    assert sorted(run["provenance"]["host"] for run in shown["runs"]) == sorted(HOSTS)
    measured_on = {(m["target"], m["benchmark"]) for m in shown["metrics"]}
    assert ("demo", "lz4-compress-quick") in measured_on and ("host", "mbw-quick") in measured_on
    compare = ("results", "compare", "f1", "--base", "host", "--other", "demo", "--by-host")
    by_host = sevtui(config, *compare, "--json")
    assert by_host.returncode == 0, by_host.stderr
    hosts_compared = json.loads(by_host.stdout)["hosts"]
    assert set(hosts_compared) == set(HOSTS)
    for table in hosts_compared.values():
        assert any(b["benchmark"] == "lz4-compress-quick" for b in table["benchmarks"])
