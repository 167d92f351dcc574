"""The ports of who is acting: accounts, sessions, sign-in failures, passkeys and OpenID Connect
(contracts: ``services/ports/__init__.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from tierspayant.services.records import Account, Passkey, Session


class Accounts(Protocol):
    """Accounts of professionals, insurers' operators, officers and admins."""

    def account_by_username(self, username: str) -> Account | None:
        """The account with this user name (exact), or None."""
        ...

    def account(self, account_id: int) -> Account | None:
        """The account, or None."""
        ...

    def accounts_of_organisation(self, organisation_id: int) -> list[Account]:
        """The organisation's accounts (disabled ones included), oldest first."""
        ...

    def account_of_professional(self, professional_id: int) -> Account | None:
        """The professional's own account (role professional, the oldest if several), or None."""
        ...

    def add_account(self, account: Account) -> int:
        """A new account's id (``account.id`` ignored). Raises ``Conflict("username")`` when it exists."""
        ...

    def set_totp_last_step(self, account_id: int, step: int) -> None:
        """Remember the last TOTP step accepted (a code is accepted once)."""
        ...

    def set_password_hash(self, account_id: int, password_hash: str) -> None:
        """Replace the account's password hash (a rehash with current settings)."""
        ...

    def set_disabled(self, account_id: int, disabled: bool) -> None:
        """Disable or re-enable the account (its sessions are the caller's business)."""
        ...

    def set_role(self, account_id: int, role: str) -> None:
        """Give the account another role (its sessions are the caller's business)."""
        ...


class Sessions(Protocol):
    """Sessions, stored by the hash of their token."""

    def add_session(self, account_id: int, token_hash: str, created_at: datetime, expires_at: datetime,
                    aal: str = "password_totp", novelty: int = 0, network: str | None = None,
                    auth_means: str | None = None) -> int:
        """A new session's id (``auth_means``: a provider's means of authentication, kept as
        given). Raises ``Conflict("token")`` when the hash exists."""
        ...

    def fingerprints(self, account_id: int) -> set[tuple[str, str]]:
        """The (kind, fingerprint) pairs the account has signed in from (security/novelty.py)."""
        ...

    def remember_fingerprints(self, account_id: int, seen: list[tuple[str, str]], at: datetime) -> None:
        """Record these (kind, fingerprint) pairs as seen for the account at ``at``."""
        ...

    def session(self, session_id: int) -> Session | None:
        """The session with this id (revoked and expired ones included), or None."""
        ...

    def session_by_token_hash(self, token_hash: str) -> tuple[Session, Account] | None:
        """The session and its account, in one lookup (every request makes it), or None.
        Revoked and expired sessions are returned too: the caller decides."""
        ...

    def touch_session(self, session_id: int, at: datetime) -> None:
        """Record activity (the idle timeout counts from here)."""
        ...

    def revoke_session(self, session_id: int) -> None:
        """End one session (a no-op when absent or already ended)."""
        ...

    def live_sessions_of(self, account_id: int, at: datetime) -> list[Session]:
        """The account's sessions neither revoked nor past their absolute expiry (idle ones
        included), oldest first."""
        ...

    def revoke_sessions_of(self, account_id: int) -> int:
        """End every live session of the account; how many were ended."""
        ...

    def revoke_all_sessions(self) -> int:
        """End every live session of the platform; how many were ended."""
        ...


class SignInFailures(Protocol):
    """Failed sign-ins per throttle key (an account name's digest, a source)."""

    def failures(self, key: str) -> tuple[int, datetime, datetime] | None:
        """(failures, window start, last failure) for the key, or None when it has none."""
        ...

    def record_failure(self, key: str, at: datetime, window: timedelta) -> None:
        """Count a failure; a window started more than ``window`` ago starts again at 1."""
        ...

    def clear_failures(self, key: str) -> None:
        """Forget the key's failures (after a successful sign-in)."""
        ...


class Passkeys(Protocol):
    """Passkeys, their enrolment codes and challenges, and OpenID Connect states: everything
    single-use here is consumed atomically, so that a replay is never accepted twice."""

    def add_enrolment_code(self, code_hash: str, account_id: int, expires_at: datetime) -> None:
        """Store a one-time enrolment code (by its hash)."""
        ...

    def enrolment_account(self, code_hash: str, at: datetime) -> int | None:
        """The account of a live, unused enrolment code; None otherwise."""
        ...

    def use_enrolment_code(self, code_hash: str) -> bool:
        """Mark the code used: True once, False if it already was (concurrent use)."""
        ...

    def add_challenge(self, challenge_hash: str, purpose: str, account_id: int | None, expires_at: datetime) -> None:
        """Store a WebAuthn challenge (by its hash) for ``purpose`` ("register" or "authenticate",
        a step-up included)."""
        ...

    def take_challenge(self, challenge_hash: str, purpose: str, at: datetime) -> tuple[bool, int | None]:
        """Consume a live, unused challenge of ``purpose``: (True, its account) once, then
        (False, None) -- also for an unknown, expired or other-purpose challenge."""
        ...

    def add_passkey(self, account_id: int, credential_id: str, public_key: bytes, sign_count: int,
                    at: datetime) -> int:
        """A new passkey's id. Raises ``Conflict("credential")`` when the credential is registered."""
        ...

    def passkey_by_credential_id(self, credential_id: str) -> Passkey | None:
        """The passkey with this credential id (revoked ones included), or None."""
        ...

    def passkeys_of(self, account_id: int) -> list[Passkey]:
        """The account's passkeys (revoked ones included), oldest first."""
        ...

    def set_sign_count(self, passkey_id: int, sign_count: int) -> None:
        """Remember the authenticator's signature counter (clone detection)."""
        ...

    def revoke_passkey(self, account_id: int, passkey_id: int) -> bool:
        """Revoke one of the account's passkeys; False when it has no such passkey."""
        ...

    def add_oidc_state(self, state_hash: str, nonce: str, verifier: str, expires_at: datetime) -> None:
        """Store a pending OpenID Connect sign-in (state by its hash, nonce, PKCE verifier)."""
        ...

    def take_oidc_state(self, state_hash: str, at: datetime) -> tuple[str, str] | None:
        """(nonce, PKCE verifier) of a live, unused state, consumed; None otherwise."""
        ...
