"""TOTP second factor (RFC 6238). Acceptable until passkeys replace it (issue: sign-in); each
time step is accepted once (replay of a relayed code within its window is refused)."""

from __future__ import annotations

from datetime import datetime

import pyotp

STEP_SECONDS = 30


def new_secret() -> str:
    return pyotp.random_base32()


def current_code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def accepted_step(secret: str, code: str, at: datetime, last_step: int) -> int | None:
    """The time step ``code`` belongs to (within +-1 step of ``at``) if it is later than
    ``last_step``; None otherwise."""
    totp = pyotp.TOTP(secret)
    now_step = int(at.timestamp()) // STEP_SECONDS
    for step in (now_step, now_step - 1, now_step + 1):
        if step > last_step and totp.verify(code, for_time=step * STEP_SECONDS, valid_window=0):
            return step
    return None
