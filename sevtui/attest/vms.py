"""Attest a running VM of the config: its shell, its launch argv, the configured key sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sevtui.attest.service import Attestation, KeySources, attest_vm
from sevtui.base.errors import SevtuiError, UsageError
from sevtui.config import Config
from sevtui.store.rows import AttestationRow
from sevtui.vm import lifecycle, remote
from sevtui.vm.ref import VmRef


def key_sources(
    config: Config,
    vcek: Path | None = None,
    chain: Path | None = None,
    product: str | None = None,
) -> KeySources:
    """Files given on the command line first, then the config's cache, service and product."""
    return KeySources(
        cache=config.attest.vcek_cache or config.paths.data_dir / "attest",
        kds_url=config.attest.kds_url,
        pcs_url=config.attest.pcs_url,
        vcek=vcek,
        chain=chain,
        product=product or config.attest.product or None,
    )


def attest_running(vm: VmRef, keys: KeySources) -> Attestation:
    """Fetch, verify and compare the report of running VM (quietly, off the console)."""
    name = vm.name
    current = lifecycle.status(vm)
    if current.state != "running":
        raise UsageError(
            f"VM {name!r} is not running: {current.state}", f"start it: sevtui vm start {name}"
        )
    argv = lifecycle.vm_record(vm.paths).argv
    return attest_vm(name, remote.runner(vm, quiet=True), argv, keys)


def for_run(config: Config, vm: VmRef) -> dict[str, Any]:
    """A run's attestation of VM as a document; failures are recorded, never raised."""
    try:
        return attest_running(vm, key_sources(config)).to_json()
    except SevtuiError as exc:
        return Attestation(vm=vm.name, status="inconclusive", reasons=[exc.message]).to_json()


def as_row(document: dict[str, Any], run_id: int | None = None) -> AttestationRow:
    """The stored form of an attestation document (Attestation.to_json)."""
    report = document.get("report")
    measurement = report.get("measurement") if isinstance(report, dict) else None
    quote = document.get("td_quote")
    if measurement is None and isinstance(quote, dict):
        measurement = quote.get("mrtd")
    return AttestationRow(
        str(document.get("vm", "")),
        str(document.get("status", "inconclusive")),
        measurement,
        [str(reason) for reason in document.get("reasons", [])],
        document,
        float(document.get("created", 0.0)),
        run_id,
    )
