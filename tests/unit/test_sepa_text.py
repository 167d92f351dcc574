"""SEPA texts within the EPC Latin set (delivery/sepa.py, EPC217-08): what a bank accepts."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tierspayant.delivery.sepa import SepaWriter, epc_text
from tierspayant.services.records import TransferLine

EPC = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]+$")


def test_accents_are_transliterated_and_the_rest_becomes_spaces() -> None:
    assert epc_text("Opticien Lœtitia Müller & Fils_#2 \"<Ouest>\"") == "Opticien Loetitia Muller Fils 2 Ouest"
    assert epc_text("Straße") == "Strasse" and epc_text("&&&") == "-"


@given(st.text(min_size=0, max_size=200))
def test_any_name_comes_out_in_the_epc_set(name: str) -> None:
    out = epc_text(name)
    assert EPC.match(out) and len(out) <= 70


def test_a_file_for_a_name_with_forbidden_characters_is_within_the_set() -> None:
    writer = SepaWriter("Opérateur & Cie", "FR7630006000011234567890189", "AGRIFRPPXXX")
    xml = writer.credit_transfer("RUN-1", date(2026, 3, 2), [TransferLine(
        'Optique "Lumière" <Ouest> & Fils_#1', "FR7630006000011234567890189", "AGRIFRPPXXX", Decimal("12.30"),
        "TP-1-2", "Tiers payant run 1")])
    names = re.findall(r"<Nm>([^<]*)</Nm>", xml)
    assert names and all(EPC.match(n) for n in names), names
    assert "Optique Lumiere Ouest Fils 1" in names
