"""A synthetic membership file (domain/membership.py's layout) with faults planted where the
test and the benchmark know them: families of a member and up to three dependants, valid NIR
keys, dates and contract codes, and a share of bad lines -- each kind of fault in turn, each on
a line of its own (a one-person family or a lone dependant), so that no good line depends on a
bad one. Synthetic only: no real person's data."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from tierspayant.domain.membership import COLUMNS
from tierspayant.simulate.population import make_nir

#: Each kind of fault and the field the report must name for it.
FAULTS = {
    "nir_key": "nir", "nir_length": "nir", "birth_date": "birth_date", "birth_in_future": "birth_date",
    "member_number": "member_number", "rank": "rank", "lone_dependant": "rank", "contract_code": "contract_code",
    "unknown_contract": "contract_code", "rights_start": "rights_start", "rights_end": "rights_end",
    "categories": "categories", "last_name": "last_name", "control_character": "first_name", "extra_value": "line",
    "duplicate": "member_number",
}
FIRST = ("Camille", "Dominique", "Claude", "Alix", "Sacha", "Maxime", "Lou", "Noa")
LAST = ("Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent")


def _line(member: int, rank: int, rng: random.Random, contracts: tuple[str, ...], today: date) -> list[str]:
    # Members born 1959-2008, dependants (spouses, children) 1995-2024.
    birth = date(1940, 1, 1) + (timedelta(days=rng.randrange(7_000, 25_000)) if rank == 0
                                else timedelta(days=rng.randrange(20_000, 30_900)))
    birth = min(birth, today - timedelta(days=1))
    ended = rng.random() < 0.03  # a radiation: rights end at a date
    categories = "optical|pharmacy" if rng.random() < 0.1 else "optical|consultation|pharmacy"
    return [f"{member:010d}", str(rank), make_nir(rng, 1 + rank % 2, birth), birth.isoformat(), rng.choice(LAST),
            rng.choice(FIRST), rng.choice(contracts), "2026-01-01", "2026-06-30" if ended else "", categories]


def _fault(kind: str, row: list[str]) -> list[str]:
    i = {c: n for n, c in enumerate(COLUMNS)}
    bad = list(row)
    if kind == "nir_key":
        bad[i["nir"]] = row[i["nir"]][:13] + f"{(int(row[i['nir']][13:]) + 1) % 97:02d}"
    elif kind == "nir_length":
        bad[i["nir"]] = row[i["nir"]][:12]
    elif kind == "birth_date":
        bad[i["birth_date"]] = "1980-02-30"
    elif kind == "birth_in_future":
        bad[i["birth_date"]] = "2099-01-01"
    elif kind == "member_number":
        bad[i["member_number"]] = ""
    elif kind == "rank":
        bad[i["rank"]] = "21"
    elif kind == "lone_dependant":
        bad[i["rank"]] = "1"  # its member (rank 0) appears nowhere
    elif kind == "contract_code":
        bad[i["contract_code"]] = "NO CODE!"
    elif kind == "unknown_contract":
        bad[i["contract_code"]] = "NO-SUCH-CONTRACT"
    elif kind == "rights_start":
        bad[i["rights_start"]] = "01/01/2026"
    elif kind == "rights_end":
        bad[i["rights_end"]] = "2025-12-31"
    elif kind == "categories":
        bad[i["categories"]] = "optical|dental"
    elif kind == "last_name":
        bad[i["last_name"]] = " "
    elif kind == "control_character":
        bad[i["first_name"]] = "Lou\x07"
    elif kind == "extra_value":
        bad.append("extra")
    return bad


def _duplicate(previous: list[str], row: list[str]) -> list[str]:
    """``row`` under the member number and rank of a line already written."""
    return previous[:2] + row[2:]


def write_member_file(path: Path, lines: int, *, first_member: int = 7_000_000, bad_share: float = 0.001,
                      seed: int = 7, contracts: tuple[str, ...] = ("RESP-ESSENTIEL", "RESP-CONFORT"),
                      today: date = date(2026, 12, 1)) -> dict[int, str]:
    """Write ``lines`` data lines (plus the header) to ``path``; returns the planted faults:
    line number (the header is line 1) -> the field the report must name."""
    rng = random.Random(seed)
    planted: dict[int, str] = {}
    kinds = list(FAULTS)
    member, number, written = first_member, 1, 0
    last: list[str] | None = None
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(COLUMNS)
        while written < lines:
            member += 1
            if rng.random() < bad_share * 2.2 and last is not None:  # ~2.2 lines a family: bad_share of the lines
                kind = kinds[len(planted) % len(kinds)]
                number += 1
                row = _line(member, 0, rng, contracts, today)
                out.writerow(_duplicate(last, row) if kind == "duplicate" else _fault(kind, row))
                planted[number] = FAULTS[kind]
                written += 1
                continue
            for rank in range(min(1 + rng.choice((0, 0, 1, 1, 2, 3)), lines - written)):
                number += 1
                last = _line(member, rank, rng, contracts, today)
                out.writerow(last)
                written += 1
    return planted
