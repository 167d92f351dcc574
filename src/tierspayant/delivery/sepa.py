"""SEPA credit-transfer files (ISO 20022 pain.001.001.03) with sepaxml, schema-validated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sepaxml import SepaTransfer

from tierspayant.services.records import TransferLine


class SepaWriter:
    """``PaymentFileWriter``: the operator's account pays each professional."""

    def __init__(self, debtor_name: str, debtor_iban: str, debtor_bic: str) -> None:
        self.config = {"name": debtor_name, "IBAN": debtor_iban, "BIC": debtor_bic, "batch": True, "currency": "EUR"}

    def credit_transfer(self, run_reference: str, execution_date: date, lines: Sequence[TransferLine]) -> str:
        transfer = SepaTransfer(dict(self.config), clean=True)
        for line in lines:
            cents = line.amount * 100
            transfer.add_payment({
                "name": line.professional_name, "IBAN": line.iban, "BIC": line.bic,
                "amount": int(cents), "execution_date": execution_date,
                "description": line.description, "endtoend_id": line.end_to_end_id,
            })
        try:
            xml: bytes = transfer.export(validate=True)
        except Exception as exc:  # sepaxml raises bare Exception on schema errors
            raise ValueError(f"payment file for {run_reference} did not validate") from exc
        return xml.decode("utf-8")
