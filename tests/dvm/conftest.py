"""What the DVM tests share: the node's Nostr key, a DVM node on the first test relay and the test mint, a
nostr-sdk customer on that relay, and a 5-sat token."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import pytest

from app.nostr.keys import NodeKeys
from tests.dvm.customer import Customer, with_customer
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode
from tests.fixtures.relay import TestRelay

T = TypeVar("T")


class DvmFactory(Protocol):
    def __call__(self, **overrides: Any) -> RunningNode: ...


class CustomerRun(Protocol):
    def __call__(self, work: Callable[[Customer], Coroutine[Any, Any, T]]) -> T: ...


@pytest.fixture
def node_keys() -> NodeKeys:
    """Fresh per test: the relays are shared, and a node whose key another test's node has would take its jobs."""
    return NodeKeys.generate()


@pytest.fixture
def relay(nostr_relays: list[TestRelay]) -> TestRelay:
    return nostr_relays[0]


@pytest.fixture
def start_dvm(node_factory: NodeFactory, mint: RunningMint, relay: TestRelay, node_keys: NodeKeys) -> DvmFactory:
    """A node selling kind 5050 jobs on `relay` for ecash of `mint`; keywords override its settings."""

    def start(**overrides: Any) -> RunningNode:
        settings = {"cashu_mints": [mint.url], "dvm_enabled": True, "relays": [relay.url], "nsec": node_keys.nsec()}
        return node_factory(**{**settings, **overrides})

    return start


@pytest.fixture
def dvm(start_dvm: DvmFactory) -> RunningNode:
    return start_dvm()


@pytest.fixture
def as_customer(relay: TestRelay) -> CustomerRun:
    """Run `work` with a fresh nostr-sdk customer connected to `relay`."""

    def run(work: Callable[[Customer], Coroutine[Any, Any, T]]) -> T:
        return with_customer(relay.url, work)

    return run


@pytest.fixture
def token(mint: RunningMint) -> str:
    return asyncio.run(mint.make_token(5))
