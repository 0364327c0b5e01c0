"""NUT-00 and NUT-12 test vectors (cashubtc/nuts tests/00-tests.md and tests/12-tests.md)."""

import pytest

from app.cashu.crypto import (
    blind,
    hash_e,
    hash_to_curve,
    mul,
    parse_point,
    point_hex,
    random_scalar,
    unblind,
    verify_blind_signature_dleq,
    verify_proof_dleq,
)

G_HEX = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
B_VECTOR = "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2"


@pytest.mark.parametrize(
    ("message", "point"),
    [
        ("00" * 32, "024cce997d3b518f739663b757deaec95bcd9473c30a14ac2fd04023a739d1a725"),
        ("00" * 31 + "01", "022e7158e11c9506f1aa4248bf531298daa7febd6194f003edcd9b93ade6253acf"),
        ("00" * 31 + "02", "026cdbe15362df59cd1dd3c9c11de8aedac2106eca69236ecd9fbe117af897be4f"),
    ],
)
def test_hash_to_curve_matches_spec(message: str, point: str) -> None:
    assert point_hex(hash_to_curve(bytes.fromhex(message))) == point


@pytest.mark.parametrize(
    ("secret", "r", "blinded"),
    [
        (
            "d341ee4871f1f889041e63cf0d3823c713eea6aff01e80f1719f08f9e5be98f6",
            "99fce58439fc37412ab3468b73db0569322588f62fb3a49182d67e23d877824a",
            "033b1a9737a40cc3fd9b6af4b723632b76a67a36782596304612a6c2bfb5197e6d",
        ),
        (
            "f1aaf16c2239746f369572c0784d9dd3d032d952c2d992175873fb58fae31a60",
            "f78476ea7cc9ade20f9e05e58a804cf19533f03ea805ece5fee88c8e2874ba50",
            "029bdf2d716ee366eddf599ba252786c1033f47e230248a4612a5670ab931f1763",
        ),
    ],
)
def test_blind_matches_spec(secret: str, r: str, blinded: str) -> None:
    assert point_hex(blind(bytes.fromhex(secret), bytes.fromhex(r))) == blinded


@pytest.mark.parametrize(
    ("mint_key", "signature"),
    [
        ("00" * 31 + "01", B_VECTOR),
        ("7f" * 32, "0398bc70ce8184d27ba89834d19f5199c84443c31131e48d3c1214db24247d005d"),
    ],
)
def test_blinded_signature_matches_spec(mint_key: str, signature: str) -> None:
    assert point_hex(mul(parse_point(B_VECTOR), bytes.fromhex(mint_key))) == signature


def test_unblinding_a_mint_signature_gives_k_times_y() -> None:
    k = bytes.fromhex("7f" * 32)
    mint_key = mul(parse_point(G_HEX), k)
    secret, r = b"a secret", random_scalar()
    blinded_signature = mul(blind(secret, r), k)

    assert unblind(blinded_signature, r, mint_key) == mul(hash_to_curve(secret), k)


def test_hash_e_matches_spec() -> None:
    one = parse_point("02" + "00" * 31 + "01")
    assert hash_e(one, one, one, parse_point(B_VECTOR)).hex() == (
        "a4dc034b74338c28c6bc3ea49731f2a24440fc7c4affc08b31a93fc9fbe6401e"
    )


BLIND_DLEQ_E = "9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73d9"
BLIND_DLEQ_S = "9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73da"


def test_blind_signature_dleq_from_spec_verifies() -> None:
    a, b = parse_point(G_HEX), parse_point(B_VECTOR)
    assert verify_blind_signature_dleq(a, b, b, bytes.fromhex(BLIND_DLEQ_E), bytes.fromhex(BLIND_DLEQ_S))


def test_blind_signature_dleq_with_a_changed_s_fails() -> None:
    a, b = parse_point(G_HEX), parse_point(B_VECTOR)
    assert not verify_blind_signature_dleq(a, b, b, bytes.fromhex(BLIND_DLEQ_E), bytes.fromhex(BLIND_DLEQ_E))


PROOF_SECRET = b"daf4dd00a2b68a0858a80450f52c8a7d2ccf87d375e43e216e0c571f089f63e9"
PROOF_C = "024369d2d22a80ecf78f3937da9d5f30c1b9f74f0c32684d583cca0fa6a61cdcfc"
PROOF_E = "b31e58ac6527f34975ffab13e70a48b6d2b0d35abc4b03f0151f09ee1a9763d4"
PROOF_S = "8fbae004c59e754d71df67e392b6ae4e29293113ddc2ec86592a0431d16306d8"
PROOF_R = "a6d13fcd7a18442e6076f5e1e7c887ad5de40a019824bdfa9fe740d302e8d861"


def test_proof_dleq_from_spec_verifies() -> None:
    args = (bytes.fromhex(PROOF_E), bytes.fromhex(PROOF_S), bytes.fromhex(PROOF_R))
    assert verify_proof_dleq(parse_point(G_HEX), PROOF_SECRET, parse_point(PROOF_C), *args)


def test_proof_dleq_for_another_secret_fails() -> None:
    args = (bytes.fromhex(PROOF_E), bytes.fromhex(PROOF_S), bytes.fromhex(PROOF_R))
    assert not verify_proof_dleq(parse_point(G_HEX), b"another secret", parse_point(PROOF_C), *args)
