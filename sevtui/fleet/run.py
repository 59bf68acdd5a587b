"""Many hosts: the shipped Ansible playbook, driven through ansible-runner.

sevtui grows no agent of its own: `fleet caps` and `fleet run` hand the playbook
(`sevtui/data/ansible`, also `deploy/ansible` in the source tree) a wheel of this sevtui,
the VM config and the run's parameters; each host installs sevtui into its own folder,
reports its capabilities and, for a run, measures and sends its database home, where
`results merge` takes it in. Progress comes from ansible-runner's events: task starts,
and the retries of the task that follows each host's `bench run --events` file.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from sevtui.base import statedir
from sevtui.base.errors import SevtuiError, UsageError
from sevtui.base.names import check_label, safe_file_stem

PLAYBOOK = Path(str(resources.files("sevtui").joinpath("data", "ansible", "playbook.yml")))
INSTALL_HINT = "pip install 'sevtui[fleet]' (ansible-core and ansible-runner)"
KINDS = ("sev", "sev-es", "sev-snp", "tdx")
"""The confidential kinds a fleet row says yes or no to: AMD's and Intel's side by side."""
STATUS_FILE = "status.json"
"""Per host: its capability row, its last progress line, its status (the app's Fleet
screen reads it while a fleet command runs in another process)."""
Phase = Literal["caps", "run"]


@dataclass(frozen=True)
class FleetRequest:
    """What to do on every host of INVENTORY."""

    inventory: Path
    config: Path
    phase: Phase
    label: str = ""
    vms: tuple[str, ...] = ()
    suite: str = "quick"
    repetitions: int = 3


@dataclass(frozen=True)
class HostProgress:
    """One line of a fleet run's progress: which host is where."""

    host: str
    phase: str
    benchmark: str = ""
    repetition: int = 0
    detail: str = ""

    def line(self) -> str:
        """`milan-a  bench  lz4-compress-quick  repetition 2`."""
        what = f"  {self.benchmark}" if self.benchmark else ""
        rep = f"  repetition {self.repetition}" if self.repetition else ""
        detail = f"  {self.detail}" if self.detail else ""
        return f"{self.host}  {self.phase}{what}{rep}{detail}"


@dataclass
class HostOutcome:
    """How one host ended: ok, failed or unreachable, why, and what it reported."""

    host: str
    status: str = "ok"
    reason: str = ""
    caps: dict[str, Any] = field(default_factory=dict)
    database: Path | None = None
    images: str = ""
    """What the host built for the run's VMs, and how long each step took."""

    def row(self) -> dict[str, str]:
        """The capability row of `fleet caps` (and the summary of `fleet run`); a host's
        malformed report gives empty cells, never an error for the other hosts."""
        report = _mapping(self.caps.get("caps"))
        profiles = _mapping(report.get("profiles"))
        available = [kind for kind in KINDS if _mapping(profiles.get(kind)).get("launchable")]
        intel = _mapping(report.get("cpu")).get("vendor") == "GenuineIntel"
        own = ("tdx",) if intel else KINDS[:3]
        blocked = [k for k in own if k not in available and k in profiles]
        why_not = _mapping(profiles.get(blocked[-1])).get("reason", "") if blocked else ""
        return {
            "host": self.host,
            "cpu": str(_mapping(report.get("cpu")).get("model", "")),
            "microcode": str(self.caps.get("microcode", "")),
            "kernel": str(self.caps.get("kernel", "")),
            "qemu": _evidence(report, "qemu.binary").split(": ", 1)[-1],
            "firmware": _evidence(report, "firmware.tdx" if intel else "firmware.sev-snp"),
            **{kind: "yes" if kind in available else "no" for kind in KINDS},
            "why_not": str(why_not),
            "images": self.images,
            "status": self.status,
            "reason": self.reason,
        }


def _mapping(value: object) -> dict[str, Any]:
    """VALUE when a host sent a JSON object there, else {}."""
    return value if isinstance(value, dict) else {}


def _evidence(report: dict[str, Any], check_id: str) -> str:
    checks = report.get("checks")
    for check in checks if isinstance(checks, list) else []:
        if isinstance(check, dict) and check.get("id") == check_id:
            return str(check.get("evidence", ""))
    return ""


def ansible_runner() -> Any:
    """The ansible_runner module, or how to install it."""
    try:
        import ansible_runner as runner
    except ImportError:
        raise SevtuiError("`sevtui fleet` needs Ansible", INSTALL_HINT) from None
    return runner


def sevtui_wheel(cache: Path, given: Path | None) -> Path:
    """The wheel the hosts install: GIVEN, or one built from this source tree."""
    if given is not None:
        if not given.is_file() or given.suffix != ".whl":
            raise UsageError(f"--wheel {given}: not a wheel file", "pass a sevtui-*.whl")
        return given
    source = Path(__file__).resolve().parents[2]
    if not (source / "pyproject.toml").is_file():
        raise UsageError(
            "this sevtui was installed from a wheel, so it cannot build one",
            "pass the wheel you installed with --wheel FILE",
        )
    cache.mkdir(parents=True, exist_ok=True)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(cache), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(cache.glob("sevtui-*.whl"), key=lambda path: path.stat().st_mtime)
    if built.returncode != 0 or not wheels:
        raise SevtuiError(f"building the sevtui wheel failed: {built.stderr.strip()[-300:]}")
    return wheels[-1]


def run_fleet(
    folder: Path,
    request: FleetRequest,
    wheel: Path | None,
    progress: Callable[[HostProgress], None],
) -> list[HostOutcome]:
    """Run the fleet playbook (caps or run) on every host of the request's inventory,
    keeping its status under FOLDER for the app's Fleet screen."""
    if request.phase == "run":
        check_label(request.label)
    status = FleetStatus(folder, request.phase)
    built = sevtui_wheel(folder / "wheels", wheel)
    fetched = folder / (request.label if request.phase == "run" else "caps")

    def step(line: HostProgress) -> None:
        status.step(line)
        progress(line)

    outcomes = run_playbook(request, built, fetched, step)
    status.finish(outcomes)
    return outcomes


def run_playbook(
    request: FleetRequest, wheel: Path, fetch_dir: Path, progress: Callable[[HostProgress], None]
) -> list[HostOutcome]:
    """Run the playbook on every host; one outcome per host, unreachable ones included."""
    runner = ansible_runner()
    if not request.inventory.is_file():
        raise UsageError(
            f"inventory {request.inventory} does not exist", "pass an INI or YAML file"
        )
    statedir.private_dir(fetch_dir, levels=2)
    fetch_dir.chmod(0o700)
    outcomes: dict[str, HostOutcome] = {}
    handler = _EventHandler(outcomes, progress)
    scripts = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="sevtui-fleet-") as private:
        result = runner.run(
            private_data_dir=private,
            playbook=str(PLAYBOOK),
            inventory=str(request.inventory.resolve()),
            tags=request.phase,
            extravars=_extravars(request, wheel, fetch_dir),
            envvars={
                "ANSIBLE_HOST_KEY_CHECKING": "False",
                "ANSIBLE_RETRY_FILES_ENABLED": "False",
                "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
            },
            event_handler=handler,
            quiet=True,
        )
        stats = result.stats or {}
    for host in _hosts(stats):
        outcome = outcomes.setdefault(host, HostOutcome(host))
        _collect(outcome, fetch_dir, request.phase)
    return sorted(outcomes.values(), key=lambda outcome: outcome.host)


def _collect(outcome: HostOutcome, fetch_dir: Path, phase: Phase) -> None:
    """What OUTCOME's host sent home: its capabilities and, for a run, its database.

    A host whose name cannot be a file name in FETCH_DIR, or whose report is not a JSON
    object, fails alone."""
    try:
        safe_file_stem(outcome.host, "inventory host name")
    except UsageError as exc:
        if outcome.status == "ok":
            outcome.status, outcome.reason = "failed", exc.message
        return
    try:
        raw = statedir.read(fetch_dir, f"{outcome.host}.caps.json")
        caps = json.loads(raw) if raw is not None else {}
    except (SevtuiError, ValueError) as exc:
        outcome.status = "failed"
        outcome.reason = f"its capability report is not JSON: {exc}"[:300]
        return
    if not isinstance(caps, dict):
        outcome.status, outcome.reason = "failed", "its capability report is not a JSON object"
        return
    outcome.caps = caps
    with contextlib.suppress(SevtuiError):
        built = statedir.read(fetch_dir, f"{outcome.host}.images.txt")
        outcome.images = (
            "; ".join(built.decode(errors="replace").split("\n")).strip("; ") if built else ""
        )
    database = fetch_dir / f"{outcome.host}.db"
    if phase == "run" and database.is_file() and not database.is_symlink():
        outcome.database = database


def host_config(text: str) -> str:
    """The config a host gets: the controller's without its [paths] table, so each host
    keeps its data and state in its own folder (the playbook points XDG there)."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        header = line.strip()
        if header.startswith("["):
            skipping = header.replace(" ", "") == "[paths]"
        elif not skipping and header.replace(" ", "").startswith("paths."):
            continue
        if not skipping:
            kept.append(line)
    return "# sent by sevtui fleet: [paths] is the host's own\n" + "".join(kept)


def _extravars(request: FleetRequest, wheel: Path, fetch_dir: Path) -> dict[str, Any]:
    config = fetch_dir / "config.toml"
    statedir.write(fetch_dir, config.name, host_config(request.config.read_text()).encode())
    return {
        "sevtui_wheel": str(wheel.resolve()),
        "sevtui_config": str(config.resolve()),
        "sevtui_fetch_dir": str(fetch_dir.resolve()),
        "sevtui_vms": list(request.vms),
        "sevtui_suite": request.suite,
        "sevtui_repetitions": request.repetitions,
        "sevtui_label": request.label or "fleet",
    }


def _hosts(stats: dict[str, dict[str, int]]) -> set[str]:
    return {host for counts in stats.values() for host in counts}


@dataclass
class _EventHandler:
    """Turns ansible-runner events into progress lines and per-host outcomes."""

    outcomes: dict[str, HostOutcome]
    progress: Callable[[HostProgress], None]

    def __call__(self, event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        host = str(data.get("host") or "")
        kind = event.get("event", "")
        task = str(data.get("task") or "")
        result = data.get("res") or {}
        if not host:
            return True
        outcome = self.outcomes.setdefault(host, HostOutcome(host))
        if kind == "runner_on_start":
            self.progress(HostProgress(host, task))
        elif kind == "runner_retry":
            self.progress(_bench_progress(host, str(result.get("stdout", ""))))
        elif kind == "runner_on_unreachable":
            outcome.status, outcome.reason = "unreachable", _message(result)
            self.progress(HostProgress(host, "unreachable", detail=outcome.reason))
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            outcome.status, outcome.reason = "failed", f"{task}: {_message(result)}"
            self.progress(HostProgress(host, "failed", detail=outcome.reason))
        return True


def _bench_progress(host: str, line: str) -> HostProgress:
    """The last event of a host's `bench run --events` file as a progress line."""
    try:
        event = json.loads(line)
    except ValueError:
        return HostProgress(host, "bench", detail="starting")
    if not isinstance(event, dict):
        return HostProgress(host, "bench")
    name = str(event.get("event", ""))
    return HostProgress(
        host,
        "bench",
        str(event.get("benchmark", "")),
        int(event.get("repetition", 0) or 0),
        "" if name in ("BenchmarkStarted", "RepetitionDone") else name,
    )


def _message(result: dict[str, Any]) -> str:
    """Why a task failed: a loop's own summary ("All items completed") names no reason,
    so the first item that failed or was unreachable speaks for it."""
    items = result.get("results")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
            return _message(item)
    text = result.get("msg") or result.get("stderr") or result.get("stdout") or "no message"
    return " ".join(str(text).split())[:300]


class FleetStatus:
    """The fleet's live status file under DATA_DIR/fleet: written on every progress step."""

    def __init__(self, folder: Path, phase: Phase) -> None:
        self.folder = folder
        self.phase = phase
        self.hosts: dict[str, dict[str, str]] = {}
        folder.parent.mkdir(parents=True, exist_ok=True)
        statedir.private_dir(folder, levels=1)

    def step(self, progress: HostProgress) -> None:
        """A host's latest progress line; the host is working until it ends."""
        entry = self.hosts.setdefault(progress.host, {"host": progress.host})
        entry["progress"] = progress.line().removeprefix(progress.host).strip()
        entry["status"] = (
            progress.phase if progress.phase in ("failed", "unreachable") else "working"
        )
        self._save()

    def finish(self, outcomes: list[HostOutcome]) -> None:
        """Each host's capability row and how it ended."""
        for outcome in outcomes:
            entry = self.hosts.setdefault(outcome.host, {"host": outcome.host})
            entry.update(outcome.row())
        self._save()

    def _save(self) -> None:
        document = {"phase": self.phase, "hosts": list(self.hosts.values())}
        statedir.write(self.folder, STATUS_FILE, json.dumps(document, allow_nan=False).encode())


def read_status(folder: Path) -> list[dict[str, str]]:
    """The hosts of the last (or running) fleet command, for the app; [] before any."""
    try:
        raw = statedir.read(folder, STATUS_FILE)
        document = json.loads(raw) if raw else {}
    except (SevtuiError, ValueError):
        return []
    hosts = document.get("hosts") if isinstance(document, dict) else None
    if not isinstance(hosts, list):
        return []
    return [{str(k): str(v) for k, v in host.items()} for host in hosts if isinstance(host, dict)]
