"""The command line's inventory (issue 14, the AP-HP lesson): no command exports personal data
in bulk; the controllers' breach list goes only through the sealed, dual-control export route
(tests/integration/test_routes_and_payments.py checks the routes)."""

from __future__ import annotations


def test_the_command_line_has_no_bulk_export_but_the_sealed_one() -> None:
    """Every command of ``tiers``: a new one that exports data must be reviewed here."""
    import typer

    from tierspayant.cli.main import app

    def names(typer_app: typer.Typer, prefix: str = "") -> set[str]:
        out = {prefix + (c.name or c.callback.__name__) for c in typer_app.registered_commands if c.callback}
        for group in typer_app.registered_groups:
            assert group.typer_instance is not None
            out |= names(group.typer_instance, f"{prefix}{group.name} ")
        return out

    commands = names(app)
    assert not {c for c in commands if "export" in c or "dump" in c}
    assert {"incident open", "incident scope", "incident verify-scope"} <= commands
