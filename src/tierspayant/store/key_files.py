"""Key files kept outside the database (mode 0600, created on first use): the transparency
log's signing key and the pseudonymisation key. A KMS/HSM would sit behind the same calls."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tierspayant.security.keys import new_secret, new_signing_seed


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def load_or_create_secret(path: Path, size: int = 32) -> bytes:
    """A random secret of ``size`` bytes stored at ``path`` (created once, 0600)."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another worker created it meanwhile
            _write_secret(path, new_secret(size))
    return path.read_bytes()


def load_or_create_signing_seed(path: Path) -> bytes:
    """An Ed25519 private key seed stored at ``path`` (created once, 0600)."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            _write_secret(path, new_signing_seed())
    return path.read_bytes()
