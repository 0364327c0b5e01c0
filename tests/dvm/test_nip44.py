"""NIP-44 v2 as the DVM uses it, checked against nostr-sdk's implementation in both directions."""

import nostr_sdk
import pytest

from app.nostr import nip44
from app.nostr.keys import NodeKeys

NODE, CUSTOMER = NodeKeys.generate(), NodeKeys.generate()


def sdk_keys(keys: NodeKeys) -> nostr_sdk.Keys:
    return nostr_sdk.Keys.parse(keys.nsec())


@pytest.mark.parametrize("text", ["x", "hello é 🌍", "a" * 31, "b" * 33, "c" * 1000, "d" * 60000])
def test_both_ways_with_nostr_sdk(text: str) -> None:
    ours = nip44.encrypt(NODE, CUSTOMER.pubkey, text)
    customer = sdk_keys(CUSTOMER)
    assert nostr_sdk.nip44_decrypt(customer.secret_key(), sdk_keys(NODE).public_key(), ours) == text
    theirs = nostr_sdk.nip44_encrypt(
        customer.secret_key(), sdk_keys(NODE).public_key(), text, nostr_sdk.Nip44Version.V2
    )
    assert nip44.decrypt(NODE, CUSTOMER.pubkey, theirs) == text


def test_the_spec_padding() -> None:
    expected = {16: 32, 32: 32, 33: 64, 65: 96, 100: 128, 200: 224, 320: 320, 383: 384, 400: 448, 515: 640,
                900: 1024, 65535: 65536}  # fmt: skip
    assert {length: nip44.padded_length(length) for length in expected} == expected


def test_a_tampered_or_foreign_payload_is_refused() -> None:
    payload = nip44.encrypt(NODE, CUSTOMER.pubkey, "hello")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    for bad in (flipped, "#future", "not base64!", ""):
        with pytest.raises(nip44.Nip44Error):
            nip44.decrypt(NODE, CUSTOMER.pubkey, bad)
    with pytest.raises(nip44.Nip44Error):
        nip44.decrypt(NODE, NodeKeys.generate().pubkey, payload)  # another conversation
