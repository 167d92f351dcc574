"""Payment orders: approved invoices batched per professional (one transfer each)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tierspayant.domain.money import ZERO


@dataclass(frozen=True, slots=True)
class PayableInvoice:
    invoice_id: int
    professional_id: int
    invoice_number: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    professional_id: int  # one transfer per professional and run
    amount: Decimal  # the sum of its invoices' approved amounts
    invoices: tuple[PayableInvoice, ...]


def batch_orders(invoices: Iterable[PayableInvoice]) -> list[PaymentOrder]:
    """One order per professional, summing their approved invoices; orders of €0 are dropped
    (a transfer of nothing is not a payment). Deterministic order: by professional id."""
    grouped: dict[int, list[PayableInvoice]] = {}
    for invoice in invoices:
        grouped.setdefault(invoice.professional_id, []).append(invoice)
    orders = []
    for professional_id in sorted(grouped):
        items = tuple(sorted(grouped[professional_id], key=lambda i: i.invoice_id))
        amount = sum((i.amount for i in items), ZERO)
        if amount > 0:
            orders.append(PaymentOrder(professional_id, amount, items))
    return orders
