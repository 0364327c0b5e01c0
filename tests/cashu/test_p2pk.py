"""NUT-11 P2PK as the node reads it: which locks its key accepts, and witnesses a BIP-340 verifier accepts (the mint's
own check runs in tests/dvm/test_nutzaps.py)."""

import hashlib
import json

import pytest
from coincurve import PublicKeyXOnly

from app.cashu.p2pk import NotLockedToKey, P2pkKey
from app.cashu.tokens import Proof

SEED = bytes(range(32))
KEY = P2pkKey.derived_from(SEED, "routstr-node/nip61-p2pk")


def proof(secret: str) -> Proof:
    return Proof(id="00" * 8, amount=1, secret=secret, C="02" + "11" * 32)


def p2pk(data: str, *tags: list[str]) -> str:
    return json.dumps(["P2PK", {"nonce": "ab" * 16, "data": data, "tags": list(tags)}])


def test_the_key_is_a_function_of_seed_and_label_only() -> None:
    assert KEY.pubkey == P2pkKey.derived_from(SEED, "routstr-node/nip61-p2pk").pubkey
    assert KEY.pubkey != P2pkKey.derived_from(SEED, "another label").pubkey
    assert KEY.pubkey.startswith("02") and len(KEY.pubkey) == 66


@pytest.mark.parametrize(
    "tags",
    [
        [],
        [["sigflag", "SIG_INPUTS"]],
        [["sigflag", "SIG_INPUTS"], ["n_sigs", "1"]],
        [["locktime", "1700000000"], ["refund", "02" + "22" * 32]],  # more ways for the sender, none for a thief
    ],
)
def test_a_lock_to_the_key_is_signed_over_the_sha256_of_its_secret(tags: list[list[str]]) -> None:
    secret = p2pk(KEY.pubkey, *tags)
    (signed,) = KEY.signed([proof(secret)])
    signature = bytes.fromhex(json.loads(signed.witness or "")["signatures"][0])
    digest = hashlib.sha256(secret.encode()).digest()
    assert PublicKeyXOnly(bytes.fromhex(KEY.pubkey[2:])).verify(signature, digest)


@pytest.mark.parametrize(
    "secret",
    [
        "a plain secret anyone holding the proof can spend",
        p2pk("02" + "33" * 32),  # someone else's key
        p2pk(KEY.pubkey, ["sigflag", "SIG_ALL"]),
        p2pk(KEY.pubkey, ["n_sigs", "2"], ["pubkeys", "02" + "44" * 32]),
        p2pk(KEY.pubkey, ["unknown", "condition"]),
        json.dumps(["HTLC", {"nonce": "ab", "data": KEY.pubkey}]),
    ],
)
def test_anything_else_is_not_locked_to_the_key(secret: str) -> None:
    with pytest.raises(NotLockedToKey):
        KEY.signed([proof(secret)])
