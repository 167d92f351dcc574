"""The access log at scale on PostgreSQL (issue 19, point 2): fill a database with N synthetic
events fast, then measure what the acceptance asks, and write the log section of
bench/SCALE-RESULTS.md.

    .venv/bin/python -m bench.scale_log --events 10000000 --before --verify --archive   # about 25 min
    .venv/bin/python -m bench.scale_log --events 100000000 --verify --archive          # about 1 h 30, 58 GiB
    .venv/bin/python -m bench.scale_log --events 100000000 --reuse                     # measure again

The fill (database ``tiers_scale_log``, dropped first; keys under var/scale-log): events spread
over 12 months up to now, 20 M beneficiaries (keyed pseudonyms from the platform's own key),
250,000 accounts whose activity follows a log-normal law (3 per organisation), rights checks,
quotes and invoices; each month COPYed into a table of its own, indexed, then attached; every
leaf hash computed as the log does and the subtrees of 64 leaves and more stored; a checkpoint
signed every 1,000 events with the platform's log key, so proofs and ``tiers audit verify`` hold.
A few events a group commit would interleave are dated up to 2 s before their predecessor.

Measured: database size per million events; one beneficiary's history and one account's
30-day exposure through the platform's own use cases (with EXPLAIN (ANALYZE, BUFFERS)); the
first checkpoint after a restart (1,000 new events); the first checkpoint of the same log with
no stored subtree (a bulk-loaded log), in committed steps, and with ``--before`` the algorithm
before this change (all leaves in one transaction under the writers' lock); the append rate at
that size; ``--verify`` the verifier; ``--archive`` archiving the oldest month and restoring it."""

from __future__ import annotations

# ruff: noqa: S608 -- the bench's own table names and integers only
import argparse
import json
import math
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.databases import ADMIN_URL
from bench.scale_log_fill import (
    BEFORE_LIMIT,
    KINDS,
    TEMPLATE,
    before_first_checkpoint,
    check_disk,
    event_of,
    fill,
    fresh,
)
from tierspayant.audit.events import Tag
from tierspayant.bootstrap import Platform, build
from tierspayant.config import Settings
from tierspayant.security.policy import Principal, Role
from tierspayant.store import log_partitions as lp

ROOT = Path(__file__).resolve().parent.parent
OFFICER = Principal(0, 0, Role.SECURITY_OFFICER, request_id="bench")
SECTION = "## Access log at scale (issue 19, point 2)"


def sizes(platform: Platform, events: int) -> list[str]:
    with platform.engine.connect() as conn:
        parts = conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_events'::regclass")).scalars().all()
        heap = sum(conn.execute(text(f"SELECT pg_table_size('{p}')")).scalar_one() for p in parts)
        by_index: dict[str, int] = {}
        for p in parts:
            for name, size in conn.execute(text(
                    "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
                    f"WHERE indrelid = '{p}'::regclass")):
                kind = name.removeprefix(p + "_").split("_")[0]
                by_index[kind] = by_index.get(kind, 0) + size
        nodes = conn.execute(text("SELECT pg_total_relation_size('audit_nodes')")).scalar_one()
        checkpoints = conn.execute(text("SELECT pg_total_relation_size('audit_checkpoints')")).scalar_one()
        database = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    million = events / 1e6
    total = heap + sum(by_index.values()) + nodes + checkpoints
    rows = [f"| events (heap, {len(parts)} partitions) | {heap / 2**30:.2f} GiB | {heap / million / 2**20:.0f} MiB |"]
    rows += [f"| index `{k}` (every partition) | {v / 2**30:.2f} GiB | {v / million / 2**20:.1f} MiB |"
             for k, v in sorted(by_index.items())]
    rows += [f"| stored subtrees (`audit_nodes`, 64 leaves and more) | {nodes / 2**30:.3f} GiB | {nodes / million / 2**20:.2f} MiB |",
             f"| signed checkpoints (one every 1,000 events) | {checkpoints / 2**30:.3f} GiB | {checkpoints / million / 2**20:.2f} MiB |",
             f"| **the log in all** | **{total / 2**30:.2f} GiB** | **{total / million / 2**20:.0f} MiB** |",
             f"| the whole database (`pg_database_size`) | {database / 2**30:.2f} GiB | |"]
    return rows


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, float, Any]:
    """(first run, median of the next ``repeat``) in ms, and the answer."""
    t0 = time.perf_counter()
    out = fn()
    first = (time.perf_counter() - t0) * 1000
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return first, statistics.median(runs), out


def explain(platform: Platform, sql: str) -> str:
    with platform.engine.connect() as conn:
        return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")))


def _subprocess(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.scale_log", mode, "--database", args.database,
                          "--var", str(args.var), "--events", str(args.events)],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def checkpoint_alone(args: argparse.Namespace, before: bool) -> None:
    """In a process of its own (its peak memory is the checkpoint's): one first checkpoint."""
    platform = build(Settings(database_url=args.url, var_dir=args.var))
    t0 = time.perf_counter()
    root = before_first_checkpoint(platform) if before else platform.audit.checkpoint().root
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "rss": rss, "root": root.hex()}))


def _swap(platform: Platform, aside: bool) -> None:
    """The stored tree and checkpoints set aside (a log as a bulk load leaves it), or put back."""
    with platform.engine.begin() as conn:
        for table in ("audit_nodes", "audit_checkpoints"):
            if aside:
                conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_saved"))
                conn.execute(text(f"CREATE TABLE {table} (LIKE {table}_saved INCLUDING ALL)"))
            else:
                conn.execute(text(f"DROP TABLE {table}"))
                conn.execute(text(f"ALTER TABLE {table}_saved RENAME TO {table}"))


def measure(platform: Platform, args: argparse.Namespace, info: dict[str, Any]) -> list[str]:
    n, end = info["events"], datetime.fromisoformat(info["end"])
    lines = [f"| fill: {n:,} events COPYed month by month ({args.months} tables), leaf hashes and subtrees computed, "
             f"{info['checkpoints']:,} checkpoints signed | {info['fill_s']:,.0f} s ({n / info['fill_s']:,.0f} events/s) |",
             f"| indexes built, partitions attached, subtrees and checkpoints COPYed | {info['index_s']:,.0f} s |",
             f"| `VACUUM (ANALYZE)` | {info['vacuum_s']:,.0f} s |"]
    firsts, warms, counts = [], [], []
    for insurer, beneficiary in info["samples"]:
        first, warm, rows = timed(lambda i=insurer, b=beneficiary: platform.audit.history(OFFICER, i, b))
        firsts.append(first)
        warms.append(warm)
        counts.append(len(rows))
    lines.append(f"| one beneficiary's history ({len(counts)} sampled, {min(counts)}-{max(counts)} events each) | first "
                 f"query median {statistics.median(firsts):.1f} ms (max {max(firsts):.1f}), then {statistics.median(warms):.1f} ms |")
    start = end - timedelta(days=30)
    for label, account in (("the busiest account", info["busiest"]), ("a median account", info["median_account"])):
        first, warm, rows = timed(lambda a=account: platform.audit.exposure(OFFICER, account_id=a, start=start, end=end))
        lines.append(f"| one account's exposure over 30 days, {label} ({len(rows):,} events, "
                     f"{len({e.beneficiary for _, e in rows}):,} people) | first query {first:.1f} ms, then {warm:.1f} ms |")
    # A restart: a new platform over the same database, 1,000 events appended as group commits.
    again = build(Settings(database_url=args.url, var_dir=args.var))
    rng = random.Random(5)
    t0 = time.perf_counter()
    for batch in range(10):
        with again.uow() as tx:
            tx.log.append_events([event_of(TEMPLATE % (7, (end + timedelta(seconds=batch * 100 + i)).isoformat(), "null",
                                                      '"coverage"', 1, 3, "not_found", 7, KINDS[0][2], "null",
                                                      rng.getrandbits(128), 1, Tag.RIGHTS_CHECK.value))
                                  for i in range(100)])
    rate = 1000 / (time.perf_counter() - t0)
    again.engine.dispose()
    restarted = build(Settings(database_url=args.url, var_dir=args.var))
    t0 = time.perf_counter()
    signed = restarted.audit.checkpoint()
    lines.append(f"| append at {n:,} events, 100 per transaction (the group commit) | {rate:,.0f} events/s |")
    lines.append(f"| first checkpoint after a restart, 1,000 events appended since the last | "
                 f"{(time.perf_counter() - t0) * 1000:.0f} ms |")
    restarted.engine.dispose()
    _swap(platform, aside=True)
    try:
        after = _subprocess("--catch-up-only", args)
        with platform.engine.connect() as conn:
            expected = conn.execute(text(f"SELECT root FROM audit_checkpoints_saved WHERE size = {signed.size}")).scalar_one()
        assert after["root"] == expected, "the caught-up root is the signed one"
        steps = math.ceil(signed.size / (1 << 17))
        lines.append(f"| first checkpoint of the same log with no subtree stored (a bulk-loaded log), now: "
                     f"{steps} committed steps of 131,072 leaves, read-only but for each step's writes | "
                     f"{after['seconds']:,.0f} s ({after['seconds'] / steps:.1f} s a step; a restart redoes at most "
                     f"one), peak RSS {after['rss'] / 2**20:,.0f} MiB |")
        if args.before:
            with platform.engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_nodes, audit_checkpoints"))
            old = _subprocess("--before-only", args)
            assert old["root"] == expected
            lines.append(f"| the same before this change (513cc3b): every leaf in one write transaction under the "
                         f"writers' lock, every subtree from level 1 stored; after an interruption, from leaf 0 again | "
                         f"{old['seconds']:,.0f} s, peak RSS {old['rss'] / 2**20:,.0f} MiB |")
    finally:
        _swap(platform, aside=False)
    if args.verify:
        t0 = time.perf_counter()
        report = platform.audit.verify(batch=50_000)
        assert report.ok, report.problems[:5]
        lines.append(f"| `tiers audit verify` over {report.events:,} events, {report.checkpoints:,} checkpoints | "
                     f"{time.perf_counter() - t0:,.0f} s |")
    if args.archive:
        before = lp.next_month(datetime.fromisoformat(info["first_month"]))
        t0 = time.perf_counter()
        done = platform.audit.archiving.archive(OFFICER, before)
        seconds = time.perf_counter() - t0
        size = sum((args.var / "archive" / f.file).stat().st_size for f in done.files)
        lines.append(f"| `tiers audit archive --before {before:%Y-%m}` ({done.events:,} events, {sum(f.events for f in done.files if not f.partition)} "
                     f"later-dated with them) | {seconds:,.0f} s, {size / 2**20:,.0f} MiB of gzip files "
                     f"({size / done.events:.0f} bytes an event) |")
        t0 = time.perf_counter()
        _, problems = platform.audit.archiving.restore(OFFICER)
        assert not problems, problems[:5]
        lines.append(f"| `tiers audit restore` (SHA-256 checked, loaded, indexed, attached, every 64-leaf block "
                     f"checked against its stored hash) | {time.perf_counter() - t0:,.0f} s |")
    return lines


def plans(platform: Platform, info: dict[str, Any]) -> list[str]:
    end = datetime.fromisoformat(info["end"])
    insurer, beneficiary = info["samples"][0]
    person = platform.audit.recorder.pseudonym(insurer, beneficiary)
    out = []
    for title, sql in (
            ("One beneficiary's history (`SqlAccessLog.events_of_beneficiary`; the key operations of its "
             "insurer are a second, partial-index query)",
             f"SELECT seq, entry FROM audit_events WHERE beneficiary = '{person}' ORDER BY seq"),
            ("One account's exposure over 30 days, the busiest account (`SqlAccessLog.events_of_actor`)",
             f"SELECT seq, entry FROM audit_events WHERE account_id = {info['busiest']} AND at >= "
             f"'{lp.literal(end - timedelta(days=30))}' AND at < '{lp.literal(end)}' ORDER BY seq")):
        out += [f"**{title}**", "", "```", sql, "", explain(platform, sql), "```", ""]
    return out


BEGIN, END = "<!-- log:begin -->", "<!-- log:end -->"


def write(section: str, path: Path) -> None:
    """The section between its markers in ``path``, in place of the one before; the file's
    other sections (the seed's, between theirs) untouched."""
    current = path.read_text() if path.exists() else "# Scale results (issue 19)\n"
    block = f"{BEGIN}\n{section.rstrip()}\n{END}\n"
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        current = current.rstrip("\n") + "\n\n" + block
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--database", default="tiers_scale_log")
    parser.add_argument("--var", type=Path, default=ROOT / "var" / "scale-log", help="the platform's keys, the archive")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--beneficiaries", type=int, default=20_000_000)
    parser.add_argument("--accounts", type=int, default=250_000)
    parser.add_argument("--insurers", type=int, default=300)
    parser.add_argument("--checkpoint-every", type=int, default=1_000)
    parser.add_argument("--reuse", action="store_true", help="measure a database filled before (same --events)")
    parser.add_argument("--before", action="store_true", help="also the first checkpoint as before this change")
    parser.add_argument("--verify", action="store_true", help="also `tiers audit verify` over the whole log")
    parser.add_argument("--archive", action="store_true", help="also archive the oldest month and restore it")
    parser.add_argument("--force", action="store_true", help="fill even when the disk looks too small")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "SCALE-RESULTS.md")
    parser.add_argument("--catch-up-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--before-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.url = ADMIN_URL.rsplit("/", 1)[0] + "/" + args.database
    if args.catch_up_only or args.before_only:
        checkpoint_alone(args, before=args.before_only)
        return
    if args.before and args.events > BEFORE_LIMIT:
        sys.exit(f"--before holds every leaf in memory (about 1.4 GiB a million events): not above {BEFORE_LIMIT:,}")
    command = "python -m bench.scale_log " + " ".join(sys.argv[1:])
    facts = args.var / "fill.json"
    if args.reuse:
        info = json.loads(facts.read_text())
        assert info["events"] == args.events, f"the database holds {info['events']:,} events"
    else:
        url = fresh(args.database)
        shutil.rmtree(args.var, ignore_errors=True)
        platform = build(Settings(database_url=url, var_dir=args.var))
        check_disk(platform, args.events, args.force)
        info = fill(platform, args)
        facts.write_text(json.dumps(info))
        platform.engine.dispose()
    platform = build(Settings(database_url=args.url, var_dir=args.var))
    rows = measure(platform, args, info)
    size_rows = sizes(platform, platform.audit.size())
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join([
        SECTION, "",
        f"Measured {when} on this 2-core machine, PostgreSQL 15 as installed (shared_buffers 128 MB), other "
        f"benchmarks sharing the machine at times. Command: `.venv/bin/{command}` (the events stay in database "
        f"`{args.database}`; `--reuse` measures them again). {info['events']:,} events over {args.months} months, "
        f"{args.beneficiaries:,} beneficiaries, {args.accounts:,} accounts (log-normal activity), "
        f"1 in 500 dated up to 2 s earlier than its place (a group commit's interleaving: "
        f"{info.get('interleaved', 0):,} before their predecessor at this rate). A first query runs "
        "with what the fill left in the caches; the second figure is the median of the next five.", "",
        "| what | figure |", "|---|---:|", *rows, "",
        "Database size:", "", "| what | size | per million events |", "|---|---:|---:|", *size_rows, "",
        *plans(platform, info), ""])
    write(section, args.results)
    print(section)


if __name__ == "__main__":
    main()
