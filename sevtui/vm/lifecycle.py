"""Start, stop, find again and describe VMs; each VM owns a private state directory.

State directory files: `vm.json` (PID, process identity, accel, argv), `exit.json`
(written by the supervisor when QEMU ends), `stop-requested`, `stderr.log`,
`serial.log`, the QMP and serial sockets and QEMU's pidfile. A VM is found again
by PID *and* process identity (create time, executable), never by name alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import psutil

from sevtui.base import statedir
from sevtui.base.errors import CommandTimeout, ConfigError, SevtuiError, UsageError
from sevtui.config import Config, VmKind
from sevtui.host.caps import CapabilityReport
from sevtui.host.qemu import probe_qemu, snp_dialect
from sevtui.vm import diagnose, remote, sevparams
from sevtui.vm.qmp import QmpClient, QmpError
from sevtui.vm.ref import VmRef, lookup
from sevtui.vm.resolve import Resolved, resolve
from sevtui.vm.spec import READY_MARKER, Accel, VmPaths, VmSpec, build_argv, ready_marker

VmState = Literal["running", "starting", "stopped", "crashed", "shutoff"]
Progress = Callable[[str], None]
KERNEL_FIRST_LINE = b"Linux version"
MAX_SOCKET_PATH = 107
QMP_WAIT_S = 20.0
READY_WAIT_S = 120.0
CLOUD_READY_WAIT_S = 900.0
"""A distribution guest under TCG takes minutes to boot and run cloud-init."""
CLOUD_READY = (
    "if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null 2>&1; "
    "cloud-init status; else echo 'status: done'; fi; echo uptime $(cut -d' ' -f1 /proc/uptime)"
)


@dataclass
class VmStatus:
    """What is known about one VM right now."""

    name: str
    kind: VmKind
    state: VmState
    pid: int | None = None
    external: bool = False
    accel: str = ""
    vcpus: int = 0
    memory: int = 0
    started_at: float | None = None
    detail: str = ""
    stale: str = ""
    state_dir: str = ""
    variant_of: str = ""
    """For a sweep's variant (`demo@vcpus=2`, started by a run): its configured VM."""

    def to_json(self) -> dict[str, Any]:
        """JSON row (extended by the CLI with samples and QMP facts)."""
        return asdict(self)


@dataclass
class StartResult:
    """How a start went."""

    name: str
    pid: int
    accel: Accel
    accel_reason: str
    seconds_to_qmp: float
    seconds_to_ready: float | None
    notes: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds from QEMU's start: qmp, console (first byte), kernel (first kernel line,
    when the console shows one), ready; and guest_uptime (the guest's own clock at ready)."""

    def summary(self) -> str:
        """One line for people: `demo: running, PID 123, accel tcg, ready after 8.8 s`."""
        ready = f", ready after {self.seconds_to_ready:.1f} s" if self.seconds_to_ready else ""
        return f"{self.name}: running, PID {self.pid}, accel {self.accel}{ready}"


@dataclass
class StopResult:
    """How a stop went: which step ended QEMU and how long it took."""

    name: str
    pid: int
    step: str
    seconds: float

    def summary(self) -> str:
        """One line for people: `demo: stopped by ACPI powerdown after 0.4 s`."""
        return f"{self.name}: stopped by {self.step} after {self.seconds:.1f} s"


def choose_accel(config: Config, report: CapabilityReport, kind: VmKind) -> tuple[Accel, str]:
    """KVM when configured or (auto) when the probe showed it works; otherwise TCG."""
    setting = config.qemu.accel
    if kind != "nosev":
        return "kvm", "confidential guests need KVM"
    if setting == "kvm":
        return "kvm", "qemu.accel = kvm"
    if setting == "tcg":
        return "tcg", "qemu.accel = tcg"
    if report.accel.usable:
        return "kvm", report.accel.reason
    return "tcg", f"KVM not usable ({report.accel.reason}): using TCG"


def plan(config: Config, vm: VmRef, report: CapabilityReport) -> tuple[Resolved, str]:
    """Resolve VM against this host: the spec, and why this accel."""
    accel, why = choose_accel(config, report, vm.profile.kind)
    qemu = probe_qemu(config.qemu.binary)
    found = sevparams.problems(vm.name, vm.profile, snp_dialect(config.qemu.snp_dialect, qemu))
    if found:
        raise ConfigError(found, "fix these in config.toml; `sevtui config check` lists them all")
    return resolve(config, vm, qemu, accel, report.leaf), why


# --- status -----------------------------------------------------------------------------


def _read_json(folder: Path, name: str) -> dict[str, Any] | None:
    """A state file's JSON object; None when missing or unreadable, refused when not ours."""
    raw = statedir.read(folder, name)
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _write_json(folder: Path, name: str, data: dict[str, Any]) -> None:
    statedir.write(folder, name, json.dumps(data, indent=2, allow_nan=False).encode())


@dataclass(frozen=True)
class VmRecord:
    """vm.json: what sevtui recorded when it last started the VM."""

    name: str = ""
    kind: str = ""
    pid: int | None = None
    create_time: float = 0.0
    exe: str = ""
    supervisor_pid: int | None = None
    started_at: float | None = None
    accel: str = ""
    accel_reason: str = ""
    argv: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VmRecord:
        """The record, with any field of the wrong type (or a PID below 1) left unset."""

        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ""

        def number(key: str) -> float | None:
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return float(value)

        def pid(key: str) -> int | None:
            value = data.get(key)
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            return value if ok else None

        argv = data.get("argv")
        return cls(
            text("name"),
            text("kind"),
            pid("pid"),
            number("create_time") or 0.0,
            text("exe"),
            pid("supervisor_pid"),
            number("started_at"),
            text("accel"),
            text("accel_reason"),
            [str(arg) for arg in argv] if isinstance(argv, list) else [],
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON written to vm.json."""
        return asdict(self)


def _read_record(root: Path) -> VmRecord | None:
    data = _read_json(root, "vm.json")
    return None if data is None else VmRecord.from_json(data)


def vm_record(paths: VmPaths) -> VmRecord:
    """What was recorded when the VM of PATHS was last started (empty when never)."""
    return _read_record(paths.root) or VmRecord()


def identity_matches(record: VmRecord, paths: VmPaths) -> tuple[bool, str]:
    """Is the recorded PID still this VM's QEMU? (False, why) when it is not.

    The process must have the recorded start time and executable, and its command line
    must carry this VM's own QMP socket path.
    """
    pid = record.pid
    if pid is None:
        return False, ""
    try:
        proc = psutil.Process(pid)
        created = proc.create_time()
        exe = proc.exe()
        argv = proc.cmdline()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False, ""
    except psutil.NoSuchProcess:
        return False, ""
    except psutil.Error as exc:
        return False, f"PID {pid} cannot be inspected ({exc}); nothing signalled"
    ours = any(str(paths.qmp) in arg for arg in argv)
    if abs(created - record.create_time) < 0.05 and exe == record.exe and ours:
        return True, ""
    return False, (
        f"stale pidfile: PID {pid} is now {proc.name()!r} ({exe}), not this VM's QEMU; "
        "nothing signalled"
    )


def status(vm: VmRef) -> VmStatus:
    """The state of configured VM, from its state directory and the process table."""
    profile, paths = vm.profile, vm.paths
    row = VmStatus(
        vm.name,
        profile.kind,
        "stopped",
        vcpus=profile.vcpus,
        memory=profile.memory,
        state_dir=str(paths.root),
    )
    statedir.private_dir(paths.root, create=False)
    record = _read_record(paths.root)
    if record is None:
        if (paths.root / "starting").exists():
            row.state = "starting"
        return row
    row.accel = record.accel
    alive, stale = identity_matches(record, paths)
    if alive:
        row.state = "starting" if (paths.root / "starting").exists() else "running"
        row.pid = record.pid
        row.started_at = record.started_at
        return row
    row.stale = stale
    row.state, row.detail = _ended(paths)
    return row


def _ended(paths: VmPaths) -> tuple[VmState, str]:
    """How a VM that is no longer running ended."""
    exit_record = _read_json(paths.root, "exit.json")
    requested = (paths.root / "stop-requested").exists()
    if exit_record is None:
        if requested:
            return "stopped", "stopped by sevtui"
        return "crashed", "QEMU and its supervisor are gone without an exit record" + (
            _stderr_note(paths)
        )
    code = exit_record.get("returncode")
    sig = exit_record.get("signal")
    if requested:
        return "stopped", "stopped by sevtui"
    if code == 0:
        return "shutoff", "the guest powered off"
    how = f"killed by signal {sig}" if sig else f"QEMU exited with status {code}"
    return "crashed", how + _stderr_note(paths)


def _stderr_note(paths: VmPaths) -> str:
    try:
        text = statedir.tail(paths.root, "stderr.log").decode(errors="replace")
    except OSError:
        return ""
    last = diagnose.tail(text, 3)
    return f"; QEMU said: {last}" if last else ""


def list_configured(config: Config) -> list[VmStatus]:
    """Status of every configured VM; one whose state folder is refused says why."""
    found = []
    for name in config.vm:
        vm = lookup(config, name)
        try:
            found.append(status(vm))
        except statedir.UntrustedState as exc:
            found.append(VmStatus(name, vm.profile.kind, "stopped", stale=exc.message))
    return found


# --- start ------------------------------------------------------------------------------


def start(
    config: Config,
    vm: VmRef,
    report: CapabilityReport,
    force: bool = False,
    wait_ready: bool = True,
    progress: Progress = lambda _msg: None,
) -> StartResult:
    """Launch VM detached from sevtui and wait until QMP answers (and the guest is ready)."""
    _refuse_start(config, vm, report, force)
    resolved, accel_reason = plan(config, vm, report)
    if resolved.blockers:
        raise SevtuiError(
            "; ".join(resolved.blockers), "`sevtui caps` lists the firmware each kind would use"
        )
    nonce = secrets.token_hex(8)
    spec = resolved.spec
    if spec.boot is not None:
        spec = replace(spec, boot=spec.boot.with_ready_nonce(nonce))
    _preflight(resolved, force)
    paths = spec.paths
    _prepare_state_dir(paths)
    if resolved.vars_template is not None and spec.firmware_vars is not None:
        _copy_vars(resolved.vars_template, spec.firmware_vars)
    argv = build_argv(spec)
    statedir.write(paths.root, "argv.json", json.dumps(argv, indent=2, allow_nan=False).encode())
    statedir.touch(paths.root, "starting")
    progress(f"starting {vm.name} ({spec.kind}, {spec.accel}: {accel_reason})")
    started = time.monotonic()
    supervisor = _supervise(paths, argv)
    try:
        pid = _wait_for_qmp(paths, supervisor, started)
        seconds_to_qmp = time.monotonic() - started
        _record_started(spec, pid, supervisor.pid, accel_reason, argv)
        progress(f"QEMU PID {pid}, QMP up after {seconds_to_qmp:.1f} s")
        phases = {"qmp": seconds_to_qmp}
        if wait_ready and spec.boot is not None:
            marker = ready_marker(nonce).encode()
            phases |= _wait_for_ready(paths, supervisor, marker, started, progress)
        elif wait_ready and remote.uses_ssh(vm):
            waiting = _Waiting(paths, supervisor, started, progress)
            phases |= _wait_for_cloud_guest(remote.runner(vm), waiting)
    finally:
        statedir.remove(paths.root, "starting")
    return StartResult(
        vm.name,
        pid,
        spec.accel,
        accel_reason,
        seconds_to_qmp,
        phases.get("ready"),
        resolved.notes,
        phases,
    )


def _record_started(
    spec: VmSpec, pid: int, supervisor_pid: int, accel_reason: str, argv: list[str]
) -> None:
    """vm.json: which process is this VM (PID, start time, executable) and how it started."""
    proc = psutil.Process(pid)
    record = VmRecord(
        spec.name,
        spec.kind,
        pid,
        proc.create_time(),
        proc.exe(),
        supervisor_pid,
        time.time(),
        spec.accel,
        accel_reason,
        argv,
    )
    _write_json(spec.paths.root, "vm.json", record.to_json())


def _supervise(paths: VmPaths, argv: list[str]) -> subprocess.Popen[bytes]:
    """QEMU under its supervisor, in a session of its own (it outlives sevtui)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sevtui.vm.supervise", str(paths.root), "--", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def _refuse_start(config: Config, vm: VmRef, report: CapabilityReport, force: bool) -> None:
    """Refuse a VM that already runs, (unless FORCE) a kind this host cannot run, or a
    cloud VM whose disk was never prepared."""
    name, profile = vm.name, vm.profile
    current = status(vm)
    if current.state in ("running", "starting"):
        raise UsageError(
            f"VM {name!r} is already {current.state} (PID {current.pid})",
            f"stop it first: sevtui vm stop {name}",
        )
    verdict = report.profiles[profile.kind]
    if not verdict.launchable and not force:
        raise SevtuiError(
            f"cannot start {name!r}: this host cannot run {profile.kind} guests: {verdict.reason}",
            "see `sevtui caps` for the full check list",
            cli_hint="--force tries anyway",
        )
    _refuse_unprepared(config, vm)


def _refuse_unprepared(config: Config, vm: VmRef) -> None:
    """A cloud VM whose disk `image prepare-cloud` never made cannot boot."""
    if vm.profile.image == "cloud" and not vm.disk.is_file():
        raise UsageError(
            f"{vm.name}: its disk is not prepared yet (no {vm.disk})",
            f"sevtui image prepare-cloud --base {config.paths.images / 'debian' / 'disk.qcow2'} "
            f"--vm {vm.name}",
        )


def check_media(config: Config, vm: VmRef, report: CapabilityReport) -> None:
    """Raise the reason VM cannot boot for want of a file: its guest image not built,
    its cloud disk not prepared, a disk or firmware file missing (a sweep asks this of
    every VM before it starts anything)."""
    _refuse_unprepared(config, vm)
    missing = _missing_file(plan(config, vm, report)[0])
    if missing is not None:
        raise missing


def _missing_file(resolved: Resolved) -> SevtuiError | None:
    """The first file the VM needs that is not there, as an error; None when all are."""
    spec = resolved.spec
    if spec.boot is not None and not (spec.boot.kernel.is_file() and spec.boot.initrd.is_file()):
        return SevtuiError(
            f"the minimal guest image is not built (no {spec.boot.initrd})",
            "build it: sevtui image build",
        )
    missing = [
        (what, path)
        for what, path in (
            ("disk image", spec.disk),
            ("firmware", spec.firmware),
            ("firmware variables template", resolved.vars_template),
            ("cloud-init seed", spec.cloud_init),
        )
        if path is not None and not path.is_file()
    ]
    if not missing:
        return None
    what, path = missing[0]
    return SevtuiError(
        f"{spec.name}: {what} {path} does not exist",
        f"set it in [vm.{spec.name}] of config.toml (Debian: apt-get install ovmf for OVMF)",
    )


def _preflight(resolved: Resolved, force: bool) -> None:
    spec = resolved.spec
    longest = max(len(str(spec.paths.qmp)), len(str(spec.paths.serial)))
    if longest > MAX_SOCKET_PATH:
        raise SevtuiError(
            f"state dir {spec.paths.root} is too deep for a unix socket path "
            f"({longest} > {MAX_SOCKET_PATH} bytes)",
            "set paths.state_dir to a shorter folder",
        )
    missing = _missing_file(resolved)
    if missing is not None:
        raise missing
    memory = psutil.virtual_memory()
    if spec.memory > memory.total:
        raise SevtuiError(
            f"{spec.name} wants {spec.memory >> 20} MiB but the host has only "
            f"{memory.total >> 20} MiB",
            f"lower vm.{spec.name}.memory",
        )
    if spec.memory > memory.available and not force:
        raise SevtuiError(
            f"{spec.name} wants {spec.memory >> 20} MiB but only {memory.available >> 20} MiB "
            "are free",
            f"stop other VMs or lower vm.{spec.name}.memory",
            cli_hint="--force starts it anyway",
        )


def _prepare_state_dir(paths: VmPaths) -> None:
    """A trusted private folder with none of the last run's files (links removed, not followed)."""
    statedir.private_dir(paths.root)
    try:
        statedir.remove(
            paths.root,
            "exit.json",
            "stop-requested",
            "vm.json",
            "qemu.pid",
            "stderr.log",
            "stdout.log",
            paths.qmp.name,
            paths.serial.name,
            paths.serial_log.name,
        )
        statedir.write(paths.root, paths.serial_log.name, b"")
    except OSError as exc:
        raise SevtuiError(
            f"cannot prepare state dir {paths.root}: {exc.strerror or exc}",
            "check that paths.state_dir is writable and the disk is not full",
        ) from None


def _copy_vars(template: Path, target: Path) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(template, target)
    os.chmod(target, 0o600)


def _launch_failure(paths: VmPaths, code: int | None) -> SevtuiError:
    try:
        stderr = statedir.tail(paths.root, "stderr.log").decode(errors="replace")
    except OSError:
        stderr = ""
    explanation = diagnose.explain(stderr)
    tail = diagnose.tail(stderr) or "(no output)"
    how = f"exit status {code}" if code is not None else "no answer"
    message = f"QEMU failed to start ({how}):\n{tail}"
    if explanation:
        message += f"\nwhy: {explanation}"
    return SevtuiError(message, f"full log: {paths.root / 'stderr.log'}")


def _wait_for_qmp(paths: VmPaths, supervisor: subprocess.Popen[bytes], started: float) -> int:
    """Wait for QEMU's pidfile and a QMP greeting; fail with QEMU's own words."""
    deadline = started + QMP_WAIT_S
    while time.monotonic() < deadline:
        code = supervisor.poll()
        if code is not None:
            record = _read_json(paths.root, "exit.json")
            raise _launch_failure(paths, record.get("returncode") if record else code)
        if paths.qmp.exists() and paths.pidfile.exists():
            try:
                with QmpClient(paths.qmp, timeout=2.0) as qmp:
                    qmp.execute("query-status")
                return int(paths.pidfile.read_text().strip())
            except (QmpError, ValueError):
                pass
        time.sleep(0.05)
    _kill_tree(supervisor)
    raise _launch_failure(paths, None)


def _wait_for_ready(
    paths: VmPaths,
    supervisor: subprocess.Popen[bytes],
    marker: bytes,
    started: float,
    progress: Progress,
) -> dict[str, float]:
    """Watch the console until this boot's ready marker: seconds from QEMU's start
    (STARTED) to its first byte, the kernel's first line, the marker; and the guest's
    own uptime at the marker."""
    waiting = _Waiting(paths, supervisor, started, progress)
    deadline = started + READY_WAIT_S
    phases: dict[str, float] = {}
    while time.monotonic() < deadline:
        log = waiting.console_phases(phases)
        if marker in log:
            phases["ready"] = now = time.monotonic() - started
            uptime = re.search(rb"sevtui guest: uptime ([0-9.]+)", log)
            if uptime:
                phases["guest_uptime"] = float(uptime.group(1))
            progress(f"guest ready after {now:.1f} s")
            return phases
        if supervisor.poll() is not None:
            raise _launch_failure(paths, supervisor.returncode)
        time.sleep(0.01 if "console" not in phases else 0.05)
    raise SevtuiError(
        f"the guest did not print {READY_MARKER} within {READY_WAIT_S:.0f} s",
        f"see the console log: {paths.serial_log}; the VM is left running",
    )


@dataclass(frozen=True)
class _Waiting:
    """A boot being waited for: its console, its QEMU's supervisor, when it started."""

    paths: VmPaths
    supervisor: subprocess.Popen[bytes]
    started: float
    progress: Progress

    def console_phases(self, phases: dict[str, float]) -> bytes:
        """Note when the console printed its first byte and the kernel its first line;
        the console log's last MiB (empty before the first byte)."""
        now = time.monotonic() - self.started
        if "console" not in phases and _log_size(self.paths) > 0:
            phases["console"] = now
        if "console" not in phases:
            return b""
        log = statedir.tail(self.paths.root, self.paths.serial_log.name, 1 << 20)
        if "kernel" not in phases and KERNEL_FIRST_LINE in log:
            phases["kernel"] = now
        return log


def _wait_for_cloud_guest(run: remote.Runner, waiting: _Waiting) -> dict[str, float]:
    """Poll ssh until the guest answers, then until cloud-init is done: that is ready.

    A guest without cloud-init is ready when ssh answers. cloud-init's errors stop the
    wait with its words; the VM is left running to be looked at.
    """
    deadline = waiting.started + CLOUD_READY_WAIT_S
    phases: dict[str, float] = {}
    while time.monotonic() < deadline:
        waiting.console_phases(phases)
        if waiting.supervisor.poll() is not None:
            raise _launch_failure(waiting.paths, waiting.supervisor.returncode)
        try:
            answer, _ = run(CLOUD_READY, max(deadline - time.monotonic(), 1.0))
        except CommandTimeout:
            break
        except SevtuiError:
            time.sleep(2)
            continue
        waiting.console_phases(phases)
        if "status: done" not in answer:
            raise SevtuiError(
                f"cloud-init in the guest did not finish cleanly: {_cloud_status(answer)}",
                "see `sevtui vm exec NAME -- cloud-init status --long`; the VM is left running",
            )
        phases["ready"] = time.monotonic() - waiting.started
        uptime = re.search(r"^uptime ([0-9.]+)", answer, re.MULTILINE)
        if uptime:
            phases["guest_uptime"] = float(uptime.group(1))
        waiting.progress(f"guest ready (cloud-init done) after {phases['ready']:.1f} s")
        return phases
    raise SevtuiError(
        f"the guest did not finish cloud-init within {CLOUD_READY_WAIT_S:.0f} s",
        f"see the console log: {waiting.paths.serial_log}; the VM is left running",
    )


def _cloud_status(answer: str) -> str:
    """cloud-init's status line, or what came back instead."""
    found = re.search(r"^status: .*$", answer, re.MULTILINE)
    return found.group(0) if found else answer.strip()[-200:] or "no answer"


def _log_size(paths: VmPaths) -> int:
    """Bytes on the console log so far (a cheap check while waiting for the first)."""
    try:
        return os.stat(paths.serial_log, follow_symlinks=False).st_size
    except OSError:
        return 0


def _kill_tree(supervisor: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(supervisor.pid, signal.SIGKILL)
    supervisor.wait()


# --- stop -------------------------------------------------------------------------------


def stop(
    vm: VmRef,
    kill: bool = False,
    grace_s: float = 10.0,
    step_s: float = 3.0,
    progress: Progress = lambda _msg: None,
) -> StopResult:
    """ACPI powerdown, then QMP quit, then SIGTERM, then SIGKILL; never hangs."""
    name, paths = vm.name, vm.paths
    current = status(vm)
    if current.state not in ("running", "starting") or current.pid is None:
        note = f" ({current.stale})" if current.stale else ""
        raise UsageError(f"VM {name!r} is not running: {current.state}{note}")
    statedir.touch(paths.root, "stop-requested")
    pid = current.pid
    started = time.monotonic()
    try:
        # The process as it is now (PID and start time): once it exits, its PID may go
        # to another process within seconds (pid_max can be 32768); that one is never
        # signalled nor waited for.
        qemu = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return StopResult(name, pid, "already gone", 0.0)
    steps: list[tuple[str, Callable[[], None], float]] = [
        ("ACPI powerdown", lambda: _qmp(paths, "system_powerdown"), grace_s),
        ("QMP quit", lambda: _qmp(paths, "quit"), step_s),
        ("SIGTERM", lambda: _signal(qemu, signal.SIGTERM), step_s),
        ("SIGKILL", lambda: _signal(qemu, signal.SIGKILL), step_s),
    ]
    if kill:
        steps = steps[-1:]
    for step, action, wait in steps:
        progress(f"{name}: {step}")
        try:
            action()
        except (QmpError, OSError) as exc:
            progress(f"{name}: {step} failed: {exc}")
        if _wait_gone(qemu, wait):
            return StopResult(name, pid, step, time.monotonic() - started)
    raise SevtuiError(
        f"failed to terminate {name!r}: PID {pid} survived SIGKILL",
        f"the process may be stuck in the kernel (D state); check `ps -o stat,wchan -p {pid}`",
    )


def _qmp(paths: VmPaths, command: str) -> None:
    with QmpClient(paths.qmp, timeout=2.0) as qmp:
        qmp.execute(command)


def _signal(process: psutil.Process, sig: signal.Signals) -> None:
    """SIG to PROCESS if it is still the same process (psutil compares its start time)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        process.send_signal(sig)


def _wait_gone(process: psutil.Process, seconds: float) -> bool:
    """True once PROCESS has exited (a zombie, or its PID gone or taken by another)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False
