"""The password lane (security/passwords.py): hashes run one at a time per process in a thread of
lower priority, a bounded number of sign-ins wait for it, the next are refused at once; hashes
made with older settings are recognised for a rehash."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher

from tierspayant.security import passwords


def test_the_lane_runs_at_a_lower_priority() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    lane = passwords._LANE.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert lane == min(19, base + passwords.LANE_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the caller's is untouched


def test_a_full_lane_refuses_at_once_and_loses_nothing() -> None:
    release = threading.Event()
    with ThreadPoolExecutor(passwords.LANE_WAITING) as callers:
        waiting = [callers.submit(passwords._LANE.run, release.wait, 10) for _ in range(passwords.LANE_WAITING)]
        while passwords._LANE.waiting._value > 0:  # every slot taken (the first runs, the rest queue)
            threading.Event().wait(0.01)
        with pytest.raises(passwords.HashingBusy):
            passwords.verify_password(None, "any password at all")
        release.set()
        assert all(f.result(timeout=10) for f in waiting)
    stored = passwords.hash_password("a long enough password")
    assert passwords.verify_password(stored, "a long enough password")  # the lane works again
    assert not passwords.verify_password(stored, "another long password")


def test_older_settings_are_verified_then_flagged_for_rehash() -> None:
    old = PasswordHasher().hash("a long enough password")  # argon2-cffi's defaults (p = 4, 64 MiB)
    assert passwords.verify_password(old, "a long enough password")
    assert passwords.needs_rehash(old)
    assert not passwords.needs_rehash(passwords.hash_password("a long enough password"))
    assert passwords.needs_rehash("not a hash")
