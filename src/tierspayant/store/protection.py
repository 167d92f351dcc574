"""Encryption at rest of beneficiaries' identity fields, inside the store: the use cases see
plain ``Beneficiary`` records; the database holds AES-256-GCM envelopes and blind indexes.
Data keys are loaded from ``data_keys`` (wrapped) on first use and created for an insurer that
has none, in the caller's transaction."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tierspayant.security.fields import (
    BlindIndex,
    FieldCipher,
    FieldRef,
    InvalidCiphertext,
    KeyEncryptionKey,
    KeyRing,
    WrappedKey,
)
from tierspayant.services.ports import Beneficiary
from tierspayant.store import tables as t

#: How often a process re-reads an insurer's stored keys (rotation and shredding by another
#: process reach it within this delay).
KEY_SYNC_SECONDS = 30.0
ENCRYPTED = ("nir", "member_number", "birth_date", "last_name", "first_name")
_COLUMN = {"nir": "nir_enc", "member_number": "member_enc", "birth_date": "birth_date_enc",
           "last_name": "last_name_enc", "first_name": "first_name_enc"}


class Protection:
    def __init__(self, keys: KeyRing, index: BlindIndex) -> None:
        self.keys = keys
        self.cipher = FieldCipher(keys)
        self.index = index
        self._synced: dict[int, float] = {}
        # A sealed stand-in, opened when a lookup finds nobody: "unknown patient" then costs the
        # same decryptions as "found, but wrong birth date" (THREATS.md T3, no timing oracle).
        dummy_keys = KeyRing(KeyEncryptionKey.generate())
        dummy_keys.new_version(0)
        self._dummy_cipher = FieldCipher(dummy_keys)
        self._dummy = {f: self._dummy_cipher.encrypt("2" * 15, FieldRef(0, "beneficiaries", f, 0)) for f in ENCRYPTED}

    def equalize(self) -> None:
        for f in ENCRYPTED:
            self._dummy_cipher.decrypt(self._dummy[f], FieldRef(0, "beneficiaries", f, 0))

    def _load(self, conn: Connection, insurer_id: int) -> None:
        """Sync this process's ring with the stored keys: new versions (a rotation done by
        another process) come in, removed ones (retired, shredded) go."""
        rows = conn.execute(select(t.data_keys.c.version, t.data_keys.c.wrapped)
                            .where(t.data_keys.c.insurer_id == insurer_id))
        stored = {version: wrapped for version, wrapped in rows}
        for version in self.keys.versions(insurer_id):
            if version not in stored:
                self.keys.retire(insurer_id, version)
        for version, wrapped in stored.items():
            if version not in self.keys.versions(insurer_id):
                self.keys.add(WrappedKey(insurer_id, version, wrapped))
        self._synced[insurer_id] = time.monotonic()

    def _sync(self, conn: Connection, insurer_id: int) -> None:
        if time.monotonic() - self._synced.get(insurer_id, -KEY_SYNC_SECONDS) >= KEY_SYNC_SECONDS:
            self._load(conn, insurer_id)

    def ensure_key(self, conn: Connection, insurer_id: int) -> None:
        """Keys in sync; a first key for an insurer that has none (to write with)."""
        self._sync(conn, insurer_id)
        if self.keys.versions(insurer_id):
            return
        self._load(conn, insurer_id)
        if not self.keys.versions(insurer_id):
            new = self.keys.new_version(insurer_id)
            conn.execute(insert(t.data_keys).values(insurer_id=insurer_id, version=new.version,
                                                    wrapped=new.wrapped, created_at=datetime.now(UTC)))

    def _decrypt(self, m: Any, insurer_id: int, row_id: int) -> dict[str, str]:
        return {f: self.cipher.decrypt(m[_COLUMN[f]], FieldRef(insurer_id, "beneficiaries", f, row_id))
                for f in ENCRYPTED}

    def nir_index(self, insurer_id: int, nir: str) -> str:
        return self.index.of("nir", insurer_id, nir)

    def member_index(self, insurer_id: int, member_number: str) -> str:
        return self.index.of("member", insurer_id, member_number)

    def seal(self, conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
        """A plain beneficiary row (with its id) -> the stored row."""
        insurer_id, row_id = row["insurer_id"], row["id"]
        self.ensure_key(conn, insurer_id)
        out = {k: v for k, v in row.items() if k not in ENCRYPTED}
        for field in ENCRYPTED:
            value = row[field].isoformat() if isinstance(row[field], date) else str(row[field])
            out[_COLUMN[field]] = self.cipher.encrypt(value, FieldRef(insurer_id, "beneficiaries", field, row_id))
        out["nir_bidx"] = self.nir_index(insurer_id, row["nir"])
        out["member_bidx"] = self.member_index(insurer_id, row["member_number"])
        return out

    def open(self, conn: Connection, row: Any) -> Beneficiary:
        m = row._mapping if hasattr(row, "_mapping") else row
        insurer_id, row_id = m["insurer_id"], m["id"]
        self._sync(conn, insurer_id)  # reading never creates a key
        try:
            plain = self._decrypt(m, insurer_id, row_id)
        except InvalidCiphertext:
            self._load(conn, insurer_id)  # a key version created by another process since
            plain = self._decrypt(m, insurer_id, row_id)  # still failing: shredded (raises)
        return Beneficiary(row_id, insurer_id, m["contract_id"], plain["member_number"], m["rank"], plain["nir"],
                           date.fromisoformat(plain["birth_date"]), plain["last_name"], plain["first_name"])

    # -- key administration (tiers keys) -----------------------------------------------------
    def rotate(self, conn: Connection, insurer_id: int) -> int:
        """A new data-key version for the insurer: it takes writes at once."""
        self._load(conn, insurer_id)
        new = self.keys.new_version(insurer_id)
        conn.execute(insert(t.data_keys).values(insurer_id=insurer_id, version=new.version, wrapped=new.wrapped,
                                                created_at=datetime.now(UTC)))
        return new.version

    def reencrypt(self, conn: Connection, insurer_id: int, after_id: int, limit: int) -> tuple[int, int]:
        """Re-seal up to ``limit`` beneficiaries (id > after_id) with the current version:
        (last id seen, rows re-sealed). Rows already on it are left alone."""
        self._load(conn, insurer_id)
        current = self.keys.current(insurer_id)
        rows = conn.execute(select(t.beneficiaries).where(t.beneficiaries.c.insurer_id == insurer_id,
                                                          t.beneficiaries.c.id > after_id)
                            .order_by(t.beneficiaries.c.id).limit(limit)).all()
        done = 0
        for row in rows:
            if FieldCipher.version_of(row.nir_enc) == current:
                continue
            b = self.open(conn, row)
            sealed = self.seal(conn, {"id": b.id, "insurer_id": b.insurer_id, "contract_id": b.contract_id,
                                      "rank": b.rank, "nir": b.nir, "member_number": b.member_number,
                                      "birth_date": b.birth_date, "last_name": b.last_name,
                                      "first_name": b.first_name})
            conn.execute(update(t.beneficiaries).where(t.beneficiaries.c.id == b.id)
                         .values({k: v for k, v in sealed.items() if k.endswith("_enc")}))
            done += 1
        return (rows[-1].id if rows else after_id), done

    def retire_old(self, conn: Connection, insurer_id: int) -> list[int]:
        """Delete the insurer's key versions older than the current one (after re-encryption)."""
        self._load(conn, insurer_id)
        current = self.keys.current(insurer_id)
        old = [v for v in self.keys.versions(insurer_id) if v < current]
        # Never retire a version a row still uses (a process that had not synced yet may have
        # written with it during the re-encryption): those versions wait for the next pass.
        still_used = {FieldCipher.version_of(row[0]) for row in conn.execute(
            select(t.beneficiaries.c.nir_enc).where(t.beneficiaries.c.insurer_id == insurer_id))}
        old = [v for v in old if v not in still_used]
        if old:
            conn.execute(delete(t.data_keys).where(t.data_keys.c.insurer_id == insurer_id,
                                                   t.data_keys.c.version.in_(old)))
            for version in old:
                self.keys.retire(insurer_id, version)
        return old

    def shred(self, conn: Connection, insurer_id: int) -> int:
        """Crypto-shredding: destroy every data key of the insurer; its data is unreadable."""
        removed = conn.execute(delete(t.data_keys).where(t.data_keys.c.insurer_id == insurer_id)).rowcount
        self.keys.shred(insurer_id)
        self._synced[insurer_id] = time.monotonic()
        return int(removed)
