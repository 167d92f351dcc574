"""Ports to things outside a transaction: the SEPA file writer, the bulk loader and the
OpenID Connect identity provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Protocol

from tierspayant.security.oidc import Identity, Pending
from tierspayant.services.records import TransferLine


class IdentityProvider(Protocol):
    """Pro Santé Connect, an OpenID Connect provider (delivery/identity_provider.py)."""

    def authorization_url(self, pending: Pending) -> str:
        """Where to send the professional's browser (code flow, PKCE, our acr values). Raises
        ``OidcRejected`` when the provider cannot be reached or describes itself wrongly."""
        ...

    def sign_in(self, code: str, pending: Pending) -> Identity:
        """Whom the provider vouched for -- an RPPS or ADELI number, their activities, the means
        of authentication -- once the code is exchanged (the client authenticated as it is
        registered) and the ID token and userinfo verified; ``OidcRejected`` for anything else."""
        ...


class PaymentFileWriter(Protocol):
    def credit_transfer(self, run_reference: str, execution_date: date, lines: Sequence[TransferLine]) -> str:
        """A SEPA credit-transfer file (pain.001.001.03) paying every line; raises ValueError when
        a line cannot be paid (e.g. an invalid IBAN)."""
        ...


class BulkLoader(Protocol):
    """Fast loading of generated reference data (seeding, migrations from another operator).
    Rows are table-shaped and carry their ids; a batch is one transaction."""

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert the rows into ``table`` in one transaction (sealing protected fields);
        raises on a duplicate id (nothing of the batch is kept)."""
        ...

    def count(self, table: str) -> int:
        """How many rows ``table`` holds."""
        ...

    def reset_sequences(self) -> None:
        """After inserting explicit ids, make the database's id sequences continue after them."""
        ...
