"""A token fuzzer against a running node, on both databases: random and structured mutations of real tokens (from
the 0 and 100 ppk mints) sent through all four entry points, some of them still redeemable.

What must hold: no 5xx ever; no credit unless the mint really redeemed the token (the journal's credited input Ys
are exactly the seed proofs the mint reports SPENT, and the ledger's deposits are exactly what those swaps gave);
nothing left planned; memory flat once warm. The run is bounded in time; it prints what it did."""

import asyncio
import base64
import gc
import json
import random
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
import httpx

from app.cashu.client import MintClient
from app.cashu.messages import ProofState
from app.cashu.outputs import proof_y
from app.cashu.tokens import Proof, Token, decode_token, encode_token_v3, encode_token_v4, short_keyset_id
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode, create_key
from tests.hostile.test_tokens import ENTRY_POINTS, journal, request_for
from tests.payments.helpers import books

FUZZ_SECONDS = 25.0
WARM_UP_CASES = 80  # memory is measured from here on: pools, caches and lazy imports are filled by then
CONCURRENCY = 4
MAX_HEADER_TOKEN = 8_000  # longer tokens go in a body: a server may cut a huge header before the node sees it
MEMORY_GROWTH_LIMIT = 4 * 1024 * 1024
SEEDS = {0: [(1, 1), (5, 2), (21, 3), (64, 4), (100, 6), (13, 3)], 100: [(21, 3), (64, 5), (9, 2), (40, 4)]}

Doc = dict[str, Any]
HOSTILE_VALUES: list[Any] = [None, True, 0, -1, 1.5, "", "x" * 3000, [], {}, 2**64, 2**12000 - 1, float("nan")]


@dataclass
class Seed:
    token: Token
    other_mint: str


@dataclass
class Run:
    statuses: Counter[int] = field(default_factory=Counter)
    by_mutation: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    cases: int = 0
    memory_growth: int = 0
    warm_rss_kib: int = 0
    end_rss_kib: int = 0


def test_fuzzed_tokens_never_5xx_never_credit_unredeemed_ecash_and_keep_memory_flat(
    node_factory: NodeFactory, mint: RunningMint, mint_fee: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url, mint_fee.url])
    key = create_key(node, 1_000_000)
    seeds = asyncio.run(_mint_seeds(mint, mint_fee))

    run = asyncio.run(_fuzz(node, key, seeds, random.Random(20261201)))

    print(f"\nfuzz: {run.cases} cases in {FUZZ_SECONDS:.0f} s, statuses {dict(run.statuses)}, "
          f"memory growth after warm-up {run.memory_growth / 1024:.0f} KiB (tracemalloc), "
          f"RSS {run.warm_rss_kib} -> {run.end_rss_kib} KiB, mutations {dict(run.by_mutation)}")  # fmt: skip
    assert run.server_errors == []
    assert run.cases >= 200
    assert run.memory_growth < MEMORY_GROWTH_LIMIT
    _assert_credit_only_for_redeemed(node, seeds)


async def _mint_seeds(mint: RunningMint, mint_fee: RunningMint) -> list[Seed]:
    seeds = []
    for running, other in ((mint, mint_fee), (mint_fee, mint)):
        for amount, proofs in SEEDS[running.fee_ppk]:
            seeds.append(Seed(decode_token(await running.make_token(amount, proofs=proofs)), other.url))
    return seeds


async def _fuzz(node: RunningNode, key: str, seeds: list[Seed], rng: random.Random) -> Run:
    run = Run()
    deadline = time.monotonic() + FUZZ_SECONDS
    async with httpx.AsyncClient(timeout=60) as http:

        async def worker() -> None:
            while time.monotonic() < deadline:
                await _one_case(http, node, key, seeds, rng, run)
                if run.cases == WARM_UP_CASES:
                    _start_measuring(run)

        try:
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            gc.collect()
            run.memory_growth = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    run.end_rss_kib = _rss_kib()
    return run


def _start_measuring(run: Run) -> None:
    gc.collect()
    run.warm_rss_kib = _rss_kib()
    tracemalloc.start()


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def _one_case(
    http: httpx.AsyncClient, node: RunningNode, key: str, seeds: list[Seed], rng: random.Random, run: Run
) -> None:
    seed = rng.choice(seeds)
    name, text = _mutant(rng, seed, seeds)
    entry = rng.choice(ENTRY_POINTS)
    if entry in ("bearer", "x-cashu") and not _fits_a_header(text):
        entry = rng.choice(("create", "topup"))
    try:
        response = await http.post(**request_for(node, entry, text, key))
    except httpx.TransportError as broken:  # the node dropped the connection, or never answered
        run.cases += 1
        run.server_errors.append(f"{name} via {entry}: {type(broken).__name__} {text[:300]}")
        return
    run.cases += 1
    run.statuses[response.status_code] += 1
    run.by_mutation[name] += 1
    if response.status_code >= 500:
        run.server_errors.append(f"{name} via {entry}: {response.status_code} {response.text[:200]} {text[:300]}")


def _fits_a_header(text: str) -> bool:
    """HTTP can carry it as a header value at all (no control characters, no surrounding space, not huge)."""
    return len(text) <= MAX_HEADER_TOKEN and text == text.strip(" \t") and all(" " <= ch != "\x7f" for ch in text)


def _mutant(rng: random.Random, seed: Seed, seeds: list[Seed]) -> tuple[str, str]:
    """A named mutation of a seed token: on the token's structure, on its encoded bytes, or on its text."""
    kind = rng.random()
    if kind < 0.6:
        mutation = rng.choice(STRUCTURAL)
        v4 = rng.random() < 0.5
        doc = _v4_doc(seed.token) if v4 else _v3_doc(seed.token)
        mutation(rng, doc, v4, seed, seeds)
        return mutation.__name__, _encoded(doc, v4)
    if kind < 0.85:
        return "bytes", _byte_mutant(rng, rng.choice((encode_token_v3, encode_token_v4))(seed.token))
    return "text", _text_mutant(rng, rng.choice((encode_token_v3, encode_token_v4))(seed.token))


# --- documents: the token as the plain data its encoding carries ---


def _v3_doc(token: Token) -> Doc:
    return {"token": [{"mint": token.mint, "proofs": [p.to_dict() for p in token.proofs]}], "unit": token.unit}


def _v4_doc(token: Token) -> Doc:
    groups: dict[str, list[Proof]] = {}
    for proof in token.proofs:
        groups.setdefault(short_keyset_id(proof.id), []).append(proof)
    return {"m": token.mint, "u": token.unit, "t": [
        {"i": bytes.fromhex(kid), "p": [{"a": p.amount, "s": p.secret, "c": bytes.fromhex(p.C),
                                         "d": {k: bytes.fromhex(v) for k, v in p.dleq.to_dict().items()}}
                                        if p.dleq else {"a": p.amount, "s": p.secret, "c": bytes.fromhex(p.C)}
                                        for p in ps]}
        for kid, ps in groups.items()]}  # fmt: skip


def _encoded(doc: Doc, v4: bool) -> str:
    if v4:
        return "cashuB" + _b64(cbor2.dumps(doc))
    return "cashuA" + _b64(json.dumps(doc, default=_json_default).encode())


def _json_default(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else str(value)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _proofs(doc: Doc, v4: bool) -> list[Doc]:
    proofs: list[Doc] = doc["t"][0]["p"] if v4 else doc["token"][0]["proofs"]
    return proofs


def _field(v4: bool, name: str) -> str:
    return {"amount": "a", "secret": "s", "C": "c", "dleq": "d", "witness": "w"}[name] if v4 else name


# --- structural mutations: each changes one thing a hostile sender controls ---


def amount(rng: random.Random, doc: Doc, v4: bool, *_: Any) -> None:
    proof = rng.choice(_proofs(doc, v4))
    current = proof[_field(v4, "amount")]
    proof[_field(v4, "amount")] = rng.choice(
        [3, 2**63, 2**20, 2 ** bits_of(rng) - 1, current * 2, max(current // 2, 1), *HOSTILE_VALUES]
    )


def bits_of(rng: random.Random) -> int:
    return rng.choice((65, 200, 1000, 12000))


def secret(rng: random.Random, doc: Doc, v4: bool, *_: Any) -> None:
    proof = rng.choice(_proofs(doc, v4))
    values = [proof[_field(v4, "secret")] + "a", rng.randbytes(32).hex(), "\x00" * 10, "é" * 600, *HOSTILE_VALUES]
    if not v4:
        values.append("\ud800")  # JSON can carry a lone surrogate; CBOR cannot
    proof[_field(v4, "secret")] = rng.choice(values)


def signature(rng: random.Random, doc: Doc, v4: bool, *_: Any) -> None:
    proof = rng.choice(_proofs(doc, v4))
    raw = bytearray(proof["c"] if v4 else bytes.fromhex(proof["C"]))
    raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    choice: Any = rng.choice([bytes(raw), b"\x04" + bytes(raw[1:]), bytes(raw[:32]), "zz" * 33, *HOSTILE_VALUES])
    proof[_field(v4, "C")] = choice.hex() if isinstance(choice, bytes) and not v4 else choice


def keyset(rng: random.Random, doc: Doc, v4: bool, *_: Any) -> None:
    values: list[Any] = [rng.randbytes(8), rng.randbytes(33), b"\x00", b"", b"\x01" + rng.randbytes(7)]
    if v4:
        doc["t"][0]["i"] = rng.choice([*values, "00ad268c4d1f5826", *HOSTILE_VALUES])
    else:
        pick = rng.choice([*values, "0", "zz" * 8, *HOSTILE_VALUES])
        rng.choice(_proofs(doc, v4))["id"] = pick.hex() if isinstance(pick, bytes) else pick


def dleq_or_witness(rng: random.Random, doc: Doc, v4: bool, *_: Any) -> None:
    proof = rng.choice(_proofs(doc, v4))
    name = _field(v4, rng.choice(("dleq", "witness")))
    proof[name] = rng.choice(
        [{"e": "zz", "s": 1}, {"e": b"", "s": b"", "r": b""}, '{"signatures":[]}', *HOSTILE_VALUES]
    )


def proof_count(rng: random.Random, doc: Doc, v4: bool, *_: Any) -> None:
    proofs = _proofs(doc, v4)
    how = rng.randrange(4)
    if how == 0 and len(proofs) > 1:
        del proofs[rng.randrange(len(proofs))]  # a real subset: redeemable
    elif how == 1:
        proofs.append(dict(rng.choice(proofs)))  # the same input twice
    elif how == 2:
        proofs.extend(dict(rng.choice(proofs)) for _ in range(rng.choice((100, 300))))
    else:
        proofs.clear()


def mix_tokens(rng: random.Random, doc: Doc, v4: bool, seed: Seed, seeds: list[Seed]) -> None:
    other = rng.choice(seeds).token  # same mint: a redeemable merge; another mint: keysets it does not know
    extra = _v4_doc(other) if v4 else _v3_doc(other)
    _proofs(doc, v4).extend(_proofs(extra, v4))


def mint_url(rng: random.Random, doc: Doc, v4: bool, seed: Seed, *_: Any) -> None:
    url = seed.token.mint
    values = [url.upper(), url + "/", seed.other_mint, "http://[::1", "http://[::1]:99999", "http://", "https://evil.example",
              url + "/v1/../", "ftp://" + url[7:], "http://" + "a" * 5000, *HOSTILE_VALUES]  # fmt: skip
    if v4:
        doc["m"] = rng.choice(values)
    else:
        doc["token"][0]["mint"] = rng.choice(values)


def unit_or_memo(rng: random.Random, doc: Doc, v4: bool, *_: Any) -> None:
    name = rng.choice(("u", "d")) if v4 else rng.choice(("unit", "memo"))
    doc[name] = rng.choice(["msat", "usd", "SAT", "x" * 20000, *HOSTILE_VALUES])


def shape(rng: random.Random, doc: Doc, v4: bool, *_: Any) -> None:
    """Containers of the wrong kind, missing, extra or nested where a token has none."""
    top = "t" if v4 else "token"
    how = rng.randrange(6)
    if how == 0:
        doc[top] = rng.choice(HOSTILE_VALUES)
    elif how == 1:
        doc[top] = [doc[top]]
    elif how == 2:
        del doc[top]
    elif how == 3:
        doc["extra"] = {"nested": [[[[1]]]]}  # unknown keys are ignored: still redeemable
    elif how == 4:
        nested: Any = 1
        for _depth in range(rng.choice((20, 300))):  # deeper than the encoders go: see _text_mutant
            nested = [nested]
        doc[top] = nested
    else:
        doc[top].append(rng.choice(HOSTILE_VALUES))


def reencoded(rng: random.Random, doc: Doc, v4: bool, seed: Seed, *_: Any) -> None:
    """The seed itself, in either format: redeemable once."""


STRUCTURAL: list[Callable[..., None]] = [
    amount, secret, signature, keyset, dleq_or_witness, proof_count, mix_tokens, mint_url, unit_or_memo, shape,
    reencoded,
]  # fmt: skip


# --- byte and text mutations ---


def _byte_mutant(rng: random.Random, token: str) -> str:
    prefix, body = token[:6], token[6:]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(raw))
        how = rng.randrange(5)
        if how == 0:
            raw[at] = rng.randrange(256)
        elif how == 1:
            del raw[at]
        elif how == 2:
            raw[at:at] = rng.randbytes(rng.randint(1, 9))
        elif how == 3:
            raw[at:at] = bytes([rng.choice((0xD8, 0xC2, 0x9F, 0xBF, 0x5B, 0x1B, 0xFB, 0xF7))]) + rng.randbytes(8)
        else:
            del raw[at:]
            break
    return prefix + _b64(bytes(raw))


def _text_mutant(rng: random.Random, token: str) -> str:
    how = rng.randrange(8)
    if how == 7:
        depth = rng.choice((1_000, 5_000))
        return rng.choice(("cashuA" + _b64(b"[" * depth + b"]" * depth), "cashuB" + _b64(b"\x81" * depth + b"\x01")))
    if how == 0:
        return ("cashuA" if token.startswith("cashuB") else "cashuB") + token[6:]  # the other format's prefix
    if how == 1:
        return rng.choice(("cashu:", "CASHU:", " \t", "cashu:cashu:")) + token + rng.choice(("", "\n", "==", "=="))
    if how == 2:
        at = rng.randrange(6, len(token))
        return token[:at] + rng.choice(("!", "é", "\x00", " ", "+", "/", "=", "\u202e")) + token[at:]
    if how == 3:
        return token[: rng.randrange(len(token))]
    if how == 4:
        return token + token[6:] * rng.choice((2, 40))
    if how == 5:
        return rng.choice(("cashuC", "cashua", "cashu", "CASHUB")) + token[6:]
    return token.swapcase()


# --- the books against the mint ---


def _assert_credit_only_for_redeemed(node: RunningNode, seeds: list[Seed]) -> None:
    report = books(node)  # asserts the ledger's own invariant too
    deposits = [op for op in journal(node) if op["kind"] == "deposit"]
    completed = [json.loads(op["plan"]) for op in deposits if op["state"] == "completed"]
    credited_ys = [y for plan in completed for y in plan["input_ys"]]
    spent = _spent_seed_proofs(seeds)

    assert report.open_operations == 0 and report.reconciles
    assert sorted(credited_ys) == sorted(spent)  # each redeemed proof credited once; nothing else credited
    assert report.deposited_msat == 1000 * sum(plan["output_amount"] for plan in completed)
    assert sum(plan["output_amount"] + plan["fee"] for plan in completed) == sum(spent.values())


def _spent_seed_proofs(seeds: list[Seed]) -> dict[str, int]:
    """Y -> amount of every seed proof the mint reports SPENT (NUT-07)."""

    async def check() -> dict[str, int]:
        spent: dict[str, int] = {}
        async with httpx.AsyncClient() as http:
            for seed in seeds:
                ys = [proof_y(p) for p in seed.token.proofs]
                states = await MintClient(http, seed.token.mint).checkstate(ys)
                assert ProofState.PENDING not in {s.state for s in states}
                amounts = dict(zip(ys, (p.amount for p in seed.token.proofs), strict=True))
                spent |= {s.Y: amounts[s.Y] for s in states if s.state is ProofState.SPENT}
        return spent

    return asyncio.run(check())
