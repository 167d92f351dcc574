"""In-memory fakes of the identity ports (services/ports/identity.py), keeping their contracts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from tests.fakes.state import FakeState
from tierspayant.services.ports import Conflict
from tierspayant.services.records import Account, Passkey, Session


class FakeAccounts:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def account_by_username(self, username: str) -> Account | None:
        return next((a for a in self.s.accounts.values() if a.username == username), None)

    def account(self, account_id: int) -> Account | None:
        return self.s.accounts.get(account_id)

    def accounts_of_organisation(self, organisation_id: int) -> list[Account]:
        return [a for a in sorted(self.s.accounts.values(), key=lambda a: a.id) if a.organisation_id == organisation_id]

    def account_of_professional(self, professional_id: int) -> Account | None:
        return next((a for a in sorted(self.s.accounts.values(), key=lambda a: a.id)
                     if a.professional_id == professional_id and a.role == "professional"), None)

    def add_account(self, account: Account) -> int:
        if self.account_by_username(account.username) is not None:
            raise Conflict("username", "already exists")
        new = self.s.new_id()
        self.s.accounts[new] = replace(account, id=new)
        return new

    def set_totp_last_step(self, account_id: int, step: int) -> None:
        self.s.accounts[account_id] = replace(self.s.accounts[account_id], totp_last_step=step)

    def set_password_hash(self, account_id: int, password_hash: str) -> None:
        self.s.accounts[account_id] = replace(self.s.accounts[account_id], password_hash=password_hash)

    def set_disabled(self, account_id: int, disabled: bool) -> None:
        self.s.accounts[account_id] = replace(self.s.accounts[account_id], disabled=disabled)

    def set_role(self, account_id: int, role: str) -> None:
        self.s.accounts[account_id] = replace(self.s.accounts[account_id], role=role)


class FakeSessions:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def add_session(self, account_id: int, token_hash: str, created_at: datetime, expires_at: datetime,
                    aal: str = "password_totp", novelty: int = 0, network: str | None = None,
                    auth_means: str | None = None) -> int:
        if any(h == token_hash for _, h in self.s.sessions.values()):
            raise Conflict("token", "already exists")
        new = self.s.new_id()
        self.s.sessions[new] = (Session(new, account_id, created_at, created_at, expires_at, False, aal, novelty,
                                        network, auth_means), token_hash)
        return new

    def fingerprints(self, account_id: int) -> set[tuple[str, str]]:
        return {(k, v) for (a, k, v) in self.s.fingerprints if a == account_id}

    def remember_fingerprints(self, account_id: int, seen: list[tuple[str, str]], at: datetime) -> None:
        for kind, value in seen:
            self.s.fingerprints.setdefault((account_id, kind, value), at)

    def session(self, session_id: int) -> Session | None:
        found = self.s.sessions.get(session_id)
        return found[0] if found else None

    def session_by_token_hash(self, token_hash: str) -> tuple[Session, Account] | None:
        for session, stored in self.s.sessions.values():
            if stored == token_hash:
                return session, self.s.accounts[session.account_id]
        return None

    def _update(self, session_id: int, **changes: object) -> None:
        if session_id in self.s.sessions:
            session, stored = self.s.sessions[session_id]
            self.s.sessions[session_id] = (replace(session, **changes), stored)  # type: ignore[arg-type]

    def touch_session(self, session_id: int, at: datetime) -> None:
        self._update(session_id, last_seen_at=at)

    def revoke_session(self, session_id: int) -> None:
        self._update(session_id, revoked=True)

    def live_sessions_of(self, account_id: int, at: datetime) -> list[Session]:
        return [s for s, _ in sorted(self.s.sessions.values(), key=lambda x: x[0].id)
                if s.account_id == account_id and not s.revoked and s.expires_at > at]

    def revoke_sessions_of(self, account_id: int) -> int:
        live = [s.id for s, _ in self.s.sessions.values() if s.account_id == account_id and not s.revoked]
        for session_id in live:
            self.revoke_session(session_id)
        return len(live)

    def revoke_all_sessions(self) -> int:
        live = [s.id for s, _ in self.s.sessions.values() if not s.revoked]
        for session_id in live:
            self.revoke_session(session_id)
        return len(live)


class FakeSignInFailures:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def failures(self, key: str) -> tuple[int, datetime, datetime] | None:
        return self.s.failures.get(key)

    def record_failure(self, key: str, at: datetime, window: timedelta) -> None:
        current = self.s.failures.get(key)
        if current is None or at - current[1] > window:
            self.s.failures[key] = (1, at, at)
        else:
            self.s.failures[key] = (current[0] + 1, current[1], at)

    def clear_failures(self, key: str) -> None:
        self.s.failures.pop(key, None)


class FakePasskeys:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def add_enrolment_code(self, code_hash: str, account_id: int, expires_at: datetime) -> None:
        self.s.enrolment_codes[code_hash] = (account_id, expires_at, False)

    def enrolment_account(self, code_hash: str, at: datetime) -> int | None:
        found = self.s.enrolment_codes.get(code_hash)
        return found[0] if found and not found[2] and found[1] > at else None

    def use_enrolment_code(self, code_hash: str) -> bool:
        found = self.s.enrolment_codes.get(code_hash)
        if found is None or found[2]:
            return False
        self.s.enrolment_codes[code_hash] = (found[0], found[1], True)
        return True

    def add_challenge(self, challenge_hash: str, purpose: str, account_id: int | None, expires_at: datetime) -> None:
        self.s.challenges[challenge_hash] = (purpose, account_id, expires_at, False)

    def take_challenge(self, challenge_hash: str, purpose: str, at: datetime) -> tuple[bool, int | None]:
        found = self.s.challenges.get(challenge_hash)
        if found is None or found[0] != purpose or found[3] or found[2] <= at:
            return False, None
        self.s.challenges[challenge_hash] = (*found[:3], True)
        return True, found[1]

    def add_passkey(self, account_id: int, credential_id: str, public_key: bytes, sign_count: int,
                    at: datetime) -> int:
        if self.passkey_by_credential_id(credential_id) is not None:
            raise Conflict("credential", "already exists")
        new = self.s.new_id()
        self.s.passkeys[new] = Passkey(new, account_id, credential_id, public_key, sign_count, at, False)
        return new

    def passkey_by_credential_id(self, credential_id: str) -> Passkey | None:
        return next((p for p in self.s.passkeys.values() if p.credential_id == credential_id), None)

    def passkeys_of(self, account_id: int) -> list[Passkey]:
        return [p for p in sorted(self.s.passkeys.values(), key=lambda p: p.id) if p.account_id == account_id]

    def set_sign_count(self, passkey_id: int, sign_count: int) -> None:
        self.s.passkeys[passkey_id] = replace(self.s.passkeys[passkey_id], sign_count=sign_count)

    def revoke_passkey(self, account_id: int, passkey_id: int) -> bool:
        passkey = self.s.passkeys.get(passkey_id)
        if passkey is None or passkey.account_id != account_id:
            return False
        self.s.passkeys[passkey_id] = replace(passkey, revoked=True)
        return True

    def add_oidc_state(self, state_hash: str, nonce: str, verifier: str, expires_at: datetime) -> None:
        self.s.oidc[state_hash] = (nonce, verifier, expires_at, False)

    def take_oidc_state(self, state_hash: str, at: datetime) -> tuple[str, str] | None:
        found = self.s.oidc.get(state_hash)
        if found is None or found[3] or found[2] <= at:
            return None
        self.s.oidc[state_hash] = (*found[:3], True)
        return found[0], found[1]
