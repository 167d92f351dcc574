"""The ``tiers`` command's one way of saying that a setting is wrong: the lines of the
:class:`SettingsError` (config.py: each names its ``TIERS_*`` variable; bootstrap.py: a key file
or a token that cannot be used, ``key_encryption_key``) on stderr and exit status 2 -- no
traceback, which would show an operator the code instead of the variable to fix."""

from __future__ import annotations

import sys
from typing import Any

import typer

from tierspayant.config import SettingsError


class TiersApp(typer.Typer):
    """A Typer app whose commands' settings errors end as their lines (module docstring)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except SettingsError as exc:
            for problem in exc.problems:
                print(f"invalid setting: {problem}", file=sys.stderr)
            raise SystemExit(2) from None
