"""Guest images: the built-in `minimal` guest (kernel + busybox initramfs with the tools)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sevtui.base.errors import SevtuiError
from sevtui.base.proc import run_checked
from sevtui.image import exits

BUILDER_VERSION = "1"
ASSETS = Path(str(resources.files("sevtui").joinpath("data", "guest")))
"""The guest init and ACPI script: package data, so an installed wheel has them too."""
GUEST_TOOLS = {
    "lz4": "lz4",
    "sqlite3": "sqlite3",
    "mbw": "mbw",
    "redis-server": "redis-server",
    "redis-benchmark": "redis-tools",
    "redis-cli": "redis-tools",
    "tinymembench": "tinymembench (not packaged; build it and put it on PATH)",
    "iperf3": "iperf3",
}
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
# Loaded in this order by the guest init: input events, the ACPI power button, the NIC.
# Modules the kernel has built in (or lacks) are skipped.
GUEST_MODULES = (
    "kernel/drivers/input/evdev.ko",
    "kernel/drivers/acpi/button.ko",
    # The virtio NIC (iperf3 through it), each after what it depends on: the ring, the
    # virtio core, the PCI transport, failover, then the driver.
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/net/core/failover.ko",
    "kernel/drivers/net/net_failover.ko",
    "kernel/drivers/net/virtio_net.ko",
)
_LDD_RE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")

Progress = Callable[[str], None]
_KERNEL_HINT = "run `sudo apt-get update`, or set image.kernel in config.toml to a vmlinuz file"


@dataclass(frozen=True)
class MinimalImage:
    """A built minimal guest: kernel and busybox initramfs."""

    kernel: Path
    initrd: Path


@dataclass
class ImageInputs:
    """What goes into the minimal image, and what was left out and why."""

    kernel: Path
    kernel_origin: str
    modules_dir: Path | None
    busybox: Path
    tools: dict[str, Path] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    libraries: list[Path] = field(default_factory=list)


def minimal_dir(images_dir: Path) -> Path:
    """Where the minimal image lives."""
    return images_dir / "minimal"


def built_minimal(images_dir: Path) -> MinimalImage | None:
    """The minimal image under IMAGES_DIR when it has been built, else None."""
    root = minimal_dir(images_dir)
    image = MinimalImage(root / "vmlinuz", root / "initrd.img")
    return image if image.kernel.is_file() and image.initrd.is_file() else None


def read_manifest(images_dir: Path) -> dict[str, object] | None:
    """The manifest of the built minimal image (inputs, key, what was left out)."""
    try:
        data = json.loads((minimal_dir(images_dir) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def build_minimal(
    images_dir: Path,
    kernel: Path | None = None,
    force: bool = False,
    progress: Progress = lambda _msg: None,
) -> tuple[MinimalImage, bool]:
    """Build (or reuse) the minimal image; returns the image and whether it was rebuilt."""
    if platform.machine() != "x86_64":
        raise SevtuiError(
            f"the minimal guest is x86-64 only; this host is {platform.machine()}",
            "use a disk image (vm.NAME.image = PATH)",
        )
    inputs = gather_inputs(images_dir, kernel, progress)
    key = _input_key(inputs)
    root = minimal_dir(images_dir)
    manifest = read_manifest(images_dir)
    existing = built_minimal(images_dir)
    if existing and manifest and manifest.get("key") == key and not force:
        progress("minimal image is up to date")
        return existing, False
    progress(f"packing initramfs: busybox, {', '.join(inputs.tools)}")
    root.mkdir(parents=True, exist_ok=True)
    initrd = _pack_initramfs(inputs)
    with tempfile.NamedTemporaryFile(dir=root, delete=False) as tmp:
        tmp.write(initrd)
    Path(tmp.name).replace(root / "initrd.img")
    shutil.copyfile(inputs.kernel, root / "vmlinuz.tmp")
    (root / "vmlinuz.tmp").replace(root / "vmlinuz")
    (root / "manifest.json").write_text(
        json.dumps(
            {
                "key": key,
                "builder": BUILDER_VERSION,
                "kernel": str(inputs.kernel),
                "kernel_origin": inputs.kernel_origin,
                "tools": {name: str(path) for name, path in inputs.tools.items()},
                "missing": inputs.missing,
                "initrd_bytes": len(initrd),
            },
            indent=2,
            allow_nan=False,
        )
    )
    progress(f"initramfs packed: {len(initrd) / 2**20:.1f} MiB")
    return MinimalImage(root / "vmlinuz", root / "initrd.img"), True


def gather_inputs(images_dir: Path, kernel: Path | None, progress: Progress) -> ImageInputs:
    """Find the kernel, busybox, the benchmark tools and the libraries they need."""
    kernel_path, origin, modules = _find_kernel(images_dir, kernel, progress)
    busybox = next((Path(p) for p in BUSYBOX_CANDIDATES if _is_static(Path(p))), None)
    if busybox is None:
        raise SevtuiError(
            "no statically linked busybox found",
            "install it: sudo apt-get install busybox-static",
        )
    inputs = ImageInputs(kernel_path, origin, modules, busybox)
    for tool, package in GUEST_TOOLS.items():
        found = shutil.which(tool)
        if found:
            inputs.tools[tool] = Path(found)
        else:
            inputs.missing[tool] = f"not on PATH (install {package})"
    inputs.libraries = _libraries(inputs.tools.values())
    try:
        inputs.tools[exits.NAME] = exits.built_exits(images_dir / "tools")
    except SevtuiError as exc:
        inputs.missing[exits.NAME] = exc.message
    return inputs


def _find_kernel(
    images_dir: Path, configured: Path | None, progress: Progress
) -> tuple[Path, str, Path | None]:
    if configured is not None:
        if not os.access(configured, os.R_OK):
            raise SevtuiError(f"image.kernel {configured} is not readable", "fix image.kernel")
        return configured, "config image.kernel", None
    release = os.uname().release
    host = Path(f"/boot/vmlinuz-{release}")
    if host.is_file() and os.access(host, os.R_OK):
        return host, f"host kernel {release}", Path("/lib/modules") / release
    return _debian_kernel(images_dir / "debian-kernel", progress)


def _debian_kernel(cache: Path, progress: Progress) -> tuple[Path, str, Path | None]:
    """Debian's current linux-image-amd64, fetched with apt-get download and unpacked."""
    package = _debian_kernel_package()
    unpacked = cache / package
    kernels = sorted(unpacked.glob("boot/vmlinuz-*"))
    if not kernels:
        progress(f"fetching {package} with apt-get download")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            os.chmod(tmp, 0o755)
            run_checked(
                ["apt-get", "download", package], "apt-get download", _KERNEL_HINT, Path(tmp)
            )
            debs = list(Path(tmp).glob("*.deb"))
            if not debs:
                raise SevtuiError(f"apt-get download {package} produced no .deb")
            staging = Path(tmp) / "x"
            run_checked(["dpkg-deb", "-x", str(debs[0]), str(staging)], "dpkg-deb -x", _KERNEL_HINT)
            if unpacked.exists():
                shutil.rmtree(unpacked)
            staging.replace(unpacked)
        kernels = sorted(unpacked.glob("boot/vmlinuz-*"))
    if not kernels:
        raise SevtuiError(f"{package} holds no boot/vmlinuz-*", "set image.kernel in config.toml")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    return kernels[-1], f"Debian {package}", unpacked / "lib/modules" / version


def _debian_kernel_package() -> str:
    out = run_checked(
        ["apt-cache", "depends", "linux-image-amd64"], "apt-cache depends", _KERNEL_HINT
    )
    match = re.search(r"Depends:\s+(linux-image-\d\S*)", out)
    if not match:
        raise SevtuiError(
            "cannot find which kernel package linux-image-amd64 depends on",
            "run `sudo apt-get update`, or set image.kernel in config.toml to a vmlinuz file",
        )
    return match.group(1)


def _is_static(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            header = handle.read(4096)
    except OSError:
        return False
    return header.startswith(b"\x7fELF") and b"ld-linux" not in header


def _libraries(binaries: Iterable[Path]) -> list[Path]:
    """Shared libraries (and the loader) the binaries need, from `ldd`."""
    found: set[Path] = set()
    for binary in binaries:
        out = run_checked(["ldd", str(binary)], f"ldd {binary}")
        for match in _LDD_RE.finditer(out):
            found.add(Path(match.group(1)))
    return sorted(found)


def _input_key(inputs: ImageInputs) -> str:
    digest = hashlib.sha256(BUILDER_VERSION.encode())
    files = [inputs.kernel, inputs.busybox, *inputs.tools.values(), *inputs.libraries]
    files += sorted(ASSETS.iterdir())
    files += _modules(inputs)
    for path in files:
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _modules(inputs: ImageInputs) -> list[Path]:
    if inputs.modules_dir is None:
        return []
    return [
        inputs.modules_dir / rel for rel in GUEST_MODULES if (inputs.modules_dir / rel).is_file()
    ]


def _pack_initramfs(inputs: ImageInputs) -> bytes:
    archive = _Cpio()
    for folder in (
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "lib",
        "lib64",
        "lib/modules",
        "etc",
        "etc/acpi",
        "etc/acpi/PWRF",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "run",
        "var",
    ):
        archive.directory(folder)
    archive.device("dev/console", 5, 1)
    archive.device("dev/null", 1, 3)
    archive.file("init", (ASSETS / "init").read_bytes(), 0o755)
    archive.file("etc/acpi/PWRF/00000080", (ASSETS / "acpi-power-button").read_bytes(), 0o755)
    archive.file("etc/profile", b"PS1='sevtui# '\nexport PATH HOME TERM\n", 0o644)
    archive.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    archive.file("etc/group", b"root:x:0:\n", 0o644)
    archive.file("bin/busybox", inputs.busybox.read_bytes(), 0o755)
    for name, path in inputs.tools.items():
        archive.file(f"usr/bin/{name}", path.read_bytes(), 0o755)
    for library in inputs.libraries:
        archive.parents(library)
        archive.file(str(library).lstrip("/"), library.read_bytes(), 0o755)
    for index, module in enumerate(_modules(inputs)):
        archive.file(f"lib/modules/{index:02d}-{module.name}", module.read_bytes(), 0o644)
    return archive.finish()


class _Cpio:
    """A newc cpio archive written in memory (device nodes need no root this way)."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._inode = 1
        self._dirs: set[str] = set()

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        fields = [
            self._inode,
            mode,
            0,
            0,
            1,
            0,
            len(data),
            0,
            0,
            rdev[0],
            rdev[1],
            len(name) + 1,
            0,
        ]
        self._inode += 1
        header = b"070701" + b"".join(f"{value:08x}".encode() for value in fields)
        self._out.write(header + name.encode() + b"\0")
        self._pad()
        self._out.write(data)
        self._pad()

    def _pad(self) -> None:
        self._out.write(b"\0" * (-self._out.tell() % 4))

    def directory(self, name: str) -> None:
        if name not in self._dirs:
            self._dirs.add(name)
            self._entry(name, stat.S_IFDIR | 0o755)

    def parents(self, path: Path) -> None:
        for parent in reversed(path.parents[:-1]):
            self.directory(str(parent).lstrip("/"))

    def device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def file(self, name: str, data: bytes, mode: int) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self._out.getvalue()
