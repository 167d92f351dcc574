"""Who was exposed, exactly (docs/THREATS.md, "Breach response"; GDPR Art. 33(3)(a)): from the
transparency log's events and the store's sealed rows to, for each insurer (the controller),
each person exposed with the data categories, first and last exposure, the events relied on.

The rules, each a function below:

- an event of a compromised principal (account, session, organisation or professional) that
  disclosed someone's data (outcome ok, a beneficiary) exposes that person's categories; a
  refused or not-found event discloses nothing and is only counted;
- a compromised data-key version (or the key-encryption key, which unwraps every version)
  exposes every row sealed under it, with its table's categories -- from the store, not the log;
- a dumped table whose keys were not compromised exposes ciphertext only: its people are listed
  for the controller, flagged as such (Art. 34(3)(a): individual notices are not required).

Pure: events and rows in, a ``Scope`` out; ``canonical`` makes it comparable (verify-scope)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tierspayant.audit.events import AccessEvent, Category, Outcome


class Via(StrEnum):
    ACCESS = "access"  # read by a compromised principal (the log)
    KEY = "key"  # sealed under a compromised key (the store): readable by whoever holds it
    DUMP = "dump"  # in a dumped table, its keys safe: ciphertext only


#: What each sealed table holds about a person (store/protection.py SEALED).
TABLE_CATEGORIES: dict[str, tuple[Category, ...]] = {
    "beneficiaries": (Category.IDENTITY,),
    "optical_purchases": (Category.HEALTH,),
    "quotes": (Category.COVERAGE, Category.HEALTH),
    "invoices": (Category.HEALTH, Category.PAYMENT),
}


@dataclass(frozen=True, slots=True)
class Compromised:
    """What an incident declares compromised (any mix)."""

    accounts: frozenset[int] = frozenset()
    sessions: frozenset[int] = frozenset()
    organisations: frozenset[int] = frozenset()
    professionals: frozenset[int] = frozenset()
    #: (key owner, version) pairs: an insurer's data-key versions.
    key_versions: frozenset[tuple[int, int]] = frozenset()
    kek: bool = False  # the key-encryption key: every data key it wraps
    tables: frozenset[str] = frozenset()  # dumped

    def principals(self) -> bool:
        return bool(self.accounts or self.sessions or self.organisations or self.professionals)

    def covers(self, event: AccessEvent) -> bool:
        """Whether the event was made by a compromised principal."""
        return ((event.account_id is not None and event.account_id in self.accounts)
                or (event.session_id is not None and event.session_id in self.sessions)
                or (event.organisation_id is not None and event.organisation_id in self.organisations)
                or (event.professional_id is not None and event.professional_id in self.professionals))

    def key_compromised(self, owner: int, version: int) -> bool:
        return self.kek or (owner, version) in self.key_versions

    def to_dict(self) -> dict[str, Any]:
        return {"accounts": sorted(self.accounts), "sessions": sorted(self.sessions),
                "organisations": sorted(self.organisations), "professionals": sorted(self.professionals),
                "key_versions": [list(k) for k in sorted(self.key_versions)], "kek": self.kek,
                "tables": sorted(self.tables)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Compromised:
        return cls(frozenset(raw.get("accounts", ())), frozenset(raw.get("sessions", ())),
                   frozenset(raw.get("organisations", ())), frozenset(raw.get("professionals", ())),
                   frozenset((int(o), int(v)) for o, v in raw.get("key_versions", ())), bool(raw.get("kek", False)),
                   frozenset(raw.get("tables", ())))


@dataclass(slots=True)
class Exposure:
    """One person's exposure to one controller."""

    person: str  # the beneficiary's pseudonym on the log (never the NIR)
    categories: set[Category] = field(default_factory=set)
    first: datetime | None = None  # of the events relied on (None: exposed through the store only)
    last: datetime | None = None
    seqs: list[int] = field(default_factory=list)  # the log's events relied on
    via: set[Via] = field(default_factory=set)
    #: Sealed rows relied on: (table, row id).
    rows: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ciphertext_only(self) -> bool:
        return self.via == {Via.DUMP}

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.person, "categories": sorted(c.value for c in self.categories),
                "first": self.first.isoformat() if self.first else None,
                "last": self.last.isoformat() if self.last else None, "events": len(self.seqs),
                "seqs": sorted(self.seqs), "via": sorted(v.value for v in self.via),
                "rows": [list(r) for r in sorted(self.rows)]}


@dataclass(slots=True)
class ControllerScope:
    """What one insurer (the data controller) must know: its people, and what disclosed nothing."""

    insurer_id: int
    people: dict[str, Exposure] = field(default_factory=dict)
    refused: int = 0  # events of compromised principals refused: nothing disclosed
    not_found: int = 0  # matched nobody: nothing disclosed

    def exposure(self, person: str) -> Exposure:
        found = self.people.get(person)
        if found is None:
            found = self.people[person] = Exposure(person)
        return found

    @property
    def records(self) -> int:
        """Records concerned (Art. 33(3)(a)): the events and sealed rows relied on."""
        return sum(len(e.seqs) + len(e.rows) for e in self.people.values())

    def categories(self) -> dict[str, int]:
        """People per data category."""
        counts: dict[str, int] = {}
        for exposure in self.people.values():
            for category in exposure.categories:
                counts[category.value] = counts.get(category.value, 0) + 1
        return dict(sorted(counts.items()))

    def notices_required(self) -> list[Exposure]:
        """The people to notify (Art. 34): all but those exposed as ciphertext only (34(3)(a))."""
        return [e for _, e in sorted(self.people.items()) if not e.ciphertext_only]

    def to_dict(self) -> dict[str, Any]:
        return {"insurer_id": self.insurer_id, "people": len(self.people), "records": self.records,
                "categories": self.categories(), "refused": self.refused, "not_found": self.not_found,
                "ciphertext_only": sum(1 for e in self.people.values() if e.ciphertext_only),
                "exposures": [self.people[p].to_dict() for p in sorted(self.people)]}


@dataclass(slots=True)
class Scope:
    """The incident's exact scope: the window, the log's leaf range examined, the signed
    checkpoint that covers it, and each controller's people."""

    start: datetime
    end: datetime
    compromised: Compromised
    first_leaf: int | None = None  # the log's leaves examined, inclusive (None: no event in the window)
    last_leaf: int | None = None
    checkpoint_size: int = 0  # the signed checkpoint the events are proved against
    controllers: dict[int, ControllerScope] = field(default_factory=dict)

    def controller(self, insurer_id: int) -> ControllerScope:
        found = self.controllers.get(insurer_id)
        if found is None:
            found = self.controllers[insurer_id] = ControllerScope(insurer_id)
        return found

    def add_events(self, events: Iterable[tuple[int, AccessEvent]]) -> None:
        """The log's events of the window (every event, or those of the compromised principals:
        the others are left out here), in any order. The leaf range the scope covered is the
        caller's to state (first_leaf, last_leaf): it is the window's, not these events'."""
        for seq, event in events:
            if not self.start <= event.at < self.end:
                continue
            if not self.compromised.covers(event) or event.insurer_id is None:
                continue
            if event.outcome is not Outcome.OK or event.beneficiary is None:
                # Disclosed nothing: counted, not an exposure (a refused check, a miss).
                target = self.controller(event.insurer_id)
                if event.outcome is Outcome.NOT_FOUND:
                    target.not_found += 1
                else:
                    target.refused += 1
                continue
            exposure = self.controller(event.insurer_id).exposure(event.beneficiary)
            exposure.categories.update(event.categories)
            exposure.first = event.at if exposure.first is None else min(exposure.first, event.at)
            exposure.last = event.at if exposure.last is None else max(exposure.last, event.at)
            exposure.seqs.append(seq)
            exposure.via.add(Via.ACCESS)

    def add_sealed(self, rows: Iterable[tuple[int, str, str, int, int]]) -> None:
        """Sealed rows of the compromised keys or dumped tables: (owner, person's pseudonym,
        table, row id, key version). A row counts when its key version is compromised (Via.KEY:
        readable) or its table was dumped (Via.DUMP: ciphertext, unless the key is compromised
        too). Rows of other tables and keys are ignored."""
        for owner, person, table, row_id, version in rows:
            categories = TABLE_CATEGORIES.get(table)
            if categories is None:
                continue
            readable = self.compromised.key_compromised(owner, version)
            if not readable and table not in self.compromised.tables:
                continue
            exposure = self.controller(owner).exposure(person)
            exposure.categories.update(categories)
            exposure.via.add(Via.KEY if readable else Via.DUMP)
            exposure.rows.append((table, row_id))

    def to_dict(self) -> dict[str, Any]:
        return {"window": [self.start.isoformat(), self.end.isoformat()], "compromised": self.compromised.to_dict(),
                "leaves": [self.first_leaf, self.last_leaf], "checkpoint_size": self.checkpoint_size,
                "controllers": [self.controllers[i].to_dict() for i in sorted(self.controllers)]}

    def canonical(self) -> bytes:
        """Compact JSON with sorted keys: two computations agree iff these bytes do (their
        digest is what an incident stores and verify-scope compares)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    def people(self) -> int:
        return sum(len(c.people) for c in self.controllers.values())
