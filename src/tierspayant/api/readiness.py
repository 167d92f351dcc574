"""``/v1/health/ready``: whether this server can do its work -- a write transaction (the writers'
lock) and the transparency log's append path -- as opposed to ``/v1/health``, which says only
that the process answers (issue 19, point 4). An access that cannot be recorded is refused
(ARCHITECTURE.md, "The transparency log fails closed"), so a server whose log cannot grow is not
ready even when its database reads."""

from __future__ import annotations

import logging
import threading
import time

from tierspayant.api.problems import database_away
from tierspayant.bootstrap import Platform

logger = logging.getLogger("tierspayant.api")

#: A probe is a write transaction: one per process at most this often, whoever asks (the route
#: is public, for load balancers; a flood of probes must not queue for the writers' lock).
PROBE_SECONDS = 1.0
WRITABLE, UNWRITABLE, UNKNOWN, OFF = "writable", "unwritable", "unknown", "off"


def _database_refused(error: BaseException | None) -> bool:
    """The database itself refuses writes (away, read-only, full), not the log's own step.
    PostgreSQL's read-only transaction (SQLSTATE 25006) reaches the driver as an InternalError."""
    if error is None:
        return False
    state = str(getattr(getattr(error, "orig", None), "sqlstate", "") or "")
    return database_away(error) or state == "25006"


class Readiness:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._answer: tuple[bool, dict[str, str]] = (False, {})

    def check(self) -> tuple[bool, dict[str, str]]:
        """(ready, what each part is): the last probe's answer if it is under a second old."""
        with self._lock:
            if time.monotonic() - self._at >= PROBE_SECONDS:
                self._answer = self._probe()
                self._at = time.monotonic()
            return self._answer

    def _probe(self) -> tuple[bool, dict[str, str]]:
        probe = self.platform.operations.probe(self.platform.clock.now())
        if probe.failed is None:
            # Benchmarks only (TIERS_UNSAFE_NO_ACCESS_LOG): events are dropped, never ready.
            log = OFF if self.platform.settings.unsafe_no_access_log else WRITABLE
            return log == WRITABLE, {"database": WRITABLE, "log": log}
        kind = type(probe.error).__name__  # the class only: its text may quote values
        if probe.failed == "database" or _database_refused(probe.error):
            logger.warning("not ready: the database refuses writes (%s)", kind)
            return False, {"database": UNWRITABLE, "log": UNKNOWN}
        logger.warning("not ready: the transparency log cannot be appended to (%s)", kind)
        return False, {"database": WRITABLE, "log": UNWRITABLE}
