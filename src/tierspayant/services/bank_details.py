"""A professional's bank details (docs/THREATS.md T7: Viamedis leaked RIBs; a diverted IBAN diverts
payments). A change needs a fresh passkey assertion, takes effect only after a delay (72 h by
default), and a notice goes to the professional's registered channel at once, so the real
professional can cancel a change they did not make."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from tierspayant.domain.identifiers import parse_bank_account
from tierspayant.security.policy import NotFound, Principal
from tierspayant.services.accounts import AccountsService
from tierspayant.services.announcements import AnnouncingStore, announce_bank_change
from tierspayant.services.common import require_professional
from tierspayant.services.ports import (
    Clock,
    HasBankDetails,
    UnitOfWork,
)
from tierspayant.services.records import BankChange


class BankDetailsStore(HasBankDetails, AnnouncingStore, Protocol):
    """The ports this use case works with (services/ports/)."""

DEFAULT_DELAY = timedelta(hours=72)


class BankDetailsService:
    def __init__(self, uow: UnitOfWork[BankDetailsStore], clock: Clock, accounts: AccountsService, delay: timedelta = DEFAULT_DELAY) -> None:
        self.uow = uow
        self.clock = clock
        self.accounts = accounts
        self.delay = delay

    def request_change(self, principal: Principal, iban: str, bic: str, credential: dict[str, Any]) -> BankChange:
        professional_id = require_professional(principal)
        new_iban, new_bic = parse_bank_account(iban, bic)  # the BIC must be the IBAN's bank's
        self.accounts.verify_step_up(principal, credential)
        now = self.clock.now()
        effective = now + self.delay
        with self.uow() as tx:
            change_id = tx.bank_details.add_bank_change(professional_id, new_iban, new_bic, now, effective, principal.account_id)
            # No link in the notice: a notice with a link is what a phishing message looks like.
            text = (f"A change of the bank account receiving your tiers payant payments (to one ending in "
                    f"{new_iban[-4:]}) was requested on {now:%d/%m/%Y at %H:%M} UTC. It will take effect on "
                    f"{effective:%d/%m/%Y at %H:%M} UTC. If you did not ask for it, cancel it from your space "
                    "before then.")
            tx.bank_details.add_notification(professional_id, "bank_details_change", text, now)
            announce_bank_change(tx, professional_id, change_id, text, now)
            return next(ch for ch in tx.bank_details.bank_changes(professional_id) if ch.id == change_id)

    def changes(self, principal: Principal) -> list[BankChange]:
        professional_id = require_professional(principal)
        with self.uow(readonly=True) as tx:
            return tx.bank_details.bank_changes(professional_id)

    def cancel(self, principal: Principal, change_id: int) -> None:
        professional_id = require_professional(principal)
        with self.uow() as tx:
            if not tx.bank_details.cancel_bank_change(professional_id, change_id):
                raise NotFound()
