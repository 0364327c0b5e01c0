import pytest

from app.cashu.errors import KeysetUnknown
from app.cashu.keysets import KeysetInfo, choose_output_keyset, expand_keyset_id, input_fee, split_amount
from app.cashu.tokens import Proof
from app.cashu.wallet import select_proofs

C = "02" + "11" * 32
FULL_A = "01" + "aa" * 32
FULL_B = "01" + "ab" * 32


@pytest.mark.parametrize(
    ("amount", "parts"), [(0, []), (1, [1]), (21, [1, 4, 16]), (64, [64]), (255, [1, 2, 4, 8, 16, 32, 64, 128])]
)
def test_split_amount_into_powers_of_two(amount: int, parts: list[int]) -> None:
    assert split_amount(amount) == parts


def test_input_fee_is_ceiling_of_summed_ppk() -> None:
    proofs = [Proof(id="k", amount=a, secret=str(a), C=C) for a in (1, 4, 16)]
    assert input_fee(proofs, {"k": 100}) == 1  # 300 ppk rounds up to 1
    assert input_fee(proofs * 4, {"k": 100}) == 2  # 1200 ppk
    assert input_fee(proofs, {"k": 0}) == 0


def test_short_keyset_id_expands_by_unique_prefix() -> None:
    assert expand_keyset_id(FULL_A[:16], [FULL_A, FULL_B]) == FULL_A
    assert expand_keyset_id(FULL_B, [FULL_A, FULL_B]) == FULL_B


@pytest.mark.parametrize("keyset_id", ["01" + "cc" * 7, "01a"])
def test_unknown_or_ambiguous_keyset_id_is_refused(keyset_id: str) -> None:
    with pytest.raises(KeysetUnknown):
        expand_keyset_id(keyset_id, [FULL_A, FULL_B])


def test_output_keyset_is_the_cheapest_active_one_of_the_unit() -> None:
    keysets = [
        KeysetInfo(id="a", unit="sat", active=True, input_fee_ppk=100),
        KeysetInfo(id="b", unit="sat", active=True, input_fee_ppk=0),
        KeysetInfo(id="c", unit="sat", active=False, input_fee_ppk=0),
        KeysetInfo(id="d", unit="usd", active=True, input_fee_ppk=0),
    ]
    assert choose_output_keyset(keysets).id == "b"
    with pytest.raises(KeysetUnknown):
        choose_output_keyset(keysets, unit="eur")


def test_select_proofs_covers_amount_and_its_own_fee() -> None:
    proofs = [Proof(id="k", amount=a, secret=str(a), C=C) for a in (1, 2, 4, 8, 16)]

    assert [p.amount for p in select_proofs(proofs, 16, {"k": 0})] == [16]
    assert [p.amount for p in select_proofs(proofs, 16, {"k": 100})] == [16, 8]
    with pytest.raises(ValueError):
        select_proofs(proofs, 31, {"k": 100})
