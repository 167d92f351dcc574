"""Accounts, sessions and sign-in failures in SQL (``services.ports.identity``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update

from tierspayant.services.records import Account, Session
from tierspayant.store import tables as t
from tierspayant.store.base import SqlPort, dialect_insert
from tierspayant.store.prepared import Prepared

# Every authenticated request makes these lookups: built once, the session's run prepared.
_SESSION = (
    select(t.sessions.c.id, t.sessions.c.account_id, t.sessions.c.created_at, t.sessions.c.last_seen_at,
           t.sessions.c.expires_at, t.sessions.c.revoked, t.sessions.c.aal, t.sessions.c.novelty,
           t.sessions.c.network, t.sessions.c.auth_means, *[c.label(f"a_{c.name}") for c in t.accounts.c])
    .join(t.accounts, t.accounts.c.id == t.sessions.c.account_id)
    .where(t.sessions.c.token_hash == bindparam("token_hash"))
)
_ACCOUNT = select(t.accounts).where(t.accounts.c.id == bindparam("account_id"))
_SESSION_FAST = Prepared(_SESSION)
_ACCOUNT_COLUMNS = [c.name for c in t.accounts.c]


class SqlAccounts(SqlPort):
    """Accounts."""

    def account_by_username(self, username: str) -> Account | None:
        row = self.conn.execute(select(t.accounts).where(t.accounts.c.username == username)).first()
        return Account(**row._mapping) if row else None

    def account(self, account_id: int) -> Account | None:
        row = self.conn.execute(_ACCOUNT, {"account_id": account_id}).first()
        return Account(**row._mapping) if row else None

    def accounts_of_organisation(self, organisation_id: int) -> list[Account]:
        rows = self.conn.execute(select(t.accounts).where(t.accounts.c.organisation_id == organisation_id)
                                 .order_by(t.accounts.c.id))
        return [Account(**row._mapping) for row in rows]

    def account_of_professional(self, professional_id: int) -> Account | None:
        row = self.conn.execute(select(t.accounts).where(t.accounts.c.professional_id == professional_id,
                                                         t.accounts.c.role == "professional")
                                .order_by(t.accounts.c.id).limit(1)).first()
        return Account(**row._mapping) if row else None

    def add_account(self, account: Account) -> int:
        values = {k: getattr(account, k) for k in Account.__slots__ if k != "id"}
        return self._insert(t.accounts, values, "username")

    def set_totp_last_step(self, account_id: int, step: int) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(totp_last_step=step))

    def set_password_hash(self, account_id: int, password_hash: str) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(password_hash=password_hash))

    def set_disabled(self, account_id: int, disabled: bool) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(disabled=disabled))

    def set_role(self, account_id: int, role: str) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(role=role))


class SqlSessions(SqlPort):
    """Sessions by token hash (the authentication lookup runs prepared)."""

    def add_session(self, account_id: int, token_hash: str, created_at: datetime, expires_at: datetime,
                    aal: str = "password_totp", novelty: int = 0, network: str | None = None,
                    auth_means: str | None = None) -> int:
        return self._insert(t.sessions, {
            "account_id": account_id, "token_hash": token_hash, "created_at": created_at,
            "last_seen_at": created_at, "expires_at": expires_at, "revoked": False, "aal": aal,
            "novelty": novelty, "network": network, "auth_means": auth_means,
        }, "token")

    def fingerprints(self, account_id: int) -> set[tuple[str, str]]:
        f = t.account_fingerprints.c
        return {(k, v) for k, v in self.conn.execute(select(f.kind, f.fingerprint).where(f.account_id == account_id))}

    def remember_fingerprints(self, account_id: int, seen: list[tuple[str, str]], at: datetime) -> None:
        if not seen:
            return
        f = t.account_fingerprints
        stmt = dialect_insert(self.conn)(f).values([{"account_id": account_id, "kind": k, "fingerprint": v, "first_at": at, "last_at": at}
                                  for k, v in seen])
        self.conn.execute(stmt.on_conflict_do_update(index_elements=[f.c.account_id, f.c.kind, f.c.fingerprint],
                                                     set_={"last_at": stmt.excluded.last_at}))

    def session(self, session_id: int) -> Session | None:
        c = t.sessions.c
        row = self.conn.execute(select(c.id, c.account_id, c.created_at, c.last_seen_at, c.expires_at, c.revoked, c.aal,
                                       c.novelty, c.network, c.auth_means).where(c.id == session_id)).first()
        return Session(**row._mapping) if row else None

    def session_by_token_hash(self, token_hash: str) -> tuple[Session, Account] | None:
        rows = _SESSION_FAST.all(self.conn, {"token_hash": token_hash})
        if not rows:
            return None
        row = rows[0]
        account = dict(zip(_ACCOUNT_COLUMNS, row[10:], strict=True))
        return Session(*row[:10]), Account(**{name: account[name] for name in Account.__slots__})

    def touch_session(self, session_id: int, at: datetime) -> None:
        self.conn.execute(update(t.sessions).where(t.sessions.c.id == session_id).values(last_seen_at=at))

    def revoke_session(self, session_id: int) -> None:
        self.conn.execute(update(t.sessions).where(t.sessions.c.id == session_id).values(revoked=True))

    def live_sessions_of(self, account_id: int, at: datetime) -> list[Session]:
        c = t.sessions.c
        rows = self.conn.execute(select(c.id, c.account_id, c.created_at, c.last_seen_at, c.expires_at, c.revoked,
                                        c.aal, c.novelty, c.network, c.auth_means)
                                 .where(c.account_id == account_id, c.revoked.is_(False), c.expires_at > at)
                                 .order_by(c.id))
        return [Session(**row._mapping) for row in rows]

    def revoke_sessions_of(self, account_id: int) -> int:
        return int(self.conn.execute(update(t.sessions).where(t.sessions.c.account_id == account_id,
                                                              t.sessions.c.revoked.is_(False))
                                     .values(revoked=True)).rowcount)

    def revoke_all_sessions(self) -> int:
        return int(self.conn.execute(update(t.sessions).where(t.sessions.c.revoked.is_(False))
                                     .values(revoked=True)).rowcount)


class SqlSignInFailures(SqlPort):
    """Failure counters per throttle key."""

    def failures(self, key: str) -> tuple[int, datetime, datetime] | None:
        row = self.conn.execute(select(t.signin_failures.c.failures, t.signin_failures.c.window_start,
                                       t.signin_failures.c.last_failure).where(t.signin_failures.c.key == key)).first()
        return (row[0], row[1], row[2]) if row else None

    def record_failure(self, key: str, at: datetime, window: timedelta) -> None:
        current = self.failures(key)
        if current is None:
            self.conn.execute(insert(t.signin_failures).values(key=key, failures=1, window_start=at, last_failure=at))
        elif at - current[1] > window:
            self.conn.execute(update(t.signin_failures).where(t.signin_failures.c.key == key)
                              .values(failures=1, window_start=at, last_failure=at))
        else:
            self.conn.execute(update(t.signin_failures).where(t.signin_failures.c.key == key)
                              .values(failures=t.signin_failures.c.failures + 1, last_failure=at))

    def clear_failures(self, key: str) -> None:
        self.conn.execute(delete(t.signin_failures).where(t.signin_failures.c.key == key))
