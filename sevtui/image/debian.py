"""The `debian` guest: a Debian 12 cloud-style disk built here from Debian's own packages.

mmdebstrap makes the root tree; the disk is put together without loop mounts: the
root filesystem with `mkfs.ext4 -d`, the EFI system partition with mkfs.fat and mtools
(systemd-boot, the kernel and initrd), both written at their offsets into a GPT disk
that sfdisk lays out, then converted to qcow2. OVMF starts systemd-boot, which starts
the kernel with the console on the serial port; cloud-init (NoCloud) does the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sevtui.base.errors import SevtuiError
from sevtui.base.proc import run_checked
from sevtui.image import exits
from sevtui.image.sources import BUILD_QUICK, SHIPPED_SOURCES, fetch

BUILDER_VERSION = "2"
SUITE = "bookworm"
PACKAGES = (
    "linux-image-amd64",
    "initramfs-tools",
    "systemd-sysv",
    "systemd-boot-efi",
    "udev",
    "dbus",
    "cloud-init",
    "cloud-guest-utils",
    "ifupdown",
    "isc-dhcp-client",
    "netbase",
    "iproute2",
    "openssh-server",
    "sudo",
    "build-essential",
    "git",
    "lz4",
    "sqlite3",
    "mbw",
    "redis-server",
    "redis-tools",
    "fio",
    "iperf3",
    "e2fsprogs",
)
"""A cloud image's base plus the tools of the built-in benchmarks."""
MASKED_UNITS = (
    "redis-server.service",
    "e2scrub_reap.service",
    "e2scrub_all.timer",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "man-db.timer",
    "fstrim.timer",
)
"""Services and timers that would run beside the benchmarks (the redis benchmark starts
its own server on another port) or only slow the boot down: masked in the image."""
SOURCES_IN_IMAGE = (BUILD_QUICK,)
"""Benchmark sources shipped in the image (guests need no internet)."""
ESP_MIB = 256
ALIGN = 1 << 20
SECTOR = 512
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_TYPE = "4F68BCE3-E8CD-4C1C-97E9-1A4C9E6E3B6E"
"""The Discoverable Partitions type of an x86-64 root partition."""
SYSTEMD_BOOT = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.fat": "dosfstools",
    "mcopy": "mtools",
    "mmd": "mtools",
    "sfdisk": "fdisk",
}
CLOUD_CFG = """\
# sevtui: the seed ISO (NoCloud) is the only datasource; nothing probes the network.
datasource_list: [ NoCloud, None ]
# The image has no locales package: keep C.UTF-8 rather than fail on update-locale.
locale: false
# The hostname from the seed resolves (sudo asks for it).
manage_etc_hosts: true
"""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DebianImage:
    """A built Debian guest disk and what went into it."""

    disk: Path
    manifest: dict[str, object]


def debian_dir(images_dir: Path) -> Path:
    """Where the Debian image lives."""
    return images_dir / "debian"


def built_debian(images_dir: Path) -> DebianImage | None:
    """The Debian image under IMAGES_DIR when it has been built, else None."""
    root = debian_dir(images_dir)
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    disk = root / "disk.qcow2"
    if not isinstance(manifest, dict) or not disk.is_file():
        return None
    return DebianImage(disk, manifest)


def input_key(mirror: str) -> str:
    """What the image is made from: rebuilt only when this changes (or with --force)."""
    digest = hashlib.sha256(f"{BUILDER_VERSION}\0{SUITE}\0{mirror}\0".encode())
    digest.update("\0".join(PACKAGES + MASKED_UNITS).encode())
    digest.update(CLOUD_CFG.encode())
    for source in SOURCES_IN_IMAGE:
        digest.update(source.sha256.encode())
    digest.update(exits.SOURCE.read_bytes())
    return digest.hexdigest()


def build_debian(
    images_dir: Path,
    sources_cache: Path,
    mirror: str,
    force: bool = False,
    progress: Progress = lambda _msg: None,
) -> tuple[DebianImage, bool]:
    """Build (or reuse) IMAGES_DIR/debian/disk.qcow2; returns it and whether it was rebuilt."""
    key = input_key(mirror)
    existing = built_debian(images_dir)
    if existing and existing.manifest.get("key") == key and not force:
        progress("debian image is up to date")
        return existing, False
    tools = _tools()
    if os.geteuid() != 0:
        raise SevtuiError(
            "building the Debian image needs root (mmdebstrap --mode=root keeps file owners)",
            "run it as root: sudo sevtui image build debian",
        )
    shipped = [fetch(source, sources_cache, progress) for source in SOURCES_IN_IMAGE]
    shipped_exits = exits.built_exits(images_dir / "tools")
    root = debian_dir(images_dir)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=root) as scratch:
        work = Path(scratch)
        progress(f"mmdebstrap {SUITE} from {mirror} ({len(PACKAGES)} packages)")
        _mmdebstrap(tools, work / "tree", mirror)
        root_uuid = str(uuid.uuid4())
        kernel, initrd = _customize(work / "tree", root_uuid, shipped)
        _install(shipped_exits, work / "tree" / "usr/local/bin" / exits.NAME)
        esp = _esp_image(work, tools, kernel, initrd, root_uuid)
        progress("mkfs.ext4 -d: root filesystem")
        rootfs = _root_image(work, tools, work / "tree", root_uuid)
        raw = _assemble(work, tools, esp, rootfs)
        progress("qemu-img convert: qcow2")
        staged = work / "disk.qcow2"
        convert = ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(staged)]
        run_checked(convert, "qemu-img convert", "sudo apt-get install qemu-utils", timeout=1800)
        manifest: dict[str, object] = {
            "key": key,
            "builder": BUILDER_VERSION,
            "suite": SUITE,
            "mirror": mirror,
            "packages": list(PACKAGES),
            "kernel": kernel.name,
            "root_uuid": root_uuid,
            "sources": [source.to_json() for source in SOURCES_IN_IMAGE],
            "disk_bytes": raw.stat().st_size,
        }
        staged.replace(root / "disk.qcow2")
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, allow_nan=False))
    progress(f"debian image built: {root / 'disk.qcow2'}")
    return DebianImage(root / "disk.qcow2", manifest), True


def _mmdebstrap(tools: dict[str, str], tree: Path, mirror: str) -> None:
    """Debian SUITE with PACKAGES into TREE, as root (file owners kept for mkfs.ext4 -d)."""
    run_checked(
        [
            tools["mmdebstrap"],
            "--variant=apt",
            "--mode=root",
            "--format=directory",
            "--aptopt=Acquire::Retries 3",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(tree),
            mirror,
        ],
        "mmdebstrap",
        f"is {mirror} reachable? set image.debian_mirror in config.toml",
        timeout=3600,
    )


def _tools() -> dict[str, str]:
    """The build tools, or one error naming every missing package."""
    found = {
        tool: shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin") for tool in TOOLS
    }
    missing = sorted({TOOLS[tool] for tool, path in found.items() if path is None})
    if missing:
        raise SevtuiError(
            f"building the Debian image needs {', '.join(missing)}",
            f"sudo apt-get install {' '.join(missing)}",
        )
    return {tool: str(path) for tool, path in found.items()}


def _install(binary: Path, target: Path) -> None:
    """BINARY into the tree at TARGET, root-owned and executable (sevtui-exits: the VM-exit
    benchmark the minimal guest packs too)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary, target)
    os.chmod(target, 0o755)


def _customize(tree: Path, root_uuid: str, shipped: list[Path]) -> tuple[Path, Path]:
    """Make the tree a cloud image: fstab, NoCloud only, no shared identity; the sources."""
    (tree / "etc/fstab").write_text(f"UUID={root_uuid} / ext4 rw,errors=remount-ro 0 1\n")
    (tree / "etc/hostname").write_text("debian\n")
    (tree / "etc/hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
    (tree / "etc/machine-id").write_text("")
    (tree / "etc/cloud/cloud.cfg.d/90_sevtui.cfg").write_text(CLOUD_CFG)
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    units = tree / "etc/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for unit in MASKED_UNITS:
        (units / unit).unlink(missing_ok=True)
        (units / unit).symlink_to("/dev/null")
    sources = tree / SHIPPED_SOURCES.lstrip("/")
    sources.mkdir(parents=True, exist_ok=True)
    for path in shipped:
        shutil.copyfile(path, sources / path.name)
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise SevtuiError("mmdebstrap installed no kernel (no /boot/vmlinuz-*)")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    initrd = tree / "boot" / f"initrd.img-{version}"
    if not initrd.is_file():
        raise SevtuiError(f"no initramfs for kernel {version} in the tree")
    return kernels[-1], initrd


def _esp_image(
    work: Path, tools: dict[str, str], kernel: Path, initrd: Path, root_uuid: str
) -> Path:
    """A FAT32 EFI system partition: systemd-boot as the removable-media loader, one entry."""
    esp = work / "esp.img"
    run_checked(
        [tools["mkfs.fat"], "-F", "32", "-n", "ESP", "-C", str(esp), str(ESP_MIB * 1024)],
        "mkfs.fat",
    )
    loader = work / "loader.conf"
    loader.write_text("default debian.conf\ntimeout 0\nconsole-mode keep\n")
    entry = work / "debian.conf"
    entry.write_text(
        "title Debian 12 (sevtui)\nlinux /vmlinuz\ninitrd /initrd.img\n"
        f"options root=UUID={root_uuid} ro console=tty0 console=ttyS0,115200n8\n"
    )
    image = ["-i", str(esp)]
    run_checked(
        [tools["mmd"], *image, "::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries"], "mmd"
    )
    for local, target in (
        (kernel.parent.parent / SYSTEMD_BOOT, "::/EFI/BOOT/BOOTX64.EFI"),
        (loader, "::/loader/loader.conf"),
        (entry, "::/loader/entries/debian.conf"),
        (kernel, "::/vmlinuz"),
        (initrd, "::/initrd.img"),
    ):
        run_checked([tools["mcopy"], *image, str(local), target], "mcopy")
    return esp


def _root_image(work: Path, tools: dict[str, str], tree: Path, root_uuid: str) -> Path:
    """An ext4 image of the tree, a quarter larger than its contents plus 512 MiB."""
    used = sum(
        entry.stat(follow_symlinks=False).st_size
        for entry in tree.rglob("*")
        if entry.is_file() and not entry.is_symlink()
    )
    size = _align(int(used * 1.25) + (512 << 20))
    rootfs = work / "root.img"
    run_checked(
        [
            tools["mkfs.ext4"],
            "-q",
            "-F",
            "-L",
            "sevtui-root",
            "-U",
            root_uuid,
            "-d",
            str(tree),
            str(rootfs),
            f"{size // 1024}k",
        ],
        "mkfs.ext4 -d",
        timeout=1800,
    )
    return rootfs


def _assemble(work: Path, tools: dict[str, str], esp: Path, rootfs: Path) -> Path:
    """A GPT disk: ESP then root, each copied in at its offset (no loop devices)."""
    esp_start = ALIGN
    root_start = esp_start + _align(esp.stat().st_size)
    root_size = _align(rootfs.stat().st_size)
    total = root_start + root_size + ALIGN
    raw = work / "disk.raw"
    with raw.open("wb") as handle:
        handle.truncate(total)
    layout = (
        "label: gpt\n"
        f"start={esp_start // SECTOR}, size={esp.stat().st_size // SECTOR}, "
        f'type={ESP_TYPE}, name="ESP"\n'
        f"start={root_start // SECTOR}, size={root_size // SECTOR}, "
        f'type={ROOT_TYPE}, name="root"\n'
    )
    script = work / "layout.sfdisk"
    script.write_text(layout)
    run_checked([tools["sfdisk"], "-q", str(raw)], "sfdisk", stdin=script)
    _copy_at(esp, raw, esp_start)
    _copy_at(rootfs, raw, root_start)
    return raw


def _copy_at(source: Path, disk: Path, offset: int) -> None:
    """Copy SOURCE into DISK at OFFSET, leaving runs of zeros as holes."""
    chunk = 1 << 20
    zeros = bytes(chunk)
    with source.open("rb") as src, disk.open("r+b") as dst:
        position = offset
        while block := src.read(chunk):
            if block != zeros[: len(block)]:
                dst.seek(position)
                dst.write(block)
            position += len(block)


def _align(size: int) -> int:
    return -(-size // ALIGN) * ALIGN
