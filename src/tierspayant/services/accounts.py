"""Accounts and sessions (password + TOTP until passkeys replace it).

Sessions: 256-bit tokens stored hashed, idle timeout 15 min and absolute 12 h, a new token at each
sign-in; disabling an account ends its sessions at once (the account is checked on every request).
Every failure is the same opaque ``Unauthenticated`` (ASVS 6.3.8; docs/THREATS.md T4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from tierspayant.audit.events import Tag
from tierspayant.security import novelty, passwords, totp
from tierspayant.security.digests import content_digest
from tierspayant.security.oidc import OidcRejected, Pending, new_pending
from tierspayant.security.policy import Assurance, NotFound, Principal, Role
from tierspayant.security.pseudonyms import Pseudonymizer
from tierspayant.security.throttle import SOURCE_MEMORY, TokenBuckets, account_blocked_until, source_blocked_until
from tierspayant.security.tokens import hash_token, new_reference, new_session_token
from tierspayant.security.webauthn import (
    PasskeyPolicy,
    PasskeyRejected,
    b64url,
    challenge_of,
    credential_id_of,
    new_challenge,
)
from tierspayant.services.audit import Recorder
from tierspayant.services.detection import DetectionService
from tierspayant.services.errors import AccountSuspended, RateLimited, Throttled, Unauthenticated
from tierspayant.services.ports import (
    Clock,
    Conflict,
    HasAccounts,
    HasLog,
    HasPasskeys,
    HasProfessionals,
    HasSessions,
    HasSignInFailures,
    UnitOfWork,
)
from tierspayant.services.ports.outside import IdentityProvider
from tierspayant.services.pro_sante_connect import account_for
from tierspayant.services.records import Account, Passkey, Session


class AccountsStore(HasProfessionals, HasAccounts, HasSessions, HasSignInFailures, HasPasskeys, HasLog, Protocol):
    """The ports this use case works with (services/ports/)."""

IDLE_TIMEOUT = timedelta(minutes=15)
#: Failures of one account name are forgotten after a day without any.
ACCOUNT_FAILURE_MEMORY = timedelta(hours=24)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
#: last_seen_at is written at most this often (a write per request would tax the hot path).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    expires_at: datetime
    role: Role
    aal: str = Assurance.PASSWORD_TOTP.value
    #: Pro Santé Connect sessions: the means of authentication (``authMode``); else None.
    auth_means: str | None = None


ENROLMENT_VALIDITY = timedelta(hours=24)
#: The operator at the server's shell (``tiers accounts`` without ``--admin``, ``tiers seed``):
#: recorded on the log as account 0.
OPERATOR_SHELL = Principal(0, 0, Role.PLATFORM_ADMIN, request_id="operator-shell")


def account_ref(account_id: int) -> str:
    """How the log names an account an event is about (an id, never its user name)."""
    return f"A{account_id}"


def new_account(username: str, password: str | None, role: Role, organisation_id: int | None = None,
                professional_id: int | None = None, insurer_id: int | None = None) -> Account:
    """An account record with a fresh TOTP secret; ``password`` None: none usable (a random
    secret hashed and forgotten), the account signs in with the passkey its enrolment code
    registers, or Pro Santé Connect (docs/THREATS.md T1)."""
    return Account(0, username, passwords.hash_password(password if password is not None else new_session_token()),
                   totp.new_secret(), 0, role.value, organisation_id, professional_id, insurer_id, False)
CHALLENGE_VALIDITY = timedelta(minutes=5)
OIDC_STATE_VALIDITY = timedelta(minutes=10)


def _open_session(tx: AccountsStore, account: Account, now: datetime, aal: Assurance,
                  seen: tuple[str | None, str | None] = (None, None), auth_means: str | None = None) -> SignedIn:
    """A new token at each (re)authentication (ASVS 7.2.4), stored hashed. ``seen``: the keyed
    fingerprints of the device and network it is opened from, compared with the account's
    earlier sign-ins and remembered (security/novelty.py). ``auth_means``: how the provider
    authenticated the person (PSC's ``authMode``: CARD, MOBILE), kept on the session."""
    token = new_session_token()
    expires_at = now + ABSOLUTE_TIMEOUT
    device, network = seen
    shown = [(k, v) for k, v in (("device", device), ("network", network)) if v is not None]
    bits = novelty.novelty(tx.sessions.fingerprints(account.id), device, network) if shown else 0
    tx.sessions.remember_fingerprints(account.id, shown, now)
    tx.sessions.add_session(account.id, hash_token(token), now, expires_at, aal.value, bits, network, auth_means)
    return SignedIn(token, expires_at, Role(account.role), aal.value, auth_means)


class AccountsService:
    def __init__(self, uow: UnitOfWork[AccountsStore], clock: Clock, passkeys: PasskeyPolicy, oidc: IdentityProvider | None = None,
                 detection: DetectionService | None = None, rates: TokenBuckets | None = None,
                 monotonic: Callable[[], float] | None = None, pseudonyms: Pseudonymizer | None = None,
                 recorder: Recorder | None = None) -> None:
        self.uow = uow
        #: Writes the lifecycle's events (enrolment codes) to the transparency log.
        self.recorder = recorder
        #: Keys the fingerprints of devices and networks (None: not kept, nothing is ever new).
        self.pseudonyms = pseudonyms
        self._networks: dict[str, str | None] = {}
        self.clock = clock
        self.passkeys = passkeys
        self.oidc = oidc
        self.detection = detection
        #: Each account's request rate across its sessions (docs/THREATS.md, "Floods"), on a
        #: monotonic clock in seconds: capacity is wall time.
        self.rates = rates
        self.monotonic = monotonic

    def sign_in(self, username: str, password: str, code: str, source: str = "unknown") -> SignedIn:
        """Password + TOTP. Every failure is the same ``Unauthenticated``, including while the
        account name is under its progressive delay; a source over its limit gets ``Throttled``.
        Passkey sign-in is never slowed by these counters (docs/THREATS.md T4)."""
        now = self.clock.now()
        account_key = "account:" + content_digest(username.strip().lower().encode())[:40]
        source_key = "source:" + source[:60]
        with self.uow(readonly=True) as tx:
            by_source = tx.sign_in_failures.failures(source_key)
            by_account = tx.sign_in_failures.failures(account_key)
            account = tx.accounts.account_by_username(username)
        if by_source is not None:
            until = source_blocked_until(by_source[0], by_source[2])
            if until is not None and now < until:
                raise Throttled(int((until - now).total_seconds()) + 1)
        # Verify a hash even for an unknown user or a delayed name: same time either way.
        password_ok = passwords.verify_password(account.password_hash if account else None, password)
        delayed = by_account is not None and now < account_blocked_until(by_account[0], by_account[2])
        step = None
        if account is not None and password_ok and not account.disabled and not delayed:
            step = totp.accepted_step(account.totp_secret, code, now, account.totp_last_step)
        if account is None or step is None:
            with self.uow() as tx:
                if not delayed:
                    tx.sign_in_failures.record_failure(account_key, now, ACCOUNT_FAILURE_MEMORY)
                tx.sign_in_failures.record_failure(source_key, now, SOURCE_MEMORY)
            raise Unauthenticated()
        if self._contained(account):
            raise Unauthenticated()  # opaque before strong authentication: a password may be stolen
        rehashed = passwords.hash_password(password) if passwords.needs_rehash(account.password_hash) else None
        with self.uow() as tx:
            tx.accounts.set_totp_last_step(account.id, step)
            if rehashed is not None:  # made with older settings: redone now that we hold the password
                tx.accounts.set_password_hash(account.id, rehashed)
            tx.sign_in_failures.clear_failures(account_key)
            return _open_session(tx, account, now, Assurance.PASSWORD_TOTP, self._seen(None, source))

    def _contained(self, account: Account) -> bool:
        """A suspension covers the account or its organisation: no new session by any means,
        no enrolment, until an officer lifts it (docs/THREATS.md, detection and containment)."""
        return self.detection is not None and self.detection.contained(account.id, account.organisation_id)

    def _seen(self, device: str | None, source: str | None) -> tuple[str | None, str | None]:
        """Keyed fingerprints of a sign-in's device (passkey credential id) and network."""
        if self.pseudonyms is None:
            return None, None
        return self.pseudonyms.fingerprint("device", device) if device else None, self._network(source)

    def _network(self, source: str | None) -> str | None:
        """The keyed fingerprint of the source's network, remembered per source (every
        authenticated request asks, to compare with its session's)."""
        if source is None or self.pseudonyms is None:
            return None
        if source not in self._networks:
            if len(self._networks) > 10_000:
                self._networks.clear()
            network = novelty.network_of(source)
            self._networks[source] = self.pseudonyms.fingerprint("network", network) if network else None
        return self._networks[source]

    def authenticate(self, token: str, source: str | None = None) -> Principal:
        """The principal of a live session; ``source``: the request's address, compared with the
        network the session was opened from (a token used elsewhere is a signal)."""
        now = self.clock.now()
        with self.uow(readonly=True) as tx:
            found = tx.sessions.session_by_token_hash(hash_token(token))
        if found is None:
            raise Unauthenticated()
        session, account = found
        if session.revoked or now >= session.expires_at or now - session.last_seen_at >= IDLE_TIMEOUT:
            raise Unauthenticated()
        if account.disabled:
            raise Unauthenticated()
        if now - session.last_seen_at >= TOUCH_EVERY:
            with self.uow() as tx:
                tx.sessions.touch_session(session.id, now)
        moved = session.network is not None and self._network(source) not in (None, session.network)
        principal = Principal(account.id, session.id, Role(account.role), account.organisation_id,
                              account.professional_id, account.insurer_id, aal=session.aal,
                              novel=novelty.reasons(session.novelty, moved))
        if self.detection is not None:
            self.detection.admit(principal)  # containments (docs/THREATS.md, detection and containment)
        if self.rates is not None and self.monotonic is not None:
            wait = self.rates.take(account.id, self.monotonic())
            if wait:
                raise RateLimited(wait)
        return principal

    def sign_out(self, principal: Principal) -> None:
        with self.uow() as tx:
            tx.sessions.revoke_session(principal.session_id)

    # -- sessions (docs/THREATS.md: a user lists and ends their sessions; an admin ends one user's
    # or all sessions; disabling an account ends its sessions at once) --------------------
    def sessions(self, principal: Principal) -> list[Session]:
        with self.uow(readonly=True) as tx:
            return tx.sessions.live_sessions_of(principal.account_id, self.clock.now())

    def end_session(self, principal: Principal, session_id: int) -> None:
        with self.uow() as tx:
            if session_id not in {s.id for s in tx.sessions.live_sessions_of(principal.account_id, self.clock.now())}:
                raise NotFound()
            tx.sessions.revoke_session(session_id)

    def create(self, username: str, password: str, role: Role, *, organisation_id: int | None = None,
               professional_id: int | None = None, insurer_id: int | None = None) -> tuple[int, str]:
        """A new account; returns its id and TOTP secret (to enrol in an authenticator app)."""
        account = new_account(username, password, role, organisation_id, professional_id, insurer_id)
        with self.uow() as tx:
            account_id = tx.accounts.add_account(account)
        return account_id, account.totp_secret

    # -- passkeys (WebAuthn) -------------------------------------------------------------
    def enrolment_code(self, username: str, issuer: Principal) -> str:
        """A one-time code (24 h) the organisation's admin hands over out of band; it lets the
        holder register a passkey for ``username``. ``issuer``: a platform admin (or the
        operator's shell, ``OPERATOR_SHELL``), or the admin of the account's own organisation
        (``Principal.may_manage_account``). On the transparency log with who issued it."""
        code = new_reference("ENR")
        with self.uow() as tx:
            account = tx.accounts.account_by_username(username)
            if account is None or account.disabled or self._contained(account):
                raise NotFound()  # no active account to enrol
            if not issuer.may_manage_account(account.organisation_id, account.role):
                raise NotFound()  # another organisation's account: as if it did not exist
            now = self.clock.now()
            tx.passkeys.add_enrolment_code(hash_token(code), account.id, now + ENROLMENT_VALIDITY)
            if self.recorder is not None:
                tx.log.append_events([self.recorder.event(
                    issuer, now, Tag.ACCOUNT_ENROLMENT, categories=(), purpose="onboarding: passkey enrolment code",
                    ref=account_ref(account.id))])
        return code

    def registration_options(self, code: str) -> str:
        now = self.clock.now()
        challenge = new_challenge()
        with self.uow() as tx:
            account_id = tx.passkeys.enrolment_account(hash_token(code), now)
            account = tx.accounts.account(account_id) if account_id is not None else None
            if account is None or account.disabled or self._contained(account):
                raise Unauthenticated()
            tx.passkeys.add_challenge(hash_token(b64url(challenge)), "register", account.id, now + CHALLENGE_VALIDITY)
            exclude = [p.credential_id for p in tx.passkeys.passkeys_of(account.id) if not p.revoked]
        return self.passkeys.registration_options(str(account.id).encode(), account.username, challenge, exclude)

    def register_passkey(self, code: str, credential: dict[str, Any]) -> int:
        now = self.clock.now()
        try:
            challenge = challenge_of(credential)
            with self.uow() as tx:
                account_id = tx.passkeys.enrolment_account(hash_token(code), now)
                taken, challenge_account = tx.passkeys.take_challenge(hash_token(b64url(challenge)), "register", now)
                if account_id is None or not taken or challenge_account != account_id:
                    raise Unauthenticated()
                account = tx.accounts.account(account_id)
                if account is None or account.disabled or self._contained(account):
                    raise Unauthenticated()
                new = self.passkeys.verify_registration(credential, challenge)
                if not tx.passkeys.use_enrolment_code(hash_token(code)):
                    raise Unauthenticated()
                return tx.passkeys.add_passkey(account_id, new.credential_id, new.public_key, new.sign_count, now)
        except (PasskeyRejected, Conflict):
            raise Unauthenticated() from None

    def authentication_options(self) -> str:
        challenge = new_challenge()
        with self.uow() as tx:
            tx.passkeys.add_challenge(hash_token(b64url(challenge)), "authenticate", None,
                                self.clock.now() + CHALLENGE_VALIDITY)
        return self.passkeys.authentication_options(challenge)

    def _verify_assertion(self, credential: dict[str, Any]) -> Account:
        """Consume the assertion's challenge (in its own transaction: a failed attempt burns it
        too), verify it against the stored passkey, advance the counter; the account it signs
        for, if active. Unauthenticated otherwise."""
        now = self.clock.now()
        try:
            challenge = challenge_of(credential)
            credential_id = credential_id_of(credential)
        except PasskeyRejected:
            raise Unauthenticated() from None
        with self.uow() as tx:
            taken, _ = tx.passkeys.take_challenge(hash_token(b64url(challenge)), "authenticate", now)
        if not taken:
            raise Unauthenticated()
        with self.uow() as tx:
            passkey = tx.passkeys.passkey_by_credential_id(credential_id)
            account = tx.accounts.account(passkey.account_id) if passkey is not None else None
            if passkey is None or passkey.revoked or account is None or account.disabled:
                raise Unauthenticated()
            try:
                count = self.passkeys.verify_authentication(credential, challenge, passkey.public_key,
                                                            passkey.sign_count)
            except PasskeyRejected:
                raise Unauthenticated() from None
            tx.passkeys.set_sign_count(passkey.id, count)
            return account

    def sign_in_with_passkey(self, credential: dict[str, Any], source: str | None = None) -> SignedIn:
        """A phishing-resistant session: the browser binds the response to our origin, the
        challenge is ours and single use, the counter must grow."""
        account = self._verify_assertion(credential)
        if self._contained(account):
            raise AccountSuspended()  # only the passkey's holder gets here: tell them whom to call
        with self.uow() as tx:
            return _open_session(tx, account, self.clock.now(), Assurance.PASSKEY,
                                 self._seen(credential_id_of(credential), source))

    def verify_step_up(self, principal: Principal, credential: dict[str, Any]) -> None:
        """A fresh passkey assertion by the signed-in account itself (docs/THREATS.md T7)."""
        if self._verify_assertion(credential).id != principal.account_id:
            raise Unauthenticated()

    def renew(self, principal: Principal, source: str | None = None) -> SignedIn:
        """After a step-up, the session goes on under a new token (ASVS 7.2.4): the old one is
        revoked in the same transaction, the assurance kept."""
        now = self.clock.now()
        with self.uow() as tx:
            account, session = tx.accounts.account(principal.account_id), tx.sessions.session(principal.session_id)
            if account is None or session is None or session.revoked:
                raise Unauthenticated()
            tx.sessions.revoke_session(session.id)
            return _open_session(tx, account, now, Assurance(session.aal), self._seen(None, source), session.auth_means)

    # -- Pro Santé Connect (OpenID Connect) ----------------------------------------------
    def oidc_start(self) -> str:
        """The provider URL to send the professional's browser to (state, nonce, PKCE kept here)."""
        if self.oidc is None:
            raise NotFound()
        pending = new_pending()
        url = self.oidc.authorization_url(pending)
        with self.uow() as tx:
            tx.passkeys.add_oidc_state(hash_token(pending.state), pending.nonce, pending.verifier,
                                 self.clock.now() + OIDC_STATE_VALIDITY)
        return url

    def oidc_finish(self, code: str, state: str, source: str | None = None) -> SignedIn:
        """Back from the provider: a phishing-resistant session, recording the means of
        authentication, for the account of the professional the provider vouched for
        (services/pro_sante_connect.py chooses it); an unknown professional is refused."""
        if self.oidc is None:
            raise NotFound()
        now = self.clock.now()
        with self.uow() as tx:
            taken = tx.passkeys.take_oidc_state(hash_token(state), now)
        if taken is None:
            raise Unauthenticated()
        try:
            identity = self.oidc.sign_in(code, Pending(state, taken[0], taken[1]))
        except OidcRejected:
            raise Unauthenticated() from None
        with self.uow() as tx:
            account = account_for(tx, identity)
            if account is None or account.disabled:
                raise Unauthenticated()
            if self._contained(account):
                raise AccountSuspended()
            return _open_session(tx, account, now, Assurance.OIDC, self._seen(None, source), identity.auth_means)

    def passkeys_of(self, principal: Principal) -> list[Passkey]:
        with self.uow(readonly=True) as tx:
            return tx.passkeys.passkeys_of(principal.account_id)

    def revoke_passkey(self, principal: Principal, passkey_id: int) -> None:
        with self.uow() as tx:
            if not tx.passkeys.revoke_passkey(principal.account_id, passkey_id):
                raise NotFound()
