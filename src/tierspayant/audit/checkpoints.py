"""Checkpoints in the C2SP tlog-checkpoint text form: origin, tree size, base64 root hash."""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse the body of a checkpoint (the signed text, before the blank line)."""
        lines = text.split("\n")
        if len(lines) < 4 or (lines[3] != "" and not text.endswith("\n")):
            raise ValueError("malformed checkpoint")
        origin, size, root = lines[0], lines[1], lines[2]
        if not size.isdigit() or (size != "0" and size.startswith("0")):
            raise ValueError("malformed checkpoint size")
        raw = base64.b64decode(root, validate=True)
        if len(raw) != 32:
            raise ValueError("malformed checkpoint root")
        return cls(origin, int(size), raw)
