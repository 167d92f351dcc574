"""Field encryption recipes (docs/THREATS.md T5): known answers for the AES-256-GCM primitive, and
the envelope's bindings -- a ciphertext moved to another row, column or insurer, or with one bit
flipped, does not decrypt; rotation keeps old versions readable; shredding an insurer leaves the
others untouched; blind indexes are keyed per purpose."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors_loader import load
from tierspayant.security import fields
from tierspayant.security._hazmat.primitives import AuthenticationFailed, aesgcm_decrypt, aesgcm_encrypt
from tierspayant.security.encoding import b64url_decode, b64url_encode
from tierspayant.security.fields import FieldCipher, FieldRef, InvalidCiphertext, KeyRing


@pytest.mark.parametrize("vector", load("aes256gcm_kat.json")["vectors"])
def test_aes256gcm_known_answers(vector: dict[str, str]) -> None:
    key, iv, pt, aad = (bytes.fromhex(vector[k]) for k in ("key", "iv", "pt", "aad"))
    sealed = aesgcm_encrypt(key, iv, pt, aad)
    assert sealed.hex() == vector["ct"] + vector["tag"]
    assert aesgcm_decrypt(key, iv, sealed, aad) == pt
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(AuthenticationFailed):
        aesgcm_decrypt(key, iv, bytes(tampered), aad)


def ring() -> tuple[KeyRing, FieldCipher]:
    keys = KeyRing(fields.FileKek(bytes(range(32))))
    for insurer in (1, 2):
        keys.new_version(insurer)
    return keys, FieldCipher(keys)


REF = FieldRef(1, "beneficiaries", "nir", 42)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=0, max_size=60), st.integers(0, 10_000))
def test_a_ciphertext_is_only_valid_where_it_was_written(value: str, bit: int) -> None:
    _, cipher = ring()
    envelope = cipher.encrypt(value, REF)
    assert cipher.decrypt(envelope, REF) == value
    assert len(value) < 8 or value not in envelope  # (a short value can appear in base64 by chance)
    for elsewhere in (FieldRef(1, "beneficiaries", "nir", 43), FieldRef(1, "beneficiaries", "last_name", 42),
                      FieldRef(2, "beneficiaries", "nir", 42), FieldRef(1, "professionals", "nir", 42)):
        with pytest.raises(InvalidCiphertext):
            cipher.decrypt(envelope, elsewhere)
    prefix, version, body = envelope.split(".")
    raw = bytearray(b64url_decode(body))
    raw[bit % len(raw)] ^= 1 << (bit % 8)
    flipped = f"{prefix}.{version}." + b64url_encode(bytes(raw))
    with pytest.raises(InvalidCiphertext):
        cipher.decrypt(flipped, REF)


def test_rotation_and_shredding() -> None:
    keys, cipher = ring()
    old = cipher.encrypt("253072B07300470", REF)
    other_insurer = cipher.encrypt("295109912611193", FieldRef(2, "beneficiaries", "nir", 7))
    keys.new_version(1)  # rotation: the new version takes writes at once
    new = cipher.encrypt("253072B07300470", REF)
    assert (cipher.version_of(old), cipher.version_of(new)) == (1, 2)
    assert cipher.decrypt(old, REF) == cipher.decrypt(new, REF)  # old data still reads until re-encrypted
    keys.retire(1, 1)
    with pytest.raises(InvalidCiphertext):
        cipher.decrypt(old, REF)
    keys.shred(1)  # crypto-shredding insurer 1
    with pytest.raises(InvalidCiphertext):
        cipher.decrypt(new, REF)
    assert cipher.decrypt(other_insurer, FieldRef(2, "beneficiaries", "nir", 7)) == "295109912611193"


def test_wrapped_keys_need_the_kek_and_their_own_slot() -> None:
    kek = fields.FileKek(bytes(range(32)))
    keys = KeyRing(kek)
    wrapped = keys.new_version(1)
    reloaded = KeyRing(kek, [wrapped])
    assert reloaded.key(1, 1) == keys.key(1, 1)
    with pytest.raises(InvalidCiphertext):
        KeyRing(fields.FileKek(bytes(32)), [wrapped]).key(1, 1)  # another KEK
    with pytest.raises(InvalidCiphertext):
        kek.unwrap(wrapped.wrapped, 2, 1)  # moved to another insurer's slot


def test_blind_index_is_keyed_per_purpose_and_insurer() -> None:
    index = fields.BlindIndex({"nir": bytes(32), "member": bytes(range(32))})
    nir = "253072B07300470"
    assert index.of("nir", 1, nir) == index.of("nir", 1, nir)
    assert index.of("nir", 1, nir) != index.of("nir", 2, nir)
    assert index.of("nir", 1, nir) != index.of("member", 1, nir)
    assert nir not in index.of("nir", 1, nir)
    with pytest.raises(KeyError):
        index.of("name", 1, nir)
