"""What the database and ``var/keys`` hold under the key-encryption key (docs/THREATS.md T5, "Key
custody"): the wrapped data keys, checked at start-up against the configured KEK; the platform's
other secrets, plain files beside a key-file KEK, wrapped by the token beside a token's; and the
move of both from a key file into a token (``tiers keys hsm-adopt``). The composition root turns
a :class:`CustodyProblem` into the settings error naming its variable (``bootstrap.key_custody``)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DBAPIError

from tierspayant.security.fields import (
    TOKEN_WRAPPED_PREFIX,
    FileKek,
    InvalidCiphertext,
    KeyCustodyUnavailable,
    KeyEncryptionKey,
    WrappedKey,
)
from tierspayant.security.keys import new_secret
from tierspayant.store import tables as t
from tierspayant.store.key_files import load_or_create_secret

#: The platform's secrets kept in ``var/keys`` beside the data keys, and the slot each is wrapped
#: in under a token (below 0: never an owner of data keys). The blind-index keys would let whoever
#: holds them test NIRs against the index; the pseudonym key, link the log's pseudonyms to people.
SECRETS = {"blind-index-nir": -1, "blind-index-member": -2, "pseudonyms": -3}
KEK_FILE = "kek.key"


class CustodyProblem(Exception):
    """The KEK cannot be used with this database or ``var/keys``: ``setting`` is the field of
    ``Settings`` to fix, ``problem`` one line."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting, self.problem = setting, problem


@dataclass(frozen=True, slots=True)
class StoredKeys:
    """How many wrapped data keys the database holds, and one of them to try."""

    count: int
    sample: WrappedKey | None

    @property
    def in_token(self) -> bool:
        return self.sample is not None and self.sample.wrapped.startswith(TOKEN_WRAPPED_PREFIX)


def stored_keys(engine: Engine) -> StoredKeys:
    """The stored data keys' count and the oldest one. None on a database not migrated yet, and
    none when it cannot be reached: a server then starts as it did before this check and answers
    503 until the database is back (docs/ARCHITECTURE.md, "The database away")."""
    try:
        with engine.connect() as conn:
            count = int(conn.execute(select(func.count()).select_from(t.data_keys)).scalar_one())
            row = conn.execute(select(t.data_keys.c.insurer_id, t.data_keys.c.version, t.data_keys.c.wrapped)
                               .order_by(t.data_keys.c.insurer_id, t.data_keys.c.version).limit(1)).first()
    except DBAPIError:
        return StoredKeys(0, None)
    return StoredKeys(count, WrappedKey(int(row.insurer_id), int(row.version), str(row.wrapped)) if row else None)


@dataclass(frozen=True, slots=True)
class KeyCustody:
    """The KEK, checked against the database, and the secrets of ``SECRETS`` by name."""

    kek: KeyEncryptionKey
    secrets: dict[str, bytes]


def _secret(key_dir: Path, kek: KeyEncryptionKey, in_token: bool, fresh: bool, name: str) -> bytes:
    """A secret of ``SECRETS``: a plain 0600 file beside a key-file KEK, as always; wrapped by the
    token beside a token's (``<name>.key.p11``), so ``var/`` without the token holds none. Created
    when missing only for a database without data keys (else it was lost: restore it)."""
    plain = key_dir / f"{name}.key"
    if not in_token:
        return load_or_create_secret(plain)
    wrapped = plain.with_name(f"{name}.key.p11")
    if wrapped.exists() and plain.exists():
        logging.getLogger("tierspayant").warning("%s: a plain copy of a secret the token keeps; destroy it", plain)
    if not wrapped.exists() and plain.exists():
        raise CustodyProblem("kek", f"{str(plain)!r} is a plain key file: move it into the token's custody first "
                                    "(tiers keys hsm-adopt)")
    if not wrapped.exists() and not fresh:
        raise CustodyProblem("var_dir", f"{str(wrapped)!r} is missing while the database holds data: restore it "
                                        "from its backup")
    text = read_or_create_text(wrapped, lambda: kek.wrap(new_secret(32), SECRETS[name], 1))
    try:
        return kek.unwrap(text, SECRETS[name], 1)
    except InvalidCiphertext:
        raise CustodyProblem("pkcs11_key_label", f"{str(wrapped)!r} was not wrapped by this token's key") from None
    except KeyCustodyUnavailable as exc:
        raise CustodyProblem("pkcs11_token", str(exc)) from None


def open_custody(engine: Engine, key_dir: Path, token: Callable[[], KeyEncryptionKey] | None,
                 which_token: str) -> KeyCustody:
    """The key file's KEK (``token`` None) or the token's (``token()`` opens it), checked against
    the data keys the database holds, and the secrets it keeps: pointed at the wrong one (a copied database and ``var/``
    without the token, a lost or foreign key file, another token key), it refuses with one line
    instead of reading every record as "not found". A KEK file is created only for a database
    without data keys."""
    stored = stored_keys(engine)
    path = key_dir / KEK_FILE
    kek: KeyEncryptionKey
    if token is None:
        if stored.in_token:
            raise CustodyProblem("kek", f"this database's {stored.count} data keys are wrapped in a PKCS#11 token, "
                                        "not by a key file: set TIERS_KEK=pkcs11 and its TIERS_PKCS11_* settings")
        if stored.sample is not None and not path.exists():
            raise CustodyProblem("var_dir", f"{str(path)!r} is missing, and it wraps this database's data keys: "
                                            "restore it from its backup (a new one would decrypt nothing)")
        kek, which, setting = FileKek(load_or_create_secret(path)), f"the key file {str(path)!r}", "var_dir"
    else:
        if stored.sample is not None and not stored.in_token:
            raise CustodyProblem("kek", f"this database's {stored.count} data keys are wrapped by a key file "
                                        f"({str(path)!r}), not in the token: move them in first (tiers keys hsm-adopt)")
        kek, which, setting = token(), which_token, "pkcs11_key_label"
    if stored.sample is not None:
        try:
            kek.unwrap(stored.sample.wrapped, stored.sample.insurer_id, stored.sample.version)
        except InvalidCiphertext:
            raise CustodyProblem(setting, f"{which} did not wrap this database's data keys (another platform's?): "
                                          "nothing would decrypt") from None
        except KeyCustodyUnavailable as exc:
            raise CustodyProblem("pkcs11_token", str(exc)) from None
    secrets = {name: _secret(key_dir, kek, token is not None, stored.sample is None, name) for name in SECRETS}
    return KeyCustody(kek, secrets)


def move_into_token(engine: Engine, key_dir: Path, token: KeyEncryptionKey) -> tuple[int, list[Path]]:
    """The plain secret files wrapped into the token (``.key.p11`` beside each), then every data
    key unwrapped by the key file and wrapped again inside the token, in one transaction (a
    database never holds keys of both). Running servers keep what they had unwrapped: stop them
    first. Returns how many data keys moved, and the plain files, which now only open backups taken
    before (to destroy with them)."""
    stored = stored_keys(engine)
    path = key_dir / KEK_FILE
    if stored.in_token:
        raise CustodyProblem("kek", f"this database's {stored.count} data keys are in the token already")
    if stored.sample is not None and not path.exists():
        raise CustodyProblem("var_dir", f"{str(path)!r} is missing: it is what unwraps the data keys")
    plain = [key_dir / f"{name}.key" for name in SECRETS]
    for name, source in zip(SECRETS, plain, strict=True):
        if source.exists():
            secret = source.read_bytes()
            wrapped = read_or_create_text(source.with_name(f"{name}.key.p11"), partial(token.wrap, secret, SECRETS[name], 1))
            if token.unwrap(wrapped, SECRETS[name], 1) != secret:
                raise CustodyProblem("var_dir", f"{str(source)!r} and its wrapped copy differ: nothing moved")
    moved = 0
    if stored.sample is not None:
        try:
            moved = rewrap_all(engine, FileKek(path.read_bytes()), token)
        except InvalidCiphertext:
            raise CustodyProblem("var_dir", f"{str(path)!r} did not wrap this database's data keys: nothing "
                                            "changed") from None
        except KeyCustodyUnavailable as exc:
            raise CustodyProblem("pkcs11_token", f"{exc}: nothing changed") from None
    return moved, [f for f in [path, *plain] if f.exists()]


def rewrap_all(engine: Engine, old: KeyEncryptionKey, new: KeyEncryptionKey) -> int:
    """Every stored data key unwrapped by ``old`` and wrapped again by ``new``, in one
    transaction (all or none). Raises ``InvalidCiphertext`` (nothing changed) when ``old`` does
    not unwrap one of them."""
    with engine.begin() as conn:
        rows = conn.execute(select(t.data_keys.c.insurer_id, t.data_keys.c.version, t.data_keys.c.wrapped)
                            .order_by(t.data_keys.c.insurer_id, t.data_keys.c.version).with_for_update()).all()
        for row in rows:
            plain = old.unwrap(row.wrapped, row.insurer_id, row.version)
            conn.execute(update(t.data_keys).where(t.data_keys.c.insurer_id == row.insurer_id,
                                                   t.data_keys.c.version == row.version)
                         .values(wrapped=new.wrap(plain, row.insurer_id, row.version)))
    return len(rows)


def read_or_create_text(path: Path, make: Callable[[], str]) -> str:
    """The text kept at ``path``, or ``make()`` written there first: mode 0600, written aside and
    linked into place, so a worker that loses the race reads the winner's whole text."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(make() + "\n")
        try:
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
        finally:
            aside.unlink()
    return path.read_text(encoding="ascii").strip()
