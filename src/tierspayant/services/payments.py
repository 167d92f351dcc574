"""Payment runs: approved invoices batched per professional into payment orders, a SEPA
credit-transfer file, and a remittance statement per professional.

An invoice is never paid twice: each one is attached to an order by a conditional update that
only succeeds while it is unpaid (``PaymentsStore.attach_invoices``), inside the run's
transaction. Two runs started at once split the invoices between them; none lands in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from tierspayant.audit.events import Category, Tag
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.identifiers import parse_amc_number
from tierspayant.domain.money import ZERO
from tierspayant.domain.payments import PaymentOrder, batch_orders
from tierspayant.security.policy import NotFound, Principal, Role
from tierspayant.services.announcements import announce_run, announce_statement
from tierspayant.services.audit import Recorder
from tierspayant.services.common import UseCase
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import (
    Clock,
    Conflict,
    HasBankDetails,
    HasBeneficiaries,
    HasDestinations,
    HasLog,
    HasOutbox,
    HasPayments,
    HasProfessionals,
    HasReference,
    UnitOfWork,
)
from tierspayant.services.ports.outside import PaymentFileWriter
from tierspayant.services.records import PaymentOrderRecord, PaymentRun, TransferLine


class PaymentsStore(HasReference, HasProfessionals, HasBeneficiaries, HasPayments, HasBankDetails, HasLog,
                    HasDestinations, HasOutbox, Protocol):
    """The ports this use case works with (services/ports/)."""


@dataclass(frozen=True, slots=True)
class Preview:
    orders: list[PaymentOrder]
    total: Decimal


@dataclass(frozen=True, slots=True)
class RunSummary:
    run: PaymentRun
    orders: list[PaymentOrderRecord]


class PaymentsService(UseCase[PaymentsStore]):
    def __init__(self, uow: UnitOfWork[PaymentsStore], clock: Clock, writer: PaymentFileWriter, recorder: Recorder) -> None:
        super().__init__(uow, clock, recorder)
        self.writer = writer

    def _insurer_scope(self, principal: Principal, amc_number: str | None) -> int:
        with self.uow(readonly=True) as tx:
            if principal.role is Role.INSURER_OPERATOR and principal.insurer_id is not None:
                if amc_number is not None:
                    insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
                    if insurer is None or insurer.id != principal.insurer_id:
                        raise NotFound()
                return principal.insurer_id
            if principal.role is Role.PLATFORM_ADMIN:
                if amc_number is None:
                    raise InvalidField("amc_number", "required for a platform admin")
                insurer = tx.reference.insurer_by_amc(parse_amc_number(amc_number))
                if insurer is None:
                    raise NotFound()
                return insurer.id
        raise Forbidden("insurer operators and platform admins only")

    def preview(self, principal: Principal, amc_number: str | None = None) -> Preview:
        """What a run would pay now (one order per professional), creating nothing; a change of
        bank details that falls due meanwhile is applied by the run, not here."""
        insurer_id = self._insurer_scope(principal, amc_number)
        with self.uow(readonly=True) as tx:
            orders = batch_orders(tx.payments.payable_invoices(insurer_id))
        return Preview(orders, sum((o.amount for o in orders), ZERO))

    def run(self, principal: Principal, amc_number: str | None = None, execution_date: date | None = None) -> RunSummary:
        """Pay every approved, unpaid invoice of the insurer. A run with nothing to pay is not
        created: ``Conflict("amc_number", "nothing to pay ...")``."""
        insurer_id = self._insurer_scope(principal, amc_number)
        now = self.clock.now()
        execution = execution_date or now.date()
        with self.uow() as tx:
            if not batch_orders(tx.payments.payable_invoices(insurer_id)):
                raise Conflict("amc_number", "nothing to pay: no approved, unpaid invoice (no run created)")
            run_id = tx.payments.add_payment_run(insurer_id, now)
            transfers: list[TransferLine] = []
            total = ZERO
            count = 0
            for planned in batch_orders(tx.payments.payable_invoices(insurer_id)):
                # A requested change of bank details counts only once its delay has passed (T7).
                tx.bank_details.apply_due_bank_changes(planned.professional_id, now)
                professional = tx.professionals.professional(planned.professional_id)
                assert professional is not None
                end_to_end = f"TP-{run_id}-{planned.professional_id}"
                order_id = tx.payments.add_payment_order(run_id, planned.professional_id, planned.amount, end_to_end, {})
                attached = set(tx.payments.attach_invoices([i.invoice_id for i in planned.invoices], order_id))
                paid = [i for i in planned.invoices if i.invoice_id in attached]
                amount = sum((i.amount for i in paid), ZERO)
                if not paid or amount <= 0:
                    tx.payments.delete_payment_order(order_id)
                    continue
                statement = {
                    "run_id": run_id, "execution_date": execution.isoformat(), "end_to_end_id": end_to_end,
                    "professional": professional.name, "am_number": professional.am_number,
                    "iban_last4": professional.iban[-4:], "total": str(amount),
                    "invoices": [{"invoice_number": i.invoice_number, "amount": str(i.amount)} for i in paid],
                }
                tx.payments.set_payment_order(order_id, amount, statement)
                announce_statement(tx, insurer_id, professional.organisation_id, order_id, statement, now)
                transfers.append(TransferLine(professional.name, professional.iban, professional.bic, amount,
                                              end_to_end, f"Tiers payant run {run_id}"))
                total += amount
                count += 1
            sepa = self.writer.credit_transfer(f"RUN-{run_id}", execution, transfers) if transfers else None
            tx.payments.finish_payment_run(run_id, count, total, sepa)
            if sepa is not None:
                announce_run(tx, insurer_id, run_id, sepa, total, count, now)
            # Professionals' bank details went into the file; no beneficiary data did.
            tx.log.append_events([self.recorder.event(
                principal, now, Tag.PAYMENT_RUN, categories=(Category.PAYMENT, Category.BANK),
                purpose="tiers payant: payment run", insurer_id=insurer_id, ref=f"RUN-{run_id}")])
            run = tx.payments.payment_run(run_id)
            assert run is not None
            return RunSummary(run, tx.payments.payment_orders(run_id))

    def get_run(self, principal: Principal, run_id: int) -> RunSummary:
        with self.uow() as tx:
            run = tx.payments.payment_run(run_id)
            if run is None or not principal.may_see_insurer(run.insurer_id):
                raise NotFound()
            tx.log.append_events([self.recorder.event(
                principal, self.clock.now(), Tag.PAYMENT_RUN_READ, categories=(Category.PAYMENT, Category.BANK),
                purpose="tiers payant: read a payment run", insurer_id=run.insurer_id, ref=f"RUN-{run_id}")])
            return RunSummary(run, tx.payments.payment_orders(run_id))

    def statements(self, principal: Principal) -> list[PaymentOrderRecord]:
        if principal.professional_id is None:
            raise Forbidden("professionals only")
        with self.uow(readonly=True) as tx:
            return tx.payments.payment_orders_of_professional(principal.professional_id)

    def statement(self, principal: Principal, order_id: int) -> PaymentOrderRecord:
        with self.uow(readonly=True) as tx:
            order = tx.payments.payment_order(order_id)
            if order is None or order.professional_id != principal.professional_id:
                raise NotFound()
            return order
