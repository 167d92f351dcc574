"""The beneficiary lifecycle, per insurer (docs/DOMAIN.md, "The beneficiary lifecycle"): an insurer's
operators find one membership by its member number or one beneficiary by NIR -- an exact match,
never a search by name or prefix --, correct an identity, add a dependant, end rights at a date
(radiation) and change the contract with effect at a date.

Each lookup is an access event per beneficiary it discloses (one ``not_found`` event when it
finds nobody) and is counted by detection like a rights check (docs/THREATS.md T2): an operator's
account that walks the population is throttled and contained like a professional's. Every change
is on the transparency log. Nothing here lists or exports members in bulk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from tierspayant.audit.events import Category, Outcome, Tag
from tierspayant.detection.signals import Action
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_amc_number, parse_member_number, parse_nir
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.audit import Recorder
from tierspayant.services.common import UseCase
from tierspayant.services.detection import DetectionService, DetectionStore
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Clock, HasBeneficiaries, HasMemberships, UnitOfWork
from tierspayant.services.records import Beneficiary, Insurer, Presentation, RightsPeriod


class LifecycleStore(DetectionStore, HasMemberships, HasBeneficiaries, Protocol):
    """The ports this use case works with (services/ports/), detection's included: a lookup is
    a read it counts."""


@dataclass(frozen=True, slots=True)
class Member:
    """One beneficiary as its insurer's operators see it: no NIR (the operator who needs it has
    it; a correction sends it), contracts by code."""

    beneficiary: Beneficiary
    contract_code: str
    periods: tuple[tuple[RightsPeriod, str], ...]  # each period with its contract's code


@dataclass(frozen=True, slots=True)
class IdentityChange:
    last_name: str | None = None
    first_name: str | None = None
    birth_date: date | None = None
    nir: str | None = None


FIND_PURPOSE = "insurer: find a member"
#: The subject detection counts for a lookup by member number (presented identities are keyed
#: per insurer; the prefix keeps member numbers and NIRs apart).
MEMBER_SUBJECT = "member:"
EARLIEST, LATEST = date(1900, 1, 1), date(2199, 12, 31)


def contract_on(beneficiary: Beneficiary, periods: Sequence[RightsPeriod], at: date) -> int:
    """The contract covering the beneficiary on ``at``: the covering period's own, else the
    beneficiary's (a contract change takes effect at its date, never before)."""
    for period in periods:
        if period.start <= at and (period.end is None or at <= period.end) and period.contract_id is not None:
            return period.contract_id
    return beneficiary.contract_id


def ended(periods: Sequence[RightsPeriod], end: date) -> list[RightsPeriod]:
    """The periods as a radiation at ``end`` leaves them: none runs past ``end`` (a period that
    starts after it goes; an open or later-ending one is closed on it)."""
    return [p if p.end is not None and p.end <= end else replace(p, end=end) for p in periods if p.start <= end]


def with_contract_from(beneficiary: Beneficiary, periods: Sequence[RightsPeriod], effective: date,
                       contract_id: int) -> list[RightsPeriod]:
    """The periods with ``contract_id`` from ``effective`` on: a period covering the date is split
    there (the part before keeps the contract it had), later periods move to the new contract."""
    out: list[RightsPeriod] = []
    for period in sorted(periods, key=lambda p: p.start):
        before = period.contract_id if period.contract_id is not None else beneficiary.contract_id
        if period.end is not None and period.end < effective:
            out.append(replace(period, contract_id=before))
        elif period.start >= effective:
            out.append(replace(period, contract_id=contract_id))
        else:
            out.append(replace(period, end=date.fromordinal(effective.toordinal() - 1), contract_id=before))
            out.append(replace(period, start=effective, contract_id=contract_id))
    return out


def _checked_name(field: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > 100:
        raise InvalidField(field, "1 to 100 characters")
    return value


def _checked_date(field: str, value: date) -> date:
    if not EARLIEST <= value <= LATEST:
        raise InvalidField(field, "out of range")
    return value


class LifecycleService(UseCase[LifecycleStore]):
    def __init__(self, uow: UnitOfWork[LifecycleStore], clock: Clock, recorder: Recorder,
                 detection: DetectionService) -> None:
        super().__init__(uow, clock, recorder)
        self.detection = detection

    def _insurer(self, tx: LifecycleStore, principal: Principal, amc_number: str) -> Insurer:
        if principal.role not in (Role.INSURER_OPERATOR, Role.PLATFORM_ADMIN):
            raise Forbidden("insurers' operators and the operator")
        insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
        if insurer is None or not principal.may_see_insurer(insurer.id):
            raise NotFound()
        return insurer

    def _family(self, tx: LifecycleStore, insurer: Insurer, member_number: str,
                ) -> list[tuple[Beneficiary, list[RightsPeriod]]]:
        return sorted(tx.memberships.members(insurer.id, [member_number]).get(member_number, []),
                      key=lambda found: found[0].rank)

    def _members(self, tx: LifecycleStore, found: Sequence[tuple[Beneficiary, Sequence[RightsPeriod]]]) -> list[Member]:
        codes: dict[int, str] = {}

        def code(contract_id: int) -> str:
            if contract_id not in codes:
                contract = tx.reference.contract(contract_id)
                codes[contract_id] = contract.code if contract is not None else "?"
            return codes[contract_id]

        return [Member(b, code(b.contract_id), tuple(
            (p, code(p.contract_id if p.contract_id is not None else b.contract_id))
            for p in sorted(periods, key=lambda p: p.start))) for b, periods in found]

    def find(self, principal: Principal, amc_number: str, member_number: str | None = None,
             nir: str | None = None) -> list[Member]:
        """The membership of ``member_number`` (the member and its dependants), or the
        beneficiaries of ``nir``; exactly one of the two. NotFound when nobody matches."""
        if (member_number is None) == (nir is None):
            raise InvalidField("member_number", "give the member number or the NIR (one of them)")
        key = parse_member_number(member_number) if member_number is not None else parse_nir(nir or "")
        amc = parse_amc_number(amc_number)
        presented = MEMBER_SUBJECT + key if member_number is not None else key
        subject = self.recorder.pseudonyms.presented_identity(amc, presented)
        neighbourhood = self.recorder.pseudonyms.neighbourhood(amc, presented)
        now = self.clock.now()
        with self.uow() as tx:
            insurer = self._insurer(tx, principal, amc)
            snapshot = self.detection.snapshot(tx, principal, now, subject, neighbourhood)
            found = (self._family(tx, insurer, key) if member_number is not None
                     else tx.beneficiaries.beneficiaries_with_rights(insurer.id, key))
            outcome = Presentation.OK if found else Presentation.NOT_FOUND
            action = self.detection.observe(tx, principal, insurer, subject, neighbourhood, outcome, now, snapshot)
            if action is not Action.NONE:  # contained: the lookup discloses nothing
                tx.log.append_events([self.recorder.event(
                    principal, now, Tag.BENEFICIARY_READ, categories=(Category.IDENTITY,), purpose=FIND_PURPOSE,
                    outcome=Outcome.REFUSED, insurer_id=insurer.id)])
                members: list[Member] = []
            else:
                tx.log.append_events([self.recorder.event(
                    principal, now, Tag.BENEFICIARY_READ, categories=(Category.IDENTITY, Category.COVERAGE),
                    purpose=FIND_PURPOSE, insurer_id=insurer.id, beneficiary_id=b.id) for b, _ in found] or [
                    self.recorder.event(principal, now, Tag.BENEFICIARY_READ, categories=(Category.IDENTITY,),
                                        purpose=FIND_PURPOSE, outcome=Outcome.NOT_FOUND, insurer_id=insurer.id)])
                members = self._members(tx, found)
        self.detection.refuse(action)
        if not members:
            raise NotFound()
        return members

    def _addressed(self, tx: LifecycleStore, principal: Principal, insurer: Insurer, beneficiary_id: int,
                   ) -> tuple[Beneficiary | None, Action]:
        """The insurer's beneficiary of this id (None: another's or nobody's), the request
        counted by detection as a read of that person, like a lookup: an operator's account that
        walks ids is throttled and contained as one that walks member numbers (sequential ids
        share a neighbourhood)."""
        subject = self.recorder.pseudonyms.presented_identity(insurer.amc_number, f"beneficiary:{beneficiary_id}")
        neighbourhood = self.recorder.pseudonyms.neighbourhood(insurer.amc_number, f"ids:{beneficiary_id // 50:010d}")
        now = self.clock.now()
        snapshot = self.detection.snapshot(tx, principal, now, subject, neighbourhood)
        found = tx.beneficiaries.beneficiary(beneficiary_id)
        mine = found if found is not None and found.insurer_id == insurer.id else None
        action = self.detection.observe(tx, principal, insurer, subject, neighbourhood,
                                        Presentation.OK if mine else Presentation.NOT_FOUND, now, snapshot)
        if mine is None or action is not Action.NONE:
            tx.log.append_events([self.recorder.event(
                principal, now, Tag.BENEFICIARY_READ, categories=(Category.IDENTITY,), purpose="insurer: change a member",
                outcome=Outcome.REFUSED if mine else Outcome.NOT_FOUND, insurer_id=insurer.id)])
            return None, action
        return mine, action

    def _changed(self, principal: Principal, amc_number: str, beneficiary_id: int,
                 work: Callable[[LifecycleStore, Insurer, Beneficiary], list[Member]]) -> list[Member]:
        """Run ``work`` on an addressed beneficiary: counted first, committed with its count and
        events; NotFound (after the count is committed) for another insurer's or a missing one."""
        with self.uow() as tx:
            insurer = self._insurer(tx, principal, amc_number)
            target, action = self._addressed(tx, principal, insurer, beneficiary_id)
            result = work(tx, insurer, target) if target is not None and action is Action.NONE else None
        self.detection.refuse(action)
        if result is None:
            raise NotFound()
        return result

    def _logged(self, tx: LifecycleStore, principal: Principal, tag: Tag, insurer: Insurer, beneficiary_id: int,
                purpose: str) -> None:
        tx.log.append_events([self.recorder.event(
            principal, self.clock.now(), tag, categories=(Category.IDENTITY, Category.COVERAGE), purpose=purpose,
            insurer_id=insurer.id, beneficiary_id=beneficiary_id)])

    def correct(self, principal: Principal, amc_number: str, beneficiary_id: int, change: IdentityChange) -> Member:
        """Correct a beneficiary's identity (names, birth date, NIR); on the log even when it
        changes nothing (the request reached the person's record)."""
        if change == IdentityChange():
            raise InvalidField("body", "nothing to change")
        today = self.clock.now().date()
        last = _checked_name("last_name", change.last_name) if change.last_name is not None else None
        first = _checked_name("first_name", change.first_name) if change.first_name is not None else None
        nir = parse_nir(change.nir) if change.nir is not None else None
        born = _checked_date("birth_date", change.birth_date) if change.birth_date is not None else None
        if born is not None and born > today:
            raise InvalidField("birth_date", "in the future")

        def work(tx: LifecycleStore, insurer: Insurer, current: Beneficiary) -> list[Member]:
            wanted = replace(current, last_name=last or current.last_name, first_name=first or current.first_name,
                             nir=nir or current.nir, birth_date=born or current.birth_date)
            if wanted != current:
                tx.memberships.update_beneficiary(wanted)
            self._logged(tx, principal, Tag.BENEFICIARY_UPDATE, insurer, current.id, "insurer: correct an identity")
            return self._members(tx, [(wanted, tx.beneficiaries.rights_periods(current.id))])

        return self._changed(principal, amc_number, beneficiary_id, work)[0]

    def add_dependant(self, principal: Principal, amc_number: str, member_id: int, dependant: Beneficiary,
                      rights: RightsPeriod) -> Member:
        """Register a dependant (ayant droit) under the member ``member_id`` (rank 0): its member
        number, and the contract the member has on the rights' first day. ``dependant``'s id,
        insurer, contract and member number are ignored."""
        if not 1 <= dependant.rank <= 20:
            raise InvalidField("rank", "between 1 and 20 (0 is the member)")
        _checked_date("rights_start", rights.start)
        if rights.end is not None and _checked_date("rights_end", rights.end) < rights.start:
            raise InvalidField("rights_end", "before rights_start")
        if not rights.categories:
            raise InvalidField("categories", "at least one care category")
        nir = parse_nir(dependant.nir)
        if not EARLIEST <= dependant.birth_date <= self.clock.now().date():
            raise InvalidField("birth_date", "out of range")
        last, first = _checked_name("last_name", dependant.last_name), _checked_name("first_name", dependant.first_name)

        def work(tx: LifecycleStore, insurer: Insurer, member: Beneficiary) -> list[Member]:
            if member.rank != 0:
                raise InvalidField("member", "dependants are added under the member (rank 0)")
            family = self._family(tx, insurer, member.member_number)
            if any(b.rank == dependant.rank for b, _ in family):
                raise InvalidField("rank", "taken in this membership")
            periods = next((ps for b, ps in family if b.id == member.id), [])
            new = replace(dependant, id=0, insurer_id=insurer.id, contract_id=member.contract_id,
                          member_number=member.member_number, nir=nir, last_name=last, first_name=first)
            period = replace(rights, contract_id=contract_on(member, periods, rights.start))
            (new_id,) = tx.memberships.add_members([(new, [period])])
            self._logged(tx, principal, Tag.BENEFICIARY_CREATE, insurer, new_id, "insurer: add a dependant")
            return self._members(tx, [(replace(new, id=new_id), [period])])

        return self._changed(principal, amc_number, member_id, work)[0]

    def end_rights(self, principal: Principal, amc_number: str, beneficiary_id: int, end: date) -> list[Member]:
        """Radiation at ``end``: no right runs past it. The member's radiation ends its
        dependants' rights too (they are covered through the membership); a dependant's ends its
        own. An end before the rights began is refused: it would erase their history."""
        _checked_date("end", end)

        def work(tx: LifecycleStore, insurer: Insurer, target: Beneficiary) -> list[Member]:
            family = self._family(tx, insurer, target.member_number)
            affected = [(b, ps) for b, ps in family if target.rank == 0 or b.id == target.id]
            starts = [p.start for _, ps in affected for p in ps]
            if not starts or end < min(starts):
                raise InvalidField("end", "before the rights began (nothing would remain of them)")
            out = []
            for beneficiary, periods in affected:
                remaining = ended(periods, end)
                if remaining != periods:
                    tx.memberships.replace_rights(beneficiary.id, remaining)
                self._logged(tx, principal, Tag.BENEFICIARY_END, insurer, beneficiary.id, "insurer: end rights")
                out.append((beneficiary, remaining))
            return self._members(tx, out)

        return self._changed(principal, amc_number, beneficiary_id, work)

    def change_contract(self, principal: Principal, amc_number: str, beneficiary_id: int, contract_code: str,
                        effective: date) -> list[Member]:
        """The membership moves to ``contract_code`` from ``effective`` on (the member and its
        dependants: the contract is the membership's). Care before that date keeps the contract
        it had; periods are split at the date."""
        _checked_date("effective", effective)

        def work(tx: LifecycleStore, insurer: Insurer, target: Beneficiary) -> list[Member]:
            contract_id = tx.reference.contract_id_by_code(insurer.id, contract_code)
            if contract_id is None:
                raise InvalidField("contract_code", "unknown contract for this insurer")
            family = self._family(tx, insurer, target.member_number)
            if not any(p.end is None or p.end >= effective for _, ps in family for p in ps):
                raise InvalidField("effective", "no rights on or after this date")
            out = []
            for beneficiary, periods in family:
                moved = with_contract_from(beneficiary, periods, effective, contract_id)
                wanted = replace(beneficiary, contract_id=contract_id)
                if moved != periods:
                    tx.memberships.replace_rights(beneficiary.id, moved)
                if wanted != beneficiary:
                    tx.memberships.update_beneficiary(wanted)
                self._logged(tx, principal, Tag.BENEFICIARY_UPDATE, insurer, beneficiary.id,
                             "insurer: change the contract")
                out.append((wanted, moved))
            return self._members(tx, out)

        return self._changed(principal, amc_number, beneficiary_id, work)
