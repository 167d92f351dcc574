"""Key management as use cases (docs/THREATS.md T5): rotating a data key, retiring the old
versions, crypto-shredding an insurer. Each is done by a named security officer, with a
reason, and recorded on the transparency log in the transaction that does it -- an insider who
rotates or shreds keys leaves a signed trace. Shredding is irreversible, so it takes two
different officers (dual control): one asks, another approves, and only then are the keys
destroyed. Each officer is checked against the accounts in the transaction that acts: an
existing, enabled security-officer account, whatever principal the caller built; a shred
request names its insurer and lapses after a day."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from tierspayant.audit.events import Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_amc_number
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.audit import Recorder
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Clock, HasAccounts, HasKeys, HasLog, HasReference, UnitOfWork
from tierspayant.services.records import PLATFORM_KEY_OWNER, ShredRequest

OFFICERS = (Role.SECURITY_OFFICER,)
#: A shred request not approved within this delay lapses (ask again).
SHRED_REQUEST_VALIDITY = timedelta(hours=24)


class KeysStore(HasReference, HasAccounts, HasLog, HasKeys, Protocol):
    """The ports this use case works with (services/ports/)."""


@dataclass(frozen=True, slots=True)
class Rotation:
    owner: int
    version: int
    rows: int  # rows looked at
    resealed: int  # of which re-encrypted (the others were already on the new version)
    retired: list[int]


@dataclass(frozen=True, slots=True)
class Shredded:
    """What a crypto-shred made unreadable: rows per table, and the key versions destroyed."""

    owner: int
    versions: int
    unreadable: dict[str, int]


class DualControlRequired(Forbidden):
    """A shred must be approved by a security officer other than the one who asked for it."""


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not 4 <= len(reason) <= 200:
        raise InvalidField("reason", "say why, in 4 to 200 characters")
    return reason


class KeysService:
    def __init__(self, uow: UnitOfWork[KeysStore], clock: Clock, recorder: Recorder,
                 pause: Callable[[], None] = lambda: None) -> None:
        self.uow = uow
        self.clock = clock
        self.recorder = recorder
        #: Called between two re-encryption transactions: SQLite has one writer, and the rights
        #: checks' writes must not queue behind a rotation (the CLI sleeps 5 ms).
        self.pause = pause

    def owner(self, amc_number: str | None) -> int:
        """The key owner: the insurer with this AMC number, or the platform's key when None."""
        if amc_number is None:
            return PLATFORM_KEY_OWNER
        with self.uow(readonly=True) as tx:
            insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
        if insurer is None:
            raise NotFound()
        return insurer.id

    @staticmethod
    def _officer(tx: KeysStore, principal: Principal) -> None:
        """The principal is a security officer's own, enabled account (not a built-in actor)."""
        account = tx.accounts.account(principal.account_id) if principal.account_id > 0 else None
        if (principal.role not in OFFICERS or account is None or account.disabled
                or account.role != Role.SECURITY_OFFICER.value):
            raise Forbidden()

    def _event(self, tx: KeysStore, officer: Principal, tag: Tag, owner: int, purpose: str, ref: str) -> None:
        tx.log.append_events([self.recorder.event(
            officer, self.clock.now(), tag, categories=(), purpose=purpose,
            insurer_id=None if owner == PLATFORM_KEY_OWNER else owner, ref=ref)])

    def rotate(self, officer: Principal, owner: int, reason: str, batch: int = 300,
               progress: Callable[[int, int], None] | None = None) -> Rotation:
        """A new key version (it takes writes at once), every sealed row re-encrypted with it in
        transactions of ``batch`` rows while the platform keeps serving, then the old versions
        retired. ``progress(rows looked at, total)`` after each batch."""
        if officer.role not in OFFICERS:
            raise Forbidden()
        reason = _reason(reason)
        if not 1 <= batch <= 10_000:
            raise InvalidField("batch", "between 1 and 10,000 rows")
        with self.uow() as tx:
            self._officer(tx, officer)
            version = tx.keys.rotate(owner)
            tables = tx.keys.sealed_rows(owner)
            self._event(tx, officer, Tag.KEY_ROTATE, owner, f"keys: rotate ({reason})",
                        f"keys:{owner}:version:{version}")
        total, before, resealed = sum(tables.values()), 0, 0
        for table, rows in tables.items():
            after, looked = 0, 0
            while True:
                with self.uow() as tx:
                    last, done = tx.keys.reencrypt(owner, table, after, batch)
                resealed += done
                if last == after:
                    break
                # Each batch looks at ``batch`` rows but the table's last: the true count, never
                # more than the table holds (a progress bar of 2,400/681 told nothing).
                looked, after = min(looked + batch, rows), last
                if progress is not None:
                    progress(before + looked, total)
                self.pause()
            before += rows
        with self.uow() as tx:
            retired = tx.keys.retire_old(owner)
            # The rotation's end is on the log too: a finished rotation is told from an aborted one.
            self._event(tx, officer, Tag.KEY_RETIRE, owner,
                        f"keys: rotation to version {version} done, {resealed} rows re-encrypted, "
                        f"versions retired {retired}", f"keys:{owner}:version:{version}:done")
        return Rotation(owner, version, total, resealed, retired)

    def request_shred(self, officer: Principal, owner: int, reason: str) -> ShredRequest:
        """Ask for a crypto-shred: nothing is destroyed until another officer approves."""
        if officer.role not in OFFICERS:
            raise Forbidden()
        if owner == PLATFORM_KEY_OWNER:
            raise InvalidField("insurer", "the platform's own key is rotated, never shredded")
        request = ShredRequest(0, owner, officer.account_id, _reason(reason), self.clock.now())
        with self.uow() as tx:
            self._officer(tx, officer)
            request_id = tx.keys.add_shred_request(request)
            self._event(tx, officer, Tag.KEY_SHRED_REQUEST, owner, f"keys: shred requested ({request.reason})",
                        f"keys:{owner}:shred-request:{request_id}")
        return ShredRequest(request_id, *[getattr(request, f) for f in ShredRequest.__slots__[1:]])

    def approve_shred(self, officer: Principal, request_id: int, owner: int) -> Shredded:
        """Carry out a pending shred request of ``owner``'s keys (the approver names the insurer
        too: a mistyped id shreds nothing): a second, different security officer destroys every
        key version of the insurer. Its beneficiaries, quotes, invoices, runs and statements then
        read as not found. Raises ``DualControlRequired`` for the officer who asked (or when the
        asker is no longer an enabled officer), ``NotFound`` for an unknown, lapsed, already
        carried-out request or another insurer's."""
        if officer.role not in OFFICERS:
            raise Forbidden()
        now = self.clock.now()
        with self.uow() as tx:
            self._officer(tx, officer)
            request = tx.keys.shred_request(request_id)
            if (request is None or request.approved_by is not None or request.owner != owner
                    or now - request.requested_at > SHRED_REQUEST_VALIDITY):
                raise NotFound()
            asker = tx.accounts.account(request.requested_by)
            if (request.requested_by == officer.account_id or asker is None or asker.disabled
                    or asker.role != Role.SECURITY_OFFICER.value):
                raise DualControlRequired("a second security officer must approve")
            if not tx.keys.approve_shred_request(request_id, officer.account_id, now):
                raise NotFound()  # approved concurrently by someone else
            unreadable = tx.keys.sealed_rows(request.owner)
            destroyed = tx.keys.shred(request.owner)
            summary = ", ".join(f"{table} {count}" for table, count in unreadable.items() if count)
            self._event(tx, officer, Tag.KEY_SHRED, request.owner,
                        f"keys: shredded, asked by account {request.requested_by} ({request.reason}); "
                        f"unreadable: {summary or 'nothing'}", f"keys:{request.owner}:shred-request:{request_id}")
        return Shredded(request.owner, destroyed, unreadable)
