"""The dashboard in a real headless Chromium: log in through the form, see the numbers the admin API gives (earnings
per mint after a real deposit, usage per model after a paid chat, balances owed, reservations), take a screenshot,
log out, and the session is gone."""

import asyncio
import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.admin.helpers import ADMIN_TOKEN, PASSWORD, admin_node
from tests.e2e.test_browser import DevTools, headless_page
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30  # for a page to show what it should; the machine may be busy
CHAT = {"model": "standin-small", "max_tokens": 8, "messages": [{"role": "user", "content": "hello there, node"}]}
SHOWN = (  # element id on the page -> where the API gives the same number
    ("earnings-held_msat", "/earnings", "held_msat"),
    ("earnings-owed_msat", "/earnings", "owed_msat"),
    ("earnings-earnings_msat", "/earnings", "earnings_msat"),
    ("owed-owed_msat", "/balances", "owed_msat"),
    ("owed-keys", "/balances", "keys"),
    ("reservations-total", "/reservations", "total"),
)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = subprocess.run([str(ROOT / "scripts" / "browser.sh")], capture_output=True, text=True, timeout=900)
    assert found.returncode == 0, found.stderr[-2000:]
    return found.stdout.strip().splitlines()[-1]


def _api(node: RunningNode, path: str) -> Any:
    reply = httpx.get(f"{node.root}/admin/api{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def _value(tab: DevTools, expression: str) -> Any:
    result = await tab.call("Runtime.evaluate", expression=expression, returnByValue=True)
    return result["result"].get("value")


async def _until_shown(tab: DevTools, element_id: str) -> None:
    """Poll until the page shows `element_id`. Not the load event: `DevTools.call` drops events that arrive while it
    waits for its own answer, so a fast navigation's load event can be lost. Evaluating while a page navigates may
    fail; that is a reason to ask again."""
    script = f"document.readyState === 'complete' && document.getElementById({json.dumps(element_id)}) !== null"
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                if await _value(tab, script) is True:
                    return
            except AssertionError:
                pass  # the execution context went away with the old page
            await asyncio.sleep(0.1)


async def _browse(chromium: str, profile: Path, node: RunningNode) -> dict[str, Any]:
    async with headless_page(chromium, profile) as tab:
        await tab.call("Page.navigate", url=f"{node.root}/admin")
        await _until_shown(tab, "login")
        password = json.dumps(PASSWORD)
        await _value(tab, f"document.getElementById('password').value = {password}; document.forms[0].submit()")
        await _until_shown(tab, "logout")
        ids = json.dumps(
            [element for element, _, _ in SHOWN] + ["usage-standin-small-requests", "usage-standin-small-msat"]
        )
        seen = await _value(tab, f"Object.fromEntries({ids}.map(i => [i, document.getElementById(i)?.textContent]))")
        charts = await _value(tab, "document.querySelectorAll('svg.chart polyline').length")
        cookies = (await tab.call("Network.getCookies", urls=[node.root + "/admin"]))["cookies"]
        picture = await tab.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await _value(tab, "document.getElementById('logout').closest('form').submit()")
        await _until_shown(tab, "login")
    png = base64.b64decode(picture["data"])
    return {"seen": seen, "charts": charts, "cookies": cookies, "png": png}


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first run may install Chromium
def test_the_dashboard_shows_what_the_api_gives(
    chromium_path: str, node_factory: NodeFactory, mint: RunningMint, tmp_path: Path
) -> None:
    node = admin_node(node_factory, cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(5))
    key = httpx.post(f"{node.url}/balance/create", json={"cashu_token": token}, timeout=30).json()["api_key"]
    paid = httpx.post(f"{node.url}/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert paid.status_code == 200

    shot = tmp_path / "admin-dashboard.png"
    browsed = asyncio.run(_browse(chromium_path, tmp_path / "profile", node))
    shot.write_bytes(browsed["png"])
    print(f"dashboard screenshot: {shot}")

    seen = browsed["seen"]
    for element, path, field in SHOWN:
        assert seen[element] == str(_api(node, path)[field]), (element, seen)
    assert _api(node, "/earnings")["held_msat"] == 5_000
    usage = _api(node, "/usage")["data"]
    assert seen["usage-standin-small-requests"] == str(usage[0]["requests"]) == "1"
    assert seen["usage-standin-small-msat"] == str(usage[0]["msat"])
    assert browsed["charts"] == 2
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:4] == b"\x89PNG"
    (session,) = [c for c in browsed["cookies"] if c["name"] == "routstr_admin_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    gone = httpx.get(f"{node.root}/admin/api/status", cookies={session["name"]: session["value"]}, timeout=10)
    assert gone.status_code == 401  # logged out: the session ended on the node, not only in the browser
