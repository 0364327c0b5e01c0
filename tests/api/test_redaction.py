import logging

from app.api.redaction import RedactPaths, route_words
from app.main import create_app
from app.settings import Settings


def _access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "POST", path, "1.1", 200),
        None,
    )


def _redactor() -> RedactPaths:
    redactor = RedactPaths()
    redactor.words = route_words(create_app(Settings(_env_file=None)).routes)
    return redactor


def _logged(path: str) -> str:
    record = _access_record(path)
    _redactor().filter(record)
    return record.getMessage()


def test_a_token_in_the_query_string_never_reaches_the_access_log() -> None:
    logged = _logged("/v1/balance/create?initial_balance_token=cashuBsecret")
    assert "cashuBsecret" not in logged
    assert "/v1/balance/create?[redacted]" in logged


def test_every_query_string_is_redacted() -> None:
    assert "/v1/models?[redacted]" in _logged("/v1/models?page=2")


def test_an_invoice_id_in_the_path_is_redacted_and_the_route_stays_readable() -> None:
    logged = _logged("/v1/balance/lightning/invoice/Zq3-secret_id/status")
    assert "Zq3-secret_id" not in logged
    assert "/v1/balance/lightning/invoice/[redacted]/status" in logged


def test_unknown_segments_are_redacted() -> None:
    logged = _logged("/v1/sk-0123abcd/cashuBxyz")
    assert "sk-0123abcd" not in logged and "cashuBxyz" not in logged
    assert "/v1/[redacted]/[redacted]" in logged
