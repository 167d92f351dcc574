"""Membership files by API (services/members.py; the layout: docs/DOMAIN.md, "Membership files"):
an insurer sends its whole file as ``text/csv``; the body is streamed to disk (never held in
memory), the caller and the header are checked at once, and the import runs in the background
in resumable batches -- ``202`` with where to follow it. The same file sent again after an
interruption resumes the unfinished import; one in progress is refused (409)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tierspayant.api.auth import INSURER_DATA
from tierspayant.api.deps import platform
from tierspayant.api.responses import NOT_FOUND
from tierspayant.api.schemas import ObjectId, Reference
from tierspayant.bootstrap import Platform
from tierspayant.domain.errors import InvalidField
from tierspayant.domain.membership import COLUMNS
from tierspayant.security.policy import Principal
from tierspayant.services.ports import Conflict
from tierspayant.services.ports.members import MemberImport, Refusal

router = APIRouter(prefix="/v1/insurers/{amc_number}/member-files", tags=["beneficiaries"])
logger = logging.getLogger("tierspayant.api")
#: The route BodyLimit lets through up to ``max_member_file_bytes`` (api/app.py).
UPLOAD_PATH = r"^/v1/insurers/[^/]+/member-files$"
#: The imports this process runs now, by insurer and file digest: each in its own thread (a
#: daemon: a server stopping mid-import leaves it resumable, the same file sent again continues).
_RUNNING: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()
#: Imports this process ran that stopped on an error (import id -> the error's type).
_STOPPED: dict[int, str] = {}
#: The insurers whose file this process is receiving now: one at a time each.
_RECEIVING: set[int] = set()

CSV_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"text/csv": {
    "schema": {"type": "string", "format": "binary"},
    "example": ",".join(COLUMNS) + "\n"}}}}


class RefusalOut(BaseModel):
    line: int
    field: str
    message: str


class ImportOut(BaseModel):
    id: int
    lines_done: int
    created: int
    updated: int
    unchanged: int
    refused: int
    finished: bool
    #: Not finished and not running here: it stopped (``stopped`` says why, when this process
    #: ran it); send the same file again to resume it.
    running: bool = False
    stopped: str | None = None
    #: The refused lines by number and field (never their values); the first 1,000.
    refusals: list[RefusalOut] = []


def _out(state: MemberImport, refusals: list[Refusal] | None = None) -> ImportOut:
    running = any(t.is_alive() and t.name == f"member-file-{state.id}" for t in _RUNNING.values())
    return ImportOut(id=state.id, lines_done=state.lines_done, created=state.created, updated=state.updated,
                     unchanged=state.unchanged, refused=state.refused, finished=state.finished_at is not None,
                     running=running, stopped=_STOPPED.get(state.id),
                     refusals=[RefusalOut(line=r.line, field=r.field, message=r.message) for r in (refusals or [])[:1000]])


#: What a file upload must leave free on the disk (the database may live there too).
KEEP_FREE = 512 * 1024**2


async def _receive(request: Request, folder: Path) -> Path:
    """The body streamed to a private file under ``folder``, refused (and removed) when the
    disk would keep less than KEEP_FREE."""
    folder.mkdir(parents=True, exist_ok=True)
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and shutil.disk_usage(folder).free - int(announced) < KEEP_FREE:
        raise InvalidField("body", "not enough disk space to receive this file now; retry later")
    path = folder / f"{uuid.uuid4().hex}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # members' data: owner only
    try:
        with os.fdopen(fd, "wb") as out:
            written = 0
            async for chunk in request.stream():
                out.write(chunk)
                written += len(chunk)
                if written >= 64 * 1024**2:  # every 64 MiB: the space left
                    written = 0
                    if shutil.disk_usage(folder).free < KEEP_FREE:
                        raise InvalidField("body", "not enough disk space to receive this file now; retry later")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def clear_uploads(folder: Path, older_than: float = 24 * 3600) -> int:
    """Remove uploads left by a process that stopped mid-import (a day old: no import runs
    that long); the insurer sends the file again to resume. Called at start."""
    removed = 0
    for stale in folder.glob("*.csv") if folder.is_dir() else []:
        if time.time() - stale.stat().st_mtime > older_than:
            stale.unlink(missing_ok=True)
            removed += 1
    return removed


def _run(p: Platform, principal: Principal, amc_number: str, path: Path, import_id: int) -> None:
    try:
        p.members.import_file(principal, amc_number, path)
    except Exception as exc:  # the import stays resumable: the same file sent again continues it
        _STOPPED[import_id] = type(exc).__name__
        logger.error("membership file import %s stopped: %s", import_id, type(exc).__name__)
    finally:
        path.unlink(missing_ok=True)


@router.post("", status_code=202, response_model=ImportOut, openapi_extra=CSV_BODY, responses={
    **NOT_FOUND, 409: {"description": "This file is being imported already"}})
async def upload(amc_number: Reference, request: Request, response: Response,
                 principal: Principal = INSURER_DATA) -> ImportOut:
    """Import a membership file (UTF-8 CSV, the documented columns): answered once the file is
    received and its header checked; follow the import at the ``Location`` given."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "text/csv":
        raise InvalidField("content-type", "send the file as text/csv")
    p = platform(request)
    insurer_id = await run_in_threadpool(p.members.may_import, principal, amc_number)  # before any byte is kept
    with _LOCK:
        if insurer_id in _RECEIVING:
            raise Conflict("file", "a file of this insurer is being received already")
        _RECEIVING.add(insurer_id)
    try:
        path = await _receive(request, p.settings.var_dir / "uploads")
    finally:
        with _LOCK:
            _RECEIVING.discard(insurer_id)
    try:
        state = await run_in_threadpool(p.members.open_import, principal, amc_number, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    key = f"{state.insurer_id}:{state.digest}"
    with _LOCK:
        for done in [k for k, t in _RUNNING.items() if not t.is_alive()]:
            del _RUNNING[done]
        running = _RUNNING.get(key)
        if running is not None and running.is_alive():
            path.unlink(missing_ok=True)
            raise Conflict("file", "this file is being imported already")
        _STOPPED.pop(state.id, None)
        _RUNNING[key] = thread = threading.Thread(target=_run, args=(p, principal, amc_number, path, state.id),
                                                  name=f"member-file-{state.id}", daemon=True)
    thread.start()
    response.headers["Location"] = f"/v1/insurers/{amc_number}/member-files/{state.id}"
    return _out(state)


@router.get("/{import_id}", response_model=ImportOut, responses=NOT_FOUND)
def progress(amc_number: Reference, import_id: ObjectId, request: Request,
             principal: Principal = INSURER_DATA) -> ImportOut:
    """How far the import got, and the lines it refused (by number and field)."""
    state, refusals = platform(request).members.progress_of(principal, amc_number, import_id)
    return _out(state, refusals)
