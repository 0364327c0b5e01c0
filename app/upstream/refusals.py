"""What a client is told when the upstream does not answer with a completion: the node's own OpenAI-shaped error.

The upstream's status is kept for 4xx; 5xx, redirects (never followed) and the upstream's complaints about the node's
own credentials (401, 402, 403, 407) become 502. The only text that may pass is a short `error.message` from a JSON
body, with anything that looks like a secret or a path scrubbed: raw bodies carry tracebacks, paths and keys, and an
HTML page is never shown."""

import re
from typing import Any

import orjson

from app.errors import NodeError

REASON_CHARS = 200
_SCRUB_INPUT_CHARS = 4000
_CREDENTIAL_STATUSES = frozenset({401, 402, 403, 407})
_PARAM = re.compile(r"[A-Za-z0-9_.\[\]]{1,64}")
_REDACTED = "[redacted]"
_SECRETS = (
    (re.compile(r"(?i)\bbearer\s+\S+"), "Bearer " + _REDACTED),
    (
        re.compile(r"(?i)\b(api[_-]?key|token|secret|password|passwd|authorization|cookie)(\s*[:=]\s*)\S+"),
        r"\1\2" + _REDACTED,
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"), _REDACTED),
    (re.compile(r"\bcashu[AB][A-Za-z0-9_\-+/=]+"), _REDACTED),
    (re.compile(r"\bnsec1[02-9ac-hj-np-z]+"), _REDACTED),
    (re.compile(r"[A-Za-z0-9+/_\-]{32,}={0,2}"), _REDACTED),  # long hex and base64 runs: keys, tokens, hashes
    (re.compile(r"(?:[A-Za-z]:)?(?:[\\/]+[\w.\-~@]+){2,}[\\/]?"), "[path]"),  # file paths (and URL paths)
)
_WHITESPACE = re.compile(r"\s+")


class UpstreamFailed(NodeError):
    default_message = "the upstream failed to answer"


class UpstreamRejected(NodeError):
    """The upstream refused the request itself (a 4xx); the client is shown the upstream's status."""

    default_message = "the upstream refused the request"

    def __init__(self, message: str, *, upstream_status: int, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.upstream_status = upstream_status


def refusal(status: int, content_type: str, body: bytes, retry_after: str | None = None) -> NodeError:
    """The error to raise for an upstream answer that is not a 2xx."""
    if 300 <= status < 400:
        return UpstreamFailed(f"upstream answered HTTP {status} (a redirect, not followed)")
    reason, param = _reason_and_param(content_type, body)
    said = f": {reason}" if reason else ""
    if status in _CREDENTIAL_STATUSES:
        return UpstreamFailed(f"upstream refused the node's credentials (HTTP {status}){said}")
    if not 400 <= status < 500:
        return UpstreamFailed(f"upstream answered HTTP {status}{said}")
    error = UpstreamRejected(
        f"upstream refused the request (HTTP {status}){said}", upstream_status=status, **_param(param)
    )
    if retry_after is not None and retry_after.isdigit():
        error.headers["retry-after"] = retry_after
    return error


def _param(param: str | None) -> dict[str, Any]:
    return {"param": param} if param is not None else {}


def _reason_and_param(content_type: str, body: bytes) -> tuple[str, str | None]:
    if "html" in content_type.lower():
        return "", None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return "", None
    message, param = error.get("message"), error.get("param")
    reason = scrubbed(message) if isinstance(message, str) else ""
    return reason, param if isinstance(param, str) and _PARAM.fullmatch(param) else None


def scrubbed(text: str) -> str:
    """`text` on one line, without secrets or paths, at most REASON_CHARS characters."""
    text = _WHITESPACE.sub(" ", text[:_SCRUB_INPUT_CHARS])
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    text = "".join(char for char in text if char.isprintable()).strip()
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"
