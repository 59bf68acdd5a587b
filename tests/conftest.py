"""Shared fixtures: private XDG directories, the built minimal image, VM configs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sevtui.config import Config, load_config
from sevtui.image.minimal import MinimalImage, build_minimal


@pytest.fixture(autouse=True)
def private_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep tests away from the user's real config, data and state."""
    home = tmp_path / "xdg"
    for name in ("CONFIG", "DATA", "STATE"):
        monkeypatch.setenv(f"XDG_{name}_HOME", str(home / name.lower()))
    return home


# Resolved at import, before the autouse fixture points XDG at temp dirs: the image
# `make test` built (or this session builds once) is shared by every test.
IMAGES = Config().paths.images


@pytest.fixture(scope="session")
def minimal_image() -> MinimalImage:
    """Build the minimal guest once (a no-op when `make` already built it)."""
    image, _ = build_minimal(IMAGES)
    return image


@pytest.fixture
def vm_config_file(minimal_image: MinimalImage) -> Iterator[Path]:
    """A config with a TCG demo VM and a state dir short enough for unix sockets."""
    root = Path(tempfile.mkdtemp(prefix="svt", dir="/tmp"))
    path = root / "config.toml"
    path.write_text(
        f"""
[paths]
data_dir = "{root / "data"}"
state_dir = "{root / "st"}"
image_dir = "{IMAGES}"
[qemu]
accel = "tcg"
[vm.demo]
kind = "nosev"
memory = "256M"
[vm.other]
kind = "nosev"
memory = "256M"
[vm.snp]
kind = "sev-snp"
memory = "256M"
"""
    )
    yield path
    subprocess.run(["pkill", "-9", "-f", str(root)], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def vm_config(vm_config_file: Path) -> Config:
    """The validated config of vm_config_file."""
    return load_config(vm_config_file).config


def sevtui(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "sevtui", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def workdir(
    minimal_image: MinimalImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A short folder for a QEMU's state (unix socket paths), its processes killed
    afterwards."""
    root = tmp_path_factory.mktemp("qemu", numbered=True)
    yield root
    subprocess.run(["pkill", "-9", "-f", str(root)], check=False)
