"""Every port a SQL transaction declares has its maker (store/unit_of_work.py makes them on first
use: one missing would fail only when a use case first reached it)."""

from __future__ import annotations

import typing

from tierspayant.store.unit_of_work import _PORTS, SqlTransaction


def test_every_declared_port_is_made_and_nothing_else() -> None:
    declared = set(typing.get_type_hints(SqlTransaction)) - {"conn", "protection", "insurers", "drop_events"}
    assert declared == set(_PORTS)
