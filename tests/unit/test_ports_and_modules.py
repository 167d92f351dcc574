"""Structure rules that keep the middle livable (issue 12): every port is a small Protocol whose
every method states its contract, and no module of src/ outgrows 400 lines (the schema aside)."""

from __future__ import annotations

import inspect
from pathlib import Path

from tierspayant.services import ports
from tierspayant.services.ports import care, identity, networks, outside, oversight

SRC = Path(__file__).resolve().parents[2] / "src" / "tierspayant"
EXEMPT = {"store/tables.py"}  # table definitions


def _ports() -> dict[str, type]:
    found = {}
    for module in (ports, care, identity, oversight, outside, networks):
        for name, value in vars(module).items():
            if (inspect.isclass(value) and getattr(value, "_is_protocol", False) and value.__module__ == module.__name__
                    and not name.startswith("Has") and name != "Transaction"):
                found[name] = value
    return found


def test_every_port_is_small_and_every_method_states_its_contract() -> None:
    found = _ports()
    assert len(found) >= 16
    for name, port in found.items():
        methods = [m for m, v in vars(port).items() if callable(v) and not m.startswith("_")]
        assert len(methods) <= 15, name
        assert [m for m in methods if not (vars(port)[m].__doc__ or "").strip()] == [], name


def test_the_transaction_offers_every_capability_port() -> None:
    offered = set(inspect.get_annotations(ports.Transaction, eval_str=True).values()) | {
        t for base in ports.Transaction.__mro__ for t in inspect.get_annotations(base, eval_str=True).values()}
    capability_ports = {p for n, p in _ports().items() if p.__module__ != outside.__name__
                        and n not in ("Clock", "UnitOfWork", "WriteQueue")}
    assert capability_ports <= offered


def test_no_module_outgrows_400_lines() -> None:
    sizes = {str(p.relative_to(SRC)): len(p.read_text(encoding="utf-8").splitlines())
             for p in SRC.rglob("*.py") if "migrations" not in p.parts}
    assert {m: n for m, n in sizes.items() if n > 400 and m not in EXEMPT} == {}
