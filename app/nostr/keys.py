"""The node's Nostr identity: a BIP-340 key from NSEC, or generated once and kept in the data dir."""

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from coincurve import PrivateKey

from app import bech32
from app.nostr.errors import InvalidNostrKey

log = logging.getLogger(__name__)

KEY_FILE_NAME = "nostr.nsec"
_SECRET_BYTES = 32


@dataclass(frozen=True)
class NodeKeys:
    private_key: PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> "NodeKeys":
        return cls(PrivateKey())

    @classmethod
    def from_secret(cls, secret: str) -> "NodeKeys":
        """Parse `nsec1...` or 64 hex characters; raise InvalidNostrKey (never echoing the secret) otherwise."""
        return cls(PrivateKey(_secret_bytes(secret.strip())))

    @property
    def pubkey(self) -> str:
        """The x-only public key, 64 lowercase hex characters, as NIP-01 events carry it."""
        return self.private_key.public_key_xonly.format().hex()

    @property
    def npub(self) -> str:
        return bech32.encode("npub", bytes.fromhex(self.pubkey))

    def nsec(self) -> str:
        return bech32.encode("nsec", self.private_key.secret)

    def sign(self, digest: bytes) -> bytes:
        """BIP-340 schnorr signature of a 32-byte digest, with fresh auxiliary randomness."""
        return self.private_key.sign_schnorr(digest)


def _secret_bytes(secret: str) -> bytes:
    try:
        raw = bech32.decode_prefixed(secret, "nsec") if secret.lower().startswith("nsec1") else bytes.fromhex(secret)
    except ValueError as exc:
        raise InvalidNostrKey() from exc
    if len(raw) != _SECRET_BYTES:
        raise InvalidNostrKey()
    try:
        PrivateKey(raw)
    except ValueError as exc:  # zero or >= the curve order
        raise InvalidNostrKey() from exc
    return raw


def load_node_keys(configured_nsec: str, data_dir: Path) -> NodeKeys:
    """The configured NSEC if set, else the key kept in `data_dir` (created with mode 0600 on first start)."""
    if configured_nsec.strip():
        keys = NodeKeys.from_secret(configured_nsec)
        source = "configured"
    else:
        keys, source = _load_or_create_key_file(data_dir / KEY_FILE_NAME)
    log.info("nostr.identity npub=%s source=%s", keys.npub, source)
    return keys


def _load_or_create_key_file(path: Path) -> tuple[NodeKeys, str]:
    if path.exists():
        _tighten_permissions(path)
        try:
            return NodeKeys.from_secret(path.read_text(encoding="ascii")), "file"
        except (InvalidNostrKey, UnicodeDecodeError) as exc:
            raise InvalidNostrKey(f"the Nostr key file {path} is malformed") from exc
    keys = NodeKeys.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(keys.nsec() + "\n")
    return keys, "generated"


def _tighten_permissions(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("nostr.key_file_permissions path=%s mode=%o fixed_to=600", path, mode)
        path.chmod(0o600)
