"""SEPA credit-transfer files (ISO 20022 pain.001.001.03) with sepaxml, schema-validated, their
texts within the EPC's Latin character set (EPC217-08, "SEPA Requirements for an Extended
Character Set": a-z A-Z 0-9 / - ? : ( ) . , ' + and space): a bank refuses a file whose names
carry ``& _ # " < >`` even though the ISO 20022 schema lets them through."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date

from sepaxml import SepaTransfer

from tierspayant.services.records import TransferLine

_OUTSIDE_EPC = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")


def epc_text(value: str, limit: int = 70) -> str:
    """``value`` in the EPC set: accents transliterated (é -> e, ß -> ss, œ -> oe), anything
    else outside the set a space, spaces collapsed, at most ``limit`` characters (a name: 70)."""
    spelled = value.replace("ß", "ss").replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    plain = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode("ascii")
    return " ".join(_OUTSIDE_EPC.sub(" ", plain).split())[:limit] or "-"


class SepaWriter:
    """``PaymentFileWriter``: the operator's account pays each professional."""

    def __init__(self, debtor_name: str, debtor_iban: str, debtor_bic: str) -> None:
        self.config = {"name": epc_text(debtor_name), "IBAN": debtor_iban, "BIC": debtor_bic, "batch": True,
                       "currency": "EUR"}

    def credit_transfer(self, run_reference: str, execution_date: date, lines: Sequence[TransferLine]) -> str:
        transfer = SepaTransfer(dict(self.config), clean=True)
        for line in lines:
            cents = line.amount * 100
            transfer.add_payment({
                "name": epc_text(line.professional_name), "IBAN": line.iban, "BIC": line.bic,
                "amount": int(cents), "execution_date": execution_date,
                "description": epc_text(line.description, 140), "endtoend_id": epc_text(line.end_to_end_id, 35),
            })
        try:
            xml: bytes = transfer.export(validate=True)
        except Exception as exc:  # sepaxml raises bare Exception on schema errors
            raise ValueError(f"payment file for {run_reference} did not validate") from exc
        return xml.decode("utf-8")
