"""Installed from a wheel (as pipx users do), sevtui finds its guest and cloud-init assets."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import IMAGES

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_a_wheel_in_a_fresh_venv_builds_the_guest_and_reads_the_host(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(REPO)], tmp_path)
    (wheel,) = (tmp_path / "dist").glob("sevtui-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    run([*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)], tmp_path)
    # The dependencies come from the development venv (as a plain path: its editable
    # sevtui is not loaded), so nothing is downloaded twice.
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(run([str(python), "-c", purelib], tmp_path).strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where = run([str(python), "-c", "import sevtui; print(sevtui.__file__)"], tmp_path)
    assert where.startswith(str(venv)), where
    config = tmp_path / "config.toml"
    kernel = IMAGES / "minimal" / "vmlinuz"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\n[image]\nkernel = "{kernel}"\n')
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    sevtui = [str(venv / "bin" / "sevtui"), "--config", str(config)]
    built = run([*sevtui, "image", "build"], tmp_path, env)
    assert "minimal image built" in built
    assert (tmp_path / "data" / "images" / "minimal" / "initrd.img").stat().st_size > 1 << 20
    caps = run([*sevtui, "caps"], tmp_path, env)
    assert "verdict:" in caps
