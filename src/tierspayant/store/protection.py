"""Encryption at rest, inside the store (docs/THREATS.md T5): the use cases see plain records; the
database holds AES-256-GCM envelopes bound to (key owner, table, field, row id) and, for the
NIR and the member number, keyed blind indexes.

``SEALED`` lists every protected field. Insurers' data (beneficiaries, quotes, invoices, payment
runs and statements, optical purchases) is sealed with that insurer's data key, so shredding an
insurer's keys makes exactly its data unreadable; the professionals' names and IBANs (their own
data, not an insurer's) with the platform's key, owner ``PLATFORM``. Data keys are loaded from
``data_keys`` (wrapped) on first use and created for an owner that has none, in the caller's
transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, true, update

from tierspayant.security.fields import (
    BlindIndex,
    FieldCipher,
    FieldRef,
    FileKek,
    InvalidCiphertext,
    KeyRing,
    UnsafePlainCipher,
    WrappedKey,
)
from tierspayant.services.records import PLATFORM_KEY_OWNER, Beneficiary
from tierspayant.store import tables as t

#: How often a process re-reads an owner's stored keys (rotation and shredding by another
#: process reach it within this delay).
KEY_SYNC_SECONDS = 30.0
#: Key owner of the platform's own protected data (professionals' names and bank details).
PLATFORM = PLATFORM_KEY_OWNER

TEXT, DATE, JSON = "text", "date", "json"


@dataclass(frozen=True, slots=True)
class Sealed:
    """How a table is protected: whose key (the insurer column, or None for the platform's) and
    each protected field -> (stored column, kind)."""

    owner_column: str | None
    fields: Mapping[str, tuple[str, str]]
    #: Rows sealed with an insurer's key or the platform's (0 in the owner column): the outbox.
    mixed: bool = False

    def owner(self, row: Mapping[str, Any]) -> int:
        return PLATFORM if self.owner_column is None else int(row[self.owner_column])


SEALED: dict[str, Sealed] = {
    "beneficiaries": Sealed("insurer_id", {
        "nir": ("nir_enc", TEXT), "member_number": ("member_enc", TEXT), "birth_date": ("birth_date_enc", DATE),
        "last_name": ("last_name_enc", TEXT), "first_name": ("first_name_enc", TEXT)}),
    "optical_purchases": Sealed("insurer_id", {"delivered_on": ("delivered_enc", DATE)}),
    "quotes": Sealed("insurer_id", {"result": ("result_enc", JSON)}),  # prescriptions, amounts
    "invoices": Sealed("insurer_id", {"lines": ("lines_enc", JSON), "findings": ("findings_enc", JSON)}),
    "payment_runs": Sealed("insurer_id", {"sepa_xml": ("sepa_xml_enc", TEXT)}),  # names, IBANs
    "payment_orders": Sealed("insurer_id", {"statement": ("statement_enc", JSON)}),
    "professionals": Sealed(None, {"name": ("name_enc", TEXT), "iban": ("iban_enc", TEXT)}),
    "bank_detail_changes": Sealed(None, {"iban": ("iban_enc", TEXT)}),
    "delivery_destinations": Sealed(None, {"secrets": ("secrets_enc", JSON)}),  # webhook signing secrets
    "outbox_messages": Sealed("key_owner", {"payload": ("payload_enc", JSON)}, mixed=True),
}


def _encode(value: Any, kind: str) -> str:
    if kind == DATE:
        return str(value.isoformat())
    if kind == JSON:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def _decode(text: str, kind: str) -> Any:
    if kind == DATE:
        return date.fromisoformat(text)
    if kind == JSON:
        return json.loads(text)
    return text


class Protection:
    def __init__(self, keys: KeyRing, index: BlindIndex, unsafe_plaintext: bool = False) -> None:
        self.keys = keys
        cipher = UnsafePlainCipher if unsafe_plaintext else FieldCipher
        self.cipher = cipher(keys)
        self.index = index
        self._synced: dict[int, float] = {}
        # A sealed stand-in, opened when a lookup finds nobody: "unknown patient" then costs the
        # same decryptions as "found, but wrong birth date" (docs/THREATS.md T3, no timing oracle).
        dummy_keys = KeyRing(FileKek.generate())
        dummy_keys.new_version(0)
        self._dummy_cipher = cipher(dummy_keys)
        self._dummy = {f: self._dummy_cipher.encrypt("2" * 15, FieldRef(0, "beneficiaries", f, 0))
                       for f in SEALED["beneficiaries"].fields}
        #: Per insurer: (key version, stand-in rows) opened when a NIR is held by nobody
        #: (store/beneficiaries.py): the same code path as a real candidate.
        self.stand_ins: dict[int, tuple[int, list[tuple[Any, ...]]]] = {}

    def equalize(self) -> None:
        for f, envelope in self._dummy.items():
            self._dummy_cipher.decrypt(envelope, FieldRef(0, "beneficiaries", f, 0))

    # -- keys ------------------------------------------------------------------------------
    def _load(self, conn: Connection, owner: int) -> None:
        """Sync this process's ring with the stored keys: new versions (a rotation done by
        another process) come in, removed ones (retired, shredded) go."""
        rows = conn.execute(select(t.data_keys.c.version, t.data_keys.c.wrapped)
                            .where(t.data_keys.c.insurer_id == owner))
        stored = {version: wrapped for version, wrapped in rows}
        for version in self.keys.versions(owner):
            if version not in stored:
                self.keys.retire(owner, version)
        for version, wrapped in stored.items():
            if version not in self.keys.versions(owner):
                self.keys.add(WrappedKey(owner, version, wrapped))
        self._synced[owner] = time.monotonic()

    def _sync(self, conn: Connection, owner: int) -> None:
        if time.monotonic() - self._synced.get(owner, -KEY_SYNC_SECONDS) >= KEY_SYNC_SECONDS:
            self._load(conn, owner)

    def ensure_key(self, conn: Connection, owner: int) -> None:
        """Keys in sync; a first key for an owner that has none (to write with)."""
        self._sync(conn, owner)
        if self.keys.versions(owner):
            return
        self._load(conn, owner)
        if not self.keys.versions(owner):
            new = self.keys.new_version(owner)
            conn.execute(insert(t.data_keys).values(insurer_id=owner, version=new.version,
                                                    wrapped=new.wrapped, created_at=datetime.now(UTC)))

    # -- rows --------------------------------------------------------------------------------
    def nir_index(self, insurer_id: int, nir: str) -> str:
        return self.index.of("nir", insurer_id, nir)

    def member_index(self, insurer_id: int, member_number: str) -> str:
        return self.index.of("member", insurer_id, member_number)

    def seal(self, conn: Connection, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """A plain row (with its id) -> the stored row: protected fields become envelopes (None
        stays None); a beneficiary also gets its blind indexes."""
        spec = SEALED[table]
        owner, row_id = spec.owner(row), int(row["id"])
        self.ensure_key(conn, owner)
        out = {k: v for k, v in row.items() if k not in spec.fields}
        for field, (column, kind) in spec.fields.items():
            if field in row:
                value = row[field]
                out[column] = None if value is None else self.cipher.encrypt(
                    _encode(value, kind), FieldRef(owner, table, field, row_id))
        if table == "beneficiaries":
            out["nir_bidx"] = self.nir_index(owner, row["nir"])
            out["member_bidx"] = self.member_index(owner, row["member_number"])
        return out

    def open(self, conn: Connection, table: str, row: Any) -> dict[str, Any]:
        """A stored row -> the plain row. Raises InvalidCiphertext when the owner's keys were
        shredded (or the row was tampered with)."""
        m: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
        spec = SEALED[table]
        owner, row_id = spec.owner(m), int(m["id"])
        self._sync(conn, owner)  # reading never creates a key
        try:
            plain = self._open_fields(spec, table, m, owner, row_id)
        except InvalidCiphertext:
            self._load(conn, owner)  # a key version created by another process since
            plain = self._open_fields(spec, table, m, owner, row_id)  # still failing: shredded
        columns = {column for column, _ in spec.fields.values()} | {"nir_bidx", "member_bidx"}
        return {**{k: v for k, v in m.items() if k not in columns}, **plain}

    def _open_fields(self, spec: Sealed, table: str, m: Mapping[str, Any], owner: int,
                     row_id: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field, (column, kind) in spec.fields.items():
            if column in m:
                envelope = m[column]
                out[field] = None if envelope is None else _decode(
                    self.cipher.decrypt(envelope, FieldRef(owner, table, field, row_id)), kind)
        return out

    def open_beneficiary(self, conn: Connection, row: Any) -> Beneficiary:
        p = self.open(conn, "beneficiaries", row)
        return Beneficiary(p["id"], p["insurer_id"], p["contract_id"], p["member_number"], p["rank"], p["nir"],
                           p["birth_date"], p["last_name"], p["first_name"])

    # -- key administration (tiers keys) -----------------------------------------------------
    def rotate(self, conn: Connection, owner: int) -> int:
        """A new data-key version for the owner: it takes writes at once."""
        self._load(conn, owner)
        new = self.keys.new_version(owner)
        conn.execute(insert(t.data_keys).values(insurer_id=owner, version=new.version, wrapped=new.wrapped,
                                                created_at=datetime.now(UTC)))
        return new.version

    @staticmethod
    def tables_of(owner: int) -> list[str]:
        """The tables holding data sealed with this owner's key."""
        return [name for name, spec in SEALED.items()
                if spec.mixed or (spec.owner_column is None) == (owner == PLATFORM)]

    @staticmethod
    def _owned(table: str, owner: int) -> Any:
        spec = SEALED[table]
        return true() if spec.owner_column is None else t.metadata.tables[table].c[spec.owner_column] == owner

    def sealed_people(self, conn: Connection, tables: Iterable[str], owners: Iterable[int] | None = None,
                      batch: int = 5_000) -> Iterable[tuple[int, int, str, int, int]]:
        """(owner, beneficiary id, table, row id, key version) of each sealed row of ``tables``
        that concerns a beneficiary, by id batches (the key version is read off the envelope's
        header: nothing is decrypted)."""
        for table in tables:
            spec = SEALED.get(table)
            table_obj = t.metadata.tables.get(table)
            if spec is None or spec.owner_column is None or table_obj is None:
                continue
            person = table_obj.c.id if table == "beneficiaries" else table_obj.c.get("beneficiary_id")
            if person is None:
                continue
            column = table_obj.c[next(iter(spec.fields.values()))[0]]  # one field: a row's fields share its key
            owner_col = table_obj.c[spec.owner_column]
            where = owner_col.in_(list(owners)) if owners is not None else true()
            after = 0
            while True:
                rows = conn.execute(select(table_obj.c.id, owner_col, person, column).where(
                    where, table_obj.c.id > after).order_by(table_obj.c.id).limit(batch)).all()
                for row_id, owner, beneficiary, envelope in rows:
                    yield int(owner), int(beneficiary), table, int(row_id), FieldCipher.version_of(envelope)
                if len(rows) < batch:
                    break
                after = rows[-1][0]

    def count_by_table(self, conn: Connection, owner: int) -> dict[str, int]:
        """Rows holding the owner's ciphertexts, per table (for progress, and for what a
        shred makes unreadable)."""
        return {table: int(conn.execute(select(func.count()).select_from(t.metadata.tables[table])
                                        .where(self._owned(table, owner))).scalar_one())
                for table in self.tables_of(owner)}

    def reencrypt(self, conn: Connection, owner: int, table: str, after_id: int, limit: int) -> tuple[int, int]:
        """Re-seal up to ``limit`` rows of ``table`` (id > after_id) with the owner's current
        version: (last id seen, rows re-sealed). Rows already on it are left alone."""
        self._load(conn, owner)
        current = self.keys.current(owner)
        spec, table_obj = SEALED[table], t.metadata.tables[table]
        columns = [column for column, _ in spec.fields.values()]
        owner_cols = [table_obj.c[spec.owner_column]] if spec.owner_column else []
        rows = conn.execute(select(table_obj.c.id, *owner_cols, *(table_obj.c[c] for c in columns))
                            .where(self._owned(table, owner), table_obj.c.id > after_id)
                            .order_by(table_obj.c.id).limit(limit)).all()
        done = 0
        for row in rows:
            envelopes = [row._mapping[c] for c in columns if row._mapping[c] is not None]
            if all(FieldCipher.version_of(e) == current for e in envelopes):
                continue
            plain = self.open(conn, table, row)
            sealed = self.seal(conn, table, plain)
            conn.execute(update(table_obj).where(table_obj.c.id == row.id).values({c: sealed[c] for c in columns}))
            done += 1
        return (rows[-1].id if rows else after_id), done

    def versions_in_use(self, conn: Connection, owner: int) -> set[int]:
        used: set[int] = set()
        for table in self.tables_of(owner):
            table_obj = t.metadata.tables[table]
            for column, _ in SEALED[table].fields.values():
                col = table_obj.c[column]
                used |= {FieldCipher.version_of(e) for e in _column(conn, col, self._owned(table, owner))}
        return used

    def retire_old(self, conn: Connection, owner: int) -> list[int]:
        """Delete the owner's key versions older than the current one (after re-encryption)."""
        self._load(conn, owner)
        current = self.keys.current(owner)
        # Never retire a version a row still uses (a process that had not synced yet may have
        # written with it during the re-encryption): those versions wait for the next pass.
        still_used = self.versions_in_use(conn, owner)
        old = [v for v in self.keys.versions(owner) if v < current and v not in still_used]
        if old:
            conn.execute(delete(t.data_keys).where(t.data_keys.c.insurer_id == owner,
                                                   t.data_keys.c.version.in_(old)))
            for version in old:
                self.keys.retire(owner, version)
        return old

    def shred(self, conn: Connection, owner: int) -> int:
        """Crypto-shredding: destroy every data key of the owner; its data is unreadable."""
        removed = conn.execute(delete(t.data_keys).where(t.data_keys.c.insurer_id == owner)).rowcount
        self.keys.shred(owner)
        self._synced[owner] = time.monotonic()
        return int(removed)


def _column(conn: Connection, column: Any, where: Any) -> Iterable[str]:
    return (row[0] for row in conn.execute(select(column).where(where, column.is_not(None))))
