"""ASGI entry point for servers started by ``tiers serve`` (granian factory): the API and the
portal."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from tierspayant.bootstrap import build
from tierspayant.config import Settings
from tierspayant.services.ports import Clock
from tierspayant.web.app import create_app


def app_from_env() -> FastAPI:
    """Build the platform from TIERS_* variables; the schema was migrated by ``tiers serve``.
    Under ``tiers simulate`` (TIERS_SIMULATED_CLOCK set) the entry point injects the shared
    accelerated clock: the composition root knows nothing of the simulator."""
    settings = Settings.from_env()
    clock: Clock | None = None
    if settings.simulated_clock:
        from tierspayant.simulate.clock import AcceleratedClock

        logging.getLogger("tierspayant").warning("TIERS_SIMULATED_CLOCK set: accelerated time (simulation only)")
        clock = AcceleratedClock.parse(settings.simulated_clock)
    return create_app(build(settings, clock=clock, migrate=False))
