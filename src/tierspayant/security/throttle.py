"""Credential-stuffing brakes (docs/THREATS.md T4; ASVS 6.1.1, NIST 800-63B 5.2.2): a progressive
delay per account name and a limit per source, kept apart. Neither touches passkey sign-in, so
an attacker who hammers a victim's password cannot lock the victim out."""

from __future__ import annotations

from datetime import datetime, timedelta

#: Wrong passwords allowed for one account name before delays start, and the longest delay.
ACCOUNT_FREE_FAILURES = 5
ACCOUNT_MAX_DELAY = timedelta(minutes=15)
#: Failed sign-ins allowed from one source before it waits SOURCE_WINDOW; each further failure
#: doubles the wait (at most 2**7 windows, 21 h), remembered SOURCE_MEMORY: a stuffing source
#: costs at most 37 password hashes in a day, whatever its list's length (tests/unit/test_source_throttle.py).
SOURCE_MAX_FAILURES = 30
SOURCE_WINDOW = timedelta(minutes=10)
SOURCE_MEMORY = timedelta(hours=24)


def account_delay(failures: int) -> timedelta:
    """1 s, 2 s, 4 s... after the free failures, at most 15 min: never a hard lockout."""
    if failures < ACCOUNT_FREE_FAILURES:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (failures - ACCOUNT_FREE_FAILURES)), ACCOUNT_MAX_DELAY)


def account_blocked_until(failures: int, last_failure: datetime) -> datetime:
    return last_failure + account_delay(failures)


def source_blocked_until(failures: int, last_failure: datetime) -> datetime | None:
    """10 min after the 30th failure, 20 min after the 31st, 40 after the 32nd..."""
    if failures < SOURCE_MAX_FAILURES:
        return None
    strikes = min(failures - SOURCE_MAX_FAILURES, 7)
    wait: timedelta = SOURCE_WINDOW * 2**strikes
    return last_failure + wait


class TokenBuckets:
    """Request-rate limits per key (a session, an account, a source): ``rate`` requests a second
    sustained, ``burst`` at once (docs/THREATS.md, "Floods"). In one process's memory, on a
    monotonic clock in seconds -- capacity is wall time, whatever the platform's clock says. At
    most ``max_keys`` keys; beyond, the least recently used go (they start full again)."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[object, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: object, now: float) -> float:
        """0.0 if the request may go (a token is taken), else the seconds until one is there."""
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]  # dicts keep insertion order: the oldest use
        return wait
