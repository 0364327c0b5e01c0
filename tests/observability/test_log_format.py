"""The two log formats `serve` configures, and the request id they carry (built from the same config, on a private
logger, so the test leaves the process's logging as it found it)."""

import io
import json
import logging
from logging.config import DictConfigurator
from typing import Any

from app.observability.logging import LogFormat, log_config, request_id_var


def _emit(log_format: LogFormat, *, with_id: str | None) -> str:
    config: Any = DictConfigurator(log_config(log_format, "INFO")).config
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(config.configurator.configure_formatter(config["formatters"]["node"]))
    handler.addFilter(config.configurator.configure_filter(config["filters"]["request_id"]))
    logger = logging.getLogger(f"test.log_format.{log_format}")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)
    token = request_id_var.set(with_id)
    try:
        logger.info("deposit.credited amount_msat=%d", 5, extra={"key_id": 7})
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_json_line_carries_the_request_id_and_extras() -> None:
    line = json.loads(_emit("json", with_id="abc123"))
    assert line["message"] == "deposit.credited amount_msat=5"
    assert (line["request_id"], line["key_id"], line["level"]) == ("abc123", 7, "INFO")
    assert line["ts"].endswith("Z")


def test_a_line_outside_a_request_has_no_id() -> None:
    assert "request_id" not in json.loads(_emit("json", with_id=None))
    assert " [-] deposit.credited" in _emit("text", with_id=None)


def test_a_text_line_shows_the_request_id() -> None:
    assert " INFO test.log_format.text [abc123] deposit.credited amount_msat=5" in _emit("text", with_id="abc123")


def test_mint_request_urls_are_not_logged_at_info() -> None:
    loggers = log_config("text", "DEBUG")["loggers"]
    assert loggers["httpx"]["level"] == "WARNING" and loggers["httpcore"]["level"] == "WARNING"
