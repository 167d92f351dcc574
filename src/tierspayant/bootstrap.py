"""The composition root: the one place that builds concrete adapters and hands them to the use
cases. Nothing here runs at import time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from tierspayant.config import Settings
from tierspayant.delivery.sepa import SepaWriter
from tierspayant.services.accounts import AccountsService
from tierspayant.services.calculation import CalculationService
from tierspayant.services.claims import ClaimsService
from tierspayant.services.payments import PaymentsService
from tierspayant.services.ports import Clock
from tierspayant.services.reference import ReferenceService
from tierspayant.services.rights import RightsService
from tierspayant.store.database import make_engine
from tierspayant.store.migrate import upgrade
from tierspayant.store.repositories import SqlUnitOfWork
from tierspayant.store.write_queue import SqlWriteQueue


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    clock: Clock
    accounts: AccountsService
    reference: ReferenceService
    rights: RightsService
    calculation: CalculationService
    claims: ClaimsService
    payments: PaymentsService


def build(settings: Settings, clock: Clock | None = None, migrate: bool = True) -> Platform:
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    uow = SqlUnitOfWork(engine)
    clock = clock or SystemClock()
    writer = SepaWriter(settings.debtor_name, settings.debtor_iban, settings.debtor_bic)
    return Platform(
        settings=settings,
        engine=engine,
        clock=clock,
        accounts=AccountsService(uow, clock),
        reference=ReferenceService(uow, clock),
        rights=RightsService(uow, clock, SqlWriteQueue(uow)),
        calculation=CalculationService(uow, clock),
        claims=ClaimsService(uow, clock),
        payments=PaymentsService(uow, clock, writer),
    )
