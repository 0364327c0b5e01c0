"""Settings as the admin API shows them: every secret replaced, whatever its field. A SecretStr, a field named like
a secret, a password inside a URL (database, upstream, mints) and secret-looking query parameters are redacted."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

REDACTED = "[REDACTED]"
_SECRET_WORDS = ("nsec", "key", "token", "password", "secret", "passwd", "auth")


def redact_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _redacted(name, value) for name, value in values.items()}


def _secret_name(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _redacted(name: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_redacted(name, item) for item in value]
    if not isinstance(value, str):
        return value
    if _secret_name(name):
        return REDACTED if value else ""
    return redact_url(value) if "://" in value else value


def redact_url(url: str) -> str:
    """The URL with any password and secret-looking query values replaced (user names and hosts kept)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return REDACTED
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if password is None and not any(_secret_name(k) for k, _ in pairs):
        return url
    netloc = parts.netloc
    if password is not None:
        netloc = netloc.replace(f":{password}@", f":{REDACTED}@", 1)
    query = urlencode([(k, REDACTED if _secret_name(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
