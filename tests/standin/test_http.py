"""HTTP/1.1 behaviour of the stand-in: errors in OpenAI's shape, keep-alive, pipelining, in-process start/stop."""

import asyncio

import httpx
import orjson
import pytest

from standin import start_standin
from tests.standin.raw_http import address, exchange, post_request


def test_unknown_path_is_an_openai_404(standin_url: str) -> None:
    reply = httpx.get(f"{standin_url}/nowhere")
    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_wrong_method_is_a_405(standin_url: str) -> None:
    assert httpx.get(f"{standin_url}/chat/completions").status_code == 405


def test_malformed_json_is_a_400(standin_url: str) -> None:
    reply = httpx.post(f"{standin_url}/chat/completions", content=b"{not json")
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "malformed JSON body"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
        ("/v1/chat/completions", {"model": "m", "messages": []}),
        ("/v1/completions", {"model": "m", "prompt": 3}),
        ("/v1/embeddings", {"model": "m"}),
        ("/v1/chat/completions", {"model": "m", "messages": ["x"]}),
        ("/v1/chat/completions", [1, 2]),
    ],
)
def test_invalid_requests_are_a_400(standin_url: str, path: str, body: object) -> None:
    raw = exchange(standin_url, post_request(path, body))  # type: ignore[arg-type]
    assert raw.startswith(b"HTTP/1.1 400 ")


def test_malformed_http_is_a_400_and_a_close(standin_url: str) -> None:
    raw = exchange(standin_url, b"NOT-HTTP\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert orjson.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == "bad_http"


def test_retrieve_one_model(standin_url: str) -> None:
    assert httpx.get(f"{standin_url}/models/standin-embed").json()["id"] == "standin-embed"
    assert httpx.get(f"{standin_url}/models/gpt-9").status_code == 404


def test_pipelined_requests_are_answered_in_order_on_one_connection(standin_url: str) -> None:
    first = post_request("/v1/embeddings", {"model": "first", "input": "a"}, close=False)
    slow = post_request("/v1/embeddings", {"model": "slow", "input": "b", "standin": {"delay_ms": 50}}, close=False)
    last = post_request("/v1/embeddings", {"model": "last", "input": "c"}, close=True)
    raw = exchange(standin_url, first + slow + last)
    assert raw.count(b"HTTP/1.1 200 OK") == 3
    assert raw.index(b'"model":"first"') < raw.index(b'"model":"slow"') < raw.index(b'"model":"last"')


def test_keep_alive_serves_many_requests_on_one_connection(standin_url: str) -> None:
    with httpx.Client(base_url=standin_url, limits=httpx.Limits(max_connections=1)) as client:
        replies = [client.get("/models") for _ in range(20)]
    assert {reply.status_code for reply in replies} == {200}
    assert "connection" not in replies[0].headers


async def test_in_process_server_picks_a_port_and_close_cuts_hanging_clients() -> None:
    server = await start_standin("127.0.0.1", 0)
    host, port = address(server.url)
    assert server.url == f"http://127.0.0.1:{port}/v1"
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
        assert (await client.get("/models")).status_code == 200
        hanging = asyncio.create_task(
            client.post("/chat/completions", json={"model": "m", "messages": [], "standin": {"hang": True}})
        )
        await asyncio.sleep(0.05)
        await server.close()
        with pytest.raises(httpx.RemoteProtocolError):
            await hanging
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)
