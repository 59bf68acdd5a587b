"""Pinned benchmark sources: a release, a tarball URL and its sha256, fetched once.

The seed cloned each project's default branch on the day; a pinned tarball makes two
runs build the same code. Tarballs are fetched into a host cache (checked against the
sha256), then copied into each target, so guests need no internet. The URLs are
Debian's pool: the upstream release as Debian ships it (`.orig` tarballs), with the
sha256 from Debian's signed Sources index.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sevtui.base.errors import SevtuiError

TIMEOUT_S = 60.0
CHUNK = 1 << 20
MAX_BYTES = 1 << 31
POOL = "http://deb.debian.org/debian/pool/main"
SHIPPED_SOURCES = "/usr/share/sevtui/sources"
"""Where an image built by sevtui keeps the sources it ships (guests need no internet)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Source:
    """One pinned source tarball: which release, where from, what it must hash to."""

    project: str
    release: str
    url: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        """The tarball's file name (the last part of its URL)."""
        return self.url.rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, object]:
        """What a run's provenance records about the source it built."""
        return {
            "project": self.project,
            "release": self.release,
            "url": self.url,
            "sha256": self.sha256,
            "file": self.filename,
        }


BUILD_QUICK = Source(
    "lua",
    "5.4.4",
    f"{POOL}/l/lua5.4/lua5.4_5.4.4.orig.tar.gz",
    "164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61",
    360876,
)
LINUX = Source(
    "linux",
    "6.1.8",
    f"{POOL}/l/linux/linux_6.1.8.orig.tar.xz",
    "d651978776b1072f193e55a60d476e99e08607fe03a5704dbc79e398dc50096f",
    137250272,
)
LLVM = Source(
    "llvm-project",
    "16.0.6",
    f"{POOL}/l/llvm-toolchain-16/llvm-toolchain-16_16.0.6.orig.tar.xz",
    "5ab98480d3bc9f1896de1a1afafb46c318a9baa02bf21a4f6830c644d06c1cc0",
    136421172,
)
GODOT = Source(
    "godot",
    "3.2.3-stable",
    f"{POOL}/g/godot/godot_3.2.3-stable.orig.tar.gz",
    "4c2a8e7da1ad05c6223b0ff6cf2be124dad6708b56a8ec9910dc2aaf82a553ae",
    22459811,
)
IMAGEMAGICK = Source(
    "imagemagick",
    "6.9.11-60",
    f"{POOL}/i/imagemagick/imagemagick_6.9.11.60+dfsg.orig.tar.xz",
    "472fb516df842ee9c819ed80099c188463b9e961303511c36ae24d0eaa8959c4",
    9395144,
)


def cached(source: Source, cache: Path) -> Path | None:
    """The cached tarball when it is there and hashes right, else None."""
    path = cache / source.filename
    try:
        return path if _sha256(path) == source.sha256 else None
    except OSError:
        return None


def fetch(source: Source, cache: Path, progress: Progress = lambda _msg: None) -> Path:
    """The tarball in CACHE, downloaded first when missing; a wrong hash is never kept."""
    found = cached(source, cache)
    if found is not None:
        return found
    cache.mkdir(parents=True, exist_ok=True)
    progress(f"fetching {source.project} {source.release} ({source.size / 2**20:.1f} MiB)")
    request = urllib.request.Request(source.url, headers={"User-Agent": "sevtui"})
    with tempfile.NamedTemporaryFile(dir=cache, prefix=".part-", delete=False) as part:
        staged = Path(part.name)
        try:
            digest = _download(request, part, source, cache)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
    if digest != source.sha256:
        staged.unlink(missing_ok=True)
        raise SevtuiError(
            f"{source.url} does not hash to the pinned sha256 (got {digest[:16]}..., "
            f"want {source.sha256[:16]}...)",
            "a mirror served another file; nothing was kept, try again later",
        )
    os.chmod(staged, 0o644)
    target = cache / source.filename
    staged.replace(target)
    return target


def _download(request: urllib.request.Request, part: IO[bytes], source: Source, cache: Path) -> str:
    """Stream the answer into PART (an open binary file); its sha256."""
    digest = hashlib.sha256()
    written = 0
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
            while block := reply.read(CHUNK):
                written += len(block)
                if written > MAX_BYTES:
                    raise SevtuiError(f"{source.url} is larger than {MAX_BYTES >> 20} MiB")
                digest.update(block)
                part.write(block)
    except urllib.error.HTTPError as exc:
        raise SevtuiError(
            f"cannot fetch {source.project} {source.release}: {source.url} answered "
            f"{exc.code} {exc.reason}",
            "the pinned file may have left the mirror; update sevtui",
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SevtuiError(
            f"cannot fetch {source.project} {source.release} from {source.url}: {reason}",
            f"check the network, or put {source.filename} into {cache} by hand",
        ) from None
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
