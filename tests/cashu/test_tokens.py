"""Token codecs against the NUT-00 examples (cashubtc/nuts tests/00-tests.md), and rejection of bad tokens."""

import base64
import json

import cbor2
import pytest

from app.cashu.errors import InvalidToken
from app.cashu.tokens import (
    Proof,
    ProofDleq,
    Token,
    decode_token,
    encode_token_v3,
    encode_token_v4,
    normalize_mint_url,
    same_mint,
    short_keyset_id,
)

V3_SPEC = (
    "cashuAeyJ0b2tlbiI6W3sibWludCI6Imh0dHBzOi8vODMzMy5zcGFjZTozMzM4IiwicHJvb2ZzIjpbeyJhbW91bnQiOjIsImlkIjoiMDA5YTF"
    "mMjkzMjUzZTQxZSIsInNlY3JldCI6IjQwNzkxNWJjMjEyYmU2MWE3N2UzZTZkMmFlYjRjNzI3OTgwYmRhNTFjZDA2YTZhZmMyOWUyODYxNzY4"
    "YTc4MzciLCJDIjoiMDJiYzkwOTc5OTdkODFhZmIyY2M3MzQ2YjVlNDM0NWE5MzQ2YmQyYTUwNmViNzk1ODU5OGE3MmYwY2Y4NTE2M2VhIn0se"
    "yJhbW91bnQiOjgsImlkIjoiMDA5YTFmMjkzMjUzZTQxZSIsInNlY3JldCI6ImZlMTUxMDkzMTRlNjFkNzc1NmIwZjhlZTBmMjNhNjI0YWNhYT"
    "NmNGUwNDJmNjE0MzNjNzI4YzcwNTdiOTMxYmUiLCJDIjoiMDI5ZThlNTA1MGI4OTBhN2Q2YzA5NjhkYjE2YmMxZDVkNWZhMDQwZWExZGUyODR"
    "mNmVjNjlkNjEyOTlmNjcxMDU5In1dfV0sInVuaXQiOiJzYXQiLCJtZW1vIjoiVGhhbmsgeW91LiJ9"
)
V4_SPEC_SINGLE = (
    "cashuBpGF0gaJhaUgArSaMTR9YJmFwgaNhYQFhc3hAOWE2ZGJiODQ3YmQyMzJiYTc2ZGIwZGYxOTcyMTZiMjlkM2I4Y2MxNDU1M2NkMjc4Mjdm"
    "YzFjYzk0MmZlZGI0ZWFjWCEDhhhUP_trhpXfStS6vN6So0qWvc2X3O4NfM-Y1HISZ5JhZGlUaGFuayB5b3VhbXVodHRwOi8vbG9jYWxob3N0"
    "OjMzMzhhdWNzYXQ="
)
V4_SPEC_MULTI = (
    "cashuBo2F0gqJhaUgA_9SLj17PgGFwgaNhYQFhc3hAYWNjMTI0MzVlN2I4NDg0YzNjZjE4NTAxNDkyMThhZjkwZjcxNmE1MmJmNGE1ZWQzNDdl"
    "NDhlY2MxM2Y3NzM4OGFjWCECRFODGd5IXVW-07KaZCvuWHk3WrnnpiDhHki6SCQh88-iYWlIAK0mjE0fWCZhcIKjYWECYXN4QDEzMjNkM2Q0"
    "NzA3YTU4YWQyZTIzYWRhNGU5ZjFmNDlmNWE1YjRhYzdiNzA4ZWIwZDYxZjczOGY0ODMwN2U4ZWVhY1ghAjRWqhENhLSsdHrr2Cw7AFrKUL9Ff"
    "r1XN6RBT6w659lNo2FhAWFzeEA1NmJjYmNiYjdjYzY0MDZiM2ZhNWQ1N2QyMTc0ZjRlZmY4YjQ0MDJiMTc2OTI2ZDNhNTdkM2MzZGNiYjU5ZD"
    "U3YWNYIQJzEpxXGeWZN5qXSmJjY8MzxWyvwObQGr5G1YCCgHicY2FtdWh0dHA6Ly9sb2NhbGhvc3Q6MzMzOGF1Y3NhdA=="
)
A_POINT = "02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea"
SHORT_ID = "009a1f293253e41e"


def test_v3_spec_token_decodes() -> None:
    token = decode_token(V3_SPEC)

    assert token.mint == "https://8333.space:3338"
    assert token.unit == "sat"
    assert token.memo == "Thank you."
    assert [(p.id, p.amount) for p in token.proofs] == [("009a1f293253e41e", 2), ("009a1f293253e41e", 8)]
    assert token.proofs[0].C == A_POINT
    assert token.amount == 10


def test_v3_spec_token_encodes_to_the_same_text() -> None:
    assert encode_token_v3(decode_token(V3_SPEC)) == V3_SPEC


def test_v4_spec_single_keyset_token_round_trips() -> None:
    token = decode_token(V4_SPEC_SINGLE)

    assert (token.mint, token.unit, token.memo, token.amount) == ("http://localhost:3338", "sat", "Thank you", 1)
    assert token.proofs[0].id == "00ad268c4d1f5826"
    assert encode_token_v4(token) == V4_SPEC_SINGLE.rstrip("=")


def test_v4_spec_multi_keyset_token_round_trips() -> None:
    token = decode_token(V4_SPEC_MULTI)

    assert token.keyset_ids == ("00ffd48b8f5ecf80", "00ad268c4d1f5826")
    assert token.amount == 4
    assert token.memo is None
    assert encode_token_v4(token) == V4_SPEC_MULTI.rstrip("=")


def test_v4_carries_dleq_and_shortens_v2_keyset_ids() -> None:
    full_id = "01" + "ab" * 32
    dleq = ProofDleq(e="11" * 32, s="22" * 32, r="33" * 32)
    token = Token(mint="http://m", proofs=(Proof(id=full_id, amount=4, secret="s", C=A_POINT, dleq=dleq),))

    decoded = decode_token(encode_token_v4(token))

    assert decoded.proofs[0].id == short_keyset_id(full_id) == full_id[:16]
    assert decoded.proofs[0].dleq == dleq


def test_cashu_uri_prefix_and_surrounding_space_are_accepted() -> None:
    assert decode_token(f"  cashu:{V3_SPEC}\n").amount == 10


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        "c" + V3_SPEC,  # casshuA-like wrong prefix
        V3_SPEC.removeprefix("cashuA"),  # no prefix
        "cashuA!!!not-base64",
        "cashuA" + _b64(b"not json"),
        "cashuA" + _b64(json.dumps({"token": []}).encode()),
        "cashuA" + _b64(json.dumps({"token": [{"mint": "ftp://x", "proofs": []}]}).encode()),
        "cashuA"
        + _b64(
            json.dumps(
                {"token": [{"mint": "http://m", "proofs": [{"id": "00", "amount": -1, "secret": "s", "C": A_POINT}]}]}
            ).encode()
        ),
        "cashuB" + _b64(b"\xff\x00"),
        "cashuB" + _b64(cbor2.dumps({"m": "http://m", "u": "sat", "t": [{"i": "not bytes", "p": []}]})),
        "cashuB" + _b64(cbor2.dumps({"m": "http://m", "u": "sat", "t": [{"i": b"\x00", "p": [{"a": 1, "s": "x"}]}]})),
    ],
)
def test_bad_tokens_raise_invalid_token(text: str) -> None:
    with pytest.raises(InvalidToken):
        decode_token(text)


def test_v3_token_spanning_two_mints_is_rejected() -> None:
    proof = {"id": SHORT_ID, "amount": 1, "secret": "s", "C": A_POINT}
    data = {"token": [{"mint": "http://a", "proofs": [proof]}, {"mint": "http://b", "proofs": [proof]}]}
    with pytest.raises(InvalidToken):
        decode_token("cashuA" + _b64(json.dumps(data).encode()))


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://Mint.Example.COM:443/", "https://mint.example.com"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("https://mint.example.com:3338/cashu/api/", "https://mint.example.com:3338/cashu/api"),
        (" http://localhost:3338 ", "http://localhost:3338"),
    ],
)
def test_mint_urls_normalise(url: str, normal: str) -> None:
    assert normalize_mint_url(url) == normal


def test_same_mint_ignores_spelling_but_not_paths() -> None:
    assert same_mint("https://Mint.example.com/", "https://mint.example.com:443")
    assert not same_mint("https://mint.example.com/a", "https://mint.example.com/b")


def test_proofs_round_trip_through_dicts() -> None:
    proof = Proof(id=SHORT_ID, amount=8, secret="s", C=A_POINT, dleq=ProofDleq("01", "02", "03"), witness="{}")
    assert Proof.from_dict(proof.to_dict()) == proof
