"""The fill of bench/scale_log.py: N synthetic events COPYed into PostgreSQL month by month,
their leaf hashes and stored subtrees computed as the log does (audit/tree.py), a checkpoint
signed every 1,000 events; and the first checkpoint as it was before issue 19 (513cc3b), for
the comparison."""

from __future__ import annotations

import argparse
import bisect
import math
import random
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.databases import ADMIN_URL
from tierspayant.audit.checkpoints import Checkpoint
from tierspayant.audit.events import AccessEvent, Tag
from tierspayant.audit.merkle import leaf_hash, node_hash
from tierspayant.audit.tree import FLOOR
from tierspayant.bootstrap import Platform
from tierspayant.store import log_partitions as lp

#: What an event costs on disk (measured: 593 MiB a million with its indexes, bench/SCALE-RESULTS.md)
#: and a margin: the disk check before a fill.
BYTES_PER_EVENT = 640
#: ``--before`` holds every leaf in memory at once (14 GiB at 10 M events): refused above this.
BEFORE_LIMIT = 12_000_000

# (tag, categories, purpose, share): a professional's day, mostly rights checks.
KINDS = [
    (Tag.RIGHTS_CHECK, '"coverage"', "tiers payant: rights check for care", 0.65),
    (Tag.QUOTE_CREATE, '"coverage","health"', "tiers payant: pec", 0.12),
    (Tag.INVOICE_CREATE, '"coverage","health","payment"', "tiers payant: invoice", 0.12),
    (Tag.INVOICE_READ, '"coverage","health","payment"', "insurer: read a received invoice", 0.06),
    (Tag.QUOTE_READ, '"coverage","health"', "tiers payant: read a quote", 0.05),
]
NULL = "\\N"  # COPY's text format
TEMPLATE = ('{"account":%d,"at":"%s","beneficiary":%s,"categories":[%s],"insurer":%d,"organisation":%d,'
             '"outcome":"%s","professional":%d,"purpose":"%s","ref":%s,"request":"%032x","session":%d,"tag":"%s"}')


class Tree:
    """RFC 9162's tree grown leaf by leaf (a stack of perfect subtrees), handing over each
    subtree of 2**FLOOR leaves and more as it completes: what the log stores (audit/tree.py)."""

    def __init__(self, emit: Callable[[int, int, bytes], None]) -> None:
        self.size, self.stack, self.emit = 0, [], emit  # type: ignore[var-annotated]

    def add(self, leaf: bytes) -> None:
        size, value = 1, leaf
        while self.stack and self.stack[-1][0] == size:
            value = node_hash(self.stack.pop()[1], value)
            size <<= 1
            if size >= 1 << FLOOR:
                self.emit(size.bit_length() - 1, (self.size + 1) // size - 1, value)
        self.stack.append((size, value))
        self.size += 1

    def root(self) -> bytes:
        value = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            value = node_hash(left, value)
        return value


def fresh(name: str) -> str:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def check_disk(platform: Platform, events: int, force: bool) -> None:
    with platform.engine.connect() as conn:
        data = conn.execute(text("SHOW data_directory")).scalar_one()
    free = shutil.disk_usage(data if Path(data).exists() else "/").free
    need = events * BYTES_PER_EVENT + (3 << 30)  # and the write-ahead log, sorts of the index builds
    print(f"disk: {free / 2**30:.1f} GiB free, the fill needs about {need / 2**30:.1f} GiB")
    if need > free and not force:
        sys.exit(f"not enough disk for {events:,} events (--force to try anyway)")


def fill(platform: Platform, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(19)
    n, end = args.events, datetime.now(UTC).replace(microsecond=0)
    first_month = lp.month_of(end)
    for _ in range(args.months - 1):
        first_month = lp.month_of(first_month - timedelta(days=1))
    span = (end - first_month).total_seconds()
    weights = [rng.lognormvariate(0, 1.2) for _ in range(args.accounts)]
    cumulative = list(_accumulate(weights))
    busiest = max(range(args.accounts), key=weights.__getitem__) + 1
    kinds = list(_accumulate([k[3] for k in KINDS]))
    pseudonym = platform.audit.recorder.pseudonym
    signer, origin = platform.audit.signer, platform.settings.log_origin
    raw = platform.engine.raw_connection()
    driver: Any = raw.driver_connection
    cursor = driver.cursor()
    with platform.engine.begin() as conn:  # the migration's empty months ahead: loaded apart instead
        for b in lp.partition_bounds(conn):
            if b.lower is not None and b.lower >= first_month:
                lp.run(conn, f"ALTER TABLE {lp.PARENT} DETACH PARTITION {b.name}")
                lp.run(conn, f"DROP TABLE {b.name}")
    nodes: list[str] = []
    tree = Tree(lambda level, idx, value: nodes.append(f"{level}\t{idx}\t{value.hex()}\n"))
    checkpoints: list[tuple[int, str, datetime, str]] = []
    late: list[str] = []
    interleaved, previous = 0, first_month
    samples: list[tuple[int, int]] = []
    months, month, following, started = [], first_month, 0, time.perf_counter()
    while month < end:
        upper = lp.next_month(month)
        name = lp.partition_name(month)
        create, _ = lp.loaded_ddl(name, month, upper)
        for statement in create:
            cursor.execute(statement)
        last = min(n, math.ceil((upper - first_month).total_seconds() / span * n))
        with cursor.copy(f"COPY {name} ({', '.join(lp.COLUMNS)}) FROM STDIN") as copy:
            lines: list[str] = []
            for seq in range(following, last):
                at = first_month + timedelta(seconds=(seq + 0.5) * span / n)
                if rng.random() < 0.002:  # a group commit's interleaving: up to 2 s earlier than its place
                    at -= timedelta(seconds=rng.random() * 2)
                interleaved += at < previous
                previous = at
                account = bisect.bisect(cumulative, rng.random() * cumulative[-1]) + 1
                tag, categories, purpose, _ = KINDS[bisect.bisect(kinds, rng.random() * kinds[-1])]
                beneficiary = rng.randrange(1, args.beneficiaries + 1)
                insurer = beneficiary * 2654435761 % 2**32 % args.insurers + 1
                found = tag is not Tag.RIGHTS_CHECK or rng.random() < 0.9
                person = pseudonym(insurer, beneficiary) if found else None
                ref = f'"E-{rng.getrandbits(64):016X}"' if found else "null"  # as long as an engagement number
                stamp = at.isoformat()
                entry = TEMPLATE % (account, stamp, f'"{person}"' if person else "null", categories, insurer,
                                     account // 3 + 1, "ok" if found else "not_found", account, purpose, ref,
                                     rng.getrandbits(128), rng.randrange(1, 10**8), tag.value)
                if seq < 2_000:  # the template is the log's own canonical form
                    assert entry.encode() == event_of(entry).canonical(), entry
                if seq % (n // 20 or 1) == 7 and found:
                    samples.append((insurer, beneficiary))
                line = (f"{seq}\t{stamp}\t{tag.value}\t{account}\t{account // 3 + 1}\t"
                        f"{person or NULL}\t{insurer}\t{entry}\n")  # no tab, newline or backslash in entries
                tree.add(leaf_hash(entry.encode()))
                (lines if month <= at < upper else late).append(line)
                if tree.size % args.checkpoint_every == 0:
                    root = tree.root()
                    checkpoints.append((tree.size, root.hex(), at + timedelta(seconds=1),
                                        signer.sign(Checkpoint(origin, tree.size, root).text())))
                if len(lines) >= 20_000:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
            following = last
        driver.commit()
        months.append((name, month, upper))
        done = time.perf_counter() - started
        print(f"  {name}: up to {last:,} events, {last / done:,.0f} events/s", flush=True)
        month = upper
    fill_seconds = time.perf_counter() - started
    started = time.perf_counter()
    cursor.execute("SET maintenance_work_mem = '512MB'")
    for name, lower, upper in months:
        for statement in lp.loaded_ddl(name, lower, upper)[1]:
            cursor.execute(statement)
        cursor.execute(f"ALTER TABLE {lp.PARENT} ATTACH PARTITION {name} FOR VALUES FROM "
                       f"('{lp.literal(lower)}') TO ('{lp.literal(upper)}')")
        cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_at")
        driver.commit()
    with cursor.copy(f"COPY {lp.PARENT} ({', '.join(lp.COLUMNS)}) FROM STDIN") as copy:
        copy.write("".join(late))  # back into the month they are dated in
    with cursor.copy("COPY audit_nodes (level, idx, hash) FROM STDIN") as copy:
        for first in range(0, len(nodes), 100_000):
            copy.write("".join(nodes[first:first + 100_000]))
    with cursor.copy("COPY audit_checkpoints (size, root, created_at, note) FROM STDIN") as copy:
        for row in checkpoints:
            copy.write_row(row)
    cursor.execute("UPDATE audit_head SET size = %s WHERE id = 1", (n,))
    driver.commit()
    index_seconds = time.perf_counter() - started
    driver.autocommit = True
    started = time.perf_counter()
    cursor.execute(f"VACUUM (ANALYZE) {lp.PARENT}")
    cursor.execute("VACUUM (ANALYZE) audit_nodes")
    driver.autocommit = False
    raw.close()
    platform.audit.archiving.ensure_partitions()
    median = sorted(range(args.accounts), key=weights.__getitem__)[args.accounts // 2] + 1
    return {"events": n, "fill_s": fill_seconds, "index_s": index_seconds, "vacuum_s": time.perf_counter() - started,
            "late": len(late), "interleaved": interleaved, "checkpoints": len(checkpoints), "samples": samples, "busiest": busiest,
            "median_account": median, "end": end.isoformat(), "first_month": first_month.isoformat()}


def _accumulate(values: list[float]) -> list[float]:
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def event_of(entry: str) -> AccessEvent:
    return AccessEvent.from_canonical(entry.encode())


def _old_completed_nodes(old_size: int, new_size: int, leaves: list[bytes], leaves_from: int,
                         stored: Callable[[list[tuple[int, int]]], dict[tuple[int, int], bytes]]) -> list[tuple[int, int, bytes]]:
    """audit/tree.py at 513cc3b (before this change): every level from 1 computed and stored."""
    made: dict[tuple[int, int], bytes] = {}

    def child(level: int, idx: int) -> bytes:
        if level == 0:
            return leaves[idx - leaves_from]
        if (level, idx) not in made:
            made.update(stored([(level, idx)]))
        return made[(level, idx)]

    level = 1
    while (1 << level) <= new_size:
        for idx in range(old_size >> level, new_size >> level):
            made[(level, idx)] = node_hash(child(level - 1, 2 * idx), child(level - 1, 2 * idx + 1))
        level += 1
    return [(lvl, idx, value) for (lvl, idx), value in sorted(made.items()) if (idx + 1) << lvl > old_size]


def before_first_checkpoint(platform: Platform) -> bytes:
    """services/audit.py's checkpoint at 513cc3b, over the same ports, for a log with no stored
    subtree: every leaf read at once in one write transaction (the writers' lock held), every
    subtree from level 1 computed and written, then the root. (Then leaf hashes were read as
    stored hex; now each is computed from its entry, about 1 us more an event.)"""
    from tierspayant.audit.tree import pieces

    with platform.uow() as tx:
        size = tx.log.log_size()
        leaves = tx.log.leaf_hashes(0, size)
        nodes = _old_completed_nodes(0, size, leaves, 0, tx.checkpoints.node_hashes)
        tx.checkpoints.add_nodes(nodes)
        known = {(lvl, idx): value for lvl, idx, value in nodes}
        parts = [leaves[idx] if lvl == 0 else known[(lvl, idx)] for lvl, idx in pieces(0, size)]
        root = parts[-1]
        for left in reversed(parts[:-1]):
            root = node_hash(left, root)
        return root
