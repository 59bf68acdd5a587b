"""Pinned sources: fetched from a real HTTP server on 127.0.0.1, checked, cached, delivered."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from sevtui.base.errors import SevtuiError
from sevtui.bench.catalog import Benchmark, build_catalog
from sevtui.bench.targets import HostTarget
from sevtui.image.sources import BUILD_QUICK, Source, cached, fetch
from tests.unit.test_runner import make_run


def tarball(text: str) -> bytes:
    """A .tar.gz with one top folder holding hello.txt."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        data = text.encode()
        member = tarfile.TarInfo("hello-1.0/hello.txt")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    return out.getvalue()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No request lines on the test's stderr."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pinned(root: Path, url: str, data: bytes, sha256: str | None = None) -> Source:
    (root / "hello-1.0.tar.gz").write_bytes(data)
    digest = sha256 or hashlib.sha256(data).hexdigest()
    return Source("hello", "1.0", f"{url}/hello-1.0.tar.gz", digest, len(data))


def test_a_source_is_fetched_once_then_served_from_the_cache(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = served
    data = tarball("hi")
    source = pinned(root, url, data)
    cache = tmp_path / "cache"
    path = fetch(source, cache)
    assert path.read_bytes() == data and path.name == "hello-1.0.tar.gz"
    (root / "hello-1.0.tar.gz").unlink()
    assert fetch(source, cache) == path, "the second fetch must not need the server"
    assert cached(source, cache) == path


def test_a_file_with_another_hash_is_refused_and_not_kept(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = served
    source = pinned(root, url, tarball("hi"), sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(SevtuiError, match="does not hash to the pinned sha256"):
        fetch(source, cache)
    assert list(cache.iterdir()) == []


def test_a_missing_file_names_the_url_and_the_status(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    _, url = served
    source = Source("gone", "1", f"{url}/gone.tar.gz", "0" * 64, 1)
    with pytest.raises(SevtuiError, match=r"gone\.tar\.gz answered 404"):
        fetch(source, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_compile_benchmark_gets_its_tarball_copied_in_and_unpacked(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = served
    source = pinned(root, url, tarball("built from 1.0"))
    bench = Benchmark(
        "hello-build",
        "hello",
        "cpu",
        "cat src/hello.txt",
        needs=("tar",),
        setup="tar xzf hello-1.0.tar.gz && mv hello-1.0 src",
        source=source,
    )
    run, store = make_run(tmp_path, [bench], ["host"])
    run.sources_cache = tmp_path / "cache"
    target = HostTarget()
    assert run.execute(lambda name: target).status == "done"
    (result,) = store.results(run.run_id)
    assert result.status == "ok"
    assert (tmp_path / "cache" / "hello-1.0.tar.gz").is_file()


def test_a_target_that_cannot_take_files_makes_the_benchmark_unavailable(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = served
    source = pinned(root, url, tarball("x"))
    bench = Benchmark("hello-build", "hello", "cpu", "true", source=source)
    run, store = make_run(tmp_path, [bench], ["host"])
    target = HostTarget()
    target.upload = None
    assert run.execute(lambda name: target).status == "done"
    (result,) = store.results(run.run_id)
    assert result.status == "unavailable"
    assert "has no copy of hello-1.0.tar.gz" in result.message


def test_a_benchmark_that_measures_the_disk_is_unavailable_on_tmpfs(tmp_path: Path) -> None:
    disk_bench = Benchmark("disk", "writes a file", "io", "true", needs_disk=True)
    run, store = make_run(tmp_path, [disk_bench], ["host", "ram"])
    on_disk = HostTarget()
    in_ram = HostTarget()
    in_ram.name = "ram"
    in_ram.work_dir = tempfile.mkdtemp(dir="/dev/shm")
    run.execute(lambda name: in_ram if name == "ram" else on_disk)
    results = {r.target: r for r in store.results(run.run_id)}
    assert results["ram"].status == "unavailable"
    assert "on tmpfs (RAM), and this benchmark measures disk I/O" in results["ram"].message
    assert results["host"].status == "ok"


def test_the_compile_benchmarks_are_pinned_releases() -> None:
    catalog = build_catalog()
    builds = ["godot-build", "imagemagick-build", "linux-build", "llvm-build", "build-quick"]
    for bench_id in builds:
        source = catalog.benchmarks[bench_id].source
        assert source is not None and len(source.sha256) == 64
        assert source.url.startswith("http://deb.debian.org/debian/pool/main/")
        assert "git clone" not in catalog.benchmarks[bench_id].setup
    assert catalog.benchmarks["build-quick"].source == BUILD_QUICK
    assert {"build-quick", "fio-quick"} <= set(catalog.suites["quick"])
