"""The shipped nginx example in front of a real node: Debian's nginx, the config from deploy/nginx with only the
TLS and addresses swapped for loopback ports. Streams must reach the client chunk by chunk, not buffered."""

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.node import RunningNode, create_key
from tests.fixtures.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "nginx" / "routstr-node.conf"


def _nginx() -> str:
    subprocess.run([str(ROOT / "scripts" / "nginx.sh")], check=True)
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    assert found, "scripts/nginx.sh did not install nginx"
    return found


def _loopback_site(node_port: int, listen_port: int) -> str:
    """The example site with TLS lines dropped and the addresses pointed at this test's node and port."""
    site = CONFIG.read_text()
    site = re.sub(r"^\s*(ssl_certificate\S*|http2)\s.*\n", "", site, flags=re.M)
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{listen_port};")
    return site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{node_port};")


def _main_config(prefix: Path, site: str) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {prefix}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n    access_log off;\n{temp}\n{site}\n}}\n"
    )


@pytest.fixture
def nginx_in_front(node: RunningNode, tmp_path: Path) -> Iterator[str]:
    binary = _nginx()
    listen_port = free_port()
    node_port = int(node.root.rsplit(":", 1)[1])
    conf = tmp_path / "nginx.conf"
    conf.write_text(_main_config(tmp_path, _loopback_site(node_port, listen_port)))
    subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(conf)], check=True, capture_output=True)
    process = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{listen_port}"
    try:
        _wait_until_up(base)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/models", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("nginx did not come up")


def test_streams_pass_through_nginx_unbuffered(node: RunningNode, nginx_in_front: str) -> None:
    key = create_key(node, 10_000_000)
    body = {
        "model": "standin-small",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "standin": {"chunks": 6, "delay_ms": 250},
    }
    arrivals: list[float] = []
    start = time.monotonic()
    with httpx.stream(
        "POST", f"{nginx_in_front}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as reply:  # fmt: skip
        assert reply.status_code == 200
        assert reply.headers["x-routstr-request-id"]
        for line in reply.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) >= 6
    # buffered, every chunk would arrive at the end (~1.5 s); unbuffered they are spread over the stream
    assert arrivals[0] < arrivals[-1] - 0.8, arrivals


def test_json_and_errors_pass_through_nginx(node: RunningNode, nginx_in_front: str) -> None:
    key = create_key(node, 10_000_000)
    ok = httpx.post(
        f"{nginx_in_front}/v1/chat/completions",
        json={"model": "standin-small", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert ok.status_code == 200 and int(ok.headers["x-routstr-cost-msats"]) > 0
    refused = httpx.post(
        f"{nginx_in_front}/v1/chat/completions",
        json={"model": "standin-small", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer sk-unknown"},
        timeout=30,
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


def test_admin_is_reachable_only_from_the_operators_addresses(node: RunningNode, nginx_in_front: str) -> None:
    from_operator = httpx.get(f"{nginx_in_front}/admin", timeout=10)
    outsider = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
    with outsider:
        from_elsewhere = outsider.get(f"{nginx_in_front}/admin")
        api_from_elsewhere = outsider.get(f"{nginx_in_front}/admin/api/status")
        models_from_elsewhere = outsider.get(f"{nginx_in_front}/v1/models")

    assert from_operator.status_code == 200 and "Log in" in from_operator.text  # the node's login page
    assert (from_elsewhere.status_code, api_from_elsewhere.status_code) == (403, 403)  # refused by nginx
    assert models_from_elsewhere.status_code == 200  # the public API is for everyone
