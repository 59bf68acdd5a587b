"""The memory scanner on a process of our own making, sequential and on every core."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import pytest

from sevtui.probe import memscan

HOLDER = textwrap.dedent(
    """
    import ctypes, mmap, sys
    size = int(sys.argv[2])
    block = mmap.mmap(-1, size)
    needle = sys.argv[1].encode()
    spots = [int(x) for x in sys.argv[3].split(",")]
    for spot in spots:
        block[spot : spot + len(needle)] = needle
    address = ctypes.addressof(ctypes.c_char.from_buffer(block))
    print(address, flush=True)
    sys.stdin.read()
    """
)


def holder(needle: bytes, size: int, spots: list[int]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, needle.decode(), str(size), ",".join(map(str, spots))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


@pytest.mark.parametrize("parallel", [False, True])
def test_matches_across_chunk_and_worker_cuts_are_found_once(
    parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    needle = b"SEVTUI-CANARY-0123456789abcdef"
    chunk = 1 << 20
    size = 16 << 20
    spots = [3 * chunk - 10, 8 * chunk - 1, 12 * chunk + 5]
    if parallel:
        monkeypatch.setattr(memscan, "PARALLEL_MIN_BYTES", 0)
    proc, base = holder(needle, size, spots)
    try:
        area = memscan.Area(base, base + size, "block")
        found = memscan.search(proc.pid, needle, [area], chunk=chunk)
        assert sorted(offset for _area, offset in found.locations) == spots
        assert found.hits == 3
        assert found.bytes_read <= size + 64 * memscan.PAGE
    finally:
        proc.kill()
        proc.wait()


def test_only_resident_pages_are_read() -> None:
    needle = b"SEVTUI-CANARY-resident-only"
    size = 64 << 20
    proc, base = holder(needle, size, [5 << 20])
    try:
        runs = memscan.resident_runs(proc.pid, memscan.Area(base, base + size, "block"))
        resident = sum(end - start for start, end in runs)
        assert 0 < resident < 1 << 20
    finally:
        proc.kill()
        proc.wait()


def test_split_covers_everything_with_overlap_at_cuts() -> None:
    area = memscan.Area(0, 10 * memscan.PAGE, "a")
    shares = memscan._split([(area, 0, 10 * memscan.PAGE)], 10 * memscan.PAGE, 3, 7)
    assert len(shares) == 3
    pieces = [piece for share in shares for piece in share]
    assert pieces[0][1] == 0 and pieces[-1][2] == 10 * memscan.PAGE
    for before, after in itertools.pairwise(pieces):
        assert before[2] == after[1] + 7
