"""NIP-89 discovery: the node's kind 31990 handler for 5050 is published beside its kind 38421 listing."""

import asyncio
import json
from typing import Any

import nostr_sdk

from app.nostr.keys import NodeKeys
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.fixtures.relay import TestRelay
from tests.nostr.relay_helpers import eventually, fetch


def test_the_handler_is_published_beside_the_listing(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[2]
    node_factory(
        cashu_mints=[mint.url], dvm_enabled=True, relays=[relay.url], nsec=keys.nsec(), announce=True,
        announce_force=True,
    )  # fmt: skip
    found: dict[int, dict[str, Any]] = {}

    async def published() -> bool:
        for event in await fetch(relay.url, [{"authors": [keys.pubkey], "kinds": [31990, 38421]}]):
            found[event["kind"]] = event
        return len(found) == 2

    asyncio.run(eventually(published, timeout_s=15))

    handler = found[31990]
    assert nostr_sdk.Event.from_json(json.dumps(handler)).verify()
    assert ["k", "5050"] in handler["tags"] and ["d", "routstr-node-5050"] in handler["tags"]
    content = json.loads(handler["content"])
    assert content["cashuAccepted"] is True and content["name"]
    assert "standin-small" in [model["id"] for model in content["models"]]
    assert "standin-small" in content["nip90Params"]["model"]["values"]
    assert content["models"][0]["sats_pricing"]["max_cost"] > 0
