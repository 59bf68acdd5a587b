"""The host facts a paper's system table needs, read under a sysroot and stored with
every run: memory size, NUMA nodes and their memory, automatic NUMA balancing, SMT,
transparent hugepages, hugepages and the CPU vulnerability mitigations in force.

Each fact is read from procfs/sysfs below SYSROOT; what cannot be read is `None`, never
guessed, so a replayed machine and this one are described alike.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_MEMINFO_RE = re.compile(r"^(MemTotal|HugePages_Total|Hugepagesize):\s+(\d+)(?:\s+kB)?$")
_SELECTED = re.compile(r"\[(\w+)\]")


def _text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def _selected(path: Path) -> str | None:
    """The [chosen] word of a sysfs choice file (`always [madvise] never`)."""
    text = _text(path)
    if text is None:
        return None
    found = _SELECTED.search(text)
    return found.group(1) if found else text


def _meminfo(path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in (_text(path) or "").splitlines():
        match = _MEMINFO_RE.match(line.strip())
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


def _numa_nodes(folder: Path) -> dict[str, int | None]:
    """node N -> its memory in bytes (None when its meminfo cannot be read)."""
    nodes: dict[str, int | None] = {}
    try:
        names = sorted(p.name for p in folder.iterdir() if re.fullmatch(r"node\d+", p.name))
    except OSError:
        return nodes
    for name in names:
        text = _text(folder / name / "meminfo") or ""
        match = re.search(r"MemTotal:\s+(\d+)\s+kB", text)
        nodes[name] = int(match.group(1)) * 1024 if match else None
    return nodes


def _vulnerabilities(folder: Path) -> dict[str, str]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return {}
    return {entry.name: _text(entry) or "" for entry in entries if entry.is_file()}


def platform_facts(sysroot: Path = Path("/")) -> dict[str, Any]:
    """The host's memory, NUMA, SMT, THP and mitigation facts, as stored with a run."""
    meminfo = _meminfo(sysroot / "proc/meminfo")
    balancing = _text(sysroot / "proc/sys/kernel/numa_balancing")
    smt_active = _text(sysroot / "sys/devices/system/cpu/smt/active")
    return {
        "memory_bytes": meminfo["MemTotal"] * 1024 if "MemTotal" in meminfo else None,
        "numa_nodes": _numa_nodes(sysroot / "sys/devices/system/node"),
        "numa_balancing": int(balancing) if balancing and balancing.isdigit() else None,
        "smt_control": _text(sysroot / "sys/devices/system/cpu/smt/control"),
        "smt_active": None if smt_active is None else smt_active == "1",
        "thp": _selected(sysroot / "sys/kernel/mm/transparent_hugepage/enabled"),
        "hugepages": meminfo.get("HugePages_Total"),
        "hugepage_kb": meminfo.get("Hugepagesize"),
        "vulnerabilities": _vulnerabilities(sysroot / "sys/devices/system/cpu/vulnerabilities"),
    }


def firmware_in_argv(argv: list[str]) -> Path | None:
    """The firmware a QEMU argv loads: -bios FILE, or the read-only pflash unit's file."""
    for index, word in enumerate(argv[:-1]):
        if word == "-bios":
            return Path(argv[index + 1])
        if word == "-drive" and "if=pflash" in argv[index + 1]:
            options = dict(part.split("=", 1) for part in argv[index + 1].split(",") if "=" in part)
            if options.get("readonly") == "on" and "file" in options:
                return Path(options["file"])
    return None


def file_provenance(path: Path) -> dict[str, Any]:
    """PATH's sha256 and size, and the Debian package (with its version) that owns it."""
    import hashlib

    from sevtui.base.errors import SevtuiError
    from sevtui.base.proc import run_with_timeout

    facts: dict[str, Any] = {"path": str(path), "sha256": None, "size": None}
    try:
        data = path.read_bytes()
    except OSError as exc:
        facts["problem"] = exc.strerror or str(exc)
        return facts
    facts["sha256"], facts["size"] = hashlib.sha256(data).hexdigest(), len(data)
    try:
        package = ""
        for name in dict.fromkeys((str(path), str(path.resolve()))):
            owner = run_with_timeout(["dpkg-query", "-S", name], 10)
            owners = [
                line.rsplit(": ", 1)[0].strip()
                for line in owner.stdout.splitlines()
                if ": " in line and not line.startswith("diversion by")
            ]
            if owner.returncode == 0 and owners:
                package = owners[0]
                break
        if package:
            version = run_with_timeout(["dpkg-query", "-W", "-f=${Version}", package], 10)
            facts["package"], facts["package_version"] = package, version.stdout.strip()
    except SevtuiError:
        pass
    return facts
