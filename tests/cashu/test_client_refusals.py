"""How MintClient reads a mint's answers, over httpx's MockTransport: a refusal the mint explains is definite (a
CashuError by its code), and only silence, transport errors and unexplained 5xx leave a swap's outcome unknown."""

from collections.abc import Callable

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.errors import (
    CashuError,
    InvalidToken,
    KeysetUnknown,
    MintRejected,
    MintUnreachable,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
    TransactionUnbalanced,
)
from app.cashu.tokens import Proof

MINT = "http://mint.test"
PROOF = Proof(id="009a1f293253e41e", amount=1, secret="s", C="02" + "11" * 32)

Handler = Callable[[httpx.Request], httpx.Response]


def _answering(status: int, *, json: object = None, text: str = "") -> Handler:
    def handle(_: httpx.Request) -> httpx.Response:
        if json is not None:
            return httpx.Response(status, json=json)
        return httpx.Response(status, text=text)

    return handle


def _raising(error: type[httpx.TransportError]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error("staged", request=request)

    return handle


async def _swap(handler: Handler) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await MintClient(http, MINT).swap([PROOF], [])


async def _checkstate(handler: Handler) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await MintClient(http, MINT).checkstate(["02" + "22" * 32])


@pytest.mark.parametrize(
    ("status", "body", "error", "mint_code"),
    [
        (400, {"detail": "Token already spent.", "code": 11001}, TokenAlreadySpent, None),
        (400, {"detail": "proofs could not be verified", "code": 10001}, InvalidToken, None),
        (400, {"detail": "unbalanced", "code": 11005}, TransactionUnbalanced, 11005),
        (400, {"detail": "witness data not allowed", "code": 11000}, MintRejected, 11000),
        (400, {"detail": "keyset unknown", "code": 12001}, KeysetUnknown, 12001),
        (400, {"detail": "something else", "code": 0}, MintRejected, 0),
        (400, {"detail": "a code the node does not know", "code": 99999}, MintRejected, 99999),
        (422, {"detail": [{"loc": ["body", "outputs"], "msg": "too long", "type": "too_long"}]}, MintRejected, 0),
        (404, {"detail": "Not Found"}, MintRejected, 0),
        (500, {"detail": "Token already spent.", "code": 11001}, TokenAlreadySpent, None),
    ],
)
async def test_a_refusal_the_mint_explains_is_definite(
    status: int, body: dict[str, object], error: type[CashuError], mint_code: int | None
) -> None:
    with pytest.raises(error) as raised:
        await _swap(_answering(status, json=body))

    assert not isinstance(raised.value, SwapOutcomeUnknown | MintUnreachable)
    if mint_code is not None:
        assert isinstance(raised.value, MintRejected) and raised.value.mint_code == mint_code


async def test_errors_are_told_apart_by_code_not_by_their_words() -> None:
    same_words = "Token already spent."
    with pytest.raises(TokenAlreadySpent):
        await _swap(_answering(400, json={"detail": same_words, "code": 11001}))
    with pytest.raises(MintRejected) as other:
        await _swap(_answering(400, json={"detail": same_words, "code": 0}))
    assert not isinstance(other.value, TokenAlreadySpent)


@pytest.mark.parametrize(
    "handler",
    [
        _answering(500, text="Internal Server Error"),
        _answering(502, json={"detail": "bad gateway"}),
        _answering(503, json={}),
        _answering(200, text="<html>not json</html>"),
        _answering(200, json=[]),
        _answering(500, json={"detail": "x", "code": True}),  # a bool is not a code
        _raising(httpx.ReadTimeout),
        _raising(httpx.RemoteProtocolError),
    ],
    ids=["500-text", "502-no-code", "503-empty", "200-html", "200-list", "bool-code", "read-timeout", "cut"],
)
async def test_silence_and_unexplained_server_errors_leave_a_swap_unknown(handler: Handler) -> None:
    with pytest.raises(SwapOutcomeUnknown):
        await _swap(handler)


@pytest.mark.parametrize(
    "handler",
    [_answering(429, text="slow down"), _answering(413, text=""), _raising(httpx.ConnectError)],
    ids=["429", "413", "connect"],
)
async def test_a_request_refused_before_any_work_is_unreachable_not_unknown(handler: Handler) -> None:
    with pytest.raises(MintUnreachable) as raised:
        await _swap(handler)

    assert not isinstance(raised.value, SwapOutcomeUnknown)


async def test_read_only_calls_are_unreachable_or_refused_never_unknown() -> None:
    with pytest.raises(MintUnreachable) as unreachable:
        await _checkstate(_answering(500, text="oops"))
    with pytest.raises(MintRejected):
        await _checkstate(_answering(422, json={"detail": [{"msg": "bad Y"}]}))

    assert not isinstance(unreachable.value, SwapOutcomeUnknown)


async def test_a_hostile_answer_is_a_clean_error() -> None:
    nested = "[" * 100_000 + "]" * 100_000
    with pytest.raises(SwapOutcomeUnknown):
        await _swap(_answering(200, text=nested))
    with pytest.raises(MintRejected) as long_detail:
        await _swap(_answering(400, json={"detail": "x" * 100_000, "code": 0}))

    assert len(long_detail.value.message) < 1000
