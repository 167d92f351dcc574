"""Pieces shared by the use cases."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Generic, TypeVar

from tierspayant.domain.errors import InvalidField
from tierspayant.security.policy import Principal, Role
from tierspayant.services.audit import Recorder
from tierspayant.services.errors import Forbidden
from tierspayant.services.ports import Clock, UnitOfWork

#: How far back a date of care may be (claims older than this are out of time) and ahead.
MAX_CARE_AGE = timedelta(days=2 * 365)
MAX_CARE_AHEAD = timedelta(days=31)


def check_date_of_care(value: date, today: date, field: str = "date_of_care") -> date:
    if value < today - MAX_CARE_AGE:
        raise InvalidField(field, "more than two years in the past")
    if value > today + MAX_CARE_AHEAD:
        raise InvalidField(field, "more than 31 days in the future")
    return value


def require_professional(principal: Principal) -> int:
    if principal.role is not Role.PROFESSIONAL or principal.professional_id is None:
        raise Forbidden("professionals only")
    return principal.professional_id


S = TypeVar("S")


class UseCase(Generic[S]):
    """What a use case holds: its unit of work (over the ports ``S`` it declares), the injected
    clock, and the recorder of its access events."""

    def __init__(self, uow: UnitOfWork[S], clock: Clock, recorder: Recorder) -> None:
        self.uow = uow
        self.clock = clock
        self.recorder = recorder
