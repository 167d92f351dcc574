"""Passkeys, enrolment codes, WebAuthn challenges and OIDC states in SQL (``services.ports.identity.Passkeys``)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update

from tierspayant.services.records import Passkey
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort


class SqlPasskeys(SqlPort):
    """Single-use rows consumed by a conditional UPDATE (a replay finds them used)."""

    def add_enrolment_code(self, code_hash: str, account_id: int, expires_at: datetime) -> None:
        self.conn.execute(insert(t.enrolment_codes).values(code_hash=code_hash, account_id=account_id,
                                                           expires_at=expires_at, used=False))

    def enrolment_account(self, code_hash: str, at: datetime) -> int | None:
        return self.conn.execute(select(t.enrolment_codes.c.account_id).where(
            t.enrolment_codes.c.code_hash == code_hash, t.enrolment_codes.c.used.is_(False),
            t.enrolment_codes.c.expires_at > at)).scalar()

    def use_enrolment_code(self, code_hash: str) -> bool:
        result = self.conn.execute(update(t.enrolment_codes).where(
            t.enrolment_codes.c.code_hash == code_hash, t.enrolment_codes.c.used.is_(False)).values(used=True))
        return result.rowcount == 1

    def add_challenge(self, challenge_hash: str, purpose: str, account_id: int | None, expires_at: datetime) -> None:
        self.conn.execute(insert(t.webauthn_challenges).values(challenge_hash=challenge_hash, purpose=purpose,
                                                               account_id=account_id, expires_at=expires_at,
                                                               used=False))

    def take_challenge(self, challenge_hash: str, purpose: str, at: datetime) -> tuple[bool, int | None]:
        c = t.webauthn_challenges.c
        where = and_(c.challenge_hash == challenge_hash, c.purpose == purpose, c.used.is_(False), c.expires_at > at)
        account_id = self.conn.execute(select(c.account_id).where(where)).first()
        if account_id is None or self.conn.execute(update(t.webauthn_challenges).where(where)
                                                   .values(used=True)).rowcount != 1:
            return False, None
        return True, account_id[0]

    def add_passkey(self, account_id: int, credential_id: str, public_key: bytes, sign_count: int,
                    at: datetime) -> int:
        return self._insert(t.passkeys, {
            "account_id": account_id, "credential_id": credential_id,
            "public_key": base64.b64encode(public_key).decode(), "sign_count": sign_count, "created_at": at,
            "revoked": False,
        }, "credential")

    def _passkey(self, row: Any) -> Passkey:
        return Passkey(row.id, row.account_id, row.credential_id, base64.b64decode(row.public_key), row.sign_count,
                       row.created_at, row.revoked)

    def passkey_by_credential_id(self, credential_id: str) -> Passkey | None:
        row = self.conn.execute(select(t.passkeys).where(t.passkeys.c.credential_id == credential_id)).first()
        return self._passkey(row) if row else None

    def passkeys_of(self, account_id: int) -> list[Passkey]:
        rows = self.conn.execute(select(t.passkeys).where(t.passkeys.c.account_id == account_id)
                                 .order_by(t.passkeys.c.id))
        return [self._passkey(r) for r in rows]

    def set_sign_count(self, passkey_id: int, sign_count: int) -> None:
        self.conn.execute(update(t.passkeys).where(t.passkeys.c.id == passkey_id).values(sign_count=sign_count))

    def revoke_passkey(self, account_id: int, passkey_id: int) -> bool:
        result = self.conn.execute(update(t.passkeys).where(
            t.passkeys.c.id == passkey_id, t.passkeys.c.account_id == account_id).values(revoked=True))
        return result.rowcount == 1

    def add_oidc_state(self, state_hash: str, nonce: str, verifier: str, expires_at: datetime) -> None:
        self.conn.execute(insert(t.oidc_states).values(state_hash=state_hash, nonce=nonce, verifier=verifier,
                                                       expires_at=expires_at, used=False))

    def take_oidc_state(self, state_hash: str, at: datetime) -> tuple[str, str] | None:
        c = t.oidc_states.c
        where = and_(c.state_hash == state_hash, c.used.is_(False), c.expires_at > at)
        row = self.conn.execute(select(c.nonce, c.verifier).where(where)).first()
        if row is None or self.conn.execute(update(t.oidc_states).where(where).values(used=True)).rowcount != 1:
            return None
        return row[0], row[1]
