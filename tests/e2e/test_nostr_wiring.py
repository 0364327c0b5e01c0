"""The running node announces itself on real relays and shows the result in /v1/info."""

import time

import httpx

from tests.fixtures.node import NodeFactory
from tests.fixtures.relay import TestRelay

NSEC_HEX = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"


def test_node_announces_to_every_relay_and_reports_it_in_info(
    node_factory: NodeFactory, nostr_relays: list[TestRelay]
) -> None:
    node = node_factory(
        announce=True,
        announce_force=True,
        nsec=NSEC_HEX,
        relays=[relay.url for relay in nostr_relays],
        http_url="https://node.example.com",
        cashu_mints=["https://mint.example.com"],
        name="wired node",
        description="announces itself",
    )
    deadline = time.monotonic() + 10
    while True:
        info = httpx.get(node.url + "/info").json()
        statuses = {relay["status"] for relay in info["nostr"]["relays"].values()}
        if statuses == {"accepted"} or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    assert statuses == {"accepted"}
    assert info["npub"].startswith("npub1") and info["nostr"]["npub"] == info["npub"]
    assert info["name"] == "wired node" and info["mints"] == ["https://mint.example.com"]
    assert info["nostr"]["last_event_id"]


def test_providers_endpoint_is_off_unless_enabled(node_factory: NodeFactory) -> None:
    node = node_factory()
    response = httpx.get(node.url + "/providers")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
