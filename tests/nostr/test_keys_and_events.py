"""Node keys (configured, generated, kept) and NIP-01 events, checked independently by nostr-sdk."""

import json
import logging
import stat
from pathlib import Path

import nostr_sdk
import pytest

from app.nostr.errors import InvalidNostrKey
from app.nostr.event import Event, canonical_bytes, sign_event, verify_event
from app.nostr.keys import KEY_FILE_NAME, NodeKeys, load_node_keys

NSEC = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"
SECRET_HEX = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"


def test_nsec_and_hex_give_the_same_identity() -> None:
    from_nsec = NodeKeys.from_secret(NSEC)
    assert from_nsec.pubkey == NodeKeys.from_secret(SECRET_HEX).pubkey
    assert from_nsec.nsec() == NSEC
    assert from_nsec.npub.startswith("npub1")
    assert nostr_sdk.Keys.parse(NSEC).public_key().to_hex() == from_nsec.pubkey


@pytest.mark.parametrize(
    "bad",
    ["nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe4", "abc", "00" * 32, "zz" * 32, "ff" * 32],
)
def test_malformed_secret_stops_start_up_without_echoing_it(bad: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidNostrKey) as caught:
        load_node_keys(bad, tmp_path)
    assert bad not in str(caught.value)


def test_generated_key_is_kept_private_and_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.nostr.keys")
    first = load_node_keys("", tmp_path / "data")
    key_file = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_node_keys("", tmp_path / "data").pubkey == first.pubkey
    assert first.npub in caplog.text
    assert first.nsec() not in caplog.text


def test_corrupt_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("not a key")
    with pytest.raises(InvalidNostrKey, match="key file"):
        load_node_keys("", tmp_path)


def test_configured_nsec_wins_over_the_file(tmp_path: Path) -> None:
    load_node_keys("", tmp_path)
    assert load_node_keys(NSEC, tmp_path).nsec() == NSEC


def test_canonical_form_is_compact_utf8() -> None:
    raw = canonical_bytes("ab" * 32, 1700000000, 1, (("t", "é"),), 'line\n"q" ✓')
    assert raw == '[0,"{}",1700000000,1,[["t","é"]],"line\\n\\"q\\" ✓"]'.format("ab" * 32).encode()


def test_signed_event_verifies_here_and_in_nostr_sdk() -> None:
    keys = NodeKeys.generate()
    event = sign_event(keys, 38421, [["d", "x"], ["u", "https://a.example"]], '{"name":"ü","about":"b"}')
    assert verify_event(event)
    foreign = nostr_sdk.Event.from_json(json.dumps(event.to_json()))
    assert foreign.verify()
    assert foreign.id().to_hex() == event.id


def test_tampering_breaks_verification() -> None:
    event = sign_event(NodeKeys.generate(), 1, [], "hello")
    assert not verify_event(Event.from_json({**event.to_json(), "content": "hellp"}))
    other = sign_event(NodeKeys.generate(), 1, [], "hello", created_at=event.created_at)
    assert not verify_event(Event.from_json({**event.to_json(), "sig": other.sig}))


def test_nostr_sdk_signed_event_verifies_here() -> None:
    keys = nostr_sdk.Keys.generate()
    unsigned = nostr_sdk.EventBuilder(nostr_sdk.Kind(1), "from elsewhere é").finalize_unsigned(keys.public_key())
    foreign = keys.sign_event(unsigned)
    assert verify_event(Event.from_json(json.loads(foreign.as_json())))
