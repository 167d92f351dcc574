"""Lists over 100,000 invoices, on SQLite and PostgreSQL: keyset pages in a stable order, no row
read twice or skipped while invoices keep arriving between pages; filters, sorts and cursors;
each listed row on the transparency log; a professional sees only its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from tests.conftest import World
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import Principal, Role
from tierspayant.services.list_records import Sort
from tierspayant.store import tables as t

INVOICES = 100_000


def principal(world: World, username: str) -> Principal:
    with world.platform.uow(readonly=True) as tx:
        account = tx.accounts.account_by_username(username)
    assert account is not None
    return Principal(account.id, 0, Role(account.role), account.organisation_id, account.professional_id,
                     account.insurer_id, request_id="test", aal="passkey")


def add_invoices(world: World, count: int, start: int, professional_id: int) -> None:
    """``count`` invoices of insurer 1 for one engagement, straight into the table: what a list
    reads (summary columns) is real; their sealed lines are never opened by a list."""
    with world.platform.engine.begin() as conn:
        engagement = conn.execute(select(t.engagements.c.id, t.engagements.c.beneficiary_id)
                                  .where(t.engagements.c.insurer_id == 1).limit(1)).first()
        assert engagement is not None
        first = date(2026, 1, 1)
        statuses = ("approved", "partially_approved", "rejected")
        conn.execute(insert(t.invoices), [{
            "insurer_id": 1, "professional_id": professional_id, "invoice_number": f"L-{start + n}",
            "beneficiary_id": engagement.beneficiary_id, "engagement_id": engagement.id, "quote_id": None,
            "date_of_care": first + timedelta(days=(start + n) % 60), "category": "optical",
            "fingerprint": f"{start + n:064d}", "care_key": f"{start + n:064d}", "lines_enc": "-",
            "claimed_amc": Decimal("10.00"), "approved_amc": Decimal("10.00"), "status": statuses[(start + n) % 3],
            "findings_enc": "-", "payment_order_id": None, "created_at": datetime(2026, 3, 2, tzinfo=UTC),
        } for n in range(count)])


@pytest.fixture()
def listed(new_world: Callable[..., World]) -> World:
    world = new_world(beneficiaries=50)
    optician = principal(world, "optique.demo")
    # One real engagement for the rows to hang on.
    patient = world.demo["patients"][0]
    answer = world.client.post("/v1/rights-checks", headers=world.headers("optique.demo"), json={
        **patient, "date_of_care": world.clock.now().date().isoformat(), "category": "optical"})
    assert answer.status_code == 200, answer.text
    assert optician.professional_id is not None
    add_invoices(world, INVOICES, 0, optician.professional_id)
    return world


def read_all(world: World, who: Principal, while_paging: Callable[[int], None] | None = None,
             **filters: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = world.platform.listings.invoices(who, cursor=cursor, limit=200, **filters)
        seen += [r.invoice_number for r in page.rows]
        pages += 1
        if while_paging is not None:
            while_paging(pages)
        if page.next is None:
            return seen
        cursor = page.next


def test_pages_over_100000_invoices_while_more_arrive(listed: World) -> None:
    world = listed
    insurer, optician = principal(world, "assureur.demo"), principal(world, "optique.demo")
    assert optician.professional_id is not None
    added = [INVOICES]

    def more(pages: int) -> None:  # 20 new invoices after every 25th page
        if pages % 25 == 0:
            add_invoices(world, 20, added[0], optician.professional_id or 0)
            added[0] += 20

    newest_first = read_all(world, insurer, more)
    assert len(newest_first) == len(set(newest_first)) == INVOICES  # the newer ones come before the start
    assert newest_first[0] == f"L-{INVOICES - 1}" and newest_first[-1] == "L-0"
    before = added[0]
    oldest_first = read_all(world, insurer, more, sort=Sort.RECEIVED)
    assert len(oldest_first) == len(set(oldest_first))
    assert set(oldest_first) >= {f"L-{n}" for n in range(before)}  # all there were, once; the new ones at the end
    # By date of care (ties by id), a filtered range: exactly the rows of those days, once each.
    days = read_all(world, optician, more, sort=Sort.DATE_OF_CARE_DESC, care_from=date(2026, 1, 10),
                    care_to=date(2026, 1, 12), status=InvoiceStatus.REJECTED)
    expected = {f"L-{n}" for n in range(before) if 9 <= n % 60 <= 11 and n % 3 == 2}
    assert len(days) == len(set(days)) and set(days) >= expected
    assert all(int(n[2:]) % 60 in (9, 10, 11) and int(n[2:]) % 3 == 2 for n in days)
    # Every listed row is on the log (one read event each, with the patient's pseudonym).
    with world.platform.engine.connect() as conn:
        logged = conn.execute(select(func.count()).select_from(t.audit_events).where(
            t.audit_events.c.entry.like('%"purpose":"tiers payant: list invoices"%'))).scalar_one()
    assert logged == len(newest_first) + len(oldest_first) + len(days)


def test_cursors_and_scopes(listed: World) -> None:
    world = listed
    pharmacist = principal(world, "pharmacie.demo")
    assert world.platform.listings.invoices(pharmacist).rows == []  # another professional's: none
    page = world.client.get("/v1/invoices", headers=world.headers("optique.demo"), params={"limit": 3})
    assert page.status_code == 200 and len(page.json()["items"]) == 3
    assert "beneficiary" not in page.text and "nir" not in page.text
    follow = world.client.get("/v1/invoices", headers=world.headers("optique.demo"),
                              params={"limit": 3, "cursor": page.json()["next"]}).json()
    assert int(follow["items"][0]["invoice_number"][2:]) == int(page.json()["items"][-1]["invoice_number"][2:]) - 1
    for params, field in (({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"), ({"limit": 0}, "limit"),
                          ({"care_from": "2026-02-01", "care_to": "2026-01-01"}, "care_to"),
                          ({"sort": "date_of_care", "cursor": page.json()["next"]}, "cursor"),
                          ({"rpps": "10000000001"}, "rpps")):
        refused = world.client.get("/v1/invoices", headers=world.headers("optique.demo"), params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert refused.json()["errors"][0]["field"] == field
    with pytest.raises(InvalidField):
        world.platform.listings.invoices(pharmacist, limit=201)
    runs = world.client.get("/v1/payment-runs", headers=world.headers("assureur.demo"))
    assert runs.status_code == 200 and runs.json() == {"items": [], "next": None}
