"""What is new about a session (security/novelty.py) and how much it weighs (detection/signals.py)."""

from __future__ import annotations

from dataclasses import replace

from tierspayant.detection.signals import Action, Activity, assess
from tierspayant.detection.thresholds import Thresholds
from tierspayant.security.novelty import NEW_DEVICE, NEW_NETWORK, network_of, novelty, reasons

QUIET = Activity((1, 3, 8, 40), (2, 10, 30, 200), attempts_10min=3, failures_10min=0, same_identity_failures=1,
                 quota_refusals_1h=0, sequential_neighbours_1h=1, local_hour=10)


def test_networks_are_a_practice_connection_not_an_address() -> None:
    assert network_of("192.0.2.77") == network_of("192.0.2.1") == "192.0.2.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert network_of("testclient") is None and network_of(None) is None


def test_only_what_the_account_never_signed_in_from_is_new() -> None:
    known = {("device", "d1"), ("network", "n1")}
    assert novelty(set(), "d9", "n9") == 0  # no history yet: nothing to compare with
    assert novelty(known, "d1", "n1") == 0
    assert novelty(known, "d2", "n1") == NEW_DEVICE
    assert novelty(known, None, "n2") == NEW_NETWORK  # a password sign-in shows no device
    assert reasons(NEW_DEVICE | NEW_NETWORK, True) == ("new_device", "new_network", "session_moved")


def test_novelty_alone_never_acts_but_tips_another_signal_over() -> None:
    t = Thresholds()
    everything = replace(QUIET, novel=("new_device", "new_network"))
    assert assess(everything, t).action is Action.NONE
    failing = replace(QUIET, attempts_10min=6, failures_10min=3)  # the failure ratio: a throttle
    assert assess(failing, t).action is Action.THROTTLE
    assert assess(replace(failing, novel=("session_moved",)), t).action is Action.STEP_UP
