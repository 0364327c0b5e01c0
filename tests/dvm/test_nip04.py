"""NIP-04 as the DVM uses it for older clients, checked against nostr-sdk's implementation in both directions."""

import base64

import nostr_sdk
import pytest

from app.dvm.sealing import Sealing, sealing_of
from app.nostr import nip04, nip44
from app.nostr.event import sign_event
from app.nostr.keys import NodeKeys

NODE, CUSTOMER = NodeKeys.generate(), NodeKeys.generate()


def sdk_keys(keys: NodeKeys) -> nostr_sdk.Keys:
    return nostr_sdk.Keys.parse(keys.nsec())


@pytest.mark.parametrize("text", ["x", "hello é 🌍", "a" * 15, "b" * 16, "c" * 17, "d" * 60000])
def test_both_ways_with_nostr_sdk(text: str) -> None:
    customer, node = sdk_keys(CUSTOMER), sdk_keys(NODE)
    ours = nip04.encrypt(NODE, CUSTOMER.pubkey, text)
    assert nostr_sdk.nip04_decrypt(customer.secret_key(), node.public_key(), ours) == text
    theirs = nostr_sdk.nip04_encrypt(customer.secret_key(), node.public_key(), text)
    assert nip04.is_nip04(theirs) and nip04.decrypt(NODE, CUSTOMER.pubkey, theirs) == text


def test_a_known_iv_gives_the_ciphertext_every_client_computes() -> None:
    """Fixed iv: the output is AES-256-CBC of the padded text under the shared x, as nostr-sdk decrypts it."""
    iv = bytes(range(16))
    payload = nip04.encrypt(NODE, CUSTOMER.pubkey, "same", iv=iv)
    assert payload.endswith("?iv=" + base64.b64encode(iv).decode())
    assert payload == nip04.encrypt(NODE, CUSTOMER.pubkey, "same", iv=iv)
    assert len(base64.b64decode(payload.split("?iv=")[0])) == 16  # one block: 4 bytes padded
    sdk = nostr_sdk.nip04_decrypt(sdk_keys(CUSTOMER).secret_key(), sdk_keys(NODE).public_key(), payload)
    assert sdk == "same"


def test_a_tampered_or_foreign_payload_is_refused() -> None:
    payload = nip04.encrypt(NODE, CUSTOMER.pubkey, "hello, a secret of two blocks")
    body, iv = payload.split("?iv=")
    for bad in (
        "no separator",
        f"{body}?iv=short",
        f"not base64!?iv={iv}",
        f"{body[:-4]}?iv={iv}",
        f"{base64.b64encode(bytes(16)).decode()}?iv={iv}",
    ):
        with pytest.raises(nip04.Nip04Error):
            nip04.decrypt(NODE, CUSTOMER.pubkey, bad)
    with pytest.raises(nip04.Nip04Error):
        nip04.decrypt(NODE, NodeKeys.generate().pubkey, payload)  # another conversation: bad padding or not text


def test_the_shape_of_the_content_tells_the_two_apart() -> None:
    def job(content: str, encrypted: bool = True) -> Sealing | None:
        tags = [["p", NODE.pubkey], ["encrypted"]] if encrypted else [["p", NODE.pubkey]]
        return sealing_of(sign_event(CUSTOMER, 5050, tags, content))

    assert job(nip04.encrypt(CUSTOMER, NODE.pubkey, "[]")) is Sealing.NIP04
    assert job(nip44.encrypt(CUSTOMER, NODE.pubkey, "[]")) is Sealing.NIP44
    assert job("", encrypted=False) is None
