"""The transparency log's use cases: recording access events (``Recorder``), signed
checkpoints, proofs, the verifier, per-beneficiary and per-actor queries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tierspayant.audit.checkpoints import Checkpoint
from tierspayant.audit.events import AccessEvent, Category, Outcome, Tag
from tierspayant.audit.merkle import IncrementalRoot, consistency_proof, inclusion_proof
from tierspayant.audit.tree import FLOOR, MissingHash, Subtrees, completed_nodes, pieces
from tierspayant.audit.verifier import Report, verify_log
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_amc_number, parse_member_number
from tierspayant.security.notes import NoteSigner, Verifier, split_note, verify_note
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.security.pseudonyms import Pseudonymizer
from tierspayant.services.errors import Forbidden
from tierspayant.services.log_archive import LogArchiving
from tierspayant.services.ports import Clock, HasBeneficiaries, HasCheckpoints, HasLog, HasReference, UnitOfWork
from tierspayant.services.ports.log_storage import LogStorage
from tierspayant.services.records import StoredCheckpoint, StoredEvent

logger = logging.getLogger("tierspayant.audit")


class AuditStore(HasLog, HasCheckpoints, HasReference, HasBeneficiaries, Protocol):
    """The ports this use case works with (services/ports/)."""


#: Leaves hashed per committed step when the stored tree lags far behind the log (a block multiple).
CATCH_UP = 1 << 17


class LogCorrupted(Exception):
    """The stored log is not a well-formed sequence (an index is missing)."""


class ProofArchived(NotFound):
    """The proof needs leaves moved to the archive (``tiers audit restore`` brings them back):
    an archived event's inclusion, or consistency from a checkpoint among them that was not
    kept provable. Outside, a 404 like any proof that cannot be given."""


class Recorder:
    """Builds access events for the use cases (who, whom as a pseudonym, what, why)."""

    def __init__(self, pseudonyms: Pseudonymizer) -> None:
        self.pseudonyms = pseudonyms

    def pseudonym(self, insurer_id: int, beneficiary_id: int) -> str:
        return self.pseudonyms.beneficiary(insurer_id, beneficiary_id)

    def event(self, principal: Principal, at: datetime, tag: Tag, *, categories: Sequence[Category], purpose: str,
              outcome: Outcome = Outcome.OK, insurer_id: int | None = None, beneficiary_id: int | None = None,
              ref: str | None = None) -> AccessEvent:
        pseudonym = (self.pseudonym(insurer_id, beneficiary_id)
                     if insurer_id is not None and beneficiary_id is not None else None)
        return AccessEvent(
            at=at, tag=tag, account_id=principal.account_id, organisation_id=principal.organisation_id,
            professional_id=principal.professional_id, beneficiary=pseudonym, insurer_id=insurer_id,
            categories=tuple(categories), purpose=purpose, outcome=outcome, request_id=principal.request_id, ref=ref,
            session_id=principal.session_id or None,
        )


@dataclass(frozen=True)
class Proof:
    index: int
    size: int
    leaf_hash: bytes
    hashes: list[bytes]
    checkpoint: StoredCheckpoint


LOG_READERS = (Role.SECURITY_OFFICER, Role.DPO, Role.PLATFORM_ADMIN)


class AuditService:
    def __init__(self, uow: UnitOfWork[AuditStore], clock: Clock, signer: NoteSigner, origin: str, recorder: Recorder,
                 witnesses: Sequence[Verifier] = (), replica: UnitOfWork[AuditStore] | None = None,
                 storage: LogStorage | None = None) -> None:
        self.uow = uow
        #: Where the log's read-only queries run: a streaming replica when one is configured.
        self.replica = replica or uow
        self.clock = clock
        self.signer = signer
        self.origin = origin
        self.recorder = recorder
        self.witnesses = {w.name: w for w in witnesses}
        #: Partitions created ahead, months archived and restored (services/log_archive.py).
        self.archiving = LogArchiving(uow, clock, storage, self)

    def _log_reader(self) -> UnitOfWork[AuditStore]:
        """Where a read-only query of the log runs: the replica when it holds every event the
        primary had a moment ago, else the primary -- a replica that stopped replaying, lags or
        is away never answers short, least of all during an incident (issue 19, point 5). Two
        one-row reads (the log's head on each)."""
        if self.replica is self.uow:
            return self.uow
        with self.uow(readonly=True) as tx:
            size = tx.log.log_size()
        try:
            with self.replica(readonly=True) as tx:
                if tx.log.log_size() >= size:
                    return self.replica
            logger.warning("the log's replica lags the primary: this query reads the primary")
        except Exception as exc:  # whatever the replica's driver raises: the primary answers instead
            logger.warning("the log's replica is unavailable (%s): this query reads the primary", type(exc).__name__)
        return self.uow

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(self) -> StoredCheckpoint:
        """Sign the current tree head (a no-op when nothing was appended since the last one).

        The hashing reads committed events only (they never change) in read-only units of
        work; the one write is short: the subtrees the new size completes and the signed
        checkpoint, so the rights check's group commits never wait behind the hashing. A stored
        tree far behind the log (a log loaded in bulk or migrated, never checkpointed) is first
        caught up in committed steps of CATCH_UP leaves: a restart goes on from the last step,
        and once caught up a checkpoint costs O(new events + log n), never O(n) per restart."""
        with self.uow(readonly=True) as tx:  # every worker asks; only one needs the writers' lock
            size = tx.log.log_size()
            latest = tx.checkpoints.latest_checkpoint()
            if latest is not None and latest.size == size:
                return latest
            hashed = max(latest.size if latest else 0, tx.checkpoints.hashed_size())
        while size - hashed > CATCH_UP:
            step = ((hashed + CATCH_UP) >> FLOOR) << FLOOR
            with self.uow(readonly=True) as tx:
                nodes, _ = self._extend(tx, hashed, step, to_end=False)
            with self.uow() as tx:
                tx.checkpoints.add_nodes(nodes)
            hashed = step
        with self.uow(readonly=True) as tx:
            nodes, tree = self._extend(tx, hashed, size, to_end=True)
            root = tree.range_hash(0, size)
        note = self.signer.sign(Checkpoint(self.origin, size, root).text())
        stored = StoredCheckpoint(size, root, self.clock.now(), note)
        with self.uow() as tx:
            latest = tx.checkpoints.latest_checkpoint()
            if latest is not None and latest.size >= size:  # another worker signed meanwhile
                return latest
            tx.checkpoints.add_nodes(nodes)
            tx.checkpoints.add_checkpoint(stored)
        return stored

    def _extend(self, tx: AuditStore, old: int, new: int, to_end: bool) -> tuple[list[tuple[int, int, bytes]], Subtrees]:
        """The stored subtrees ``new`` completes beyond ``old``, from the leaves of ``old``'s
        block on (RFC 9162 §2.1.1: a node's hash is its children's)."""
        start = (old >> FLOOR) << FLOOR
        leaves = tx.log.leaf_hashes(start, new)
        if len(leaves) != new - start:
            raise LogCorrupted(f"events {start}..{new - 1}: {new - start - len(leaves)} missing")
        tree = self.subtrees(tx)
        tree.know_leaves(start, leaves, to_end=to_end)
        return completed_nodes(old, new, tree), tree

    def subtrees(self, tx: AuditStore) -> Subtrees:
        return Subtrees(tx.checkpoints.node_hashes, lambda a, b: {e.seq: e.leaf_hash for e in tx.log.events(a, b)})

    def latest(self) -> tuple[StoredCheckpoint, list[str]]:
        with self.uow(readonly=True) as tx:
            latest = tx.checkpoints.latest_checkpoint()
            if latest is None:
                raise NotFound()
            return latest, tx.checkpoints.cosignatures(latest.size)

    def add_cosignature(self, size: int, signature_line: str) -> None:
        """A witness's signature of the checkpoint of ``size``; only known witnesses count."""
        with self.uow() as tx:
            checkpoint = tx.checkpoints.checkpoint_at(size)
            if checkpoint is None:
                raise NotFound()
            text = split_note(checkpoint.note)[0]
            line = signature_line.strip() + "\n"
            name = line.split(" ")[1] if line.count(" ") >= 2 else ""
            witness = self.witnesses.get(name)
            if witness is None or not verify_note(text + "\n" + line, witness):
                raise InvalidField("signature", "not a valid signature by a known witness")
            tx.checkpoints.add_cosignature(size, name, line, self.clock.now())

    # -- proofs ----------------------------------------------------------------------------
    def inclusion(self, index: int, size: int | None = None) -> Proof:
        """Inclusion proof of event ``index`` in the checkpoint of ``size`` (latest by default).
        ``ProofArchived`` when the event is archived."""
        with self.uow(readonly=True) as tx:
            checkpoint = tx.checkpoints.checkpoint_at(size) if size is not None else tx.checkpoints.latest_checkpoint()
            if checkpoint is None or not 0 <= index < checkpoint.size:
                raise NotFound()
            if index < tx.log.archived_until()[0]:
                raise ProofArchived()
            leaf = tx.log.leaf_hashes(index, index + 1)
            if not leaf:
                raise LogCorrupted(f"event {index} missing")
            return Proof(index, checkpoint.size, leaf[0],
                         _proof(lambda: inclusion_proof(self.subtrees(tx).range_hash, index, checkpoint.size)),
                         checkpoint)

    def consistency(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 §2.1.4 from ``first`` to the checkpoint ``second``. ``ProofArchived`` when
        ``first`` lies in the archived leaves but for the checkpoints kept provable there
        (services/log_archive.py)."""
        with self.uow(readonly=True) as tx:
            if not 0 <= first <= second or tx.checkpoints.checkpoint_at(second) is None:
                raise NotFound()
            return _proof(lambda: consistency_proof(self.subtrees(tx).range_hash, first, second))

    def frontier(self) -> IncrementalRoot | None:
        """The tree of the archived leaves, from their stored frontier (None: nothing archived),
        where a verifier of the remaining log starts (audit/verifier.py)."""
        with self.uow(readonly=True) as tx:
            cut = tx.log.archived_until()[0]
            if not cut:
                return None
            tree = self.subtrees(tx)
            return IncrementalRoot.resume(cut, [tree.node(level, idx) for level, idx in pieces(0, cut)])

    # -- verifier --------------------------------------------------------------------------
    def verify(self, batch: int = 10_000, on_progress: Callable[[int], None] | None = None) -> Report:
        """Every leaf rehashed, every checkpoint checked; from the archived leaves' frontier on
        when some are archived (those checkpoints smaller are counted, not rechecked)."""
        with self.uow(readonly=True) as tx:
            checkpoints = [(c.size, c.note) for c in tx.checkpoints.checkpoints()]
        resume = self.frontier()

        def batches() -> Iterator[list[tuple[int, bytes, bytes]]]:
            start = resume.size if resume is not None else 0
            while True:
                with self.uow(readonly=True) as tx:
                    rows = tx.log.events_page(start, batch)
                if not rows:
                    return
                yield [(e.seq, e.entry, e.leaf_hash) for e in rows]
                start = rows[-1].seq + 1

        return verify_log(batches(), checkpoints, self.signer.verifier, self.origin, on_progress, resume)

    def size(self) -> int:
        with self.uow(readonly=True) as tx:
            return tx.log.log_size()

    # -- queries ---------------------------------------------------------------------------
    def history(self, principal: Principal, insurer_id: int, beneficiary_id: int) -> list[tuple[int, AccessEvent]]:
        """Everything that happened to one beneficiary's data (who, when, why), the operations on
        their insurer's keys included (a rotation re-sealed it, a shred made it unreadable)."""
        if principal.role not in LOG_READERS:
            raise Forbidden()
        with self._log_reader()(readonly=True) as tx:
            rows = tx.log.events_of_beneficiary(self.recorder.pseudonym(insurer_id, beneficiary_id))
            rows = sorted([*rows, *tx.log.key_events(insurer_id)], key=lambda e: e.seq)
        return _decoded(rows)

    def member_history(self, principal: Principal, amc_number: str, member_number: str,
                       rank: int | None = None) -> list[tuple[int, AccessEvent]]:
        """``history`` by the numbers an insurer knows: its AMC number and the member number (each
        beneficiary of that membership, or one ``rank``); an unknown one has no events."""
        if principal.role not in LOG_READERS:
            raise Forbidden()
        with self.uow(readonly=True) as tx:
            insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
            found = (tx.beneficiaries.beneficiaries_by_member(insurer.id, parse_member_number(member_number))
                     if insurer is not None else [])
        rows: dict[int, AccessEvent] = {}
        for beneficiary in found:
            if rank is None or beneficiary.rank == rank:
                rows.update(self.history(principal, beneficiary.insurer_id, beneficiary.id))
        return sorted(rows.items())

    def key_operations(self, principal: Principal, owner: int | None = None) -> list[tuple[int, AccessEvent]]:
        """The key operations on the log (one owner's, or every owner's), in order."""
        if principal.role not in LOG_READERS:
            raise Forbidden()
        with self._log_reader()(readonly=True) as tx:
            return _decoded(tx.log.key_events(owner))

    def exposure(self, principal: Principal, *, account_id: int | None = None, organisation_id: int | None = None,
                 start: datetime, end: datetime) -> list[tuple[int, AccessEvent]]:
        """Everything one account (or organisation) touched in [start, end)."""
        if principal.role not in LOG_READERS:
            raise Forbidden()
        if (account_id is None) == (organisation_id is None):
            raise InvalidField("account_id", "give exactly one of account_id or organisation_id")
        with self._log_reader()(readonly=True) as tx:
            rows = tx.log.events_of_actor(account_id=account_id, organisation_id=organisation_id, start=start, end=end)
        return _decoded(rows)

    def archived_until(self) -> tuple[int, datetime | None]:
        """(cut, last_at): the leaves [0, cut) are archived, dated up to ``last_at``."""
        with self.uow(readonly=True) as tx:
            return tx.log.archived_until()


def _proof(compute: Callable[[], list[bytes]]) -> list[bytes]:
    try:
        return compute()
    except MissingHash:
        raise ProofArchived() from None


def _decoded(rows: Sequence[StoredEvent]) -> list[tuple[int, AccessEvent]]:
    return [(row.seq, AccessEvent.from_canonical(row.entry)) for row in rows]
