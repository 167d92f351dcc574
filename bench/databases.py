"""The benchmarks' databases: an embedded SQLite file in a fresh directory, or a fresh
PostgreSQL database on the local server (127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fresh_postgres(admin_url: str = ADMIN_URL, name: str = "tiers_bench") -> str:
    """A new, empty PostgreSQL database ``name`` (dropped first if it exists); its URL."""
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def fresh_database(prefix: str, postgres: bool) -> tuple[Path, str]:
    """A new var directory and the URL of an empty database for one benchmark run."""
    var = Path(tempfile.mkdtemp(prefix=f"tiers-{prefix}-"))
    if postgres:
        return var, fresh_postgres(name=f"{prefix.replace('-', '_')}_{int(time.time())}")
    return var, f"sqlite:///{var / 'tiers.db'}"
