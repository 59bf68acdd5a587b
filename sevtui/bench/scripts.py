"""The shell scripts a benchmark runs in its target: under an in-target watchdog that
kills the whole process group at its limit, timed inside the target, with a marker
that tells a timeout from a failure. Pure functions: text in, text out."""

from __future__ import annotations

import shlex

from sevtui.bench.catalog import Benchmark
from sevtui.bench.parsers import elapsed_marker
from sevtui.bench.targets import wrap
from sevtui.image.sources import SHIPPED_SOURCES, Source

KILL_GRACE_S = 3
"""Seconds between the watchdog's SIGTERM and its SIGKILL."""
_CLOCK = (
    "ns() { t=$(date +%s%N); case $t in *N) sed -n 's/^now at \\([0-9]*\\) nsecs$/\\1/p' "
    "/proc/timer_list | head -n 1;; *) echo $t;; esac; };"
)


def have_source(source: Source) -> str:
    """Shell that prints `sevtui-source: have` when the work folder holds SOURCE's tarball
    with the right sha256, copying it from the image's shipped sources when it is there.
    The answer is split in the script so a console's echo of it never reads as one."""
    name = shlex.quote(source.filename)
    shipped = shlex.quote(f"{SHIPPED_SOURCES}/{source.filename}")
    return (
        "h() { sha256sum \"$1\" 2>/dev/null | cut -d' ' -f1; }; "
        f'if [ "$(h {name})" = {source.sha256} ]; then echo sevtui-source: h""ave; '
        f'elif [ "$(h {shipped})" = {source.sha256} ] && cp {shipped} {name}; '
        'then echo sevtui-source: h""ave; else echo sevtui-source: need; fi'
    )


def watched(work_dir: str, command: str, nonce: str, limit: float) -> str:
    """COMMAND in its own session and process group, killed as a group at LIMIT seconds.

    The watchdog sends SIGTERM, then SIGKILL after KILL_GRACE_S, and leaves a marker
    that this repetition timed out; output goes to cmd.out and is printed afterwards.
    It acts only when its own sleep ran out: a sleep killed by someone else ends the
    watchdog, never the benchmark. When the script itself is stopped (sevtui
    interrupted), it takes the benchmark's process group with it.
    """
    watchdog = (
        f"( trap 'kill $z 2>/dev/null; exit 0' TERM; sleep {limit:g} & z=$!; "
        "wait $z || exit 0; "
        f"echo > .timeout-{nonce}; kill -TERM -$p; sleep {KILL_GRACE_S} & z=$!; wait $z; "
        "kill -KILL -$p ) >/dev/null 2>&1 & w=$!;"
    )
    stop = "trap 'kill -TERM -$p 2>/dev/null; kill $w 2>/dev/null; exit 143' TERM INT HUP;"
    body = (
        f"rm -f .timeout-{nonce}; setsid sh -c {shlex.quote(command)} > cmd.out 2>&1 < /dev/null"
        f" & p=$!; {watchdog} {stop} wait $p; rc=$?; kill $w 2>/dev/null; wait $w 2>/dev/null;"
    )
    return wrap(work_dir, body)


def set_up(work_dir: str, command: str, nonce: str, limit: float) -> str:
    """A benchmark's setup under the watchdog: the tail of what it printed, the timeout
    marker when the watchdog killed it, and its exit status."""
    inner = watched(work_dir, command, nonce, limit)
    return (
        f"{inner} tail -c 2000 cmd.out; "
        f"[ -e .timeout-{nonce} ] && echo SEVTUI-TIMEOUT-{nonce}; exit $rc"
    )


def timed(bench: Benchmark, work_dir: str, nonce: str, limit: float) -> str:
    """The measured script: the command under the watchdog, timed inside the target.

    Output without a final newline gets one, so sevtui's timing line starts a line."""
    show = "tail -c 2000 cmd.out" if bench.parser == "elapsed" else "cat cmd.out"
    inner = watched(work_dir, bench.command, nonce, limit)
    return (
        f"{_CLOCK} s=$(ns); {inner} e=$(ns); {show}; "
        '[ -n "$(tail -c 1 cmd.out)" ] && echo; '
        f"[ -e .timeout-{nonce} ] && echo SEVTUI-TIMEOUT-{nonce}; "
        f'echo "{elapsed_marker(nonce)} $((e - s))"; exit $rc'
    )


def timed_out(output: str, nonce: str) -> bool:
    return f"SEVTUI-TIMEOUT-{nonce}" in output
