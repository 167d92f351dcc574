"""The disk filled under load, with real processes (issue 16, point 6 and its acceptance): the
database's files (and the platform's var directory) on a small disk of the drill's own (a
tmpfs, mounted for the drill), filled to the last byte while a practice keeps sending invoices,
then freed. What must hold is outage_under_load's (tests/e2e/drills.py): 0 answers of 500,
every failure a 503 with Retry-After, no answered invoice lost or doubled, the first success
within a second of the space's return, the server never restarted, everything delivered."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.drills import Cluster, Platform, outage_under_load, platform_env
from tests.e2e.test_readme_tour import free_port


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 256 MB disk of the drill's own (mounting needs root: CI's machine runs as root), where
    the postgres user may reach it (not under pytest's tmp_path, its owner's alone)."""
    disk = Path(tempfile.mkdtemp(prefix="tiers-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"a small disk could not be mounted: {mounted.stderr.strip()}")
        pytest.skip("mounting a small disk needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], capture_output=True)
        shutil.rmtree(disk, ignore_errors=True)


class Filler:
    """Takes every free byte of a disk, and gives them back."""

    def __init__(self, disk: Path) -> None:
        self.path = disk / "filler"

    def fill(self) -> None:
        with self.path.open("wb", buffering=0) as out:  # unbuffered: nothing left to flush at close
            free = os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize
            with contextlib.suppress(OSError):
                os.posix_fallocate(out.fileno(), 0, max(0, free - 65536))
            out.seek(0, os.SEEK_END)
            try:
                while True:  # the last pages, a write at a time: to the last byte
                    out.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        assert os.statvfs(self.path).f_bavail == 0

    def free(self) -> None:
        self.path.unlink()


def test_sqlite_on_a_full_disk_answers_503_and_recovers_by_itself(small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'tiers.db'}"
    platform = Platform(platform_env(url, small_disk / "var"), free_port())
    filler = Filler(small_disk)
    # SQLite first writes into its write-ahead log's room already there (2 to 28 refusals in 3 s
    # seen): 6 s full, so that the log must grow and the drill proves something every time.
    seen = outage_under_load(platform, filler.fill, filler.free, away_for=6.0)
    print(f"drill (SQLite): {seen.answered} invoices answered, {len(seen.failures)} answers of 503 while the disk "
          f"was full, first success {seen.first_success:.3f} s after the space returned")


def test_postgresql_on_a_full_disk_answers_503_and_recovers_by_itself(small_disk: Path) -> None:
    (small_disk / "pg").mkdir()
    cluster = Cluster(small_disk / "pg")
    filler = Filler(small_disk)

    def freed() -> None:
        # A write-ahead log that cannot grow stops PostgreSQL (PANIC, as it must: a commit it
        # cannot log is no commit); its postmaster restarts it once there is room, or, if that
        # failed, its supervisor does (here the drill, as systemd would: docs/tiers.service).
        filler.free()
        stopped.append(not cluster.running())
        if stopped[-1]:
            cluster.start()

    stopped: list[bool] = []
    cluster.start()
    try:
        platform = Platform(platform_env(cluster.url, small_disk / "var"), free_port())
        seen = outage_under_load(platform, filler.fill, freed)
    finally:
        cluster.remove()
    print(f"drill (PostgreSQL): {seen.answered} invoices answered, {len(seen.failures)} answers of 503 while the "
          f"disk was full, first success {seen.first_success:.3f} s after the space returned "
          f"({'started again: it had stopped' if stopped[0] else 'it had kept running'})")
