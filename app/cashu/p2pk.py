"""NUT-10/11 pay-to-public-key: proofs whose secret locks them to a key, spent with a schnorr signature of the secret
by that key (the witness). The node holds one such key for the ecash sent to it as NIP-61 nutzaps.

Which locks the node accepts: a P2PK secret whose `data` is its key, signature flag SIG_INPUTS, one signature. A
locktime or refund keys are tolerated: they only add ways for the sender to take the proofs back, and the node credits
only what its own swap of them yields, so a proof refunded first is simply spent (no credit), never a loss."""

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from coincurve import PrivateKey

from app.cashu.crypto import CURVE_ORDER
from app.cashu.errors import InvalidToken
from app.cashu.tokens import Proof

P2PK_KIND = "P2PK"
_ACCEPTED_SIGFLAG = "SIG_INPUTS"
_HARMLESS_TAGS = {"locktime", "refund", "n_sigs_refund"}


class NotLockedToKey(InvalidToken):
    default_message = "the proofs are not locked to this node's P2PK key"


@dataclass(frozen=True)
class P2pkKey:
    private_key: PrivateKey = field(repr=False)

    @classmethod
    def derived_from(cls, seed: bytes, label: str) -> "P2pkKey":
        """A key that is a pure function of `seed` (the node's Nostr secret) and `label`, unlinkable to the seed's
        own public key: a BIP-340 style tagged hash, reduced mod n. Nothing new to store or lose."""
        tag = hashlib.sha256(label.encode("utf-8")).digest()
        scalar = int.from_bytes(hashlib.sha256(tag + tag + seed).digest(), "big") % CURVE_ORDER
        return cls(PrivateKey(scalar.to_bytes(32, "big")))

    @property
    def pubkey(self) -> str:
        """The key as NIP-61 lists it: compressed, "02"-prefixed (schnorr signatures only bind the x coordinate)."""
        return "02" + self.private_key.public_key_xonly.format().hex()

    def signed(self, proofs: Sequence[Proof]) -> tuple[Proof, ...]:
        """The proofs with NUT-11 witnesses; NotLockedToKey when any is not locked to this key as accepted."""
        return tuple(self._signed(proof) for proof in proofs)

    def _signed(self, proof: Proof) -> Proof:
        if not self._unlocks(proof.secret):
            raise NotLockedToKey()
        signature = self.private_key.sign_schnorr(hashlib.sha256(proof.secret.encode("utf-8")).digest())
        return replace(proof, witness=json.dumps({"signatures": [signature.hex()]}, separators=(",", ":")))

    def _unlocks(self, secret: str) -> bool:
        lock = p2pk_lock(secret)
        if lock is None or lock.get("data", "").lower()[2:] != self.pubkey[2:]:
            return False
        return _conditions_met(lock.get("tags") or [])


def p2pk_secret(pubkey: str) -> str:
    """A fresh secret locking a proof to `pubkey` (what a sender of a nutzap makes): SIG_INPUTS, no refund."""
    body = {"nonce": secrets.token_hex(32), "data": pubkey, "tags": [["sigflag", _ACCEPTED_SIGFLAG]]}
    return json.dumps([P2PK_KIND, body], separators=(",", ":"))


def p2pk_lock(secret: str) -> dict[str, Any] | None:
    """The NUT-10 body of a P2PK secret (`["P2PK", {"nonce", "data", "tags"}]`), or None for any other secret."""
    try:
        parsed = json.loads(secret)
    except ValueError:
        return None
    if not (isinstance(parsed, list) and len(parsed) == 2 and parsed[0] == P2PK_KIND and isinstance(parsed[1], dict)):
        return None
    body: dict[str, Any] = parsed[1]
    data, tags = body.get("data"), body.get("tags", [])
    if not isinstance(data, str) or len(data) != 66 or data[:2] not in ("02", "03"):
        return None
    return body if isinstance(tags, list) and all(_is_tag(tag) for tag in tags) else None


def _conditions_met(tags: list[list[str]]) -> bool:
    """Our one signature satisfies the lock: SIG_INPUTS, one signature, and nothing the node cannot tell apart."""
    for tag in tags:
        name, values = tag[0], tag[1:]
        if name == "sigflag" and values != [_ACCEPTED_SIGFLAG]:
            return False
        if name == "n_sigs" and values != ["1"]:
            return False
        if name not in ("sigflag", "n_sigs", "pubkeys", *_HARMLESS_TAGS):
            return False
    return True


def _is_tag(tag: object) -> bool:
    return isinstance(tag, list) and bool(tag) and all(isinstance(item, str) for item in tag)
