"""Passwords: Argon2id, >= 12 characters, checked against common passwords, no composition rules,
no rotation (NIST SP 800-63B 3.1.1.2; ASVS 6.2).

Hashing is deliberately expensive, so a sign-in flood must not take the CPU the rights checks
need (docs/THREATS.md T4): every hash and verification runs in one thread per server process (the
"password lane") at a lower scheduling priority, a few sign-ins at most wait for it, and the
next get ``HashingBusy`` at once (the API answers 503 with Retry-After). Passkey sign-in never
waits for the lane. Measured by ``tiers simulate`` scenario (e).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tierspayant.domain.errors import InvalidField

#: Argon2id at OWASP's first recommended setting (Password Storage Cheat Sheet: m = 19 MiB,
#: t = 2, p = 1; ~45 ms of one core here). One lane (p = 1): a hash never takes more than one
#: core. Hashes made with other settings still verify; ``needs_rehash`` tells when to redo one.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
#: The lane's niceness (Linux: per thread): hashes get the CPU the other requests leave.
LANE_NICE = 10
#: Sign-ins that may wait for the lane in one process; the next ones are refused at once.
LANE_WAITING = 8

T = TypeVar("T")


class HashingBusy(Exception):
    """More sign-ins are waiting for the password lane than it takes: retry in a moment."""


class _Lane:
    def __init__(self) -> None:
        self.pid = -1
        self.executor: ThreadPoolExecutor | None = None
        self.waiting = threading.BoundedSemaphore(LANE_WAITING)
        self.lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: object) -> T:
        if not self.waiting.acquire(blocking=False):
            raise HashingBusy()
        try:
            return self._executor().submit(fn, *args).result()
        finally:
            self.waiting.release()

    def _executor(self) -> ThreadPoolExecutor:
        with self.lock:  # one executor per process (server workers are forked or spawned)
            if self.executor is None or self.pid != os.getpid():
                self.pid = os.getpid()
                self.executor = ThreadPoolExecutor(1, "password-lane", initializer=_lower_priority)
            return self.executor


def _lower_priority() -> None:
    # On Linux a thread's id names the thread alone; elsewhere this is best effort.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LANE_NICE)


_LANE = _Lane()
#: A hash of a random password, verified when the account does not exist so that an unknown
#: user costs the same time as a wrong password (no user enumeration by timing, ASVS 6.3.8).
_DUMMY_HASH = _HASHER.hash("not-a-password-of-anyone-8c1f")

MIN_LENGTH = 12
_COMMON = frozenset(
    {
        "123456789012", "password1234", "azertyuiop12", "motdepasse12", "qwertyuiop12",
        "000000000000", "111111111111", "123123123123", "passwordpassword", "iloveyou1234",
        "administrator", "motdepasse123", "azerty123456", "soleil123456", "bonjour12345",
    }
)


def check_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidField("password", f"at least {MIN_LENGTH} characters")
    if len(password) > 256:
        raise InvalidField("password", "at most 256 characters")
    if password.lower() in _COMMON:
        raise InvalidField("password", "too common; choose another")


def hash_password(password: str) -> str:
    check_new_password(password)
    return _LANE.run(_HASHER.hash, password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. With ``stored_hash`` None (unknown account) a dummy hash is
    verified anyway and False returned. Raises ``HashingBusy`` when the lane is full."""
    return _LANE.run(_verify, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    """True for a hash made with other settings than today's (redo it at the next sign-in)."""
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
