"""bounce = "force": a normal VM whose guest kernel bounces every virtio DMA through
swiotlb, as a confidential guest must, so that cost is measured without encryption; and
idle = "poll" / "haltpoll", how the guest idles (an exit to the host or not); and
numa_node, the host NUMA node QEMU is bound to."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sevtui.base.errors import ConfigError, UsageError
from sevtui.bench import guestword
from sevtui.bench.variants import parse_vary, with_variants
from sevtui.config import Config, parse_config
from sevtui.host.qemu import QemuInfo
from sevtui.vm import resolve as resolve_module
from sevtui.vm.ref import lookup
from sevtui.vm.resolve import Resolved, resolve
from sevtui.vm.spec import VmPaths, VmSpec, build_argv

QEMU = QemuInfo("/usr/bin/qemu-system-x86_64", (10, 0, 2), "QEMU 10.0.2", frozenset())


def config_with_image(tmp_path: Path, vm: str) -> Config:
    images = tmp_path / "images" / "minimal"
    images.mkdir(parents=True)
    for name in ("vmlinuz", "initrd.img"):
        (images / name).write_bytes(b"x")
    text = f'[paths]\ndata_dir = "{tmp_path}"\nimage_dir = "{tmp_path / "images"}"\n{vm}'
    return parse_config(text, tmp_path / "config.toml")


def resolved_for(config: Config, name: str) -> Resolved:
    """VM NAME of CONFIG resolved for TCG on a host without AMD memory encryption."""
    return resolve(config, lookup(config, name), QEMU, "tcg", None)


def test_a_forced_bounce_boots_the_kernel_with_swiotlb_force(tmp_path: Path) -> None:
    config = config_with_image(tmp_path, '[vm.demo]\nimage = "minimal"\nbounce = "force"\n')
    resolved = resolved_for(config, "demo")
    assert resolved.blockers == []
    assert resolved.spec.boot is not None
    assert "swiotlb=force" in resolved.spec.boot.append.split()


def test_a_disk_guest_cannot_be_forced_and_says_how_instead(tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"")
    vm = f'[vm.disk]\nimage = "{disk}"\nbounce = "force"\n'
    resolved = resolved_for(config_with_image(tmp_path, vm), "disk")
    (blocker,) = resolved.blockers
    assert 'bounce = "force" needs a kernel sevtui boots directly' in blocker
    assert "swiotlb=force there" in blocker


def test_bounce_is_a_sweep_axis_and_a_checked_key(tmp_path: Path) -> None:
    assert parse_vary(["bounce=off,force"]) == [("bounce", ["off", "force"])]
    config = config_with_image(tmp_path, '[vm.demo]\nimage = "minimal"\n')
    swept = with_variants(config, ["demo@bounce=force"])
    assert swept.vm["demo@bounce=force"].bounce == "force"
    with pytest.raises(UsageError, match="variant 'demo@bounce=maybe'"):
        with_variants(config, ["demo@bounce=maybe"])


def test_the_guest_says_whether_it_bounces() -> None:
    word = guestword.parse(
        "sevtui-word.log_lines=40\nsevtui-word.boot=1\n"
        "sevtui-word.swiotlb=mapped [mem 0x000000001b000000-0x000000001f000000] (64MB)\n"
        "sevtui-word.swiotlb_forced=1\n"
    )
    stored = word.to_json()
    assert stored["swiotlb"] == "mapped [mem 0x000000001b000000-0x000000001f000000] (64MB)"
    assert stored["swiotlb_forced"] is True
    assert guestword.parse("sevtui-word.log_lines=3\n").to_json()["swiotlb_forced"] is False


@pytest.mark.parametrize(
    ("idle", "arg"), [("poll", "idle=poll"), ("haltpoll", "cpuidle_haltpoll.force=Y")]
)
def test_idle_settings_are_guest_kernel_parameters(tmp_path: Path, idle: str, arg: str) -> None:
    vm = f'[vm.demo]\nimage = "minimal"\nidle = "{idle}"\nbounce = "force"\n'
    resolved = resolved_for(config_with_image(tmp_path, vm), "demo")
    assert resolved.spec.boot is not None
    assert {"swiotlb=force", arg} <= set(resolved.spec.boot.append.split())
    assert parse_vary([f"idle=default,{idle}"]) == [("idle", ["default", idle])]


def test_the_guest_names_its_idle_driver() -> None:
    word = guestword.parse("sevtui-word.log_lines=3\nsevtui-word.idle=haltpoll\n")
    assert word.to_json()["idle_driver"] == "haltpoll"


def test_a_numa_node_binds_qemu_with_numactl() -> None:
    spec = VmSpec("demo", "nosev", "/usr/bin/qemu", "tcg", 1, 1 << 29, "max", "q35",
                  VmPaths(Path("/run/demo")), numa_node=0)  # fmt: skip
    argv = build_argv(spec)
    assert argv[:5] == ["numactl", "--cpunodebind=0", "--membind=0", "--", "/usr/bin/qemu"]
    backend = "memory-backend-ram,id=ram0,size=512M,host-nodes=0,policy=bind"
    assert argv[argv.index(backend) - 1] == "-object"
    assert "type=q35,memory-backend=ram0" in argv
    unbound = build_argv(replace(spec, numa_node=None))
    assert unbound[0] == "/usr/bin/qemu" and "memory-backend=ram0" not in " ".join(unbound)


def test_a_node_the_host_lacks_is_a_blocker_with_the_nodes_it_has(tmp_path: Path) -> None:
    vm = '[vm.demo]\nimage = "minimal"\nnuma_node = 1023\n'
    resolved = resolved_for(config_with_image(tmp_path, vm), "demo")
    (blocker,) = resolved.blockers
    assert blocker.startswith("demo: numa_node = 1023, but this host has NUMA node(s) ")


def test_none_means_unbound_in_a_sweep(tmp_path: Path) -> None:
    config = config_with_image(tmp_path, '[vm.demo]\nimage = "minimal"\nnuma_node = 0\n')
    swept = with_variants(config, ["demo@numa_node=none", "demo@numa_node=0"])
    assert swept.vm["demo@numa_node=none"].numa_node is None
    assert swept.vm["demo@numa_node=0"].numa_node == 0
    assert parse_vary(["numa_node=0,1"]) == [("numa_node", ["0", "1"])]


def test_vhost_and_queues_on_user_networking_are_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match=r'vhost needs a tap device \(network = "tap:IFNAME"\)'):
        config_with_image(tmp_path, '[vm.demo]\nimage = "minimal"\nvhost = true\n')
    config = config_with_image(tmp_path / "b", '[vm.demo]\nimage = "minimal"\n')
    with pytest.raises(UsageError, match="QEMU's user network \\(slirp\\) has neither"):
        with_variants(config, ["demo@vhost=on", "demo@vhost=off"])
    with pytest.raises(UsageError, match="queues needs a tap device"):
        with_variants(config, ["demo@queues=2"])


TAP = '[vm.demo]\nimage = "minimal"\nnetwork = "tap:t0"\nguest_address = "10.77.0.2/24"\n'


def test_a_tap_guest_gets_its_address_and_a_missing_vhost_net_is_a_blocker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_with_image(tmp_path, TAP)
    swept = with_variants(config, ["demo@vhost=on+queues=2", "demo@vhost=off+queues=2"])
    absent = tmp_path / "no-vhost-net"
    monkeypatch.setattr(resolve_module, "VHOST_NET", absent)
    blocked = resolved_for(swept, "demo@vhost=on+queues=2")
    assert blocked.blockers == [
        f"demo@vhost=on+queues=2: vhost = true, but this host has no {absent} (its kernel "
        "lacks vhost-net, or the module is not loaded: modprobe vhost_net)"
    ]
    plain = resolved_for(swept, "demo@vhost=off+queues=2")
    assert plain.blockers == [] and plain.spec.queues == 2 and not plain.spec.vhost
    assert plain.spec.boot is not None
    assert "sevtui.net=10.77.0.2/24" in plain.spec.boot.append.split()
    present = tmp_path / "vhost-net"
    present.touch()
    monkeypatch.setattr(resolve_module, "VHOST_NET", present)
    assert resolved_for(swept, "demo@vhost=on+queues=2").blockers == []
