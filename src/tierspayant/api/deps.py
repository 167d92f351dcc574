"""Access to the platform (the composition root's object) from a request."""

from __future__ import annotations

from fastapi import Request

from tierspayant.bootstrap import Platform


def platform(request: Request) -> Platform:
    p: Platform = request.app.state.platform
    return p
