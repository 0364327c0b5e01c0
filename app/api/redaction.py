"""Keep ids and secrets out of access logs.

uvicorn's access log carries the request path and query. A path segment can be a bearer secret (a Lightning
invoice id is enough to claim the key it funds) and Routstr's clients may put a Cashu token in a query string. So
only the segments that are literal parts of the app's own routes are logged as they are; every other segment, and
any query string, is logged as `[redacted]`.
"""

import logging
from collections.abc import Iterable, Iterator

from starlette.routing import BaseRoute

REDACTED = "[redacted]"


def redact_path(path_with_query: str, words: frozenset[str]) -> str:
    path, has_query, _ = path_with_query.partition("?")
    kept = "/".join(segment if not segment or segment in words else REDACTED for segment in path.split("/"))
    return kept + (f"?{REDACTED}" if has_query else "")


def route_words(routes: Iterable[BaseRoute]) -> frozenset[str]:
    """The literal path segments of the routes: `/v1/x/{id}/status` gives v1, x and status."""
    return frozenset(part for path in _paths(routes) for part in path.split("/") if part and "{" not in part)


def _paths(routes: Iterable[BaseRoute]) -> Iterator[str]:
    for route in routes:
        yield getattr(route, "path", "")
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router as one route
        if included is not None:
            yield getattr(getattr(route, "include_context", None), "prefix", "")
            yield from _paths(included.routes)


class RedactPaths(logging.Filter):
    """uvicorn's access log record carries (client, method, path with query, http version, status)."""

    def __init__(self) -> None:
        super().__init__()
        self.words: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2], self.words), *args[3:])
        return True


def redact_access_logs(routes: Iterable[BaseRoute]) -> None:
    """Install the filter once per process; every app built in it adds its routes' words."""
    access = logging.getLogger("uvicorn.access")
    found = [f for f in access.filters if isinstance(f, RedactPaths)]
    redactor = found[0] if found else RedactPaths()
    if not found:
        access.addFilter(redactor)
    redactor.words |= route_words(routes)
