"""Seeding at scale (issue 19, point 1): N encrypted beneficiaries (identity sealed per field,
blind indexes, rights periods, 4 % with glasses) into a fresh PostgreSQL database ``tiers_scale``
by the chunked, parallel seed that ``tiers seed --workers N`` runs; rows/s, the phases, the
database's size per million beneficiaries (pg_database_size, pg_total_relation_size per table);
writes the "Seeding" section of bench/SCALE-RESULTS.md (other sections are left as they are).

    .venv/bin/python -m bench.scale_seed --beneficiaries 200000 [--workers 2] [--keep-indexes]
                                         [--copy-compare] [--resume] [--write]

The database is dropped and created again (``--resume``: kept, the interrupted seed goes on);
its key files and demo credentials are in var/scale (TIERS_VAR_DIR for what runs on it next)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.databases import ADMIN_URL, fresh_postgres

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "SCALE-RESULTS.md"
VAR = ROOT / "var" / "scale"
NAME = "tiers_scale"
BEGIN, END = "<!-- seed:begin -->", "<!-- seed:end -->"
TABLES = ("beneficiaries", "rights_periods", "optical_purchases")
TARGET = 20_000_000


def _machine() -> dict[str, Any]:
    from sqlalchemy import create_engine

    engine = create_engine(ADMIN_URL)
    with engine.connect() as conn:
        settings = {name: conn.exec_driver_sql(f"SHOW {name}").scalar_one()
                    for name in ("server_version", "shared_buffers", "max_wal_size", "wal_level")}
    engine.dispose()
    return {"cpus": os.cpu_count(), **settings}


def _sizes(url: str) -> dict[str, Any]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        out["database"] = int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())
        for table in TABLES:
            heap, indexes, total = conn.exec_driver_sql(
                f"SELECT pg_relation_size('{table}'), pg_indexes_size('{table}'), pg_total_relation_size('{table}')").one()
            rows = int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())  # noqa: S608 -- TABLES
            out[table] = {"rows": rows, "heap": int(heap), "indexes": int(indexes), "total": int(total)}
    engine.dispose()
    return out


def seed_run(beneficiaries: int, workers: int, chunk: int, keep_indexes: bool, resume: bool) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tierspayant.bootstrap import build
    from tierspayant.config import Settings
    from tierspayant.simulate.population import PopulationSpec
    from tierspayant.simulate.seed_scale import seed_at_scale

    if resume:
        url = ADMIN_URL.rsplit("/", 1)[0] + "/" + NAME
    else:
        url = fresh_postgres(name=NAME)
        shutil.rmtree(VAR, ignore_errors=True)  # new keys for a new database (synthetic data only)
    load_before = os.getloadavg()
    started = time.perf_counter()
    platform = build(Settings(database_url=url, var_dir=VAR))
    # The CLI's specification (cli/main.py _seed): the same population as `tiers seed`.
    spec = PopulationSpec(beneficiaries=beneficiaries, professionals=60, seed=42, batch_size=chunk)
    marks: dict[str, float] = {}
    samples: list[tuple[float, int]] = []  # (time, beneficiaries committed so far): the rate as the tables grow
    with Progress(TextColumn("[bold]seeding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
        task = bar.add_task("seed", total=beneficiaries)

        def begun(already: int) -> None:
            marks["setup"] = time.perf_counter()
            bar.reset(task, total=beneficiaries, completed=already)

        def advanced(count: int) -> None:
            marks["chunks"] = time.perf_counter()
            samples.append((marks["chunks"], (samples[-1][1] if samples else 0) + count))
            bar.advance(task, count)

        report = seed_at_scale(platform, spec, VAR / "demo-credentials.json", workers, on_start=begun,
                               on_progress=advanced, set_aside=not keep_indexes)
    ended = time.perf_counter()
    platform.engine.dispose()
    setup = marks.get("setup", started) - started
    chunks = marks.get("chunks", marks.get("setup", started)) - marks.get("setup", started)
    return {"beneficiaries": beneficiaries, "written": report.beneficiaries, "resumed": report.resumed,
            "workers": workers, "chunk": chunk, "keep_indexes": keep_indexes, "seconds": ended - started,
            "setup": setup, "chunks_seconds": chunks, "finish": ended - started - setup - chunks,
            "quarters": _quarters(samples), "sizes": _sizes(url), "load_before": load_before,
            "load_after": os.getloadavg(),
            "at": time.strftime("%Y-%m-%d %H:%M"), "commit": _commit()}


def _quarters(samples: list[tuple[float, int]]) -> list[float]:
    """Beneficiaries/s in each quarter of the load (by rows committed), from the second chunk."""
    if len(samples) < 20:
        return []
    total, out = samples[-1][1], []
    for q in range(4):
        inside = [s for s in samples if q * total / 4 < s[1] <= (q + 1) * total / 4]
        start = max((s for s in samples if s[1] <= q * total / 4), default=samples[0], key=lambda s: s[1])
        out.append((inside[-1][1] - start[1]) / max(inside[-1][0] - start[0], 1e-9) if inside else 0.0)
    return out


def copy_compare(rows: int = 100_000, rounds: int = 3) -> dict[str, Any]:
    """The same sealed beneficiaries COPYed again and again into a scratch database, alternated:
    text against binary (wall time, and this process's CPU: the server's is the rest); then, in
    binary, into the table bare (as during a seed), with its foreign keys, with its secondary
    indexes, with both; and what making them afterwards costs (a join, a sort)."""
    import resource

    from sqlalchemy import text

    from tierspayant.bootstrap import build
    from tierspayant.config import Settings
    from tierspayant.simulate.chunks import ChunkedPopulation
    from tierspayant.simulate.population import PopulationSpec
    from tierspayant.simulate.seed_scale import seed_at_scale
    from tierspayant.store.bulk_copy import copy_chunk, restore, set_aside  # the adapter itself: a benchmark may

    url = fresh_postgres(name=NAME + "_copy")
    var = VAR.parent / "scale-copy"
    shutil.rmtree(var, ignore_errors=True)
    platform = build(Settings(database_url=url, var_dir=var))
    seed_at_scale(platform, PopulationSpec(beneficiaries=1, professionals=6), var / "demo.json")  # setup, keys
    with platform.engine.begin() as conn:
        aside = [i for i in set_aside(conn) if i["table_name"] == "beneficiaries"]
    chunk = ChunkedPopulation(PopulationSpec(beneficiaries=rows, professionals=6, batch_size=rows)).chunk(0)
    with platform.engine.connect().execution_options(tiers_readonly=True) as conn:
        sealed = [platform.protection.seal(conn, "beneficiaries", row) for row in chunk.beneficiaries]

    def empty(kinds: tuple[str, ...]) -> None:
        with platform.engine.begin() as conn:
            conn.execute(text("TRUNCATE seed_chunks"))
            conn.execute(text("TRUNCATE beneficiaries CASCADE"))
            quote = conn.dialect.identifier_preparer.quote
            for item in aside:
                if item["kind"] == "index":
                    conn.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(item['name'])}")
                else:
                    conn.exec_driver_sql(f"ALTER TABLE beneficiaries DROP CONSTRAINT IF EXISTS {quote(item['name'])}")
            for item in aside:
                if item["kind"] in kinds:
                    restore(conn, item)

    def timed(binary: bool = True) -> tuple[float, float]:
        cpu, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        copy_chunk(platform.engine, 0, {"beneficiaries": sealed}, binary=binary)
        after = resource.getrusage(resource.RUSAGE_SELF)
        return time.perf_counter() - wall, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime

    formats: dict[str, list[tuple[float, float]]] = {"text": [], "binary": []}
    tables: dict[str, list[float]] = {"bare": [], "foreign keys": [], "indexes": [], "both": []}
    wanted = {"bare": (), "foreign keys": ("foreign_key",), "indexes": ("index",), "both": ("index", "foreign_key")}
    for round_ in range(rounds):
        for kind in ("text", "binary") if round_ % 2 == 0 else ("binary", "text"):
            empty(())
            formats[kind].append(timed(kind == "binary"))
        for name in tables if round_ % 2 == 0 else reversed(tables):
            empty(wanted[name])
            tables[name].append(timed()[0])
    empty(())
    timed()
    afterwards: dict[str, float] = {}
    for kind in ("index", "foreign_key"):
        started = time.perf_counter()
        with platform.engine.begin() as conn:
            for item in aside:
                if item["kind"] == kind:
                    restore(conn, item)
        afterwards[kind] = time.perf_counter() - started
    platform.engine.dispose()
    return {"rows": rows, "rounds": rounds, **{
        kind: {"wall": statistics.median(w for w, _ in got), "client_cpu": statistics.median(c for _, c in got)}
        for kind, got in formats.items()},
        "tables": {name: statistics.median(got) for name, got in tables.items()}, "afterwards": afterwards}


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()


def _gb(value: float) -> str:
    return f"{value / 1e9:,.2f} GB"


def _chunk_tables(r: dict[str, Any]) -> int:
    return sum(int(r["sizes"][t]["total"]) for t in TABLES)


def _run_rows(runs: list[dict[str, Any]]) -> list[str]:
    out = ["| beneficiaries | workers | secondary indexes | total | setup | chunks | indexes, keys, ANALYZE | "
           "beneficiaries/s (chunks) | by quarter of the load | overall/s | database | per million | "
           "load avg before → after | when |",
           "|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|"]
    for r in sorted(runs, key=lambda r: (r["beneficiaries"], r["keep_indexes"], r["workers"])):
        per_million = _chunk_tables(r) / (r["beneficiaries"] / 1e6)
        written = r["written"]
        chunking = "" if r["chunk"] == 20_000 else f", chunks of {r['chunk']:,}"
        out.append(
            f"| {r['beneficiaries']:,}{' (resumed)' if r['resumed'] else ''}{chunking} | {r['workers']} | "
            f"{'kept during the load' if r['keep_indexes'] else 'set aside, made at the end'} | "
            f"{r['seconds']:,.1f} s | {r['setup']:.1f} s | {r['chunks_seconds']:,.1f} s | {r['finish']:,.1f} s | "
            f"{written / max(r['chunks_seconds'], 1e-9):,.0f} | "
            f"{' / '.join(f'{q:,.0f}' for q in r.get('quarters', [])) or '-'} | {written / r['seconds']:,.0f} | "
            f"{_gb(r['sizes']['database'])} | {_gb(per_million)} | "
            f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} | {r['at']} ({r['commit']}) |")
    return out


def _extrapolation(runs: list[dict[str, Any]]) -> list[str]:
    base = [r for r in runs if not r["keep_indexes"] and not r["resumed"]]
    if not base:
        return []
    r = max(base, key=lambda r: r["beneficiaries"])
    factor = TARGET / r["beneficiaries"]
    seconds = r["setup"] + (r["chunks_seconds"] + r["finish"]) * factor
    size = r["sizes"]["database"] + _chunk_tables(r) * (factor - 1)
    tables = ", ".join(f"{t} {_gb(r['sizes'][t]['total'] / (r['beneficiaries'] / 1e6))} "
                       f"(heap {_gb(r['sizes'][t]['heap'] / (r['beneficiaries'] / 1e6))})" for t in TABLES)
    if r["beneficiaries"] >= TARGET:
        head = (f"**Measured at {r['beneficiaries']:,}** (the table's last row): {r['seconds'] / 60:,.1f} min "
                f"(aim ≤ 30 min), a database of {_gb(r['sizes']['database'])}.")
    else:
        head = (f"**Extrapolated, not measured**, from the {r['beneficiaries']:,} run above: its chunk and index "
                f"phases scaled linearly by {factor:,.0f} (index builds sort, n log n: a little more), its chunk "
                f"tables' size too: 20,000,000 beneficiaries in about **{seconds / 60:,.0f} min** (aim ≤ 30 min), "
                f"a database of about **{_gb(size)}**, plus PostgreSQL's write-ahead log while it runs "
                "(max_wal_size, a soft limit).")
    return [
        head,
        "",
        f"Per million beneficiaries, by table (with its indexes): {tables}.",
    ]


def render(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        BEGIN,
        f"<!-- seed-data: {json.dumps(data, separators=(',', ':'))} -->",
        "## Seeding",
        "",
        "`python -m bench.scale_seed` (bench/scale_seed.py): the chunked, parallel seed of `tiers seed --workers N` "
        "into a fresh PostgreSQL database; every beneficiary's NIR, member number, birth date and names sealed "
        "(AES-256-GCM per field, bound to the row), two blind indexes, a rights period, 4 % with an optical "
        "purchase (its date sealed). Each chunk (of 20,000 beneficiaries, unless the table says otherwise) is "
        "one transaction that also records it done (resumable). \"per million\" is the three tables' size with their indexes over the count; "
        "\"chunks\" runs from the first chunk handed out (the workers' start included) to the last committed. "
        f"Machine: {m['cpus']} cores shared by the workers and PostgreSQL {m['server_version']} "
        f"(shared_buffers {m['shared_buffers']}, max_wal_size {m['max_wal_size']}, wal_level {m['wal_level']}); "
        "other work on the machine shows in the load average.",
        "",
        *_run_rows(data["runs"]),
        "",
        *_extrapolation(data["runs"]),
        "",
    ]
    if data.get("copy"):
        c = data["copy"]
        t, after = c["tables"], c["afterwards"]
        lines += [
            f"What the load path chose, measured on the same {c['rows']:,} sealed beneficiaries COPYed again into "
            f"a scratch database, median of {c['rounds']} alternated runs (`--copy-compare`, load average "
            f"{c.get('load', [0.0])[0]:.1f}):",
            "",
            f"- COPY's format: text {c['text']['wall']:.2f} s wall, {c['text']['client_cpu']:.2f} s of the "
            f"loader's CPU; binary {c['binary']['wall']:.2f} s, {c['binary']['client_cpu']:.2f} s. Binary is the "
            "default (the loader's CPU is what the workers share with the server).",
            f"- Into the table bare (as during a seed): {t['bare']:.2f} s; with its two foreign keys "
            f"{t['foreign keys']:.2f} s (a trigger per row); with its two blind-index b-trees {t['indexes']:.2f} s; "
            f"with both {t['both']:.2f} s. Made afterwards on the loaded table: the indexes {after['index']:.2f} s "
            f"(one sort each), the foreign keys {after['foreign_key']:.2f} s (one join each). Hence set aside "
            "during the load; and a b-tree on a random key that outgrows shared_buffers costs more per row as "
            "the table grows, which this small table does not show.",
            "",
        ]
    lines += [
        "The 20 M seed, to run when the machine is otherwise idle:",
        "",
        "```sh",
        f".venv/bin/python -m bench.scale_seed --beneficiaries {TARGET} --workers 2 --write",
        "# interrupted? the same seed goes on where it stopped (the database and var/scale are kept):",
        f".venv/bin/python -m bench.scale_seed --beneficiaries {TARGET} --workers 2 --resume --write",
        "# or the CLI itself, into an empty database it does not create (it resumes the same way):",
        f"createdb -h 127.0.0.1 -U postgres {NAME}",
        f"TIERS_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/{NAME} TIERS_VAR_DIR=var/scale \\",
        f"  .venv/bin/tiers seed --beneficiaries {TARGET} --workers 2",
        "```",
        END,
    ]
    return "\n".join(lines) + "\n"


def write(data: dict[str, Any]) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else (
        "# Scale results (issue 19)\n\nOne operator's volume on PostgreSQL; each section says its command.\n\n")
    section = render(data)
    if BEGIN in current:
        current = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", lambda _: section, current, flags=re.S)
    else:
        current = current.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(current, encoding="utf-8")


def stored() -> dict[str, Any]:
    if RESULTS.exists():
        found = re.search(r"<!-- seed-data: (.*?) -->", RESULTS.read_text(encoding="utf-8"))
        if found:
            data: dict[str, Any] = json.loads(found.group(1))
            return data
    return {"runs": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beneficiaries", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--keep-indexes", action="store_true", help="keep the secondary indexes during the load")
    parser.add_argument("--copy-compare", action="store_true", help="also time COPY's text and binary formats")
    parser.add_argument("--resume", action="store_true", help="go on with the seed in tiers_scale (not dropped)")
    parser.add_argument("--write", action="store_true", help="update bench/SCALE-RESULTS.md's seed section")
    args = parser.parse_args()
    data = stored()
    data["machine"] = _machine()
    if args.copy_compare:
        data["copy"] = {**copy_compare(), "load": os.getloadavg()}
        print(json.dumps(data["copy"], indent=1))
    run = seed_run(args.beneficiaries, args.workers, args.chunk_size, args.keep_indexes, args.resume)
    print(json.dumps({k: v for k, v in run.items() if k != "sizes"}, indent=1))
    print(json.dumps(run["sizes"], indent=1))
    key = (run["beneficiaries"], run["workers"], run["keep_indexes"])
    data["runs"] = [r for r in data["runs"] if (r["beneficiaries"], r["workers"], r["keep_indexes"]) != key] + [run]
    if args.write:
        write(data)
        print(f"written: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
