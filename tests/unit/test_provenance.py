"""What a run records of a VM's NIC, read from the argv QEMU was given."""

from __future__ import annotations

from sevtui.bench.provenance import nic_facts


def test_the_demo_guests_nic_as_sevtui_starts_it() -> None:
    argv = ["qemu", "-netdev", "user,id=net0", "-device",
            "virtio-net-pci,mac=52:54:00:2a:97:51,netdev=net0,disable-legacy=on,"
            "iommu_platform=true,romfile="]  # fmt: skip
    assert nic_facts(argv) == {
        "iperf3_host": None,
        "iperf3_port": None,
        "model": "virtio-net-pci",
        "backend": "user",
        "vhost": False,
        "queues": 1,
        "iommu_platform": True,
    }


def test_a_multiqueue_vhost_tap_and_no_nic() -> None:
    argv = ["qemu", "-netdev", "tap,id=net0,ifname=t0,vhost=on,queues=4",
            "-device", "virtio-net-pci,netdev=net0,mq=on,vectors=10"]  # fmt: skip
    facts = nic_facts(argv)
    assert facts is not None and facts["vhost"] is True and facts["queues"] == 4
    assert nic_facts(["qemu", "-netdev", "tap,id=n,queues=x", "-device", "e1000,netdev=n"]) == {
        "iperf3_host": None,
        "iperf3_port": None,
        "model": "e1000",
        "backend": "tap",
        "vhost": False,
        "queues": "x",
        "iommu_platform": False,
    }, "a value sevtui does not understand is kept as given"
    assert nic_facts(["qemu", "-nodefaults"]) is None


def test_the_iperf3_forward_is_found() -> None:
    netdev = "user,id=net0,hostfwd=tcp:127.0.0.1:40123-:5201,hostfwd=udp:127.0.0.1:40123-:5201"
    facts = nic_facts(["qemu", "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0"])
    assert facts is not None and facts["iperf3_port"] == 40123
    assert facts["iperf3_host"] == "127.0.0.1"
