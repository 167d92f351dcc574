"""The ports' contracts as executable checks, run against the in-memory fakes
(tests/unit/test_fake_contracts.py) and the SQL store on SQLite and PostgreSQL
(tests/integration/test_store_contracts.py): what a use case may rely on, whatever implements
the port. Each check takes a fresh, empty unit of work yielding ``services.ports.Transaction``s."""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import pytest

from tierspayant.audit.events import AccessEvent, Category, Outcome, Tag
from tierspayant.detection.baselines import Baseline
from tierspayant.detection.counting import slot, window_slots
from tierspayant.domain.contracts import Contract
from tierspayant.domain.reference import CareCategory
from tierspayant.services.ports import Conflict, Transaction
from tierspayant.services.ports.delivery import Channel, Destination, Message, MessageState
from tierspayant.services.ports.networks import NetworkMember, PriceCap
from tierspayant.services.records import (
    Account,
    Beneficiary,
    Containment,
    ContainmentScope,
    Engagement,
    Invoice,
    InvoiceStatus,
    Organisation,
    Presentation,
    Presented,
    Professional,
    RecentActivity,
    RightsPeriod,
    ShredRequest,
    StoredCheckpoint,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Uow(Protocol):
    def __call__(self, *, readonly: bool = False) -> AbstractContextManager[Any]: ...


def world(uow: Uow) -> dict[str, int]:
    """An insurer, a contract, an organisation, two professionals, a beneficiary, accounts."""
    with uow() as tx:
        insurer = tx.reference.add_insurer("990000011", "Mutuelle test", 30, 180)
        contract = tx.reference.add_contract(insurer, Contract("C1", "Contrat test"))
        organisation = tx.professionals.add_organisation(Organisation(0, "FINESS", "750000001", "Optique test"))
        professionals = [tx.professionals.add_professional(Professional(
            0, organisation, rpps, None, "751234567", "optician", f"Opticien {n}", "FR7630006000011234567890189",
            "AGRIFRPPXXX", True)) for n, rpps in enumerate(("10000000001", "10000000019"))]
        beneficiary = tx.beneficiaries.add_beneficiary(Beneficiary(
            0, insurer, contract, "0000000013", 1, "269083114939365", date(1969, 8, 4), "Martin", "Claire"))
        tx.beneficiaries.add_rights_period(beneficiary, RightsPeriod(date(2026, 1, 1), None,
                                                                     frozenset({CareCategory.OPTICAL})))
        accounts = [tx.accounts.add_account(Account(
            0, f"user{n}", "hash", "SECRET", 0, "professional", organisation, professionals[n % 2], None, False))
            for n in range(3)]
    return {"insurer": insurer, "contract": contract, "organisation": organisation, "professional": professionals[0],
            "other_professional": professionals[1], "beneficiary": beneficiary, "account": accounts[0],
            "other_account": accounts[1], "third_account": accounts[2]}


def check_a_failed_unit_of_work_writes_nothing(uow: Uow) -> None:
    ids = world(uow)
    with pytest.raises(RuntimeError), uow() as tx:
        tx.reference.add_insurer("990000029", "Half-written", 30, 180)
        tx.log.append_events([_event(ids["account"])])
        raise RuntimeError("the use case failed half-way")
    with uow(readonly=True) as tx:
        assert tx.reference.insurer_by_amc("990000029") is None
        assert tx.log.log_size() == 0


def check_a_read_only_unit_of_work_refuses_writes(uow: Uow) -> None:
    ids = world(uow)
    with pytest.raises(Exception), uow(readonly=True) as tx:
        tx.reference.add_insurer("990000045", "Written where only reading was promised", 30, 180)
    with pytest.raises(Exception), uow(readonly=True) as tx:
        tx.sessions.revoke_sessions_of(ids["account"])
        tx.sessions.add_session(ids["account"], "h-ro", AT, AT + timedelta(hours=1))
    with uow(readonly=True) as tx:
        assert tx.reference.insurer_by_amc("990000045") is None
        assert tx.sessions.session_by_token_hash("h-ro") is None


def check_conflicts_name_the_field_and_write_nothing(uow: Uow) -> None:
    world(uow)
    with uow() as tx:
        with pytest.raises(Conflict) as raised:
            tx.reference.add_insurer("990000011", "Twin", 30, 180)
        assert raised.value.field == "amc_number"
        with pytest.raises(Conflict) as raised:
            tx.accounts.add_account(Account(0, "user0", "h", "S", 0, "professional", None, None, None, False))
        assert raised.value.field == "username"
        tx.reference.add_insurer("990000037", "Still usable after a conflict", 30, 180)
    with uow(readonly=True) as tx:
        assert tx.reference.insurer_by_amc("990000037") is not None


def check_a_presence_nonce_is_consumed_once(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        assert tx.presence.use_presence_nonce("nonce-1", ids["professional"], AT) is True
    with uow() as tx:
        assert tx.presence.use_presence_nonce("nonce-1", ids["professional"], AT) is False  # replayed
        assert tx.presence.use_presence_nonce("nonce-1", ids["other_professional"], AT) is False  # by another
        assert tx.presence.use_presence_nonce("nonce-2", ids["professional"], AT) is True


def check_proofless_memories_and_counters(uow: Uow) -> None:
    """Who a holder checked, per-day counters, one follow-up per engagement, drivers, purge."""
    ids = world(uow)
    day = AT.date()
    account, organisation = ContainmentScope.ACCOUNT, ContainmentScope.ORGANISATION
    with uow() as tx:
        assert tx.presence.proofless_known(account, ids["account"], "s0", day) is False
        for n in range(6):
            tx.presence.count_proofless(account, ids["account"], f"s{n}", day, ids["organisation"])
        tx.presence.count_proofless(organisation, ids["organisation"], "s0", day)
        tx.presence.count_proofless(account, ids["account"], "old", day - timedelta(days=40), ids["organisation"])
        tx.presence.count_proofless(account, ids["other_account"], "s0", day, ids["organisation"])
    with uow(readonly=True) as tx:
        assert tx.presence.proofless_known(account, ids["account"], "s0", day) is True
        assert tx.presence.proofless_known(account, ids["account"], "s0", day + timedelta(days=1)) is False
        assert tx.presence.proofless_known(organisation, ids["organisation"], "s1", day) is False  # its own memory
        assert tx.presence.proofless_known(account, ids["third_account"], "s0", day - timedelta(days=1)) is False
        [today] = tx.presence.proofless_days(account, ids["account"], day - timedelta(days=29))
        assert (today.day, today.admitted, today.followed) == (day, 6, 0)
        month = day - timedelta(days=29)
        assert tx.presence.driving_accounts(ids["organisation"], month, day, 6) == [ids["account"]]  # 6 + the old one
        assert tx.presence.driving_accounts(ids["organisation"], month, day, 7) == []
        assert tx.presence.driving_accounts(ids["organisation"], day - timedelta(days=45), day, 7) == [ids["account"]]
        assert tx.presence.driving_accounts(ids["organisation"], month, day - timedelta(days=1), 1) == []
    engagement = _engagement(uow, ids)
    with uow() as tx:
        tx.presence.add_proofless_engagement(engagement, ids["account"], ids["organisation"], day)
    with uow() as tx:
        assert tx.presence.quoted(engagement) is True  # a PEC first
        assert tx.presence.quoted(engagement) is False  # once
    with uow(readonly=True) as tx:
        [mine] = tx.presence.proofless_days(account, ids["account"], day)
        assert (mine.followed, mine.quoted) == (0, 1)
    with uow() as tx:
        assert tx.presence.follow_up(engagement) is True  # then its invoice
        assert tx.presence.follow_up(engagement) is False  # followed once, whatever comes after
        assert tx.presence.follow_up(engagement + 1000) is False  # not a proof-less engagement
    with uow(readonly=True) as tx:
        [mine] = tx.presence.proofless_days(account, ids["account"], day)
        [theirs] = tx.presence.proofless_days(organisation, ids["organisation"], day)
        assert (mine.admitted, mine.followed, mine.quoted, theirs.admitted, theirs.followed, theirs.quoted) == (
            6, 1, 0, 1, 1, 0)
        assert tx.presence.driving_accounts(ids["organisation"], day, day, 5) == []  # one in six followed
    with uow() as tx:
        assert tx.presence.purge_proofless(day - timedelta(days=29)) == 2  # the old memory and its day
    with uow(readonly=True) as tx:
        assert tx.presence.proofless_days(account, ids["account"], day - timedelta(days=60)) == [mine]


def _engagement(uow: Uow, ids: dict[str, int]) -> int:
    with uow() as tx:
        return int(tx.claims.add_engagement(Engagement(
            0, "E-CONTRACT-1", ids["insurer"], ids["beneficiary"], ids["professional"], CareCategory.OPTICAL,
            AT.date(), AT.date() + timedelta(days=30)), AT))


def check_detection_counts_match_a_model(uow: Uow) -> None:
    """The same traffic gives the same counters and distinct counts on every implementation:
    each identity in the slot of its latest presentation (detection/counting.py)."""
    ids = world(uow)
    rng = random.Random(12)
    accounts = [ids["account"], ids["other_account"], ids["third_account"]]
    model: dict[tuple[int, str], list[Any]] = {}
    org_last: dict[str, datetime] = {}
    neighbourhood: dict[str, str] = {}
    outcomes = list(Presentation)
    with uow() as tx:
        for n in range(300):
            account = rng.choice(accounts)
            subject = f"p{rng.randrange(60)}"
            at = AT + timedelta(seconds=20 * n + rng.randrange(20))
            outcome = rng.choice(outcomes)
            presented = Presented(at, account, 1, ids["organisation"], subject, f"n{subject[-1]}", outcome)
            neighbourhood[subject] = presented.neighbourhood
            entry = model.get((account, subject))
            mine = entry[0] if entry else None
            # The organisation's time is kept to the minute, the slots' finest width.
            theirs = org_last.get(subject)
            got_mine, got_theirs = tx.detection.record_presented(presented)
            assert got_mine == mine
            assert (got_theirs and slot(got_theirs, 60)) == (theirs and slot(theirs, 60))
            entry = model.setdefault((account, subject), [at, 0, 0, 0, 0])
            entry[0] = at
            entry[1] += 1
            for i, c in enumerate(presented.counts):
                entry[2 + i] += c
            org_last[subject] = at
    end = AT + timedelta(seconds=20 * 300)

    def distinct(last: list[datetime]) -> tuple[int, ...]:
        return tuple(sum(1 for t in last if first <= slot(t, width) <= stop) for width, first, stop in window_slots(end))

    with uow(readonly=True) as tx:
        for account in accounts:
            mine = {subject: v for (a, subject), v in model.items() if a == account}
            for at in (end, end - timedelta(minutes=25)):  # windows bounded on both sides
                hour = {s: v for s, v in mine.items() if at - timedelta(hours=1) <= v[0] <= at}
                ten = [v for v in hour.values() if at - timedelta(minutes=10) <= v[0]]
                near = [neighbourhood[s] for s in hour]
                assert tx.detection.recent(account, None, "never", "n3", at)[1] == RecentActivity(
                    len(ten), sum(1 for v in ten if v[2] == 0 and v[3] > 0), max((v[3] for v in hour.values()), default=0),
                    sum(v[4] for v in hour.values()), near.count("n3"))
            counts, _, never = tx.detection.recent(account, None, "never", "n3", end)
            assert counts == (distinct([v[0] for v in mine.values()]), (0, 0, 0, 0)) and never is None
            for one, (last_at, attempts, hits, failures, refusals) in list(mine.items())[:5]:
                seen = tx.detection.recent(account, ids["organisation"], one, "n3", end)[2]
                assert seen is not None and (seen.subject, seen.neighbourhood) == (one, neighbourhood[one])
                assert (seen.last_at, seen.attempts, seen.hits, seen.failures, seen.refusals) == (
                    last_at, attempts, hits, failures, refusals)
        assert tx.detection.recent(ids["account"], ids["organisation"], "never", "n3", end)[0][1] == distinct(
            list(org_last.values()))
    with uow() as tx:
        tx.detection.purge_seen(end - timedelta(minutes=30))
    with uow(readonly=True) as tx:
        kept = {s for (a, s), v in model.items() if a == ids["account"] and v[0] >= end - timedelta(minutes=30)}
        assert {s for s in {k[1] for k in model} if tx.detection.recent(ids["account"], None, s, "n", end)[2]} == kept


def check_a_counter_dated_in_the_future_counts_in_no_window(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        tx.detection.record_presented(Presented(AT, ids["account"], 1, ids["organisation"], "now", "n", Presentation.OK))
        tx.detection.record_presented(Presented(AT + timedelta(days=2), ids["account"], 1, ids["organisation"],
                                                "ahead", "n", Presentation.OK))
    with uow(readonly=True) as tx:
        counts, recent, _ = tx.detection.recent(ids["account"], ids["organisation"], "ahead", "n", AT)
        assert recent.my_neighbours_hour == 1  # "ahead" counts nowhere
        assert counts == ((1, 1, 1, 1), (1, 1, 1, 1))


def check_hourly_counters_and_baselines(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        assert [tx.detection.bump("insurer_proofless", 7, AT + timedelta(minutes=m)) for m in (0, 5, 59)] == [1, 2, 3]
        assert tx.detection.bump("insurer_proofless", 7, AT + timedelta(hours=1)) == 1
        tx.detection.bump("insurer_alerted", 7, AT)
        tx.detection.record_presented(Presented(AT, ids["account"], 1, None, "s1", "n", Presentation.OK))
    hour = int(AT.timestamp()) // 3600
    with uow(readonly=True) as tx:
        assert tx.detection.hourly("insurer_proofless", AT - timedelta(days=1), AT + timedelta(hours=2)) == {
            (7, hour): 3, (7, hour + 1): 1}
        assert tx.detection.hourly("insurer_proofless", AT + timedelta(hours=1), AT + timedelta(hours=1)) == {
            (7, hour + 1): 1}
        assert tx.detection.hourly("account", AT, AT) == {(ids["account"], hour): 1}
        assert tx.detection.baseline(ids["account"]) is None
    first = Baseline(1, 5.0, 3.0, 1 << 10, AT.date())
    second = Baseline(2, 6.0, 3.5, 1 << 10 | 1 << 11, AT.date() + timedelta(days=1))
    with uow() as tx:
        assert tx.detection.save_baseline(ids["account"], first, None)
        assert not tx.detection.save_baseline(ids["account"], first, None)  # another worker was first
        assert tx.detection.save_baseline(ids["account"], second, first)
        assert not tx.detection.save_baseline(ids["account"], second, first)  # no longer ``first``
    with uow(readonly=True) as tx:
        assert tx.detection.baseline(ids["account"]) == second
    with uow() as tx:  # the insurers' counters outlive the day's slots: a week's baseline
        tx.detection.purge_seen(AT + timedelta(days=2))
    with uow(readonly=True) as tx:
        assert tx.detection.hourly("insurer_proofless", AT, AT) == {(7, hour): 3}
        assert tx.detection.hourly("account", AT, AT) == {}
    with uow() as tx:  # a scope's own purge (the reads' counters: two hours) leaves the others
        assert tx.detection.purge_hourly("insurer_proofless", AT + timedelta(hours=1)) == 1
        assert tx.detection.purge_hourly("insurer_proofless", AT + timedelta(hours=1)) == 0
    with uow(readonly=True) as tx:
        assert tx.detection.hourly("insurer_proofless", AT - timedelta(days=1), AT + timedelta(hours=2)) == {
            (7, hour + 1): 1}
        assert tx.detection.hourly("insurer_alerted", AT, AT) == {(7, hour): 1}


def check_single_use_secrets_are_consumed_once(uow: Uow) -> None:
    ids = world(uow)
    later = AT + timedelta(minutes=5)
    with uow() as tx:
        tx.passkeys.add_enrolment_code("code", ids["account"], later)
        tx.passkeys.add_challenge("challenge", "authenticate", None, later)
        tx.passkeys.add_oidc_state("state", "nonce", "verifier", later)
    with uow() as tx:
        assert tx.passkeys.enrolment_account("code", AT) == ids["account"]
        assert tx.passkeys.enrolment_account("code", later) is None  # expired
        assert tx.passkeys.use_enrolment_code("code") is True
        assert tx.passkeys.use_enrolment_code("code") is False
        assert tx.passkeys.enrolment_account("code", AT) is None
        assert tx.passkeys.take_challenge("challenge", "register", AT) == (False, None)  # other purpose
        assert tx.passkeys.take_challenge("challenge", "authenticate", AT) == (True, None)
        assert tx.passkeys.take_challenge("challenge", "authenticate", AT) == (False, None)
        assert tx.passkeys.take_oidc_state("state", later) is None  # expired
        assert tx.passkeys.take_oidc_state("state", AT) == ("nonce", "verifier")
        assert tx.passkeys.take_oidc_state("state", AT) is None


def check_sessions_end_as_promised(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        first = tx.sessions.add_session(ids["account"], "h1", AT, AT + timedelta(hours=12))
        tx.sessions.add_session(ids["account"], "h2", AT, AT + timedelta(hours=12), "oidc", auth_means="MOBILE")
        tx.sessions.add_session(ids["other_account"], "h3", AT, AT + timedelta(hours=12))
        with pytest.raises(Conflict):
            tx.sessions.add_session(ids["account"], "h1", AT, AT + timedelta(hours=12))
    with uow() as tx:
        found = tx.sessions.session_by_token_hash("h1")
        assert found is not None and found[0].id == first and found[1].id == ids["account"]
        assert tx.sessions.session(first) == found[0] and tx.sessions.session(10**6) is None
        assert found[0].auth_means is None  # kept as given: only a provider's sessions have one
        second = tx.sessions.session_by_token_hash("h2")
        assert second is not None and (second[0].aal, second[0].auth_means) == ("oidc", "MOBILE")
        assert [a.id for a in tx.accounts.accounts_of_organisation(ids["organisation"])] == [
            ids["account"], ids["other_account"], ids["third_account"]]
        assert tx.sessions.session_by_token_hash("nope") is None
        tx.sessions.revoke_session(first)
        live = tx.sessions.live_sessions_of(ids["account"], AT)
        assert [(s.aal, s.auth_means) for s in live] == [("oidc", "MOBILE")]
        assert tx.sessions.revoke_sessions_of(ids["account"]) == 1
        assert tx.sessions.revoke_all_sessions() == 1


def check_sign_in_failures_count_in_their_window(uow: Uow) -> None:
    world(uow)
    with uow() as tx:
        tx.sign_in_failures.record_failure("k", AT, timedelta(hours=1))
        tx.sign_in_failures.record_failure("k", AT + timedelta(minutes=30), timedelta(hours=1))
        assert tx.sign_in_failures.failures("k") == (2, AT, AT + timedelta(minutes=30))
        tx.sign_in_failures.record_failure("k", AT + timedelta(hours=2), timedelta(hours=1))
        assert tx.sign_in_failures.failures("k") == (1, AT + timedelta(hours=2), AT + timedelta(hours=2))
        tx.sign_in_failures.clear_failures("k")
        assert tx.sign_in_failures.failures("k") is None


def check_containments_lift_once(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        kept = tx.containments.add_containment(Containment(0, ContainmentScope.ACCOUNT, ids["account"], "suspend",
                                                           "manual:test", AT, None, None))
        lifted = tx.containments.add_containment(Containment(0, ContainmentScope.ORGANISATION, ids["organisation"],
                                                             "suspend", "manual:test", AT, 7, None))
        tx.containments.add_containment(Containment(0, ContainmentScope.ACCOUNT, ids["other_account"], "throttle",
                                                    "failure_ratio", AT, None, AT + timedelta(minutes=10)))
    with uow() as tx:
        assert tx.containments.lift_containment(lifted, 7, AT) is True
        assert tx.containments.lift_containment(lifted, 7, AT) is False
        assert tx.containments.lift_containment(10**6, 7, AT) is False
        active = tx.containments.recent(active_at=AT + timedelta(minutes=11))
        assert [c.id for c in active] == [kept] and active[0].scope is ContainmentScope.ACCOUNT
        assert len(tx.containments.recent()) == 3
        assert tx.containments.contained_accounts_of_organisation(ids["organisation"], AT) == 2


def check_an_invoice_is_paid_once(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        engagement = tx.claims.add_engagement(Engagement(0, "E-1", ids["insurer"], ids["beneficiary"],
                                                         ids["professional"], CareCategory.OPTICAL, AT.date(),
                                                         AT.date() + timedelta(days=30)), AT)
        invoice = tx.claims.add_invoice(_invoice(ids, engagement, "F-1"))
        with pytest.raises(Conflict) as raised:
            tx.claims.add_invoice(_invoice(ids, engagement, "F-1"))
        assert raised.value.field == "invoice_number"
        run = tx.payments.add_payment_run(ids["insurer"], AT)
        first = tx.payments.add_payment_order(run, ids["professional"], Decimal("10.00"), "E2E-1", {})
        second = tx.payments.add_payment_order(run, ids["professional"], Decimal("10.00"), "E2E-2", {})
    with uow() as tx:
        assert [p.invoice_id for p in tx.payments.payable_invoices(ids["insurer"])] == [invoice]
        assert tx.payments.attach_invoices([invoice], first) == [invoice]
        assert tx.payments.attach_invoices([invoice], second) == []
        assert tx.payments.payable_invoices(ids["insurer"]) == []
        paid = tx.claims.invoice_by_number(ids["professional"], "F-1")
        assert paid is not None and paid.status is InvoiceStatus.PAID and paid.payment_order_id == first
        assert tx.claims.care_key_used("care-1") is True


def check_bank_changes_belong_to_their_professional(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        change = tx.bank_details.add_bank_change(ids["professional"], "FR7630004000031234567890143", "BNPAFRPPXXX",
                                                 AT, AT + timedelta(hours=72), ids["account"])
    with uow() as tx:
        assert tx.bank_details.cancel_bank_change(ids["other_professional"], change) is False
        tx.bank_details.apply_due_bank_changes(ids["professional"], AT + timedelta(hours=71))
        professional = tx.professionals.professional(ids["professional"])
        assert professional is not None and professional.iban == "FR7630006000011234567890189"  # not yet due
        tx.bank_details.apply_due_bank_changes(ids["professional"], AT + timedelta(hours=72))
        professional = tx.professionals.professional(ids["professional"])
        assert professional is not None and professional.iban == "FR7630004000031234567890143"
        assert tx.bank_details.cancel_bank_change(ids["professional"], change) is False  # applied already


def check_the_log_orders_and_finds_events(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        tx.log.append_events([_event(ids["account"], beneficiary="b1"), _event(ids["other_account"])])
    with uow() as tx:
        tx.log.append_events([_event(ids["account"], tag=Tag.KEY_ROTATE, insurer_id=ids["insurer"])])
    with uow(readonly=True) as tx:
        assert tx.log.log_size() == 3
        assert [e.seq for e in tx.log.events(0, 3)] == [0, 1, 2]
        assert [e.seq for e in tx.log.events_of_beneficiary("b1")] == [0]
        assert [e.seq for e in tx.log.key_events(ids["insurer"])] == [2]
        assert [e.seq for e in tx.log.key_events(None)] == [2]
        assert [e.seq for e in tx.log.events_of_actor(account_id=ids["account"], organisation_id=None, start=AT,
                                                      end=AT + timedelta(seconds=1))] == [0, 2]
        assert len(tx.log.leaf_hashes(0, 3)) == 3
    with uow() as tx:
        assert tx.checkpoints.add_checkpoint(StoredCheckpoint(3, bytes(32), AT, "note")) is True
        assert tx.checkpoints.add_checkpoint(StoredCheckpoint(3, bytes(32), AT, "other")) is False
        latest = tx.checkpoints.latest_checkpoint()
        assert latest is not None and latest.note == "note"


def check_a_windows_leaves_are_found_exactly_with_dates_a_little_out_of_order(uow: Uow) -> None:
    """window_leaves (breach response's leaf range): events appended over five hours, a few
    seconds out of order as group commits interleave them; the first and last leaf dated in
    each window, whatever the window."""
    from dataclasses import replace

    ids = world(uow)
    base = _event(ids["account"])
    offsets = [n * 60 + (7 if n % 5 == 2 else -3 if n % 7 == 3 else 0) for n in range(300)]  # a minute apart
    with uow() as tx:
        tx.log.append_events([replace(base, at=AT + timedelta(seconds=s)) for s in offsets])
    dated = {n: AT + timedelta(seconds=s) for n, s in enumerate(offsets)}
    with uow(readonly=True) as tx:
        for start, end in ((0, 300 * 60), (65 * 60, 66 * 60), (62 * 60 + 30, 190 * 60 + 5), (-3600, 10), (299 * 60, 10**6)):
            lo, hi = AT + timedelta(seconds=start), AT + timedelta(seconds=end)
            inside = [n for n, at in dated.items() if lo <= at < hi]
            assert tx.log.window_leaves(lo, hi) == ((min(inside), max(inside)) if inside else None), (start, end)
        assert tx.log.window_leaves(AT - timedelta(days=2), AT - timedelta(days=1)) is None


def check_a_shred_request_is_approved_once(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        first = tx.keys.rotate(ids["insurer"])
        second = tx.keys.rotate(ids["insurer"])
        assert second > first and tx.keys.versions(ids["insurer"])[-1] == second
        request = tx.keys.add_shred_request(ShredRequest(0, ids["insurer"], ids["account"], "test", AT))
    with uow() as tx:
        found = tx.keys.shred_request(request)
        assert found is not None and found.requested_by == ids["account"] and found.approved_by is None
        assert tx.keys.approve_shred_request(request, ids["other_account"], AT) is True
        assert tx.keys.approve_shred_request(request, ids["third_account"], AT) is False
        assert tx.keys.shred(ids["insurer"]) >= 2
        assert tx.keys.versions(ids["insurer"]) == []


def check_networks_keep_dated_memberships_and_caps(uow: Uow) -> None:
    ids = world(uow)
    pro, insurer, frame = ids["professional"], ids["insurer"], "9100102"
    with uow() as tx:
        first = tx.networks.add_network("reseau-a", "Réseau A", [insurer])
        for code, name, field in (("reseau-a", "Autre", "code"), ("reseau-b", "Réseau A", "name")):
            with pytest.raises(Conflict) as taken:
                tx.networks.add_network(code, name, [insurer])
            assert taken.value.field == field
        second = tx.networks.add_network("reseau-b", "Réseau B", [insurer])
        tx.networks.add_member(NetworkMember(first.id, pro, None, date(2026, 1, 1), date(2026, 3, 31)))
        tx.networks.add_member(NetworkMember(first.id, pro, None, date(2026, 6, 1), None))  # rejoins
        with pytest.raises(Conflict) as twice:
            tx.networks.add_member(NetworkMember(first.id, pro, None, date(2026, 6, 1), None))
        assert twice.value.field == "valid_from"
        tx.networks.add_cap(PriceCap(first.id, frame, Decimal("150.00"), date(2026, 1, 1), None))
        tx.networks.add_member(NetworkMember(second.id, pro, None, date(2026, 7, 1), None))
        tx.networks.add_cap(PriceCap(second.id, frame, Decimal("140.50"), date(2026, 1, 1), date(2026, 8, 31)))
    with uow() as tx:
        caps = {day: tx.professionals.network_caps(pro, insurer, day) for day in (
            date(2025, 12, 31), date(2026, 1, 1), date(2026, 3, 31), date(2026, 4, 1), date(2026, 7, 1),
            date(2026, 9, 1))}
        assert caps == {date(2025, 12, 31): {}, date(2026, 1, 1): {frame: Decimal("150.00")},
                        date(2026, 3, 31): {frame: Decimal("150.00")}, date(2026, 4, 1): {},
                        date(2026, 7, 1): {frame: Decimal("140.50")}, date(2026, 9, 1): {frame: Decimal("150.00")}}
        assert tx.professionals.network_caps(ids["other_professional"], insurer, date(2026, 2, 1)) == {}
        assert tx.networks.end_cap(first.id, frame, date(2026, 1, 1), date(2026, 6, 30)) is True
        assert tx.networks.end_cap(first.id, frame, date(2020, 1, 1), date(2026, 6, 30)) is False
        assert tx.networks.end_member(second.id, pro, date(2026, 7, 1), date(2026, 7, 31)) is True
    with uow(readonly=True) as tx:
        assert tx.professionals.network_caps(pro, insurer, date(2026, 8, 1)) == {}
        members = tx.networks.members(first.id, 10)
        assert [(m.rpps, m.valid_from, m.valid_to) for m in members] == [
            ("10000000001", date(2026, 1, 1), date(2026, 3, 31)), ("10000000001", date(2026, 6, 1), None)]
        assert tx.networks.members(first.id, 1) == members[:1]
        assert tx.networks.caps(first.id, 10, frame) == [
            PriceCap(first.id, frame, Decimal("150.00"), date(2026, 1, 1), date(2026, 6, 30))]
        assert tx.networks.caps(first.id, 10, "9100301") == []
        found = tx.networks.network("reseau-a")
        assert found is not None and found.insurer_ids == (insurer,) and tx.networks.network("absent") is None
        assert [n.code for n in tx.networks.networks([insurer], 10)] == ["reseau-a", "reseau-b"]
        assert tx.networks.networks([insurer + 999], 10) == [] and len(tx.networks.networks(None, 1)) == 1


def check_the_outbox_leases_each_message_once_and_in_order(uow: Uow) -> None:
    ids = world(uow)
    hook = Destination(0, "claims-a", Channel.WEBHOOK, {"url": "https://claims.example/hooks"},
                       ("invoice.adjudicated",), ids["insurer"], None, secrets=(("whsec_c2VjcmV0", None),))
    with uow() as tx:
        destination = tx.destinations.add_destination(hook)
        with pytest.raises(Conflict):
            tx.destinations.add_destination(hook)
        assert [d.id for d in tx.destinations.routes("invoice.adjudicated", ids["insurer"], None)] == [destination]
        assert tx.destinations.routes("invoice.adjudicated", ids["insurer"] + 1, None) == []
        assert tx.destinations.routes("statement.available", ids["insurer"], None) == []
        messages = [Message(0, f"msg_{n}", destination, "invoice.adjudicated", key, {"n": n, "member": "0000000013"},
                            ids["insurer"], AT) for n, key in enumerate(("invoice:1", "invoice:1", "invoice:2"))]
        tx.outbox.add_messages(messages)
        tx.outbox.add_messages(messages[:1])  # the same fact queued twice: one message
    later = AT + timedelta(minutes=1)
    with uow() as tx:
        assert tx.outbox.due_destinations(AT) == {destination}
        assert tx.outbox.due_destinations(AT - timedelta(seconds=1)) == set()  # none due yet
        stored = tx.destinations.destination("claims-a")
        assert stored is not None and stored.secrets == hook.secrets and tx.destinations.destination("x") is None
        first = tx.outbox.claim(destination, AT, later, "relay-a", 10)
        # invoice:1's second message waits for its first: one invoice's messages stay in order.
        assert [(m.message_id, m.payload["n"]) for m in first] == [("msg_0", 0), ("msg_2", 2)]
        assert tx.outbox.claim(destination, AT, later, "relay-b", 10) == []  # leased to a
    with uow() as tx:
        sent = first[0]
        assert tx.outbox.settle(sent, "relay-b") is False  # not b's to settle
        assert tx.outbox.settle(replace(sent, state=MessageState.SENT, attempts=1, sent_at=AT), "relay-a") is True
        assert tx.outbox.settle(replace(sent, state=MessageState.SENT), "relay-a") is False  # once
        assert [m.message_id for m in tx.outbox.claim(destination, AT, later, "relay-b", 10)] == ["msg_1"]
    with uow() as tx:  # the leases ran out (a's on msg_2, b's on msg_1): b may take both
        after = later + timedelta(seconds=1)
        assert [m.message_id for m in tx.outbox.claim(destination, after, after + timedelta(minutes=1), "relay-b", 10)
                ] == ["msg_1", "msg_2"]
        dead = replace(first[1], state=MessageState.DEAD, attempts=3, last_error="answered 401")
        assert tx.outbox.settle(dead, "relay-b") is True
        assert tx.outbox.due_destinations(after) == set()  # msg_1 leased to b, msg_2 dead: no beat needed
    with uow() as tx:
        backlog = {b.name: (b.pending, b.dead) for b in tx.outbox.backlog(AT)}
        assert backlog == {"claims-a": (1, 1)}
        assert [(m.message_id, m.last_error, dict(m.payload)) for m in tx.outbox.dead(10)] == [
            ("msg_2", "answered 401", {})]
        assert [m.message_id for m in tx.outbox.delivery_of("invoice:1")] == ["msg_0", "msg_1"]
        again = tx.outbox.message("msg_2")
        assert again is not None and dict(again.payload) == {"n": 2, "member": "0000000013"}
        assert tx.outbox.replay("msg_2", later) is True and tx.outbox.replay("msg_2", later) is False
        assert tx.outbox.replay("msg_0", later) is False  # sent: nothing to replay


def check_a_carried_message_is_acknowledged_or_given_up_once_per_generation(uow: Uow) -> None:
    ids = world(uow)
    with uow() as tx:
        destination = tx.destinations.add_destination(Destination(
            0, "carried", Channel.WEBHOOK, {"url": "https://claims.example/hooks"}, ("invoice.adjudicated",),
            ids["insurer"], None))
        tx.outbox.add_messages([Message(0, f"msg_t{n}", destination, "invoice.adjudicated", f"invoice:{n}", {"n": n},
                                        ids["insurer"], AT) for n in range(2)])
    later = AT + timedelta(minutes=1)
    with uow() as tx:  # both handed to the transport: sent, not acknowledged
        for m in tx.outbox.claim(destination, AT, later, "relay-a", 10):
            assert tx.outbox.settle(replace(m, state=MessageState.SENT, attempts=1, sent_at=AT), "relay-a")
    with uow() as tx:
        assert {b.name: (b.pending, b.in_transit, b.oldest) for b in tx.outbox.backlog(AT)}["carried"] == (0, 2, AT)
        assert tx.outbox.acknowledge("msg_t0", 1, later, 2) is False  # not this generation
        assert tx.outbox.acknowledge("msg_t0", 0, later, 2) is True
        assert tx.outbox.acknowledge("msg_t0", 0, later, 3) is False  # once
        assert tx.outbox.give_up("msg_t0", 0, "answered 410", 3) is False  # acknowledged: stays so
        assert tx.outbox.give_up("msg_t1", 0, "answered 410", 4) is True
    with uow() as tx:
        done, dead = tx.outbox.message("msg_t0"), tx.outbox.message("msg_t1")
        assert done is not None and done.acknowledged_at == later and done.attempts == 2
        assert dead is not None and dead.state is MessageState.DEAD and dead.last_error == "answered 410"
        assert {b.name: (b.in_transit, b.dead) for b in tx.outbox.backlog(AT)}["carried"] == (0, 1)
        assert tx.outbox.replay("msg_t1", later) is True
        again = tx.outbox.message("msg_t1")
        assert again is not None and (again.state, again.generation, again.sent_at) == (MessageState.PENDING, 1, None)
        assert tx.outbox.acknowledge("msg_t1", 0, later, 1) is False  # the old generation's late word


def check_a_tree_node_written_twice_is_kept_once(uow: Uow) -> None:
    with uow() as tx:  # two workers' checkpoint beats computed the same node
        tx.checkpoints.add_nodes([(0, 0, b"\x01" * 32)])
        tx.checkpoints.add_nodes([(0, 0, b"\x01" * 32), (0, 1, b"\x02" * 32)])
    with uow(readonly=True) as tx:
        assert tx.checkpoints.node_hashes([(0, 0), (0, 1)]) == {(0, 0): b"\x01" * 32, (0, 1): b"\x02" * 32}


CHECKS: list[Callable[[Uow], None]] = [value for name, value in sorted(globals().items()) if name.startswith("check_")]


def _event(account: int, beneficiary: str | None = None, tag: Tag = Tag.RIGHTS_CHECK,
           insurer_id: int | None = None) -> AccessEvent:
    return AccessEvent(AT, tag, account, None, None, beneficiary, insurer_id, (Category.COVERAGE,), "test",
                       Outcome.OK, "r")


def _invoice(ids: dict[str, int], engagement: int, number: str) -> Invoice:
    return Invoice(0, ids["insurer"], ids["professional"], number, ids["beneficiary"], engagement, None, AT.date(),
                   CareCategory.OPTICAL, "fingerprint", "care-1", [], Decimal("10.00"), Decimal("10.00"),
                   InvoiceStatus.APPROVED, [], None, AT)


__all__ = ["CHECKS", "Transaction"]
