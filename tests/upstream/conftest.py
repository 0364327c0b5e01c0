"""Fixtures of the routing tests: several upstreams on their own ports, all in front of the session's stand-in."""

from collections.abc import Iterator

import pytest

from tests.upstream.fronts import Front


@pytest.fixture
def fronts(standin_url: str) -> Iterator[list[Front]]:
    started = [Front(standin_url).start() for _ in range(3)]
    yield started
    for front in started:
        front.stop()
