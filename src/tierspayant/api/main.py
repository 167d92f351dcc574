"""ASGI entry point for servers started by ``tiers serve`` (uvicorn/granian factory)."""

from __future__ import annotations

from fastapi import FastAPI

from tierspayant.api.app import create_app
from tierspayant.bootstrap import build
from tierspayant.config import Settings


def app_from_env() -> FastAPI:
    """Build the platform from TIERS_* variables; the schema was migrated by ``tiers serve``."""
    return create_app(build(Settings.from_env(), migrate=False))
