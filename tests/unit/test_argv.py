"""Golden QEMU argv: the seed's two command lines, every mode, both SNP dialects."""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sevtui.vm.spec import DirectBoot, VmPaths, VmSpec, build_argv
from tests.sysroots import DATA

# sevtui adds its own control plane and drops the seed's terminal monitors.
SEVTUI_ONLY = {"-name", "-nodefaults", "-display", "-chardev", "-serial", "-qmp", "-pidfile"}
SEED_ONLY = {"-nographic", "-monitor"}
PATHS = VmPaths(Path("/run/sevtui/vms/x"))


def options(argv: list[str], drop: set[str]) -> Counter[tuple[str, str]]:
    """(flag, value) pairs of a QEMU argv, order-free; -enable-kvm means -accel kvm."""
    pairs: Counter[tuple[str, str]] = Counter()
    index = 1
    while index < len(argv):
        flag = argv[index]
        has_value = index + 1 < len(argv) and not argv[index + 1].startswith("-")
        value = argv[index + 1] if has_value else ""
        index += 2 if has_value else 1
        if flag == "-enable-kvm":
            flag, value = "-accel", "kvm"
        if flag not in drop:
            pairs[(flag, value.replace("file=./", "file="))] += 1
    return pairs


def seed_argv(name: str) -> list[str]:
    return shlex.split((DATA / name).read_text())


def seed_spec(**changes: Any) -> VmSpec:
    base = VmSpec(
        name="nosev",
        kind="nosev",
        qemu="qemu-system-x86_64",
        accel="kvm",
        vcpus=16,
        memory=16 << 30,
        cpu="EPYC-v4,host-phys-bits=true",
        machine="q35",
        paths=PATHS,
        disk=Path("nosev.img"),
        firmware=Path("/scratch/roberto/gr/usr/local/share/qemu/OVMF_CODE.fd"),
        firmware_vars=Path("nosev.fd"),
        cloud_init=Path("cloud-config-nosev.iso"),
        network="tap:tap3",
        mac="52:54:00:cc:62:03",
    )
    return replace(base, **changes)


def test_seed_nosev_command_line_is_reproduced_option_by_option() -> None:
    ours = options(build_argv(seed_spec()), SEVTUI_ONLY)
    seed = options(seed_argv("seed-nosev-argv.txt"), SEED_ONLY)
    assert ours == seed


def test_seed_snp_command_line_is_reproduced_option_by_option() -> None:
    spec = seed_spec(
        name="sev",
        kind="sev-snp",
        snp_dialect="amd-fork",
        policy=0x30000,
        cbitpos=51,
        host_data="b2l3bmNvd3FuY21wbXA",
        disk=Path("sev.img"),
        firmware=Path("/scratch/roberto/gr/OVMF_files/OVMF_CODE_sev.fd"),
        firmware_vars=Path("sev.fd"),
        cloud_init=Path("cloud-config-sev.iso"),
        network="tap:tap4",
        mac="52:54:00:cc:62:04",
    )
    ours = options(build_argv(spec), SEVTUI_ONLY)
    seed = options(seed_argv("seed-snp-argv.txt"), SEED_ONLY)
    assert ours == seed
    assert "-m" not in build_argv(spec)


def minimal(kind: str, **changes: object) -> list[str]:
    defaults: dict[str, object] = {
        "name": "g",
        "kind": kind,
        "disk": None,
        "firmware": None,
        "firmware_vars": None,
        "cloud_init": None,
        "network": "user",
        "boot": DirectBoot(Path("/img/vmlinuz"), Path("/img/initrd.img")),
    }
    return build_argv(seed_spec(**{**defaults, **changes}))


def value_of(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_nosev_minimal_guest() -> None:
    argv = minimal("nosev", accel="tcg", cpu="max", memory=512 << 20, vcpus=1, ssh_port=2222)
    assert value_of(argv, "-accel") == ["tcg"]
    assert value_of(argv, "-m") == ["512M"]
    assert value_of(argv, "-kernel") == ["/img/vmlinuz"]
    assert value_of(argv, "-netdev") == ["user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22"]
    assert "-object" not in argv
    assert value_of(argv, "-qmp") == [f"unix:{PATHS.qmp},server=on,wait=off"]
    assert value_of(argv, "-pidfile") == [str(PATHS.pidfile)]


def test_sev_mode() -> None:
    argv = minimal("sev", policy=0x1, cbitpos=47, firmware=Path("/fw/OVMF_CODE.fd"))
    assert value_of(argv, "-object") == [
        "sev-guest,id=sev0,policy=0x1,cbitpos=47,reduced-phys-bits=1,kernel-hashes=on"
    ]
    assert value_of(argv, "-machine") == ["type=q35,confidential-guest-support=sev0,vmport=off"]
    assert value_of(argv, "-drive")[0].startswith("if=pflash,format=raw,unit=0,file=/fw/OVMF")


def test_sev_es_mode_carries_the_es_policy() -> None:
    argv = minimal("sev-es", policy=0x5)
    assert value_of(argv, "-object")[0].startswith("sev-guest,id=sev0,policy=0x5,")


def test_snp_upstream_dialect_uses_memfd_and_bios() -> None:
    argv = minimal(
        "sev-snp",
        snp_dialect="upstream",
        policy=0x30000,
        host_data="aGVsbG8=",
        firmware=Path("/fw/OVMF.fd"),
        firmware_vars=Path("/ignored.fd"),
        firmware_as_bios=True,
    )
    assert value_of(argv, "-object") == [
        "memory-backend-memfd,id=ram1,size=16G,share=true,prealloc=false",
        "sev-snp-guest,id=sev0,policy=0x30000,cbitpos=51,reduced-phys-bits=1,"
        "host-data=aGVsbG8=,kernel-hashes=on",
    ]
    assert value_of(argv, "-bios") == ["/fw/OVMF.fd"]
    assert "-drive" not in argv
    assert "kvm-type=protected" not in " ".join(argv)


def test_snp_amd_fork_dialect() -> None:
    argv = minimal("sev-snp", snp_dialect="amd-fork", policy=0x30000)
    assert value_of(argv, "-object")[0] == (
        "memory-backend-memfd-private,id=ram1,size=16G,share=true"
    )
    assert "kvm-type=protected" in value_of(argv, "-machine")[0]


def test_bridge_network() -> None:
    argv = minimal("nosev", network="virbr0")
    assert value_of(argv, "-netdev") == ["bridge,id=net0,br=virbr0"]


def test_a_multiqueue_vhost_tap() -> None:
    argv = minimal("nosev", network="tap:t0", vhost=True, queues=4)
    (netdev,) = value_of(argv, "-netdev")
    assert netdev == "type=tap,script=no,downscript=no,id=net0,ifname=t0,vhost=on,queues=4"
    (device,) = [d for d in value_of(argv, "-device") if "netdev=net0" in d]
    assert device.endswith(",mq=on,vectors=10"), "2 vectors per queue pair, config and control"
    (single,) = value_of(minimal("nosev", network="tap:t0"), "-netdev")
    assert "vhost" not in single and "queues" not in single


@pytest.mark.parametrize("hostile", ["a;touch /tmp/pwn", "$(id)", "x\ny", "`id`"])
def test_extra_args_stay_single_argv_elements(hostile: str) -> None:
    argv = minimal("nosev", extra_args=(hostile,))
    assert argv[-1] == hostile


def test_tdx_mode_follows_qemus_tdx_document() -> None:
    mr = "A" * 64
    argv = minimal(
        "tdx",
        policy=1 << 28,
        cpu="host",
        firmware=Path("/usr/share/ovmf/OVMF.inteltdx.ms.fd"),
        firmware_as_bios=True,
        snp_blobs=(("mrconfigid", mr),),
    )
    assert value_of(argv, "-object") == [f"tdx-guest,id=tdx0,sept-ve-disable=on,mrconfigid={mr}"]
    assert value_of(argv, "-machine") == [
        "type=q35,confidential-guest-support=tdx0,kernel-irqchip=split,smm=off"
    ]
    assert value_of(argv, "-bios") == ["/usr/share/ovmf/OVMF.inteltdx.ms.fd"]
    assert "-drive" not in argv or all("pflash" not in d for d in value_of(argv, "-drive"))
    assert value_of(argv, "-cpu") == ["host"]
    debug = minimal("tdx", policy=(1 << 28) | 1)
    assert value_of(debug, "-object") == [
        "tdx-guest,id=tdx0,sept-ve-disable=on,attributes=0x10000001"
    ]
    assert value_of(minimal("tdx", policy=0), "-object") == [
        "tdx-guest,id=tdx0,sept-ve-disable=off"
    ]
