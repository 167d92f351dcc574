"""OpenAPI response descriptions shared by the routers."""

from __future__ import annotations

from typing import Any

Responses = dict[int | str, dict[str, Any]]

NOT_FOUND: Responses = {404: {"description": "Not found (or not yours: the same answer)"}}
