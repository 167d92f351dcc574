"""``tiers config``: the settings as the platform reads them (config.py), secrets masked."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tierspayant.config import ENV_PREFIX, SECRET_FIELDS, Settings, SettingsError, env_name

config_app = typer.Typer(help="Settings: the TIERS_* variables the platform reads.", no_args_is_help=True)
console = Console(soft_wrap=True)

MASK = "***"
#: URL query parameters that carry a secret (libpq's password, sslpassword; tokens).
_SECRET_QUERY = re.compile(r"(?i)([?&][^=&]*(?:password|secret|token)[^=&]*=)[^&]*")


@config_app.callback()
def config() -> None:
    """Settings: the TIERS_* variables the platform reads."""


def mask_url(url: str) -> str:
    """A database URL without its password: ``postgresql://user:secret@host`` -> ``user:***@host``."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy reads: mask from 'user:' to the last '@'
        shown = re.sub(r"(://[^/@:]*:).*@", rf"\g<1>{MASK}@", url)
    return _SECRET_QUERY.sub(rf"\g<1>{MASK}", shown)


def mask_iban(iban: str) -> str:
    """Country and check digits, and the last four characters: ``FR76…0189``."""
    compact = iban.replace(" ", "")
    return compact[:4] + "*" * (len(compact) - 8) + compact[-4:] if len(compact) > 8 else MASK


def _as_written(value: Any, field: str) -> str:
    """A value as one would write it in its variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return (" " if field in ("oidc_acr_values", "oidc_auth_modes") else ",").join(value)
    if isinstance(value, Mapping):
        return json.dumps(dict(value), separators=(",", ":"))
    return "" if value is None else str(value)


def shown_value(field: str, value: Any) -> str:
    """What ``tiers config show`` prints for a field: secrets masked, the rest as written."""
    if field in SECRET_FIELDS:
        return MASK if value else ""
    text = _as_written(value, field)
    if field in ("database_url", "database_replica_url"):
        return mask_url(text)
    if field == "debtor_iban":
        return mask_iban(text)
    return text


def rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(variable, value shown, ``env`` or ``default``) for every setting, in declaration order."""
    return [(env_name(field), shown_value(field, getattr(settings, field)),
             "env" if settings.from_environment(field) else "default") for field in Settings.model_fields]


@config_app.command("show")
def show() -> None:
    """Every setting (its TIERS_ variable, its value, env or default), secrets masked."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        console.print(f"[red]invalid settings ({len(exc.problems)}):[/red]")
        for problem in exc.problems:
            console.print(f"  {escape(problem)}")
        raise typer.Exit(2) from None
    table = rows(settings)
    width = max(len(name) for name, _, _ in table)
    derived = settings.from_environment("var_dir") and not settings.from_environment("database_url")
    for name, value, origin in table:
        shown = escape(value) if value else '[dim]""[/dim]'
        note = " [dim](under TIERS_VAR_DIR)[/dim]" if derived and name == "TIERS_DATABASE_URL" else ""
        console.print(f"[bold]{name:<{width}}[/bold]  {origin:<7}  {shown}{note}")
    known = {env_name(f) for f in Settings.model_fields}
    ignored = sorted(k for k in os.environ if k.startswith(ENV_PREFIX) and k not in known)
    if ignored:
        console.print(f"[yellow]not settings (ignored):[/yellow] {escape(', '.join(ignored))}")
