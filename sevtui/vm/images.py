"""Guest images: where the built `minimal` guest lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MinimalImage:
    """A built minimal guest: kernel and busybox initramfs."""

    kernel: Path
    initrd: Path


def built_minimal(images_dir: Path) -> MinimalImage | None:
    """The minimal image under IMAGES_DIR when it has been built, else None."""
    image = MinimalImage(images_dir / "minimal" / "vmlinuz", images_dir / "minimal" / "initrd.img")
    return image if image.kernel.is_file() and image.initrd.is_file() else None
