"""Run a command in a guest: over ssh for cloud guests (forwarded port), else the console."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

from sevtui.base.errors import SevtuiError
from sevtui.base.proc import run_with_timeout
from sevtui.vm import console
from sevtui.vm.ref import VmRef

Runner = Callable[[str, float], tuple[str, int]]
UPLOAD_TIMEOUT_S = 1800.0
"""Long enough for LLVM's 130 MiB tarball over a slow user-mode network."""


def uses_ssh(vm: VmRef) -> bool:
    """Cloud guests with a forwarded ssh port and a generated key are reached over ssh."""
    profile = vm.profile
    return (
        profile.image != "minimal"
        and profile.network == "user"
        and profile.ssh_port > 0
        and vm.ssh_key.is_file()
    )


def ssh_argv(key: Path, port: int, user: str, command: str) -> list[str]:
    """ssh without prompts or host-key bookkeeping (the guest is ours and local)."""
    return [
        "ssh",
        "-i",
        str(key),
        "-p",
        str(port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
        f"{user}@127.0.0.1",
        command,
    ]


def ssh_run(key: Path, port: int, user: str, command: str, timeout: float) -> tuple[str, int]:
    """Run COMMAND over ssh; (output, exit status)."""
    if shutil.which("ssh") is None:
        raise SevtuiError("ssh not found", "sudo apt-get install openssh-client")
    done = run_with_timeout(ssh_argv(key, port, user, command), timeout)
    if done.returncode == 255:
        raise SevtuiError(
            f"ssh to 127.0.0.1:{port} failed: {done.stderr.strip()[-200:]}",
            "is the guest up and cloud-init done? sevtui vm console NAME shows its boot",
        )
    return done.stdout + done.stderr, done.returncode


def ssh_upload(key: Path, port: int, user: str, local: Path, dest: str) -> None:
    """Copy LOCAL to DEST in the guest over ssh (`cat >`, no scp needed in the guest)."""
    argv = ssh_argv(key, port, user, f"cat > {shlex.quote(dest)}")
    done = run_with_timeout(argv, UPLOAD_TIMEOUT_S, stdin=local)
    if done.returncode != 0:
        raise SevtuiError(
            f"copying {local.name} to the guest's {dest} failed (exit {done.returncode}): "
            f"{done.stderr.strip()[-200:]}",
            "is the guest's disk full? sevtui vm exec NAME -- df -h",
        )


def uploader(vm: VmRef) -> Callable[[Path, str], None] | None:
    """How to copy a file into VM: over ssh for cloud guests; None for the console."""
    if not uses_ssh(vm):
        return None
    key, port, user = vm.ssh_key, vm.profile.ssh_port, vm.profile.ssh_user
    return lambda local, dest: ssh_upload(key, port, user, local, dest)


def runner(vm: VmRef, quiet: bool = False) -> Runner:
    """How to run commands in VM: ssh for cloud guests, else its serial console.

    QUIET keeps the commands off the console (no echo): over ssh they never reach it.
    """
    if uses_ssh(vm):
        key, port, user = vm.ssh_key, vm.profile.ssh_port, vm.profile.ssh_user
        return lambda command, timeout: ssh_run(key, port, user, command, timeout)
    paths = vm.paths

    def on_console(command: str, timeout: float) -> tuple[str, int]:
        result = console.run(paths, command, timeout=timeout, quiet=quiet)
        return result.output, result.status

    return on_console
