"""Keep tokens out of access logs: Routstr's clients may put a Cashu token in a query string."""

import logging

_SECRET_HINTS = ("token", "cashu", "key")


class RedactQueryStrings(logging.Filter):
    """uvicorn's access log record carries (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            path, _, query = args[2].partition("?")
            if any(hint in query.lower() for hint in _SECRET_HINTS):
                record.args = (*args[:2], f"{path}?[redacted]", *args[3:])
        return True


def redact_access_logs() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryStrings) for f in access.filters):
        access.addFilter(RedactQueryStrings())
