"""config.toml: defaults, the search order, and one readable line per problem (exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sevtui.base.errors import ConfigError
from sevtui.cli.commands import main
from sevtui.config import Config, find_config, format_size, load_config, parse_size

REPO = Path(__file__).resolve().parents[2]


def run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--config", str(path), "config", "check"])
    captured = capsys.readouterr()
    return code, captured.err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_shipped_config_is_valid_and_mirrors_the_seed() -> None:
    config = load_config(REPO / "config.toml").config
    assert config.vm["demo"].kind == "nosev" and config.vm["demo"].memory == 512 << 20
    assert config.vm["demo"].vcpus == 1 and config.vm["demo"].image == "minimal"
    snp = config.vm["sev-snp"]
    assert (snp.kind, snp.vcpus, snp.memory, snp.policy) == ("sev-snp", 16, 16 << 30, 0x30000)
    assert snp.cpu.startswith("EPYC-v4")
    assert config.vm["nosev"].memory == 16 << 30


def test_every_key_of_the_schema_is_documented_in_the_shipped_config() -> None:
    text = (REPO / "config.toml").read_text()
    for section, model in Config.model_fields.items():
        assert section in text
        annotation = model.annotation
        fields = getattr(annotation, "model_fields", {})
        for key in fields:
            assert key in text, f"{section}.{key} is not documented in config.toml"
    from sevtui.config import VmConfig

    for key in VmConfig.model_fields:
        assert key in text, f"vm.NAME.{key} is not documented in config.toml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[vm.demo]\nmemory = "16X"\n', "vm.demo.memory = '16X': not a size"),
        ('[vm.demo]\nvcpus = "many"\n', "vm.demo.vcpus = 'many'"),
        ("[vm.demo]\nflavour = 1\n", "vm.demo.flavour: unknown key"),
        ('[qemu]\naccel = "fast"\n', "qemu.accel = 'fast'"),
        ('[vm.demo]\nkind = "sev-xx"\n', "vm.demo.kind = 'sev-xx'"),
        ('[vm.demo]\nfirmware = "nope.fd"\n', "vm.demo.firmware = 'nope.fd': file not found"),
        ('[vm.demo]\nimage = "disk.img"\n', "vm.demo.image = 'disk.img': file not found"),
        ('[vm.demo]\npolicy = "0xZZ"\n', "vm.demo.policy = '0xZZ': expected an integer"),
        ('[vm."a;touch /tmp/pwn"]\nkind = "nosev"\n', "not a valid VM name"),
        ("[vm.host]\n", "'host' is reserved"),
        ("[paths\n", "invalid TOML"),
        ('[vm.demo]\nnetwork = "br0;id"\n', "vm.demo.network = 'br0;id'"),
    ],
)
def test_bad_input_gives_a_readable_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    code, err = run_check(path, capsys)
    assert code == 2
    assert expected in err
    assert str(path) in err
    assert "Traceback" not in err


def test_several_problems_each_get_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[vm.demo]\nmemory = "16X"\nvcpus = 0\n[qemu]\nbogus = 1\n')
    code, err = run_check(path, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if str(path) in line]
    assert len(lines) == 3


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_check(tmp_path / "absent.toml", capsys)
    assert code == 2
    assert "absent.toml: cannot read" in err


def test_non_utf8_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[vm.demo]\nmemory = "\xff\xfe"\n')
    code, err = run_check(path, capsys)
    assert code == 2 and "not UTF-8" in err


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "vars.fd").write_bytes(b"x")
    path = write(tmp_path, '[paths]\ndata_dir = "data"\n[vm.a]\nfirmware_vars = "vars.fd"\n')
    config = load_config(path).config
    assert config.paths.data_dir == tmp_path / "data"
    assert config.paths.db == tmp_path / "data" / "sevtui.db"
    assert config.vm["a"].firmware_vars == tmp_path / "vars.fd"


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_config(None) is None
    xdg = tmp_path / "xdg" / "sevtui" / "config.toml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("")
    assert find_config(None) == xdg
    (tmp_path / "config.toml").write_text("")
    assert find_config(None) == Path("config.toml")
    assert find_config(Path("other.toml")) == Path("other.toml")


def test_defaults_follow_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    config = Config()
    assert config.paths.data_dir == tmp_path / "d" / "sevtui"
    assert config.paths.state_dir == tmp_path / "s" / "sevtui"
    assert config.paths.images == tmp_path / "d" / "sevtui" / "images"
    assert list(config.vm) == ["demo"]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512M", 512 << 20),
        ("16G", 16 << 30),
        ("1.5GiB", 3 << 29),
        ("4096B", 4096),
        ("400", 400 << 20),
        (1024, 1024 << 20),
    ],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["16X", "", "-1G", "G", 0, True, "1e9"])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match=r"not a size|positive"):
        parse_size(bad)


def test_a_bare_number_is_mib_as_qemu_reads_it_and_absurd_sizes_are_refused() -> None:
    assert parse_size("400") == parse_size("400M") == 400 << 20
    for huge in ("9" * 400, "100000T", 1 << 60):
        with pytest.raises(ValueError, match="larger than 64 TiB"):
            parse_size(huge)
    assert parse_size(format_size(1234)) == 1234


def test_size_round_trip() -> None:
    assert format_size(16 << 30) == "16G" and format_size(1536 << 20) == "1536M"
    assert format_size(1000) == "1000B"


def test_config_check_prints_effective_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[vm.big]\nmemory = "2G"\npolicy = 196608\n')
    assert main(["--config", str(path), "config", "check", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"memory": "2G"' in out and '"policy": "0x30000"' in out
    assert os.fspath(path) in out


def test_config_must_be_a_regular_file_of_sane_size(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * ((1 << 20) + 1))
    for path, why in ((Path("/dev/zero"), "not a regular file"), (fifo, "not a regular file"),
                      (big, "a config is at most 1 MiB")):  # fmt: skip
        with pytest.raises(ConfigError, match=why):
            load_config(path)


def test_a_vm_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[vm."demo\\n"]\nkind = "nosev"\n')
    with pytest.raises(ConfigError, match="is not a valid VM name"):
        load_config(path)


def test_config_check_prints_paths_normalised(tmp_path: Path) -> None:
    """A relative path with '..' in the file is shown as the folder it names."""
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('[paths]\ndata_dir = "a/../b"\n')
    loaded = load_config(config).config
    assert loaded.paths.data_dir == folder / "b"
