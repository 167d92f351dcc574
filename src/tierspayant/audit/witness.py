"""A witness: keeps the last checkpoint it saw, accepts a new one only if it is signed by the
log and consistent with it (RFC 9162 consistency proof), cosigns it, and raises an alarm on a
fork (two roots for one size, or an inconsistent proof) or a rollback (a smaller tree)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tierspayant.audit.checkpoints import Checkpoint
from tierspayant.audit.merkle import verify_consistency
from tierspayant.security.notes import NoteSigner, Verifier, split_note, verify_note


class Alarm(Exception):
    """The log showed two different histories, or went back in time."""


@dataclass(frozen=True)
class WitnessState:
    size: int
    root: bytes

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"size": self.size, "root": base64.b64encode(self.root).decode()}))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> WitnessState | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(int(raw["size"]), base64.b64decode(raw["root"]))


#: (first, second) -> consistency proof hashes
ConsistencyFetcher = Callable[[int, int], list[bytes]]


def witness_step(note: str, log_key: Verifier, origin: str, state: WitnessState | None,
                 fetch_consistency: ConsistencyFetcher, signer: NoteSigner) -> tuple[WitnessState, str, Checkpoint]:
    """Check one fetched checkpoint note; return the new state, the cosignature line and the
    checkpoint. Raises Alarm on a fork or rollback, ValueError on a note the log did not sign."""
    if not verify_note(note, log_key):
        raise ValueError("checkpoint not signed by the log's key")
    text = split_note(note)[0]
    checkpoint = Checkpoint.parse(text)
    if checkpoint.origin != origin:
        raise ValueError("checkpoint of another log")
    if state is not None:
        if checkpoint.size < state.size:
            raise Alarm(f"rollback: the log shows size {checkpoint.size} after {state.size}")
        if checkpoint.size == state.size and checkpoint.root != state.root:
            raise Alarm(f"fork: two different roots for size {state.size}")
        if checkpoint.size > state.size and state.size > 0:
            proof = fetch_consistency(state.size, checkpoint.size)
            if not verify_consistency(state.size, checkpoint.size, state.root, checkpoint.root, proof):
                raise Alarm(f"fork: size {checkpoint.size} is not an extension of size {state.size}")
    return WitnessState(checkpoint.size, checkpoint.root), signer.signature_line(text), checkpoint
