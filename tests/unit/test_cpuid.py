"""Leaf 0x8000001F: decoding, dump parsing, and reading from a device file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sevtui.base.errors import UsageError
from sevtui.host.cpuid import Leaf8000001F, execute_cpuid, parse_cpuid_text, read_leaf
from tests.sysroots import DATA, SEED_LEAF, recorded, write_cpuid_device

SEED_TRUE = {
    "sme", "sev", "page_flush_msr", "sev_es", "sev_snp", "vmpl", "secure_tsc",
    "hw_cache_coherency", "host_64bit_only", "restricted_injection", "alternate_injection",
    "debug_swap", "prevent_host_ibs", "vte", "vmsa_reg_prot",
}  # fmt: skip


def test_seed_host_decoded_text_gives_every_named_bit() -> None:
    leaf = parse_cpuid_text((DATA / "cpuid/epyc-7713p-decoded.txt").read_text())
    data = leaf.to_json()
    assert {key for key, value in data.items() if value is True} == SEED_TRUE
    assert data["tsc_aux_virtualization"] is False
    assert (leaf.cbitpos, leaf.phys_addr_reduction, leaf.vmpl_count) == (51, 5, 4)
    assert (leaf.max_encrypted_guests, leaf.min_sev_asid) == (509, 128)
    assert (leaf.eax, leaf.ebx, leaf.ecx, leaf.edx) == SEED_LEAF


def test_raw_dump_among_other_leaves_matches_decoded_text() -> None:
    raw = parse_cpuid_text((DATA / "cpuid/epyc-7713p-raw.txt").read_text())
    decoded = parse_cpuid_text((DATA / "cpuid/epyc-7713p-decoded.txt").read_text())
    assert raw == decoded


def test_older_tool_output_with_fewer_lines() -> None:
    leaf = parse_cpuid_text((DATA / "cpuid/epyc-older-tool-decoded.txt").read_text())
    assert leaf.has("sev_snp") and leaf.has("page_flush_msr")
    assert not leaf.has("vmpl")
    assert leaf.cbitpos == 51 and leaf.phys_addr_reduction == 5 and leaf.vmpl_count == 0
    assert leaf.max_encrypted_guests == 509


def test_register_fields_decode_from_bits() -> None:
    leaf = Leaf8000001F(eax=0b10011, ebx=(3 << 12) | (1 << 6) | 47, ecx=15, edx=1)
    assert leaf.has("sme") and leaf.has("sev") and leaf.has("sev_snp")
    assert not leaf.has("sev_es")
    assert (leaf.cbitpos, leaf.phys_addr_reduction, leaf.vmpl_count) == (47, 1, 3)


@pytest.mark.parametrize(
    "text", ["", "hello", "0x8000001f\n nothing here", "0x8000001f 0x00: eax=zz"]
)
def test_text_without_the_leaf_is_a_clear_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_cpuid_text(text, "dump.txt")
    assert info.value.message.startswith("dump.txt: ")


def test_device_file_replay(tmp_path: Path) -> None:
    write_cpuid_device(tmp_path, {0x80000000: (0x80000023, 0, 0, 0), 0x8000001F: SEED_LEAF})
    reading = read_leaf(tmp_path)
    assert reading.leaf is not None and reading.leaf.cbitpos == 51


def test_leaf_beyond_highest_extended_leaf_is_refused(tmp_path: Path) -> None:
    root = recorded("this-machine", tmp_path / "root")
    reading = read_leaf(root)
    assert reading.leaf is None
    assert "highest extended leaf 0x80000008" in reading.problem


def test_cpuid_instruction_runs_here() -> None:
    max_leaf, *_ = execute_cpuid(0x80000000)
    assert max_leaf >= 0x80000000
