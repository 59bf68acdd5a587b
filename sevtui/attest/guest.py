"""Ask a running guest for a fresh attestation report, over its shell, with no extra tools.

A fresh random 64-byte nonce becomes the report's report_data: through configfs-tsm
(/sys/kernel/config/tsm/report, Linux >= 6.7) or `snpguest report` when the guest has it.
A report whose report_data is not the nonce is rejected as replayed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sevtui.attest.report import Report, parse
from sevtui.attest.tdquote import is_td_quote, quote_report_data
from sevtui.base.errors import UsageError
from sevtui.base.tagged import tagged_values

NONCE_SIZE = 64
PREFIX = "sevtui-attest."
NO_INTERFACE = "no SEV-SNP or TDX attestation interface in this guest"
REPLAYED = "rejected: report_data does not carry the nonce"
Shell = Callable[[str, float], tuple[str, int]]


@dataclass(frozen=True)
class Fetched:
    """A report from the guest (with the interface it came through), or why there is none."""

    report: Report | None
    interface: str
    problem: str = ""
    quote: bytes | None = None
    """A TD quote, when the guest is an Intel TD (configfs-tsm provider tdx_guest)."""


def fetch_script(nonce: bytes) -> str:
    """Shell (POSIX, busybox) that writes NONCE and prints the raw report as hex.

    It runs in the guest's own shell, so it never exits and never reads stdin.
    """
    octal = "".join(f"\\{byte:03o}" for byte in nonce)
    tsm = "/sys/kernel/config/tsm/report"
    return (
        f"d={tsm}; "
        'if [ -d "$d" ]; then e="$d/sevtui-$$"; '
        'if mkdir "$e"; then '
        f"printf '{octal}' > \"$e/inblob\"; i=0; out=; "
        'while [ $i -lt 25 ] && [ -z "$out" ]; do '
        "out=$(od -An -v -tx1 \"$e/outblob\" 2>/dev/null | tr -d ' \\n'); "
        '[ -n "$out" ] || sleep 0.2 2>/dev/null || sleep 1; i=$((i + 1)); done; '
        f'echo "{PREFIX}interface=configfs-tsm ($(cat "$e/provider" 2>/dev/null))"; '
        f'echo "{PREFIX}report=$out"; rmdir "$e" 2>/dev/null || rm -rf "$e" 2>/dev/null; '
        f'else echo "{PREFIX}error=cannot create a report entry under $d"; fi; '
        "elif command -v snpguest >/dev/null 2>&1; then "
        "t=$(mktemp -d); "
        f"printf '{octal}' > \"$t/request\"; "
        f'echo "{PREFIX}interface=snpguest"; '
        'if snpguest report "$t/report" "$t/request" </dev/null >/dev/null 2>&1; then '
        f'echo "{PREFIX}report=$(od -An -v -tx1 "$t/report" | tr -d \' \\n\')"; '
        f'else echo "{PREFIX}error=snpguest report failed"; fi; rm -rf "$t"; '
        f'else echo "{PREFIX}none"; fi'
    )


def fetch(shell: Shell, timeout: float = 60) -> Fetched:
    """A fresh report from the guest behind SHELL, checked to carry this call's nonce."""
    nonce = secrets.token_bytes(NONCE_SIZE)
    output, _ = shell(fetch_script(nonce), timeout)
    return read_answer(output, nonce)


def read_answer(output: str, nonce: bytes) -> Fetched:
    """Turn the script's output into a report, or the reason there is none."""
    values = tagged_values(output, PREFIX)
    interface = values.get("interface", "")
    if "none" in values:
        return Fetched(None, "", NO_INTERFACE)
    if "error" in values:
        return Fetched(None, interface, f"the guest could not produce a report: {values['error']}")
    text = values.get("report", "")
    if not interface or not text:
        return Fetched(None, interface, "the guest returned no report (no answer from its shell)")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return Fetched(None, interface, "the guest's report is unusable: not hex")
    if is_td_quote(raw):
        problem = "" if quote_report_data(raw) == nonce else REPLAYED
        return Fetched(None, interface, problem, quote=raw)
    try:
        report = parse(raw, "the guest's report")
    except (ValueError, UsageError) as exc:
        return Fetched(None, interface, f"the guest's report is unusable: {exc}")
    if report.report_data != nonce:
        return Fetched(report, interface, REPLAYED)
    return Fetched(report, interface)
