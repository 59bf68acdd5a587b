"""What the bench scripts share: a throw-away sevtui setup under /tmp, and cleaning it up."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sevtui.config import Config


@contextmanager
def scratch_config(vms: dict[str, str]) -> Iterator[Path]:
    """A config with TCG VMs of the given memory sizes; every VM is killed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="svbench", dir="/tmp"))
    config = root / "config.toml"
    tables = "".join(f'[vm.{name}]\nmemory = "{memory}"\n' for name, memory in vms.items())
    config.write_text(
        f'[paths]\nstate_dir = "{root}/st"\ndata_dir = "{root}/data"\n'
        f'image_dir = "{Config().paths.images}"\n[qemu]\naccel = "tcg"\n{tables}'
    )
    try:
        yield config
    finally:
        subprocess.run(["pkill", "-9", "-f", str(root)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def sevtui_argv(config: Path) -> list[str]:
    """The CLI, run as a user would, with CONFIG."""
    return [sys.executable, "-m", "sevtui", "--config", str(config)]
