"""Accounts and sessions (password + TOTP until passkeys replace it).

Sessions: 256-bit tokens stored hashed, idle timeout 15 min and absolute 12 h, a new token at each
sign-in; disabling an account ends its sessions at once (the account is checked on every request).
Every failure is the same opaque ``Unauthenticated`` (ASVS 6.3.8; THREATS.md T4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tierspayant.security import passwords, totp
from tierspayant.security.policy import Principal, Role
from tierspayant.security.tokens import hash_token, new_session_token
from tierspayant.services.errors import Unauthenticated
from tierspayant.services.ports import Account, Clock, UnitOfWork

IDLE_TIMEOUT = timedelta(minutes=15)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
#: last_seen_at is written at most this often (a write per request would tax the hot path).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    expires_at: datetime
    role: Role


class AccountsService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def sign_in(self, username: str, password: str, code: str) -> SignedIn:
        now = self.clock.now()
        with self.uow() as repos:
            account = repos.account_by_username(username)
            # Verify a hash even for an unknown user: same time either way.
            password_ok = passwords.verify_password(account.password_hash if account else None, password)
            if account is None or not password_ok or account.disabled:
                raise Unauthenticated()
            step = totp.accepted_step(account.totp_secret, code, now, account.totp_last_step)
            if step is None:
                raise Unauthenticated()
            repos.set_totp_last_step(account.id, step)
            token = new_session_token()
            expires_at = now + ABSOLUTE_TIMEOUT
            repos.add_session(account.id, hash_token(token), now, expires_at)
            return SignedIn(token, expires_at, Role(account.role))

    def authenticate(self, token: str) -> Principal:
        now = self.clock.now()
        with self.uow(readonly=True) as repos:
            found = repos.session_by_token_hash(hash_token(token))
        if found is None:
            raise Unauthenticated()
        session, account = found
        if session.revoked or now >= session.expires_at or now - session.last_seen_at >= IDLE_TIMEOUT:
            raise Unauthenticated()
        if account.disabled:
            raise Unauthenticated()
        if now - session.last_seen_at >= TOUCH_EVERY:
            with self.uow() as repos:
                repos.touch_session(session.id, now)
        return Principal(account.id, session.id, Role(account.role), account.organisation_id,
                         account.professional_id, account.insurer_id)

    def sign_out(self, principal: Principal) -> None:
        with self.uow() as repos:
            repos.revoke_session(principal.session_id)

    def create(self, username: str, password: str, role: Role, *, organisation_id: int | None = None,
               professional_id: int | None = None, insurer_id: int | None = None) -> tuple[int, str]:
        """A new account; returns its id and TOTP secret (to enrol in an authenticator app)."""
        secret = totp.new_secret()
        with self.uow() as repos:
            account_id = repos.add_account(Account(
                0, username, passwords.hash_password(password), secret, 0, role.value, organisation_id,
                professional_id, insurer_id, False,
            ))
        return account_id, secret
