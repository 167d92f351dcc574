"""``tiers seed --workers N``: the population in chunks, generated, sealed and loaded by parallel
processes, resumable (issue 19, point 1). The setup (code tables, insurers, contracts,
professionals, the care network, the demo's accounts and credentials file) is made once first;
then each chunk of beneficiaries is one transaction that also records the chunk as done
(store/bulk.py), so a seed interrupted at 60 % -- Ctrl-C, kill -9 -- run again with the same
specification skips what it wrote and ends with exactly the rows an uninterrupted seed writes. A
different specification against a partly seeded database is refused."""

from __future__ import annotations

import os
import queue
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.services.ports.outside import SeedState
from tierspayant.simulate.chunks import ChunkedPopulation, chunk_count, describe, differences, fingerprint
from tierspayant.simulate.population import Population, PopulationSpec
from tierspayant.simulate.seed import SeedReport, demo_accounts, demo_patients, load_setup, read_demo, save_demo

Progress = Callable[[int], None]

#: Chunked above this many beneficiaries even without ``--workers``: the sequential seed (the
#: demo's population) neither resumes nor uses more than one core.
SEQUENTIAL_MAX = 1_000_000


def chunk_sizes(spec: PopulationSpec) -> list[int]:
    return [min(spec.batch_size, spec.beneficiaries - k * spec.batch_size) for k in range(chunk_count(spec))]


def seed_at_scale(platform: Platform, spec: PopulationSpec, credentials_file: Path, workers: int = 1,
                  on_start: Progress | None = None, on_progress: Progress | None = None,
                  set_aside: bool = True) -> SeedReport:
    """Seed ``spec`` in chunks, or resume the seed of ``spec`` this database holds. ``on_start``
    is told how many beneficiaries are written already, ``on_progress`` each chunk's count once
    committed; ``set_aside`` False keeps the secondary indexes during the load (to measure them:
    bench/scale_seed.py). Raises RuntimeError, with what to do, on a database it cannot seed or
    complete."""
    loader, started = platform.loader, time.perf_counter()
    state, sizes = loader.seed_state(), chunk_sizes(spec)
    pools = Population(spec)
    if state is None:
        if loader.count("insurers"):
            raise RuntimeError("the database already holds data (not from a chunked seed); seed an empty database")
        loader.start_seed(fingerprint(spec), describe(spec), len(sizes))
        professionals, export_keys = load_setup(loader, platform.reference, spec, pools)
        first = ChunkedPopulation(spec, pools).chunk(0)
        demo: dict[str, Any] = {
            "accounts": demo_accounts(platform.accounts, professionals, pools.rng),
            "patients": demo_patients(first.beneficiaries, first.rights_periods, first.optical_purchases, spec),
            "patients_spread": spread_patients(spec, pools), "insurer_export_keys": export_keys}
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        save_demo(credentials_file, demo)
        # Every owner's data key made once here: parallel workers must never make two.
        loader.prepare_chunks([0, *(row["id"] for row in pools.insurers())], set_aside)
        done: frozenset[int] = frozenset()
    else:
        _check(state, spec)
        done = state.done
        demo = read_demo(credentials_file) if credentials_file.exists() else {}
    already = sum(sizes[k] for k in done)
    if on_start:
        on_start(already)
    todo = [k for k in range(len(sizes)) if k not in done]
    if workers <= 1 or not todo:
        population = ChunkedPopulation(spec, pools)
        for k in todo:
            chunk = population.chunk(k)
            loader.load_chunk(k, chunk.tables())
            if on_progress:
                on_progress(len(chunk.beneficiaries))
    else:
        _in_parallel(platform.settings, spec, todo, min(workers, len(todo)), on_progress)
    if state is None or not state.finished:
        loader.finish_seed()
    return SeedReport(spec.beneficiaries - already, spec.professionals, time.perf_counter() - started, demo,
                      resumed=already, size_bytes=loader.database_size())


def spread_patients(spec: PopulationSpec, pools: Population, regions: int = 200) -> list[dict[str, str]]:
    """Up to five demo patients from the start of each of ``regions`` chunks spread over the
    population: a benchmark's rights checks then reach the whole table and its indexes, not the
    few pages of chunk 0 (what the cache hides at 20 M beneficiaries would stay hidden)."""
    population, chunks = ChunkedPopulation(spec, pools), chunk_count(spec)
    out: list[dict[str, str]] = []
    for k in sorted({k * chunks // regions for k in range(regions)}):
        head = population.chunk(k, limit=100)
        out += demo_patients(head.beneficiaries, head.rights_periods, head.optical_purchases, spec)
    return out


def _check(state: SeedState, spec: PopulationSpec) -> None:
    progress = f"{len(state.done)} of {state.chunks} chunks done"
    if state.fingerprint != fingerprint(spec):
        shown = "; ".join(f"{k}: {a!r} there, {b!r} asked" for k, (a, b) in differences(state.spec, spec).items())
        raise RuntimeError(f"this database holds a seed of another population ({shown}; {progress}): "
                           "run the command that began it to resume it, or seed an empty database")
    if not state.keys_match:
        raise RuntimeError(f"this database's seed was begun with other key files ({progress}): resume it with "
                           "the TIERS_VAR_DIR it began with")
    if not state.setup_done:
        raise RuntimeError("this database's seed was interrupted during its setup, before any beneficiary: "
                           "seed an empty database again")


def _in_parallel(settings: Settings, spec: PopulationSpec, todo: Sequence[int], workers: int,
                 on_progress: Progress | None) -> None:
    """Hand the chunks to ``workers`` processes of our own and gather their counts. Any
    worker's failure stops them all; what they committed stays, and the next run resumes."""
    import multiprocessing

    # spawn, not fork: each worker opens its own engine and key ring, nothing inherited from
    # this process's connection pool.
    context = multiprocessing.get_context("spawn")
    tasks: Any = context.Queue()
    # What workers stopped early leave unread must not hold this process at its exit (the
    # queue's feeder thread would wait for room in the pipe).
    tasks.cancel_join_thread()
    results: Any = context.Queue()
    for k in todo:
        tasks.put(k)
    for _ in range(workers):
        tasks.put(None)
    processes = [context.Process(target=_worker, args=(settings, spec, tasks, results), daemon=True)
                 for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        remaining = len(todo)
        while remaining:
            try:
                kind, chunk, value = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a seeding worker stopped (exit code {dead[0]}); "
                                       "run the same command again to resume") from None
                continue
            if kind == "error":
                raise RuntimeError(f"chunk {chunk} failed ({value}); run the same command again to resume")
            remaining -= 1
            if on_progress:
                on_progress(int(value))
        for process in processes:
            process.join()
    finally:
        for process in processes:  # our own workers, by their handles (Ctrl-C, a failure)
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)


def _worker(settings: Settings, spec: PopulationSpec, tasks: Any, results: Any) -> None:
    """One seeding process: chunks from ``tasks`` until its None, each generated, sealed and
    loaded in one transaction; ("done", chunk, beneficiaries) or ("error", chunk, what) back.
    Only counts and errors' first lines travel: no row, no personal data."""
    _die_with_parent()
    # Ctrl-C reaches the whole process group: the parent stops its workers itself (terminate),
    # and a chunk cut in the middle is rolled back by the database.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    platform = build(settings, migrate=False)
    population = ChunkedPopulation(spec)
    parent = os.getppid()
    chunk = -1
    try:
        while (chunk := tasks.get()) is not None:
            if os.getppid() != parent:
                return  # the seed that started us is gone: a resumed seed must not meet us
            rows = population.chunk(chunk)
            platform.loader.load_chunk(chunk, rows.tables())
            results.put(("done", chunk, len(rows.beneficiaries)))
    except Exception as exc:  # reported to the parent, which stops the seed
        # The first line only: a driver's primary message names a constraint or a cause; the
        # lines after it may quote a row (sealed, but a row all the same).
        first = (str(exc).splitlines() or [""])[0][:200]
        results.put(("error", chunk, f"{type(exc).__name__}: {first}"))
    finally:
        platform.engine.dispose()


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the seed's process dies, kill -9 included
    (prctl PR_SET_PDEATHSIG), so that no orphan goes on writing beside a resumed seed."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
