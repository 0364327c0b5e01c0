"""routstr-chat's view of the node: a page on another origin, in a real headless Chromium, lists the models, pays a
chat with an API key and one with an X-Cashu token, and reads the headers CORS lets it read.

Chromium is Debian's `chromium`, installed by scripts/browser.sh when missing (CI runs as root on a fresh machine);
it is driven over the DevTools protocol with the websockets package."""

import asyncio
import itertools
import json
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from app.cashu.tokens import decode_token
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, create_key, key_state

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "hello there, node"  # 5 prompt tokens at the stand-in; the reply is 8 completion tokens
COST_MSAT = 5 * 1 + 8 * 2  # at the test prices

PAGE = b"""<!doctype html>
<html><head><title>routstr-chat stand-in</title></head><body>
<script>
async function seen(reply) {
  return {status: reply.status, requestId: reply.headers.get("x-routstr-request-id"),
          cost: reply.headers.get("x-routstr-cost-msats"), costUsd: reply.headers.get("x-routstr-cost-usd"),
          change: reply.headers.get("x-cashu"), body: await reply.json()};
}
async function attempt(call) {
  try { return await call(); } catch (failure) { return {failed: String(failure)}; }
}
async function run(node, key, token) {
  const chat = JSON.stringify({model: "standin-small", max_tokens: 8,
                               messages: [{role: "user", content: "hello there, node"}]});
  const json = {"Content-Type": "application/json"};
  return {
    models: await attempt(() => fetch(node + "/v1/models").then(seen)),
    keyed: await attempt(() => fetch(node + "/v1/chat/completions",
      {method: "POST", headers: {...json, "Authorization": "Bearer " + key}, body: chat}).then(seen)),
    cashu: await attempt(() => fetch(node + "/v1/chat/completions",
      {method: "POST", headers: {...json, "X-Cashu": token}, body: chat}).then(seen)),
  };
}
</script></body></html>"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Never skipped: a machine without Chromium gets it from scripts/browser.sh."""
    found = subprocess.run([str(ROOT / "scripts" / "browser.sh")], capture_output=True, text=True, timeout=900)
    assert found.returncode == 0, found.stderr[-2000:]
    return found.stdout.strip().splitlines()[-1]


@pytest.fixture
def page_origin() -> Iterator[str]:
    """The page, served from its own port: another origin than the node's."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class DevTools:
    """One page over the Chrome DevTools protocol: commands and the events that arrive meanwhile."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._socket.recv())
            if message.get("id") == call_id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    async def until(self, event: str) -> None:
        while json.loads(await self._socket.recv()).get("method") != event:
            pass


@asynccontextmanager
async def headless_page(chromium: str, profile: Path) -> AsyncIterator[DevTools]:
    browser = await asyncio.create_subprocess_exec(
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port = await _devtools_port(profile / "DevToolsActivePort")
        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{port}/json/list", timeout=10)).json()
        page = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            yield DevTools(socket)
    finally:
        browser.terminate()
        await browser.wait()


async def _devtools_port(announced: Path) -> int:
    for _ in range(600):
        port = await asyncio.to_thread(_announced_port, announced)
        if port is not None:
            return port
        await asyncio.sleep(0.05)
    raise AssertionError("Chromium did not open its DevTools port")


def _announced_port(announced: Path) -> int | None:
    text = announced.read_text() if announced.exists() else ""
    return int(text.splitlines()[0]) if text.strip() else None


async def what_the_page_saw(chromium: str, profile: Path, page: str, node: str, key: str, token: str) -> Any:
    async with headless_page(chromium, profile) as tab:
        await tab.call("Page.enable")
        await tab.call("Page.navigate", url=page)
        await tab.until("Page.loadEventFired")
        script = f"run({json.dumps(node)}, {json.dumps(key)}, {json.dumps(token)})"
        result = await tab.call("Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True)
    return result["result"]["value"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first run may install Chromium
def test_a_page_on_another_origin_uses_the_node_like_routstr_chat(
    chromium: str, page_origin: str, node_factory: NodeFactory, mint: RunningMint, tmp_path: Path
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create_key(node, 100_000)
    token = asyncio.run(mint.make_token(5))

    seen = asyncio.run(what_the_page_saw(chromium, tmp_path / "profile", page_origin, node.root, key, token))

    models, keyed, cashu = seen["models"], seen["keyed"], seen["cashu"]
    assert models["status"] == 200 and models["requestId"], seen
    assert {m["id"] for m in models["body"]["data"]} == {"standin-small", "standin-embed"}
    assert keyed["status"] == 200 and keyed["body"]["choices"][0]["message"]["content"] == "hi " * 8, seen
    assert int(keyed["cost"]) == COST_MSAT and float(keyed["costUsd"]) > 0 and keyed["requestId"]
    assert cashu["status"] == 200 and int(cashu["cost"]) == COST_MSAT, seen
    assert decode_token(cashu["change"]).amount == (5_000 - COST_MSAT) // 1000
    assert len({models["requestId"], keyed["requestId"], cashu["requestId"]}) == 3
    assert key_state(node, key) == {"balance_msat": 100_000 - COST_MSAT, "reserved_msat": 0}
