"""The SipHash-2-4 behind privacy tokens: the paper's vector, pandas' C code, both forms agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml._siphash import siphash24, siphash24_many
from prodml.privacy import Privacy, is_token

KEY = bytes(range(16))


def _many(key: bytes, messages: list[bytes]) -> list[int]:
    offsets = np.concatenate([[0], np.cumsum([len(m) for m in messages])]).astype(np.int64)
    data = np.frombuffer(b"".join(messages), np.uint8)
    return siphash24_many(key, data, offsets).tolist()


def test_paper_vectors() -> None:
    # Aumasson and Bernstein (2012), Appendix A, and the reference vectors.h (first entries).
    assert siphash24(KEY, bytes(range(15))) == 0xA129CA6149BE45E5
    assert siphash24(KEY, b"") == 0x726FDB47DD0E0E31
    assert siphash24(KEY, bytes(range(1))) == 0x74F839C593DC67FD
    assert _many(KEY, [b"", bytes(range(1)), bytes(range(15))]) == [
        0x726FDB47DD0E0E31,
        0x74F839C593DC67FD,
        0xA129CA6149BE45E5,
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=70), max_size=40), st.binary(min_size=16, max_size=16))
def test_vectorised_equals_scalar_equals_pandas(messages: list[bytes], key: bytes) -> None:
    hashing = pytest.importorskip("pandas._libs.hashing")
    expected = [siphash24(key, m) for m in messages]
    assert _many(key, messages) == expected
    if messages:  # pandas' C SipHash-2-4 (the raw values, before its own mixing step)
        ref = hashing.hash_object_array(
            np.array(messages, dtype=object), key.decode("latin-1"), "latin-1"
        )
        assert ref.tolist() == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=32, max_size=80))
def test_batch_tokens_equal_single_tokens(values: list[str]) -> None:
    policy = Privacy(salt="not-a-real-salt")
    batch = policy._tokens(values)
    assert batch == [policy.token(v) for v in values]
    assert all(is_token(t) for t in batch)


def test_tokens_separate_types_and_map_tokens_to_themselves() -> None:
    policy = Privacy(salt="not-a-real-salt")
    assert len({policy.token(1), policy.token("1"), policy.token(True), policy.token(1.0)}) == 4
    values = [f"id{i}" for i in range(40)] + [policy.token("x")]
    assert policy._tokens(values)[-1] == policy.token("x")
    assert Privacy(salt="another").token("x") != policy.token("x")
