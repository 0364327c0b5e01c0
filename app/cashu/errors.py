"""Cashu errors as the node reports them. Codes and statuses match Routstr's, whose clients parse them."""

from typing import Any

from app.errors import NodeError


class CashuError(NodeError):
    status = 400
    type = "invalid_request_error"
    code = "cashu_error"
    default_message = "cashu error"


class TokenAlreadySpent(CashuError):
    code = "cashu_token_already_spent"
    default_message = "the cashu token has already been spent"


class ProofsPending(CashuError):
    """Code 11002: the inputs are pending at the mint (another request with them is being processed). Not a
    refusal: settle with NUT-07/NUT-09 once it is over."""

    status = 503
    type = "server_error"
    code = "cashu_proofs_pending"
    default_message = "the token is being processed by the mint; try again shortly"


class InvalidToken(CashuError):
    code = "invalid_cashu_token"
    default_message = "invalid cashu token"


class TokenZeroValue(CashuError):
    code = "cashu_token_zero_value"
    default_message = "the cashu token has no value"


class UntrustedMint(CashuError):
    code = "cashu_untrusted_mint"
    default_message = "the cashu token comes from a mint this node does not accept"


class SwapFeesExceedAmount(CashuError):
    status = 422
    code = "cashu_token_swap_fees_exceed_amount"
    default_message = "the mint's swap fees exceed the token's value"


class MintUnreachable(NodeError):
    status = 503
    type = "server_error"
    code = "cashu_mint_unreachable"
    default_message = "the cashu mint is unreachable"


class SwapOutcomeUnknown(MintUnreachable):
    """The swap request was sent but no answer came back: the mint may or may not have spent the inputs.

    Settle it with NUT-07 checkstate on the inputs (SPENT -> restore the outputs with NUT-09; UNSPENT -> retry).
    """

    default_message = "the cashu mint did not answer the swap; its outcome is being settled"


class MintRejected(CashuError):
    """The mint refused a request with a code the node has no specific meaning for."""

    code = "cashu_mint_error"
    default_message = "the cashu mint rejected the request"

    def __init__(self, message: str | None = None, *, mint_code: int = 0, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.mint_code = mint_code


class TransactionUnbalanced(MintRejected):
    """Code 11000/11005: outputs do not match inputs minus fees (a stale fee or keyset in the node's plan).

    Nutshell also answers 11000 for other transaction errors (e.g. "mint quote already paid"); see the detail.
    """

    status = 500
    type = "server_error"
    default_message = "the cashu mint found the transaction unbalanced"


class KeysetUnknown(MintRejected):
    default_message = "the cashu mint does not know this keyset"


class BadMintSignature(MintRejected):
    """The mint's signature does not match its keys: it returned something the node cannot spend."""

    status = 502
    type = "server_error"
    default_message = "the cashu mint returned an invalid signature"
