"""Proofs and tokens: cashuA (V3, JSON) and cashuB (V4, CBOR) encoding, and mint URL normalisation (NUT-00)."""

import base64
import binascii
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cbor2

from app.cashu.errors import InvalidToken

PREFIX_V3 = "cashuA"
PREFIX_V4 = "cashuB"
# Far above any token a wallet sends (256 proofs with DLEQs are 74 KiB as cashuB); checked before decoding.
MAX_TOKEN_CHARS = 128 * 1024
_URI_SCHEME = "cashu:"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_POINT_HEX_LEN = 66
_POINT_PREFIXES = ("02", "03")
_KEYSET_ID_HEX_LENS = (16, 66)  # an 8-byte (v1 or short v2) or a full 33-byte v2 keyset id
_AMOUNT_CEILING = 2**64  # mints count in unsigned 64-bit integers
_MAX_NESTING = 8  # a cashuB token nests 6 deep: token, groups, group, proofs, proof, DLEQ
# Semantic tags cbor2 would decode (dates, bignums, regexes, MIME, shared references...): a cashuB token has none.
_CBOR_SEMANTIC_TAGS = (
    0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004, 43000, 55799,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProofDleq:
    """NUT-12 DLEQ carried with a proof (e, s and the blinding factor r, all hex)."""

    e: str
    s: str
    r: str

    def to_dict(self) -> dict[str, str]:
        return {"e": self.e, "s": self.s, "r": self.r}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ProofDleq":
        return cls(e=_hex_field(data, "e"), s=_hex_field(data, "s"), r=_hex_field(data, "r"))


@dataclass(frozen=True, slots=True)
class Proof:
    id: str
    amount: int
    secret: str
    C: str
    dleq: ProofDleq | None = None
    witness: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """V3 JSON shape; also what a wallet persists."""
        data: dict[str, Any] = {"amount": self.amount, "id": self.id, "secret": self.secret, "C": self.C}
        if self.dleq is not None:
            data["dleq"] = self.dleq.to_dict()
        if self.witness is not None:
            data["witness"] = self.witness
        return data

    def to_wire(self) -> dict[str, Any]:
        """The shape a mint takes as an input (no DLEQ: that is for receivers, not for the mint)."""
        data: dict[str, Any] = {"id": self.id, "amount": self.amount, "secret": self.secret, "C": self.C}
        if self.witness is not None:
            data["witness"] = self.witness
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Proof":
        dleq = data.get("dleq")
        witness = data.get("witness")
        return _checked_proof(
            Proof(
                id=_keyset_id(_hex_field(data, "id")),
                amount=data.get("amount"),  # type: ignore[arg-type]  # checked below
                secret=data.get("secret"),  # type: ignore[arg-type]
                C=_hex_field(data, "C"),
                dleq=ProofDleq.from_dict(dleq) if isinstance(dleq, Mapping) else None,
                witness=witness if isinstance(witness, str) else None,
            )
        )


@dataclass(frozen=True, slots=True)
class Token:
    mint: str
    proofs: tuple[Proof, ...]
    unit: str = "sat"
    memo: str | None = None

    @property
    def amount(self) -> int:
        return sum_amounts(self.proofs)

    @property
    def keyset_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(proof.id for proof in self.proofs))

    def with_proofs(self, proofs: Iterable[Proof]) -> "Token":
        return replace(self, proofs=tuple(proofs))


@dataclass(frozen=True, slots=True)
class TokenLimits:
    """The most one token may carry, checked while decoding: before the node stores or computes anything for it."""

    max_amount: int  # in the token's unit
    max_proofs: int


@dataclass(frozen=True, slots=True)
class _DecodedParts:
    mint: str
    proofs: list[Proof] = field(default_factory=list)


def sum_amounts(proofs: Iterable[Proof]) -> int:
    return sum(proof.amount for proof in proofs)


def normalize_mint_url(url: str) -> str:
    """A canonical form for comparing mint URLs: lower-case scheme and host, no default port, no trailing slash.

    Raises ValueError on text urlsplit cannot parse (`http://[::1`); token mints are checked when decoded."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def same_mint(left: str, right: str) -> bool:
    return normalize_mint_url(left) == normalize_mint_url(right)


def decode_token(text: str, limits: TokenLimits | None = None) -> Token:
    """Parse a cashuA or cashuB token (optionally as a `cashu:` URI) within `limits` (none: the node's own tokens).

    Raises InvalidToken, and nothing else, on any other text."""
    if len(text) > MAX_TOKEN_CHARS:
        raise InvalidToken(f"a cashu token is at most {MAX_TOKEN_CHARS} characters")
    text = text.strip()
    if text[: len(_URI_SCHEME)].lower() == _URI_SCHEME:
        text = text[len(_URI_SCHEME) :]
    if text.startswith(PREFIX_V3):
        token = _decode_v3(_b64decode(text[len(PREFIX_V3) :]))
    elif text.startswith(PREFIX_V4):
        token = _decode_v4(_b64decode(text[len(PREFIX_V4) :]))
    else:
        raise InvalidToken("a cashu token starts with cashuA or cashuB")
    if limits is not None:
        _check_limits(token, limits)
    return token


def _check_limits(token: Token, limits: TokenLimits) -> None:
    if len(token.proofs) > limits.max_proofs:
        raise InvalidToken(f"a token may carry at most {limits.max_proofs} proofs")
    if token.amount > limits.max_amount:
        raise InvalidToken(f"a token may be worth at most {limits.max_amount} {token.unit}")


def encode_token_v4(token: Token) -> str:
    """cashuB: CBOR, proofs grouped by keyset, v2 keyset ids shortened to 8 bytes as NUT-02 asks."""
    groups: dict[str, list[Proof]] = {}
    for proof in token.proofs:
        groups.setdefault(short_keyset_id(proof.id), []).append(proof)
    data: dict[str, Any] = {
        "t": [{"i": bytes.fromhex(kid), "p": [_proof_to_cbor(p) for p in ps]} for kid, ps in groups.items()]
    }
    if token.memo is not None:
        data["d"] = token.memo
    data["m"] = token.mint
    data["u"] = token.unit
    return PREFIX_V4 + base64.urlsafe_b64encode(cbor2.dumps(data)).decode().rstrip("=")


def encode_token_v3(token: Token) -> str:
    """cashuA: base64url JSON, as older wallets (and `cashu send --legacy`) write it."""
    data: dict[str, Any] = {
        "token": [{"mint": token.mint, "proofs": [p.to_dict() for p in token.proofs]}],
        "unit": token.unit,
    }
    if token.memo is not None:
        data["memo"] = token.memo
    raw = json.dumps(data, separators=(",", ":")).encode()
    return PREFIX_V3 + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def short_keyset_id(keyset_id: str) -> str:
    """The 8-byte form used in cashuB: v2 ids (`01` + 32 bytes) are cut; older ids are already short."""
    return keyset_id[:16] if keyset_id.startswith("01") else keyset_id


def _b64decode(body: str) -> bytes:
    body = body.replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("the token is not valid base64") from exc


def _decode_v3(raw: bytes) -> Token:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the interpreter's stack
        raise InvalidToken("the cashuA token is not valid JSON") from exc
    entries = data.get("token") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidToken("the cashuA token has no token entries")
    parts = [_v3_entry(entry) for entry in entries]
    return _join_parts(parts, unit=data.get("unit"), memo=data.get("memo"))


def _v3_entry(entry: Any) -> _DecodedParts:
    if not isinstance(entry, dict) or not isinstance(entry.get("proofs"), list):
        raise InvalidToken("a cashuA token entry needs a mint and proofs")
    if not all(isinstance(p, dict) for p in entry["proofs"]):
        raise InvalidToken("a cashuA proof must be an object")
    return _DecodedParts(mint=_mint_field(entry.get("mint")), proofs=[Proof.from_dict(p) for p in entry["proofs"]])


def _decode_v4(raw: bytes) -> Token:
    data = _cbor_loads(raw)
    groups = data.get("t") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not groups:
        raise InvalidToken("the cashuB token has no keyset groups")
    proofs = [proof for group in groups for proof in _v4_group(group)]
    return _join_parts([_DecodedParts(_mint_field(data.get("m")), proofs)], unit=data.get("u"), memo=data.get("d"))


def _cbor_loads(raw: bytes) -> Any:
    """Plain CBOR only: no semantic tags, shallow, text or byte map keys once each, nothing after the token."""
    stream = io.BytesIO(raw)
    decoder = cbor2.CBORDecoder(
        stream,
        semantic_decoders=dict.fromkeys(_CBOR_SEMANTIC_TAGS, _refuse_cbor_tag),
        tag_hook=_refuse_cbor_tag,
        max_depth=_MAX_NESTING,
        allow_duplicate_keys=False,
        strict_hashable_types=True,
    )
    try:
        data = decoder.decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError) as exc:
        raise InvalidToken("the cashuB token is not valid CBOR") from exc
    if stream.tell() != len(raw):
        raise InvalidToken("the cashuB token has data after its end")
    return data


def _refuse_cbor_tag(*_: Any) -> Any:
    raise ValueError("semantic tags are not part of a cashuB token")


def _v4_group(group: Any) -> list[Proof]:
    if not isinstance(group, dict) or not isinstance(group.get("i"), bytes) or not isinstance(group.get("p"), list):
        raise InvalidToken("a cashuB keyset group needs an id and proofs")
    keyset_id = _keyset_id(group["i"].hex())
    return [_proof_from_cbor(keyset_id, item) for item in group["p"]]


def _proof_from_cbor(keyset_id: str, item: Any) -> Proof:
    if not isinstance(item, dict) or not isinstance(item.get("c"), bytes):
        raise InvalidToken("a cashuB proof needs a signature")
    dleq = item.get("d")
    return _checked_proof(
        Proof(
            id=keyset_id,
            amount=item.get("a"),  # type: ignore[arg-type]  # checked below
            secret=item.get("s"),  # type: ignore[arg-type]
            C=item["c"].hex(),
            dleq=_dleq_from_cbor(dleq) if dleq is not None else None,
            witness=item.get("w") if isinstance(item.get("w"), str) else None,
        )
    )


def _dleq_from_cbor(dleq: Any) -> ProofDleq:
    if not isinstance(dleq, dict) or not all(isinstance(dleq.get(k), bytes) for k in ("e", "s", "r")):
        raise InvalidToken("a cashuB DLEQ needs e, s and r")
    return ProofDleq(e=dleq["e"].hex(), s=dleq["s"].hex(), r=dleq["r"].hex())


def _proof_to_cbor(proof: Proof) -> dict[str, Any]:
    data: dict[str, Any] = {"a": proof.amount, "s": proof.secret, "c": bytes.fromhex(proof.C)}
    if proof.dleq is not None:
        data["d"] = {key: bytes.fromhex(value) for key, value in proof.dleq.to_dict().items()}
    if proof.witness is not None:
        data["w"] = proof.witness
    return data


def _join_parts(parts: Sequence[_DecodedParts], *, unit: Any, memo: Any) -> Token:
    mints = {normalize_mint_url(part.mint) for part in parts}
    if len(mints) != 1:
        raise InvalidToken("tokens with proofs from several mints are not accepted")
    if unit is not None and not isinstance(unit, str):
        raise InvalidToken("the token unit must be text")
    return Token(
        mint=parts[0].mint,
        proofs=tuple(proof for part in parts for proof in part.proofs),
        unit=unit or "sat",
        memo=memo if isinstance(memo, str) else None,
    )


def _checked_proof(proof: Proof) -> Proof:
    amount: Any = proof.amount
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount < _AMOUNT_CEILING:
        raise InvalidToken("a proof amount must be a positive 64-bit integer")
    if not _is_utf8_text(proof.secret) or not proof.secret:
        raise InvalidToken("a proof needs a secret")
    if proof.witness is not None and not _is_utf8_text(proof.witness):
        raise InvalidToken("a proof witness must be text")
    if len(proof.C) != _POINT_HEX_LEN or not proof.C.startswith(_POINT_PREFIXES):
        raise InvalidToken("a proof signature must be a compressed point")
    return proof


def _is_utf8_text(value: Any) -> bool:
    """Text that can go on the wire: JSON may smuggle in lone surrogates, which UTF-8 cannot carry."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _keyset_id(value: str) -> str:
    if len(value) not in _KEYSET_ID_HEX_LENS:
        raise InvalidToken("a keyset id is 8 or 33 bytes of hex")
    return value


def _mint_field(value: Any) -> str:
    if not _is_utf8_text(value):
        raise InvalidToken("the token's mint must be an http(s) URL")
    try:
        parts = urlsplit(value.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError as exc:
        raise InvalidToken("the token's mint must be an http(s) URL") from exc
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname or not port_ok:
        raise InvalidToken("the token's mint must be an http(s) URL")
    return str(value).strip()


def _hex_field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidToken(f"proof field {key!r} must be hex text")
    try:
        bytes.fromhex(value)
    except ValueError as exc:
        raise InvalidToken(f"proof field {key!r} must be hex text") from exc
    return value.lower()
