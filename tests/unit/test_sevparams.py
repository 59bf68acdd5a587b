"""SEV launch parameters checked before QEMU sees them, and policies decoded in words.

Expected values are worked out by hand from AMD's SEV API and SEV-SNP ABI bit tables.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from sevtui.config import VmConfig
from sevtui.vm.sevparams import policy_flags, problems
from tests.conftest import sevtui

SEED_HOST_DATA = "b2l3bmNvd3FuY21wbXA"


def snp(**changes: Any) -> VmConfig:
    return VmConfig(kind="sev-snp", policy=0x30000, **changes)


def test_the_seeds_host_data_is_refused_by_upstream_qemu_with_a_padded_fix() -> None:
    [line] = problems("g", snp(host_data=SEED_HOST_DATA), "upstream")
    assert "host_data must be 32 bytes of base64 for QEMU >= 9.1" in line
    assert "is not padded base64 of 14 bytes" in line
    suggested = line.split("host_data = '")[1].rstrip("'")
    decoded = base64.b64decode(suggested, validate=True)
    assert len(decoded) == 32
    assert decoded == b"oiwncowqncmpmp" + bytes(18)


def test_amd_forks_dialect_keeps_accepting_the_seeds_host_data() -> None:
    assert problems("g", snp(host_data=SEED_HOST_DATA), "amd-fork") == []


def test_32_bytes_of_base64_pass_and_33_do_not() -> None:
    assert problems("g", snp(host_data=base64.b64encode(bytes(32)).decode()), "upstream") == []
    [line] = problems("g", snp(host_data=base64.b64encode(bytes(33)).decode()), "upstream")
    assert "is base64 of 33 bytes" in line


@pytest.mark.parametrize(
    ("key", "size", "ok"),
    [
        ("id_block", 96, True),
        ("id_block", 95, False),
        ("id_auth", 4096, True),
        ("id_auth", 4097, False),
        ("id_auth", 1, True),
        ("guest_visible_workarounds", 16, True),
        ("guest_visible_workarounds", 17, False),
    ],
)
def test_snp_launch_blobs_have_qemus_sizes(key: str, size: int, ok: bool) -> None:
    value = base64.b64encode(bytes(size)).decode()
    found = problems("g", snp(**{key: value}), "upstream")
    assert (found == []) is ok
    if not ok:
        assert f"vm.g.{key} is {size} bytes" in found[0]


def test_a_blob_that_is_not_base64_is_named() -> None:
    [line] = problems("g", snp(id_block="not base64!"), "upstream")
    assert line.startswith("vm.g.id_block is not base64")


@pytest.mark.parametrize("bits", [0, 64])
def test_reduced_phys_bits_must_be_1_to_63(bits: int) -> None:
    profile = VmConfig(kind="sev", reduced_phys_bits=min(bits, 63))
    if bits == 64:
        profile = profile.model_copy(update={"reduced_phys_bits": 64})
    [line] = problems("g", profile, "upstream")
    assert f"reduced_phys_bits = {bits}: QEMU needs 1..63" in line


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (0x10000, ["policy bit 17 must be set; use 0x30000"]),
        (0x4030000, ["bits 26 are reserved in the SEV-SNP policy; use 0x30000"]),
        (0x1_0000_0000_0003_0000, ["bits 64 are reserved in the SEV-SNP policy; use 0x30000"]),
        (0x3F30000, []),
    ],
)
def test_snp_policy_needs_bit_17_and_no_reserved_bits(policy: int, expected: list[str]) -> None:
    found = problems("g", snp().model_copy(update={"policy": policy}), "upstream")
    assert len(found) == len(expected)
    for line, fragment in zip(found, expected, strict=True):
        assert fragment in line


@pytest.mark.parametrize(
    ("kind", "policy", "fragment"),
    [
        ("sev-es", 0x1, "needs the ES bit (bit 2); use 0x5"),
        ("sev", 0x5, 'set kind = "sev-es" or use 0x1'),
        ("sev", 0x41, "bits 6 are reserved in the SEV policy; use 0x1"),
    ],
)
def test_sev_policy_bits_match_the_kind(kind: str, policy: int, fragment: str) -> None:
    [line] = problems("g", VmConfig.model_validate({"kind": kind, "policy": policy}), None)
    assert fragment in line


def test_snp_guests_cannot_have_smm() -> None:
    [line] = problems("g", snp(extra_args=["-machine", "smm=on"]), "upstream")
    assert "cannot use SMM" in line


def test_snp_only_keys_on_other_kinds_are_named() -> None:
    found = problems("g", VmConfig(kind="nosev", host_data="eA==", id_block="eA=="), None)
    assert [line.split(" is set")[0] for line in found] == ["vm.g.host_data", "vm.g.id_block"]


@pytest.mark.parametrize(
    ("kind", "policy", "words"),
    [
        ("sev-snp", 0x30000, ["ABI >= 0.0", "SMT allowed", "debug not allowed"]),
        (
            # bits 16, 17, 19, 20 and ABI 1.51: 0x1B0000 | 0x0133
            "sev-snp",
            0x1B0133,
            ["ABI >= 1.51", "SMT allowed", "debug allowed", "single socket only"],
        ),
        ("sev-snp", 0x20000, ["ABI >= 0.0", "SMT not allowed", "debug not allowed"]),
        ("sev", 0x1, ["API >= 0.0", "debug not allowed (NODBG)"]),
        (
            "sev-es",
            0x5,
            ["API >= 0.0", "debug not allowed (NODBG)", "SEV-ES required (ES)"],
        ),
        ("nosev", 0, []),
    ],
)
def test_policies_decode_into_words(kind: Any, policy: int, words: list[str]) -> None:
    assert policy_flags(kind, policy) == words


def test_config_check_rejects_the_seeds_host_data_and_passes_the_shipped_config(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[qemu]\nsnp_dialect = "upstream"\n[vm.snp]\nkind = "sev-snp"\n'
        f'host_data = "{SEED_HOST_DATA}"\n'
    )
    result = sevtui(config, "config", "check")
    assert result.returncode == 2
    assert "vm.snp.host_data must be 32 bytes of base64 for QEMU >= 9.1" in result.stderr
    assert "pad it, e.g. host_data = 'b2l3bmNvd3FuY21wbXAAAAAAAAAAAAAAAAAAAAAAAAA='" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    shipped = Path(__file__).resolve().parents[2] / "config.toml"
    assert sevtui(shipped, "config", "check").returncode == 0


def b64(size: int) -> str:
    return base64.b64encode(bytes(range(size))).decode()


@pytest.mark.parametrize("key", ["mrconfigid", "mrowner", "mrownerconfig"])
def test_a_tds_measured_ids_are_48_bytes(key: str) -> None:
    def profile(kind: str, size: int) -> VmConfig:
        return VmConfig.model_validate({"kind": kind, key: b64(size)})

    assert problems("td", profile("tdx", 48), "upstream") == []
    (said,) = problems("td", profile("tdx", 32), "upstream")
    assert said == f"vm.td.{key} is 32 bytes; QEMU's {key} needs exactly 48 bytes"
    (said,) = problems("td", profile("sev-snp", 48), "upstream")
    assert said == f"vm.td.{key} is set but only tdx guests use it (kind = 'sev-snp'); remove it"


def test_amd_keys_are_refused_on_a_td_and_reserved_attributes_named() -> None:
    profile = VmConfig(kind="tdx", host_data=b64(32), cbitpos=51, policy=(1 << 28) | (1 << 5))
    found = problems("td", profile, "upstream")
    assert "vm.td.cbitpos is set but only AMD SEV guests use it (kind = 'tdx'); remove it" in found
    assert (
        "vm.td.host_data is set but only AMD SEV guests use it (kind = 'tdx'); remove it" in found
    )
    assert (
        "vm.td.policy = 0x10000020: TD attribute bits 5 are reserved or not offered to a TD; "
        "use 0x10000000"
    ) in found


def test_td_attributes_decode_into_words() -> None:
    words = policy_flags("tdx", (1 << 28) | 1)
    assert words[0] == "DEBUG: the host may read and change the TD (not confidential)"
    assert words[1] == "SEPT_VE_DISABLE: no #VE on EPT violations of pending pages"
    assert policy_flags("tdx", 0) == ["no debug", "#VE on pending pages"]
