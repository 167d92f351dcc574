"""The in-memory fakes keep the ports' contracts (the same checks run on the SQL store:
tests/integration/test_store_contracts.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.contracts import CHECKS, Uow
from tests.fakes import FakeUnitOfWork


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_fakes_keep_the_contract(check: Callable[[Uow], None]) -> None:
    check(FakeUnitOfWork())
