"""Log lines as text or JSON, each carrying the id of the request it was written for.

The request-id middleware sets `request_id_var`; asyncio copies the context into every task a request spawns (a
stream's settlement included), so their lines carry the id too. Secrets never reach a log line through here: the
access log's paths and queries are redacted before formatting (app/api/redaction.py)."""

import logging
import logging.config
import time
from contextvars import ContextVar
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# what every LogRecord has; anything else on a record was passed as `extra=` and becomes a JSON field
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "color_message"}
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")  # uvicorn's access record, in order
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request's id ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, the record's extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid and rid != "-":
            line["request_id"] = rid
        line |= {key: value for key, value in record.__dict__.items() if key not in _STANDARD}
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            line |= dict(zip(_ACCESS_FIELDS, record.args, strict=True))  # already redacted (app.api.redaction)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def log_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """A dictConfig for the node and uvicorn (also what `serve` hands uvicorn, so every worker process uses it)."""
    formatter: dict[str, Any] = {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "node",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    quiet = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"node": formatter},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": quiet,
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": quiet,
            # a line per request to a mint names its URL, and a mint quote's id in it is worth the ecash it mints
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: LogFormat, level: str) -> None:
    logging.config.dictConfig(log_config(log_format, level))
