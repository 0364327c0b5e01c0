"""BIP-340 schnorr and NIP-19 bech32 against the published vectors."""

import csv
from pathlib import Path

import pytest
from coincurve import PrivateKey

from app import bech32
from app.nostr.event import verify_schnorr

# The official rows of bitcoin/bips bip-0340/test-vectors.csv (final BIP-340, with the variable-length rows 15-18).
VECTORS = Path(__file__).with_name("bip340_vectors.csv")
with VECTORS.open(newline="") as _handle:
    ROWS = [list(row.values()) for row in csv.DictReader(_handle)]


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_bip340_verification_matches_every_row(row: list[str]) -> None:
    _, _, pubkey, _, message, signature, expected, _ = row
    assert verify_schnorr(bytes.fromhex(pubkey), bytes.fromhex(message), bytes.fromhex(signature)) is (
        expected == "TRUE"
    )


# coincurve signs 32-byte digests only (secp256k1_schnorrsig_sign32), which is all Nostr needs: rows 0-3.
SIGNABLE = [row for row in ROWS if row[1] and len(row[4]) == 64]


@pytest.mark.parametrize("row", SIGNABLE, ids=[row[0] for row in SIGNABLE])
def test_bip340_signing_reproduces_rows_with_a_secret_key(row: list[str]) -> None:
    _, secret, pubkey, aux, message, signature, _, _ = row
    key = PrivateKey(bytes.fromhex(secret))
    assert key.public_key_xonly.format().hex().upper() == pubkey
    assert key.sign_schnorr(bytes.fromhex(message), bytes.fromhex(aux)).hex().upper() == signature


NIP19 = [
    ("npub", "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e",
     "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg"),
    ("nsec", "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa",
     "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"),
    ("npub", "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
     "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6"),
]  # fmt: skip


@pytest.mark.parametrize(("hrp", "hex_key", "encoded"), NIP19)
def test_nip19_round_trips_the_published_examples(hrp: str, hex_key: str, encoded: str) -> None:
    assert bech32.encode(hrp, bytes.fromhex(hex_key)) == encoded
    assert bech32.decode(encoded) == (hrp, bytes.fromhex(hex_key))
    assert bech32.decode(encoded.upper()) == (hrp, bytes.fromhex(hex_key))


@pytest.mark.parametrize(
    "bad",
    [
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptq",  # checksum
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjpTg",  # mixed case
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjpb",  # 'b' outside the alphabet
        "npub1",
    ],
)
def test_bech32_rejects_corrupted_strings(bad: str) -> None:
    with pytest.raises(bech32.Bech32Error):
        bech32.decode(bad)


def test_bech32m_checksum_is_not_accepted() -> None:
    # BIP-350's valid bech32m vector "a1lqfn3a" must fail under bech32 (not-m), which NIP-19 requires.
    with pytest.raises(bech32.Bech32Error):
        bech32.decode("a1lqfn3a")


def test_every_official_row_is_loaded() -> None:
    assert [row[0] for row in ROWS] == [str(i) for i in range(19)]
    assert len(SIGNABLE) == 4
