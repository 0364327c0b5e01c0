"""How long the node's kind 38421 announcement takes to be accepted by three relays, and the event as published.

`python -m bench.announce [--runs N]` starts three nostr-sdk LocalRelays on 127.0.0.1 (the test dependency), runs
the node's Announcer against them N times with a fresh key each time, and prints the time from `start()` until
every relay has answered OK true (median and max), then the event JSON as a relay returns it.
"""

import argparse
import asyncio
import json
import statistics
import time

import nostr_sdk

from app import __version__
from app.nostr.announcer import Announcer
from app.nostr.keys import NodeKeys
from app.nostr.pool import RelayPool


async def _relays(count: int) -> list[nostr_sdk.LocalRelay]:
    relays = []
    for _ in range(count):
        relay = nostr_sdk.LocalRelayBuilder().addr("127.0.0.1").build()
        await relay.run()
        relays.append(relay)
    return relays


async def _announce_once(urls: list[str]) -> tuple[float, NodeKeys]:
    keys = NodeKeys.generate()
    announcer = Announcer(
        keys,
        urls,
        name="routstr-node bench",
        about="announcement latency probe",
        http_url="https://node.example.com",
        mints=["https://mint.example.com"],
        version=__version__,
    )
    started = time.perf_counter()
    await announcer.start()
    try:
        while {r.get("status") for r in announcer.status()["relays"].values()} != {"accepted"}:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        return time.perf_counter() - started, keys
    finally:
        await announcer.stop()


async def run(runs: int) -> None:
    relays = await _relays(3)
    urls = [str(await relay.url()).rstrip("/") for relay in relays]
    times, keys = [], None
    for _ in range(runs):
        elapsed, keys = await _announce_once(urls)
        times.append(elapsed * 1000)
    print(f"accepted by all 3 relays: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (n={runs})")
    assert keys is not None
    pool = RelayPool(urls[:1])
    events = await pool.query([{"kinds": [38421], "authors": [keys.pubkey]}], timeout_s=5)
    await pool.close()
    print(json.dumps(events[0], indent=2, ensure_ascii=False))
    for relay in relays:
        relay.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.announce", description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(run(parser.parse_args().runs))


if __name__ == "__main__":
    main()
