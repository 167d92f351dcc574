"""The population in chunks, for seeding at scale (issue 19, point 1): chunk ``k`` holds the
beneficiaries with ids ``k * size + 1 ..`` and is drawn from its own generator seeded by
(spec.seed, k), so that any process can make any chunk alone and a chunk made again (a resumed
seed) is the same rows with the same ids. Families, rights periods and glasses follow the
sequential population's draws (``Population.beneficiary_batches``); a family is cut at its
chunk's end as the sequential one is at the population's end. Not the sequential population:
the demo seed keeps that one (the README's sample patient)."""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tierspayant.security.digests import content_digest
from tierspayant.simulate.population import CATEGORIES, Population, PopulationSpec, Row

#: The chunked generator's version: part of a seed's fingerprint, so that a database half
#: seeded by an older generator is refused rather than completed with different people.
FORMAT = "chunks-v1"


@dataclass(frozen=True, slots=True)
class Chunk:
    number: int
    beneficiaries: list[Row]
    rights_periods: list[Row]
    optical_purchases: list[Row]

    def tables(self) -> dict[str, list[Row]]:
        """The chunk's rows by table, in the order foreign keys need."""
        return {"beneficiaries": self.beneficiaries, "rights_periods": self.rights_periods,
                "optical_purchases": self.optical_purchases}


def chunk_count(spec: PopulationSpec) -> int:
    return -(-spec.beneficiaries // spec.batch_size)


def describe(spec: PopulationSpec) -> str:
    """The specification as canonical JSON (synthetic parameters only: no person in it)."""
    fields = dataclasses.asdict(spec)
    fields["today"] = spec.today.isoformat()
    return json.dumps({"format": FORMAT, **fields}, sort_keys=True, separators=(",", ":"))


def fingerprint(spec: PopulationSpec) -> str:
    """What a partly seeded database must have been started with to be completed."""
    return content_digest(describe(spec).encode())  # parameters, no personal data


def differences(stored: str, spec: PopulationSpec) -> dict[str, tuple[Any, Any]]:
    """Field -> (stored, asked) where a stored specification differs from ``spec``."""
    before, now = json.loads(stored), json.loads(describe(spec))
    return {k: (before.get(k), now.get(k)) for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)}


class ChunkedPopulation:
    """Makes chunks; the name pools are the sequential population's (drawn once per process)."""

    def __init__(self, spec: PopulationSpec, pools: Population | None = None) -> None:
        self.spec = spec
        self.pools = pools or Population(spec)

    def chunk(self, number: int, limit: int | None = None) -> Chunk:
        """Chunk ``number``; with ``limit``, only its first rows up to that many beneficiaries
        (the same rows: the chunk's generator draws them first)."""
        spec, pools = self.spec, self.pools
        # A string seed is hashed with SHA-512 by random.seed (version 2): the same generator in
        # every process, whatever PYTHONHASHSEED.
        rng = random.Random(f"tierspayant:{spec.seed}:chunk:{number}")
        contracts = pools.contract_configs()
        first = number * spec.batch_size + 1
        last = min(first + spec.batch_size - 1, spec.beneficiaries, first + (limit or spec.batch_size) - 1)
        out = Chunk(number, [], [], [])
        next_id = first
        # Ids in a block per chunk: a member number per family, at most one per beneficiary, so
        # the chunk's block of member numbers never meets another chunk's.
        member_seq = first - 1
        while next_id <= last:
            member_seq += 1
            contract_id, insurer_id, last_name, family, start, end = pools.family(rng, contracts)
            member_number = f"{member_seq:010d}"
            for rank, age in family:
                if next_id > last:
                    break
                birth, first_name, nir = pools.person(rng, age)
                out.beneficiaries.append({
                    "id": next_id, "insurer_id": insurer_id, "contract_id": contract_id,
                    "member_number": member_number, "rank": rank, "nir": nir,
                    "birth_date": birth, "last_name": last_name, "first_name": first_name,
                })
                out.rights_periods.append({"id": next_id, "beneficiary_id": next_id, "start_date": start,
                                           "end_date": end, "categories": CATEGORIES})
                if rng.random() < spec.optical_purchase_share:
                    # The purchase takes its beneficiary's id: a block per chunk too.
                    out.optical_purchases.append({
                        "id": next_id, "beneficiary_id": next_id, "insurer_id": insurer_id,
                        "delivered_on": spec.today - timedelta(days=rng.randint(1, 729)), "invoice_id": None})
                next_id += 1
        return out
