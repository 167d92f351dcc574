"""In-memory fakes of the care-flow ports (services/ports/care.py), keeping their contracts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tests.fakes.networks import network_caps
from tests.fakes.state import FakeState
from tierspayant.detection.budgets import ProoflessDay
from tierspayant.domain.adjudication import InvoiceStatus
from tierspayant.domain.contracts import Contract
from tierspayant.domain.payments import PayableInvoice
from tierspayant.domain.reference import ItemKind, ReferenceCode
from tierspayant.domain.renewal import LastPurchases, Parts
from tierspayant.services import records
from tierspayant.services.ports import Conflict


class FakeReferenceData:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def insurer_by_amc(self, amc_number: str) -> records.Insurer | None:
        return next((i for i in self.s.insurers.values() if i.amc_number == amc_number), None)

    def insurer(self, insurer_id: int) -> records.Insurer | None:
        return self.s.insurers.get(insurer_id)

    def add_insurer(self, amc_number: str, name: str, engagement_validity_days: int, pec_validity_days: int) -> int:
        if self.insurer_by_amc(amc_number) is not None:
            raise Conflict("amc_number", "already exists")
        new = self.s.new_id()
        self.s.insurers[new] = records.Insurer(new, amc_number, name, engagement_validity_days, pec_validity_days)
        return new

    def contract(self, contract_id: int) -> Contract | None:
        found = self.s.contracts.get(contract_id)
        return found[1] if found else None

    def contract_id_by_code(self, insurer_id: int, code: str) -> int | None:
        return next((k for k, (i, c) in self.s.contracts.items() if i == insurer_id and c.code == code), None)

    def contracts_of(self, insurer_id: int) -> list[Contract]:
        return sorted((c for i, c in self.s.contracts.values() if i == insurer_id), key=lambda c: c.code)

    def set_review_rules(self, insurer_id: int, config: Mapping[str, Any]) -> None:
        self.s.insurers[insurer_id] = replace(self.s.insurers[insurer_id], review=dict(config))

    def add_contract(self, insurer_id: int, contract: Contract) -> int:
        if self.contract_id_by_code(insurer_id, contract.code) is not None:
            raise Conflict("code", "already exists")
        new = self.s.new_id()
        self.s.contracts[new] = (insurer_id, contract)
        return new

    def reference_codes(self, codes: Sequence[str], kinds: Sequence[ItemKind] = ()) -> list[ReferenceCode]:
        return [r for r in self.s.codes if r.code in codes or r.kind in kinds]

    def add_reference_code(self, row: ReferenceCode) -> None:
        self.s.codes.append(row)


class FakeProfessionals:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def professional(self, professional_id: int) -> records.Professional | None:
        return self.s.professionals.get(professional_id)

    def professional_by_rpps(self, rpps: str) -> records.Professional | None:
        return next((p for p in self.s.professionals.values() if p.rpps == rpps), None)

    def professional_by_number(self, organisation_id: int, rpps: str | None,
                               adeli: str | None) -> records.Professional | None:
        if not rpps and not adeli:
            return None
        return next((p for p in self.s.professionals.values() if p.organisation_id == organisation_id
                     and (p.rpps == rpps if rpps is not None else p.adeli == adeli)), None)

    def organisation_id(self, identifier: str) -> int | None:
        return next((o.id for o in self.s.organisations.values() if o.identifier == identifier), None)

    def add_organisation(self, organisation: records.Organisation) -> int:
        if self.organisation_id(organisation.identifier) is not None:
            raise Conflict("identifier", "already exists")
        new = self.s.new_id()
        self.s.organisations[new] = replace(organisation, id=new)
        return new

    def add_professional(self, professional: records.Professional) -> int:
        if professional.rpps is not None and self.professional_by_rpps(professional.rpps) is not None:
            raise Conflict("rpps", "already exists")
        new = self.s.new_id()
        self.s.professionals[new] = replace(professional, id=new)
        return new

    def network_caps(self, professional_id: int, insurer_id: int, at: date) -> dict[str, Decimal]:
        return network_caps(self.s, professional_id, insurer_id, at)


class FakeBeneficiaries:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def beneficiaries_by_nir(self, insurer_id: int, nir: str) -> list[records.Beneficiary]:
        return [b for b in self.s.beneficiaries.values() if b.insurer_id == insurer_id and b.nir == nir]

    def beneficiaries_by_member(self, insurer_id: int, member_number: str) -> list[records.Beneficiary]:
        return sorted((b for b in self.s.beneficiaries.values()
                       if b.insurer_id == insurer_id and b.member_number == member_number), key=lambda b: b.rank)

    def ids_of_insurer(self, insurer_id: int) -> Iterator[int]:
        return iter(sorted(i for i, b in self.s.beneficiaries.items() if b.insurer_id == insurer_id))

    def beneficiary(self, beneficiary_id: int) -> records.Beneficiary | None:
        return self.s.beneficiaries.get(beneficiary_id)

    def add_beneficiary(self, beneficiary: records.Beneficiary) -> int:
        new = self.s.new_id()
        self.s.beneficiaries[new] = replace(beneficiary, id=new)
        return new

    def rights_periods(self, beneficiary_id: int) -> list[records.RightsPeriod]:
        return list(self.s.periods.get(beneficiary_id, []))

    def beneficiaries_with_rights(self, insurer_id: int, nir: str) -> list[tuple[records.Beneficiary, list[records.RightsPeriod]]]:
        return [(b, self.rights_periods(b.id)) for b in self.beneficiaries_by_nir(insurer_id, nir)]

    def add_rights_period(self, beneficiary_id: int, period: records.RightsPeriod) -> None:
        self.s.periods.setdefault(beneficiary_id, []).append(period)

    def last_optical_purchases(self, beneficiary_id: int, before: date) -> LastPurchases:
        return LastPurchases.of([(d, parts) for d, parts in self.s.purchases.get(beneficiary_id, []) if d <= before])

    def add_optical_purchase(self, beneficiary_id: int, delivered_on: date, invoice_id: int | None,
                             parts: Parts = Parts.EQUIPMENT) -> None:
        self.s.purchases.setdefault(beneficiary_id, []).append((delivered_on, parts))
        if invoice_id is not None:
            self.s.purchase_invoices[invoice_id] = (beneficiary_id, delivered_on, parts)

    def forget_optical_purchase(self, invoice_id: int) -> None:
        found = self.s.purchase_invoices.pop(invoice_id, None)
        if found is not None:
            self.s.purchases[found[0]].remove((found[1], found[2]))


class FakePresenceLedger:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def use_presence_nonce(self, nonce: str, professional_id: int, at: datetime) -> bool:
        if nonce in self.s.nonces:
            return False
        self.s.nonces.add(nonce)
        return True

    def proofless_known(self, scope: records.ContainmentScope, holder_id: int, subject: str, since: date) -> bool:
        last = self.s.proofless_seen.get((scope.value, holder_id, subject))
        return last is not None and last >= since

    def proofless_days(self, scope: records.ContainmentScope, holder_id: int, since: date) -> list[ProoflessDay]:
        return [ProoflessDay(day, counts[0], counts[1], counts[3]) for (sc, holder, day), counts
                in self.s.proofless_days.items() if sc == scope.value and holder == holder_id and day >= since]

    def count_proofless(self, scope: records.ContainmentScope, holder_id: int, subject: str, day: date,
                        organisation_id: int | None = None) -> None:
        key = (scope.value, holder_id, subject)
        self.s.proofless_seen[key] = max(day, self.s.proofless_seen.get(key, day))
        counts = self.s.proofless_days.setdefault((scope.value, holder_id, day), [0, 0, organisation_id, 0])
        counts[0] += 1

    def add_proofless_engagement(self, engagement_id: int, account_id: int, organisation_id: int | None,
                                 day: date) -> None:
        self.s.proofless_engagements[engagement_id] = (account_id, organisation_id, day, False)

    def follow_up(self, engagement_id: int) -> bool:
        found = self.s.proofless_engagements.pop(engagement_id, None)
        if found is None:
            return False
        account_id, organisation_id, day, quoted = found
        for counts in self._days(account_id, organisation_id, day):
            counts[1] += 1
            counts[3] -= int(quoted)
        return True

    def quoted(self, engagement_id: int) -> bool:
        found = self.s.proofless_engagements.get(engagement_id)
        if found is None or found[3]:
            return False
        account_id, organisation_id, day, _ = found
        self.s.proofless_engagements[engagement_id] = (account_id, organisation_id, day, True)
        for counts in self._days(account_id, organisation_id, day):
            counts[3] += 1
        return True

    def _days(self, account_id: int, organisation_id: int | None, day: date) -> list[list[Any]]:
        holders = [("account", account_id)] + ([("organisation", organisation_id)] if organisation_id else [])
        return [self.s.proofless_days[k] for k in ((scope, holder, day) for scope, holder in holders)
                if k in self.s.proofless_days]

    def driving_accounts(self, organisation_id: int, since: date, until: date, minimum: int) -> list[int]:
        sums: dict[int, list[int]] = {}
        for (scope, holder, d), (admitted, followed, org, quoted) in self.s.proofless_days.items():
            if scope == "account" and org == organisation_id and since <= d <= until:
                total = sums.setdefault(holder, [0, 0, 0])
                total[0] += admitted
                total[1] += followed
                total[2] += quoted
        return sorted(h for h, (a, f, q) in sums.items() if a - f >= minimum and (f + q) * 10 <= a)

    def purge_proofless(self, before: date) -> int:
        seen = [k for k, last in self.s.proofless_seen.items() if last < before]
        days = [k for k in self.s.proofless_days if k[2] < before]
        engagements = [k for k, v in self.s.proofless_engagements.items() if v[2] < before]
        for k in seen:
            del self.s.proofless_seen[k]
        for d in days:
            del self.s.proofless_days[d]
        for e in engagements:
            del self.s.proofless_engagements[e]
        return len(seen) + len(days) + len(engagements)


class FakeClaims:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def add_engagement(self, engagement: records.Engagement, created_at: datetime) -> int:
        new = self.s.new_id()
        self.s.engagements[new] = replace(engagement, id=new)
        return new

    def engagement_by_number(self, number: str) -> records.Engagement | None:
        return next((e for e in self.s.engagements.values() if e.number == number), None)

    def engagement_by_id(self, engagement_id: int) -> records.Engagement | None:
        return self.s.engagements.get(engagement_id)

    def add_quote(self, quote: records.Quote, created_at: datetime) -> int:
        if self.quote_by_number(quote.number) is not None:
            raise Conflict("number", "already exists")
        new = self.s.new_id()
        self.s.quotes[new] = replace(quote, id=new)
        return new

    def quote_by_number(self, number: str) -> records.Quote | None:
        return next((q for q in self.s.quotes.values() if q.number == number), None)

    def invoice_by_number(self, professional_id: int, invoice_number: str) -> records.Invoice | None:
        return next((i for i in self.s.invoices.values()
                     if i.professional_id == professional_id and i.invoice_number == invoice_number), None)

    def care_key_used(self, care_key: str) -> bool:
        return any(i.care_key == care_key and i.status.bills_the_care for i in self.s.invoices.values())

    def invoice_by_id(self, invoice_id: int) -> records.Invoice | None:
        return self.s.invoices.get(invoice_id)

    def change_invoice_status(self, invoice_id: int, expected: Sequence[InvoiceStatus], status: InvoiceStatus,
                              at: datetime, by: int | None = None, decision: str | None = None) -> bool:
        invoice = self.s.invoices.get(invoice_id)
        if invoice is None or invoice.payment_order_id is not None or invoice.status not in expected:
            return False
        changes: dict[str, Any] = {"status": status, "changed_at": at}
        if decision is not None:
            changes.update(review_decision=decision, reviewed_by=by)
        if status is InvoiceStatus.REJECTED:
            changes["approved_amc"] = Decimal("0.00")
        self.s.invoices[invoice_id] = replace(invoice, **changes)
        return True

    def add_invoice(self, invoice: records.Invoice) -> int:
        if self.invoice_by_number(invoice.professional_id, invoice.invoice_number) is not None:
            raise Conflict("invoice_number", "already exists")
        new = self.s.new_id()
        self.s.invoices[new] = replace(invoice, id=new)
        return new


class FakePayments:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def payable_invoices(self, insurer_id: int) -> list[PayableInvoice]:
        return [PayableInvoice(i.id, i.professional_id, i.invoice_number, i.approved_amc)
                for i in sorted(self.s.invoices.values(), key=lambda i: i.id)
                if i.insurer_id == insurer_id and i.status.payable and i.payment_order_id is None]

    def add_payment_run(self, insurer_id: int, created_at: datetime) -> int:
        new = self.s.new_id()
        self.s.runs[new] = records.PaymentRun(new, insurer_id, created_at, 0, Decimal(0), None)
        return new

    def add_payment_order(self, run_id: int, professional_id: int, amount: Decimal, end_to_end_id: str,
                          statement: Mapping[str, Any]) -> int:
        if any(o.end_to_end_id == end_to_end_id for o in self.s.orders.values()):
            raise Conflict("end_to_end_id", "already exists")
        new = self.s.new_id()
        self.s.orders[new] = records.PaymentOrderRecord(new, run_id, professional_id, amount, end_to_end_id, dict(statement))
        return new

    def attach_invoices(self, invoice_ids: Sequence[int], order_id: int) -> list[int]:
        attached = []
        for invoice_id in invoice_ids:
            invoice = self.s.invoices.get(invoice_id)
            if invoice is not None and invoice.payment_order_id is None and invoice.status.payable:
                self.s.invoices[invoice_id] = replace(invoice, payment_order_id=order_id, status=InvoiceStatus.PAID)
                attached.append(invoice_id)
        return attached

    def set_payment_order(self, order_id: int, amount: Decimal, statement: Mapping[str, Any]) -> None:
        self.s.orders[order_id] = replace(self.s.orders[order_id], amount=amount, statement=dict(statement))

    def delete_payment_order(self, order_id: int) -> None:
        self.s.orders.pop(order_id, None)

    def finish_payment_run(self, run_id: int, order_count: int, total: Decimal, sepa_xml: str | None) -> None:
        self.s.runs[run_id] = replace(self.s.runs[run_id], order_count=order_count, total=total, sepa_xml=sepa_xml)

    def payment_run(self, run_id: int) -> records.PaymentRun | None:
        return self.s.runs.get(run_id)

    def payment_orders(self, run_id: int) -> list[records.PaymentOrderRecord]:
        return [o for o in sorted(self.s.orders.values(), key=lambda o: o.id) if o.run_id == run_id]

    def payment_orders_of_professional(self, professional_id: int) -> list[records.PaymentOrderRecord]:
        return [o for o in sorted(self.s.orders.values(), key=lambda o: -o.id) if o.professional_id == professional_id]

    def payment_order(self, order_id: int) -> records.PaymentOrderRecord | None:
        return self.s.orders.get(order_id)


class FakeBankDetails:
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def add_bank_change(self, professional_id: int, iban: str, bic: str, requested_at: datetime,
                        effective_at: datetime, requested_by: int) -> int:
        new = self.s.new_id()
        self.s.bank_changes[new] = records.BankChange(new, professional_id, iban, bic, requested_at, effective_at, False, False)
        return new

    def bank_changes(self, professional_id: int) -> list[records.BankChange]:
        return [c for c in sorted(self.s.bank_changes.values(), key=lambda c: c.id)
                if c.professional_id == professional_id]

    def cancel_bank_change(self, professional_id: int, change_id: int) -> bool:
        change = self.s.bank_changes.get(change_id)
        if change is None or change.professional_id != professional_id or change.applied or change.cancelled:
            return False
        self.s.bank_changes[change_id] = replace(change, cancelled=True)
        return True

    def apply_due_bank_changes(self, professional_id: int, at: datetime) -> None:
        due = [c for c in self.bank_changes(professional_id) if not c.cancelled and not c.applied and c.effective_at <= at]
        if not due:
            return
        professional = self.s.professionals[professional_id]
        self.s.professionals[professional_id] = replace(professional, iban=due[-1].iban, bic=due[-1].bic)
        for change in due:
            self.s.bank_changes[change.id] = replace(change, applied=True)

    def add_notification(self, professional_id: int, kind: str, text: str, at: datetime) -> None:
        self.s.notifications.append((professional_id, kind, text, at))

    def notifications_of(self, professional_id: int) -> list[tuple[str, str, datetime]]:
        return [(k, t, at) for p, k, t, at in self.s.notifications if p == professional_id]


class FakePaymentFileWriter:
    """A payment file that lists its lines (the real pain.001 writer validates against the XSD
    files on disk: integration tests run it)."""

    def credit_transfer(self, run_reference: str, execution_date: date,
                        lines: Sequence[records.TransferLine]) -> str:
        return "\n".join([f"{run_reference} {execution_date}", *(f"{x.end_to_end_id} {x.amount}" for x in lines)])
