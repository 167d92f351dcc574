"""Encryption at rest of beneficiaries' identity fields, inside the store: the use cases see
plain ``Beneficiary`` records; the database holds AES-256-GCM envelopes and blind indexes.
Data keys are loaded from ``data_keys`` (wrapped) on first use and created for an insurer that
has none, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

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

ENCRYPTED = ("nir", "member_number", "birth_date", "last_name", "first_name")
_COLUMN = {"nir": "nir_enc", "member_number": "member_enc", "birth_date": "birth_date_enc",
           "last_name": "last_name_enc", "first_name": "first_name_enc"}


class Protection:
    def __init__(self, keys: KeyRing, index: BlindIndex) -> None:
        self.keys = keys
        self.cipher = FieldCipher(keys)
        self.index = index
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
        rows = conn.execute(select(t.data_keys.c.version, t.data_keys.c.wrapped)
                            .where(t.data_keys.c.insurer_id == insurer_id))
        for version, wrapped in rows:
            if version not in self.keys.versions(insurer_id):
                self.keys.add(WrappedKey(insurer_id, version, wrapped))

    def ensure_key(self, conn: Connection, insurer_id: int) -> None:
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
        try:
            plain = self._decrypt(m, insurer_id, row_id)
        except InvalidCiphertext:
            self._load(conn, insurer_id)  # a key version created by another process since
            plain = self._decrypt(m, insurer_id, row_id)
        return Beneficiary(row_id, insurer_id, m["contract_id"], plain["member_number"], m["rank"], plain["nir"],
                           date.fromisoformat(plain["birth_date"]), plain["last_name"], plain["first_name"])
