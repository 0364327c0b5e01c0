import pytest

from app.cashu.errors import (
    InvalidToken,
    MintUnreachable,
    SwapFeesExceedAmount,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
    TokenZeroValue,
    UntrustedMint,
)
from app.errors import NodeError


@pytest.mark.parametrize(
    ("error", "status", "code", "kind"),
    [
        (TokenAlreadySpent, 400, "cashu_token_already_spent", "invalid_request_error"),
        (InvalidToken, 400, "invalid_cashu_token", "invalid_request_error"),
        (TokenZeroValue, 400, "cashu_token_zero_value", "invalid_request_error"),
        (UntrustedMint, 400, "cashu_untrusted_mint", "invalid_request_error"),
        (SwapFeesExceedAmount, 422, "cashu_token_swap_fees_exceed_amount", "invalid_request_error"),
        (MintUnreachable, 503, "cashu_mint_unreachable", "server_error"),
        (SwapOutcomeUnknown, 503, "cashu_mint_unreachable", "server_error"),
    ],
)
def test_cashu_errors_carry_routstr_codes(error: type[NodeError], status: int, code: str, kind: str) -> None:
    raised = error()
    assert (raised.status, raised.code, raised.type) == (status, code, kind)
    assert raised.body()["error"]["code"] == code
