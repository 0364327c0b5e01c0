"""Cashu errors. app.api.errors gives each the status, type and code Routstr's clients branch on."""

from typing import Any

from app.errors import NodeError


class CashuError(NodeError):
    default_message = "cashu error"


class TokenAlreadySpent(CashuError):
    default_message = "the cashu token has already been spent"


class ProofsPending(CashuError):
    """Code 11002: the inputs are pending at the mint (another request with them is being processed). Not a
    refusal: settle with NUT-07/NUT-09 once it is over."""

    default_message = "the token is being processed by the mint; try again shortly"


class InvalidToken(CashuError):
    default_message = "invalid cashu token"


class TokenZeroValue(CashuError):
    default_message = "the cashu token has no value"


class UntrustedMint(CashuError):
    default_message = "the cashu token comes from a mint this node does not accept"


class SwapFeesExceedAmount(CashuError):
    default_message = "the mint's swap fees exceed the token's value"


class MintUnreachable(NodeError):
    default_message = "the cashu mint is unreachable"


class SwapOutcomeUnknown(MintUnreachable):
    """The swap request was sent but no answer came back: the mint may or may not have spent the inputs.

    Settle it with NUT-07 checkstate on the inputs (SPENT -> restore the outputs with NUT-09; UNSPENT -> retry).
    """

    default_message = "the cashu mint did not answer the swap; its outcome is being settled"


class MintRejected(CashuError):
    """The mint refused a request with a code the node has no specific meaning for."""

    default_message = "the cashu mint rejected the request"

    def __init__(self, message: str | None = None, *, mint_code: int = 0, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.mint_code = mint_code


class TransactionUnbalanced(MintRejected):
    """Code 11005: outputs do not match inputs minus fees (a stale fee or keyset in the node's plan).

    Nutshell's generic transaction error, 11000, is a plain MintRejected: a token's sender can provoke it."""

    default_message = "the cashu mint found the transaction unbalanced"


class KeysetUnknown(MintRejected):
    default_message = "the cashu mint does not know this keyset"


class BadMintSignature(MintRejected):
    """The mint's signature does not match its keys: it returned something the node cannot spend."""

    default_message = "the cashu mint returned an invalid signature"
