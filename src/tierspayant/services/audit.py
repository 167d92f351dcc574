"""The transparency log's use cases: recording access events (``Recorder``), signed
checkpoints, proofs, the verifier, per-beneficiary and per-actor queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tierspayant.audit.checkpoints import Checkpoint
from tierspayant.audit.events import AccessEvent, Category, Outcome, Tag
from tierspayant.audit.merkle import consistency_proof, inclusion_proof
from tierspayant.audit.tree import completed_nodes, range_hash
from tierspayant.audit.verifier import Report, verify_log
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_amc_number, parse_member_number
from tierspayant.security.notes import NoteSigner, Verifier, split_note, verify_note
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.security.pseudonyms import Pseudonymizer
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Clock, HasBeneficiaries, HasCheckpoints, HasLog, HasReference, UnitOfWork
from tierspayant.services.records import StoredCheckpoint, StoredEvent


class AuditStore(HasLog, HasCheckpoints, HasReference, HasBeneficiaries, Protocol):
    """The ports this use case works with (services/ports/)."""


class LogCorrupted(Exception):
    """The stored log is not a well-formed sequence (an index is missing)."""


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
                 witnesses: Sequence[Verifier] = (), replica: UnitOfWork[AuditStore] | None = None) -> None:
        self.uow = uow
        #: Where the log's read-only queries run: a streaming replica when one is configured.
        self.replica = replica or uow
        self.clock = clock
        self.signer = signer
        self.origin = origin
        self.recorder = recorder
        self.witnesses = {w.name: w for w in witnesses}

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(self) -> StoredCheckpoint:
        """Sign the current tree head (a no-op when nothing was appended since the last one)."""
        with self.uow(readonly=True) as tx:  # every worker asks; only one needs the writers' lock
            size = tx.log.log_size()
            latest = tx.checkpoints.latest_checkpoint()
            if latest is not None and latest.size == size:
                return latest
        with self.uow() as tx:
            size = tx.log.log_size()
            latest = tx.checkpoints.latest_checkpoint()
            old = latest.size if latest else 0
            if latest is not None and latest.size == size:
                return latest
            start = (old >> 1) << 1
            leaves = tx.log.leaf_hashes(start, size)
            if len(leaves) != size - start:
                raise LogCorrupted(f"events {start}..{size - 1}: {size - start - len(leaves)} missing")
            tx.checkpoints.add_nodes(completed_nodes(old, size, leaves, start, tx.checkpoints.node_hashes))
            root = range_hash(0, size, lambda i: leaves[i - start] if i >= start else tx.log.leaf_hashes(i, i + 1)[0],
                              tx.checkpoints.node_hashes)
            note = self.signer.sign(Checkpoint(self.origin, size, root).text())
            stored = StoredCheckpoint(size, root, self.clock.now(), note)
            tx.checkpoints.add_checkpoint(stored)
            return stored

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
    def _hasher(self, tx: AuditStore) -> Callable[[int, int], bytes]:
        def leaf(i: int) -> bytes:
            found = tx.log.leaf_hashes(i, i + 1)
            if not found:
                raise LogCorrupted(f"event {i} missing")
            return found[0]

        return lambda start, end: range_hash(start, end, leaf, tx.checkpoints.node_hashes)

    def inclusion(self, index: int, size: int | None = None) -> Proof:
        """Inclusion proof of event ``index`` in the checkpoint of ``size`` (latest by default)."""
        with self.uow(readonly=True) as tx:
            checkpoint = tx.checkpoints.checkpoint_at(size) if size is not None else tx.checkpoints.latest_checkpoint()
            if checkpoint is None or not 0 <= index < checkpoint.size:
                raise NotFound()
            leaf = tx.log.leaf_hashes(index, index + 1)
            if not leaf:
                raise LogCorrupted(f"event {index} missing")
            return Proof(index, checkpoint.size, leaf[0],
                         inclusion_proof(self._hasher(tx), index, checkpoint.size), checkpoint)

    def consistency(self, first: int, second: int) -> list[bytes]:
        with self.uow(readonly=True) as tx:
            if not 0 <= first <= second or tx.checkpoints.checkpoint_at(second) is None:
                raise NotFound()
            return consistency_proof(self._hasher(tx), first, second)

    # -- verifier --------------------------------------------------------------------------
    def verify(self, batch: int = 10_000, on_progress: Callable[[int], None] | None = None) -> Report:
        with self.uow(readonly=True) as tx:
            checkpoints = [(c.size, c.note) for c in tx.checkpoints.checkpoints()]

        def batches() -> Iterator[list[tuple[int, bytes, bytes]]]:
            start = 0
            while True:
                with self.uow(readonly=True) as tx:
                    rows = tx.log.events_page(start, batch)
                if not rows:
                    return
                yield [(e.seq, e.entry, e.leaf_hash) for e in rows]
                start = rows[-1].seq + 1

        return verify_log(batches(), checkpoints, self.signer.verifier, self.origin, on_progress)

    def size(self) -> int:
        with self.uow(readonly=True) as tx:
            return tx.log.log_size()

    # -- queries ---------------------------------------------------------------------------
    def history(self, principal: Principal, insurer_id: int, beneficiary_id: int) -> list[tuple[int, AccessEvent]]:
        """Everything that happened to one beneficiary's data (who, when, why), the operations on
        their insurer's keys included (a rotation re-sealed it, a shred made it unreadable)."""
        if principal.role not in LOG_READERS:
            raise Forbidden()
        with self.replica(readonly=True) as tx:
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
        with self.replica(readonly=True) as tx:
            return _decoded(tx.log.key_events(owner))

    def exposure(self, principal: Principal, *, account_id: int | None = None, organisation_id: int | None = None,
                 start: datetime, end: datetime) -> list[tuple[int, AccessEvent]]:
        """Everything one account (or organisation) touched in [start, end)."""
        if principal.role not in LOG_READERS:
            raise Forbidden()
        if (account_id is None) == (organisation_id is None):
            raise InvalidField("account_id", "give exactly one of account_id or organisation_id")
        with self.replica(readonly=True) as tx:
            rows = tx.log.events_of_actor(account_id=account_id, organisation_id=organisation_id, start=start, end=end)
        return _decoded(rows)


def _decoded(rows: Sequence[StoredEvent]) -> list[tuple[int, AccessEvent]]:
    return [(row.seq, AccessEvent.from_canonical(row.entry)) for row in rows]
