"""Care networks (docs/DOMAIN.md, "Care networks"): an insurer's operators manage the networks
their insurer works with -- create one, add or end a professional's membership, set or end a
negotiated price cap for a class B optical code -- each dated, each change on the log. A quote
or an invoice applies the memberships and caps in force on its date of care
(``Professionals.network_caps``; the rule: domain/calculation.py ``NETWORK_PRICE_CAP``, R007).

Object scope: a network is seen by the operators of an insurer it serves and by the platform's
admins; for anybody else it answers like a missing one (docs/THREATS.md T10)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from tierspayant.audit.events import AccessEvent, Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_amc_number, parse_rpps
from tierspayant.domain.networks import (
    Period,
    cap_code,
    check_end,
    check_period,
    ending,
    parse_cap,
    parse_network_code,
    parse_network_name,
    place,
)
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.common import UseCase
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Conflict, HasLog, HasNetworks, HasProfessionals, HasReference
from tierspayant.services.ports.networks import Network, NetworkMember, PriceCap
from tierspayant.services.records import Professional

#: Rows a list answers at most (a network has a few thousand members at most: no pages).
MAX_ROWS = 5000
DEFAULT_ROWS = 1000
#: Insurers one network may serve.
MAX_INSURERS = 20


class NetworksStore(HasNetworks, HasReference, HasProfessionals, HasLog, Protocol):
    """The ports this use case works with (services/ports/)."""


@dataclass(frozen=True, slots=True)
class NetworkView:
    """A network as its operators know it: the insurers it serves by AMC number."""

    code: str
    name: str
    amc_numbers: tuple[str, ...]


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_ROWS:
        raise InvalidField("limit", f"between 1 and {MAX_ROWS}")
    return limit


class NetworksService(UseCase[NetworksStore]):
    # -- reading

    def networks(self, principal: Principal, limit: int = DEFAULT_ROWS) -> list[NetworkView]:
        """The networks serving the caller's insurer (every network for a platform admin)."""
        _side(principal)
        with self.uow(readonly=True) as tx:
            scope = None if principal.role is Role.PLATFORM_ADMIN else [principal.insurer_id or 0]
            known: dict[int, str] = {}
            return [_view(tx, n, known) for n in tx.networks.networks(scope, _check_limit(limit))]

    def network(self, principal: Principal, code: str) -> NetworkView:
        with self.uow(readonly=True) as tx:
            return _view(tx, self._network(tx, principal, code))

    def members(self, principal: Principal, code: str, limit: int = DEFAULT_ROWS) -> list[NetworkMember]:
        with self.uow(readonly=True) as tx:
            return tx.networks.members(self._network(tx, principal, code).id, _check_limit(limit))

    def caps(self, principal: Principal, code: str, limit: int = DEFAULT_ROWS) -> list[PriceCap]:
        with self.uow(readonly=True) as tx:
            return tx.networks.caps(self._network(tx, principal, code).id, _check_limit(limit))

    # -- changing (each on the log, in the change's transaction)

    def create(self, principal: Principal, code: str, name: str, amc_numbers: Sequence[str]) -> NetworkView:
        """A network serving these insurers, each one the caller's (an unknown insurer and
        another's get the same answer). ``Conflict`` when the code or the name is taken."""
        _side(principal)
        code, name = parse_network_code(code), parse_network_name(name)
        if not 1 <= len(amc_numbers) <= MAX_INSURERS:
            raise InvalidField("amc_numbers", f"1 to {MAX_INSURERS} insurers")
        with self.uow() as tx:
            insurer_ids = []
            for index, raw in enumerate(amc_numbers):
                field = f"amc_numbers[{index}]"
                insurer = tx.reference.insurer_by_amc(parse_amc_number(raw, field))
                if insurer is None or not principal.may_see_insurer(insurer.id):
                    raise InvalidField(field, "unknown insurer")
                insurer_ids.append(insurer.id)
            network = tx.networks.add_network(code, name, insurer_ids)
            tx.log.append_events(self._events(principal, network, Tag.NETWORK_CREATE, "reference: create the network"))
            return _view(tx, network)

    def add_member(self, principal: Principal, code: str, rpps: str, valid_from: date,
                   valid_to: date | None = None) -> NetworkMember:
        """A professional (an optician: the caps apply to optical elements) joins the network
        for these days. ``Conflict`` when it overlaps one of their memberships of it."""
        period = check_period(valid_from, valid_to)
        with self.uow() as tx:
            network = self._network(tx, principal, code)
            professional = _optician(tx, rpps)
            existing = tx.networks.members(network.id, MAX_ROWS, professional.id)
            clash = next((m for m in existing if Period(m.valid_from, m.valid_to).overlaps(period)), None)
            if clash is not None:
                raise Conflict("valid_from", f"overlaps the membership from {clash.valid_from.isoformat()}")
            member = NetworkMember(network.id, professional.id, professional.rpps, period.valid_from, period.valid_to)
            tx.networks.add_member(member)
            tx.log.append_events(self._events(principal, network, Tag.NETWORK_MEMBER_UPDATE,
                                              f"reference: professional {professional.id} joins {_days(period)}"))
        return member

    def end_member(self, principal: Principal, code: str, rpps: str, valid_to: date) -> NetworkMember:
        """The membership covering ``valid_to`` ends that day (its last day of membership)."""
        last = check_end(valid_to)
        with self.uow() as tx:
            network = self._network(tx, principal, code)
            professional = _optician(tx, rpps)
            found = ending([Period(m.valid_from, m.valid_to)
                            for m in tx.networks.members(network.id, MAX_ROWS, professional.id)], last)
            if found is None:
                raise InvalidField("valid_to", "no membership of this professional in this network covers that day")
            tx.networks.end_member(network.id, professional.id, found.valid_from, last)
            ended = Period(found.valid_from, last)
            tx.log.append_events(self._events(principal, network, Tag.NETWORK_MEMBER_UPDATE,
                                              f"reference: professional {professional.id} leaves, {_days(ended)}"))
        return NetworkMember(network.id, professional.id, professional.rpps, ended.valid_from, last)

    def set_cap(self, principal: Principal, code: str, item_code: str, cap: Decimal, valid_from: date,
                valid_to: date | None = None) -> PriceCap:
        """The network's price for a class B optical code over these days. A cap in force
        since an earlier day is superseded: it ends the day before. ``Conflict`` when the new
        period overlaps another of the code's periods."""
        period, amount = check_period(valid_from, valid_to), parse_cap(cap)
        with self.uow() as tx:
            network = self._network(tx, principal, code)
            cap_code(tx.reference.reference_codes([item_code]), item_code, period.valid_from)
            existing = tx.networks.caps(network.id, MAX_ROWS, item_code)
            superseded, clash = place([Period(c.valid_from, c.valid_to) for c in existing], period)
            if clash is not None:
                raise Conflict("valid_from", f"overlaps the cap from {clash.valid_from.isoformat()}")
            events = []
            if superseded is not None:
                last = period.valid_from - timedelta(days=1)
                tx.networks.end_cap(network.id, item_code, superseded.valid_from, last)
                events += self._events(principal, network, Tag.PRICE_CAP_UPDATE, f"reference: cap of {item_code} "
                                       f"ends, {_days(replace(superseded, valid_to=last))}")
            new = PriceCap(network.id, item_code, amount, period.valid_from, period.valid_to)
            tx.networks.add_cap(new)
            events += self._events(principal, network, Tag.PRICE_CAP_UPDATE,
                                   f"reference: cap of {item_code} at {amount}, {_days(period)}")
            tx.log.append_events(events)
        return new

    def end_cap(self, principal: Principal, code: str, item_code: str, valid_to: date) -> PriceCap:
        """The code's cap covering ``valid_to`` ends that day (its last day in force)."""
        last = check_end(valid_to)
        with self.uow() as tx:
            network = self._network(tx, principal, code)
            periods = {c.valid_from: c for c in tx.networks.caps(network.id, MAX_ROWS, item_code)}
            found = ending([Period(c.valid_from, c.valid_to) for c in periods.values()], last)
            if found is None:
                raise InvalidField("valid_to", "no cap of this code in this network covers that day")
            tx.networks.end_cap(network.id, item_code, found.valid_from, last)
            ended = replace(periods[found.valid_from], valid_to=last)
            tx.log.append_events(self._events(principal, network, Tag.PRICE_CAP_UPDATE,
                                              f"reference: cap of {item_code} ends, {_days(found, last)}"))
        return ended

    # -- helpers

    def _network(self, tx: NetworksStore, principal: Principal, code: str) -> Network:
        """The network if the caller may see it; NotFound otherwise (another insurer's network
        answers like a missing one)."""
        _side(principal)
        network = tx.networks.network(code)
        if network is None or not any(principal.may_see_insurer(i) for i in network.insurer_ids):
            raise NotFound()
        return network

    def _events(self, principal: Principal, network: Network, tag: Tag, purpose: str) -> list[AccessEvent]:
        """One event per insurer the network serves: each insurer's history shows the change.
        Ids and dates only: no professional's number, no name."""
        now = self.clock.now()
        return [self.recorder.event(principal, now, tag, categories=(), insurer_id=insurer_id, ref=network.code,
                                    purpose=purpose) for insurer_id in network.insurer_ids]


def _view(tx: NetworksStore, network: Network, known: dict[int, str] | None = None) -> NetworkView:
    """The network with its insurers' AMC numbers (``known``: those already read, by id)."""
    known = {} if known is None else known
    for insurer_id in network.insurer_ids:
        if insurer_id not in known and (insurer := tx.reference.insurer(insurer_id)) is not None:
            known[insurer_id] = insurer.amc_number
    return NetworkView(network.code, network.name, tuple(known[i] for i in network.insurer_ids if i in known))


def _side(principal: Principal) -> None:
    if principal.role not in (Role.INSURER_OPERATOR, Role.PLATFORM_ADMIN):
        raise Forbidden("insurers' operators and platform admins only")


def _optician(tx: NetworksStore, rpps: str) -> Professional:
    professional = tx.professionals.professional_by_rpps(parse_rpps(rpps, "rpps"))
    if professional is None:
        raise InvalidField("rpps", "no professional has this RPPS number")
    if professional.profession != "optician":
        # The caps apply to class B optical elements only (docs/DOMAIN.md "Allocation" 5).
        raise InvalidField("rpps", "not an optician: a network's prices cap optical elements")
    return professional


def _days(period: Period, last: date | None = None) -> str:
    end = last or period.valid_to
    return f"{period.valid_from.isoformat()} to {end.isoformat() if end else 'open'}"
