"""Key management as use cases (docs/THREATS.md T5, T9): rotating a data key, retiring the old
versions, crypto-shredding an insurer. Each is done by a named security officer, with a
reason, and recorded on the transparency log in the transaction that does it -- an insider who
rotates or shreds keys leaves a signed trace. Shredding is irreversible, so it takes two
different officers (dual control): one asks, another approves, and only then are the keys
destroyed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tierspayant.audit.events import Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_amc_number
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.audit import Recorder
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Clock, HasKeys, HasLog, HasReference, UnitOfWork
from tierspayant.services.records import PLATFORM_KEY_OWNER, ShredRequest

OFFICERS = (Role.SECURITY_OFFICER,)


class KeysStore(HasReference, HasLog, HasKeys, Protocol):
    """The ports this use case works with (services/ports/)."""


@dataclass(frozen=True, slots=True)
class Rotation:
    owner: int
    version: int
    rows: int
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
            version = tx.keys.rotate(owner)
            tables = tx.keys.sealed_rows(owner)
            self._event(tx, officer, Tag.KEY_ROTATE, owner, f"keys: rotate ({reason})",
                        f"keys:{owner}:version:{version}")
        total, seen = sum(tables.values()), 0
        for table in tables:
            after = 0
            while True:
                with self.uow() as tx:
                    last, _ = tx.keys.reencrypt(owner, table, after, batch)
                if last == after:
                    break
                seen, after = seen + batch, last
                if progress is not None:
                    progress(min(seen, total), total)
                self.pause()
        with self.uow() as tx:
            retired = tx.keys.retire_old(owner)
            if retired:
                self._event(tx, officer, Tag.KEY_RETIRE, owner, f"keys: retire versions {retired} after rotation",
                            f"keys:{owner}:retired:{','.join(map(str, retired))}")
        return Rotation(owner, version, total, retired)

    def request_shred(self, officer: Principal, owner: int, reason: str) -> ShredRequest:
        """Ask for a crypto-shred: nothing is destroyed until another officer approves."""
        if officer.role not in OFFICERS:
            raise Forbidden()
        if owner == PLATFORM_KEY_OWNER:
            raise InvalidField("insurer", "the platform's own key is rotated, never shredded")
        request = ShredRequest(0, owner, officer.account_id, _reason(reason), self.clock.now())
        with self.uow() as tx:
            request_id = tx.keys.add_shred_request(request)
            self._event(tx, officer, Tag.KEY_SHRED_REQUEST, owner, f"keys: shred requested ({request.reason})",
                        f"keys:{owner}:shred-request:{request_id}")
        return ShredRequest(request_id, *[getattr(request, f) for f in ShredRequest.__slots__[1:]])

    def approve_shred(self, officer: Principal, request_id: int) -> Shredded:
        """Carry out a pending shred request: a second, different security officer destroys
        every key version of the insurer. Its beneficiaries, quotes, invoices, runs and
        statements then read as not found. Raises ``DualControlRequired`` for the officer who
        asked, ``NotFound`` for an unknown or already carried-out request."""
        if officer.role not in OFFICERS:
            raise Forbidden()
        with self.uow() as tx:
            request = tx.keys.shred_request(request_id)
            if request is None or request.approved_by is not None:
                raise NotFound()
            if request.requested_by == officer.account_id:
                raise DualControlRequired("a second security officer must approve")
            if not tx.keys.approve_shred_request(request_id, officer.account_id, self.clock.now()):
                raise NotFound()  # approved concurrently by someone else
            unreadable = tx.keys.sealed_rows(request.owner)
            destroyed = tx.keys.shred(request.owner)
            summary = ", ".join(f"{table} {count}" for table, count in unreadable.items() if count)
            self._event(tx, officer, Tag.KEY_SHRED, request.owner,
                        f"keys: shredded, asked by account {request.requested_by} ({request.reason}); "
                        f"unreadable: {summary or 'nothing'}", f"keys:{request.owner}:shred-request:{request_id}")
        return Shredded(request.owner, destroyed, unreadable)
