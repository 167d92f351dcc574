"""Ports to things outside a transaction: the SEPA file writer, the bulk loader and the
OpenID Connect identity provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

    # -- a resumable seed in chunks (issue 19, point 1; simulate/seed_scale.py) -----------------
    def seed_state(self) -> SeedState | None:
        """The chunked seed this database records, or None when it was never given one."""
        ...

    def start_seed(self, fingerprint: str, spec: str, chunks: int) -> None:
        """Record the chunked seed about to begin (its specification's fingerprint and canonical
        text, its number of chunks), in its own transaction. Only for a database with no seed."""
        ...

    def prepare_chunks(self, key_owners: Sequence[int], set_aside: bool = True) -> None:
        """Once the setup rows are in, before any chunk: a data key for each owner (made here
        once, so that loaders in parallel processes never make two); on PostgreSQL, unless
        ``set_aside`` is False, the chunk tables' secondary indexes and foreign keys set aside,
        their definitions kept with the seed (``finish_seed`` makes them again, even after an
        interruption); the setup marked done. One transaction."""
        ...

    def load_chunk(self, chunk: int, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> bool:
        """In one transaction, the chunk recorded done and its rows inserted, table by table in
        the order given (protected fields sealed; COPY on PostgreSQL). False, with nothing
        written, when the chunk is recorded done already (an earlier run, or a concurrent one:
        the second waits for the first's outcome). Raises on a duplicate id (nothing kept)."""
        ...

    def finish_seed(self) -> None:
        """After the last chunk: what ``prepare_chunks`` set aside made again (each in its own
        transaction, so that an interrupted finish goes on where it stopped), the id sequences
        continued, the planner's statistics refreshed, the seed marked finished."""
        ...

    def database_size(self) -> int:
        """The database's size on disk, in bytes."""
        ...


@dataclass(frozen=True, slots=True)
class SeedState:
    """A chunked seed as its database records it."""

    fingerprint: str
    #: The specification's canonical text (synthetic parameters only).
    spec: str
    chunks: int
    done: frozenset[int]
    setup_done: bool
    finished: bool
    #: Whether this process's blind-index key is the one the seed began with.
    keys_match: bool
