"""File drops: a directory per destination (a bank's SEPA drop, an insurer that wants files),
each file written atomically -- a temporary name in the same directory, fsync, rename, fsync of
the directory -- so that a reader never sees half a file, and a file written again (a message
delivered twice after a crash) replaces itself with the same bytes."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path

from tierspayant.services.ports.delivery import Channel, Destination, Message, Receipt

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def write_atomically(folder: Path, name: str, data: bytes) -> Path:
    target = folder / name
    temporary = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return target


def file_of(message: Message, body: bytes) -> tuple[str, bytes]:
    """The file a message becomes: its own (``filename`` and ``file`` in the payload, a SEPA
    file say) or the message itself as JSON, named by its id."""
    if "file" in message.payload and "filename" in message.payload:
        return _SAFE.sub("_", str(message.payload["filename"]))[:120], str(message.payload["file"]).encode()
    return f"{message.message_id}.json", body


class FileDropConnector:
    channel = Channel.FILE

    def check(self, destination: Destination) -> str | None:
        folder = Path(str(destination.config.get("directory", "")))
        if not folder.is_absolute():
            return "directory: an absolute path"
        if not folder.is_dir():
            return f"directory: {folder} does not exist"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"directory: {folder} is not writable by the platform"
        return None

    async def deliver(self, destination: Destination, message: Message, body: bytes) -> Receipt:
        problem = self.check(destination)
        if problem:
            return Receipt(False, problem)  # tried again: a drop directory may come back
        name, data = file_of(message, body)
        try:
            await asyncio.to_thread(write_atomically, Path(str(destination.config["directory"])), name, data)
        except OSError as exc:
            return Receipt(False, f"cannot write: {exc.strerror or type(exc).__name__}")
        return Receipt(True)
