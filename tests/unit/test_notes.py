"""Signed notes and checkpoints: the signature binds origin, size and root (so a checkpoint's
tree size cannot be changed even where a bare RFC 9162 path would verify under two sizes)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tierspayant.audit.checkpoints import Checkpoint
from tierspayant.security._hazmat.primitives import ed25519_generate
from tierspayant.security.notes import NoteSigner, Verifier, split_note, verify_note

SIGNER = NoteSigner("log.test", ed25519_generate()[0])
OTHER = NoteSigner("log.test", ed25519_generate()[0])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**40), st.binary(min_size=32, max_size=32), st.data())
def test_any_change_to_a_signed_checkpoint_fails(size: int, root: bytes, data: st.DataObject) -> None:
    note = SIGNER.sign(Checkpoint("log.test/log", size, root).text())
    assert verify_note(note, SIGNER.verifier)
    assert Checkpoint.parse(split_note(note)[0]) == Checkpoint("log.test/log", size, root)
    other_size = size ^ (1 << data.draw(st.integers(0, 40)))
    forged = note.replace(f"\n{size}\n", f"\n{other_size}\n", 1)
    assert not verify_note(forged, SIGNER.verifier)
    position = data.draw(st.integers(0, len(note) - 1))
    flipped = note[:position] + chr(ord(note[position]) ^ 1) + note[position + 1:]
    assert not verify_note(flipped, SIGNER.verifier)
    assert not verify_note(note, OTHER.verifier)  # same name, other key


def test_verifier_key_round_trip() -> None:
    assert Verifier.decode(SIGNER.verifier.encoded) == SIGNER.verifier
