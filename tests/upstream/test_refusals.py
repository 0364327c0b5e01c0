"""Upstream refusals become the node's own errors: status mapped, at most a short scrubbed `error.message`."""

import orjson
import pytest

from app.api.errors import error_body as rendered
from app.api.errors import status_of
from app.upstream.refusals import REASON_CHARS, UpstreamFailed, UpstreamRejected, refusal, scrubbed

JSON = "application/json"


def error_body(message: object, **extra: object) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": "x", **extra}, "debug": "sk-debugsecret123"})


@pytest.mark.parametrize(
    ("status", "kind", "node_status"),
    [(400, UpstreamRejected, 400), (404, UpstreamRejected, 404), (429, UpstreamRejected, 429),
     (422, UpstreamRejected, 422), (401, UpstreamFailed, 502), (403, UpstreamFailed, 502), (402, UpstreamFailed, 502),
     (500, UpstreamFailed, 502), (503, UpstreamFailed, 502), (307, UpstreamFailed, 502), (301, UpstreamFailed, 502)],
)  # fmt: skip
def test_statuses_are_kept_for_the_client_s_own_4xx_only(status: int, kind: type, node_status: int) -> None:
    error = refusal(status, JSON, error_body("nope"))
    assert isinstance(error, kind) and status_of(error) == node_status
    assert rendered(error)["error"]["type"] == "upstream_error"


def test_only_the_error_message_and_a_plain_param_pass() -> None:
    error = refusal(400, JSON, error_body("Invalid 'temperature'", param="temperature"))
    assert rendered(error) == {
        "error": {
            "message": "upstream refused the request (HTTP 400): Invalid 'temperature'",
            "type": "upstream_error",
            "code": "upstream_rejected",
            "param": "temperature",
        }
    }
    assert "param" not in rendered(refusal(400, JSON, error_body("x", param="<script>")))["error"]


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>sk-abcdefghijkl</body></html>",
        b"Traceback (most recent call last): /srv/app.py",
        orjson.dumps({"error": "a bare string sk-abcdefghijkl"}),
        orjson.dumps({"message": "not under error"}),
        orjson.dumps({"error": {"message": 42}}),
        orjson.dumps([1, 2]),
    ],
)
def test_anything_but_a_json_error_message_gives_the_status_alone(body: bytes) -> None:
    assert refusal(500, "text/plain", body).message == "upstream answered HTTP 500"


def test_an_html_body_is_never_read_even_if_it_parses() -> None:
    assert refusal(404, "text/html", error_body("hello")).message == "upstream refused the request (HTTP 404)"


@pytest.mark.parametrize(
    ("leaky", "kept"),
    [
        ("key sk-proj-AbC123xyz_-def was refused", "key [redacted] was refused"),
        ("Authorization: Bearer abc.def.ghi failed", "Authorization: [redacted] [redacted] failed"),
        ("header Bearer abc.def.ghi", "header Bearer [redacted]"),
        ("token cashuBo2FteBhodHRwczovL21pbnQ", "token [redacted]"),
        ("api_key=hunter2 rejected", "api_key=[redacted] rejected"),
        ("hash 0123456789abcdef0123456789abcdef01 seen", "hash [redacted] seen"),
        ('File "/srv/llm/app/server.py", line 3', 'File "[path]", line 3'),
        ("at C:\\Users\\op\\node\\main.py", "at [path]"),
        ("nsec1qqqsyqcyq5rqwzqfpg9scrgwpugpzysn", "[redacted]"),
        ("line one\n\tline two\x00", "line one line two"),
    ],
)
def test_secrets_and_paths_are_scrubbed(leaky: str, kept: str) -> None:
    assert scrubbed(leaky) == kept


def test_reasons_are_short() -> None:
    reason = scrubbed("word " * 500)
    assert len(reason) == REASON_CHARS and reason.endswith("…")


def test_retry_after_passes_on_a_429_when_it_is_a_number() -> None:
    assert refusal(429, JSON, b"", retry_after="7").headers == {"retry-after": "7"}
    assert refusal(429, JSON, b"", retry_after="soon; sk-x").headers == {}
