import logging

from app.api.redaction import RedactQueryStrings


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


def test_a_token_in_the_query_string_never_reaches_the_access_log() -> None:
    record = _access_record("/v1/balance/create?initial_balance_token=cashuBsecret")
    RedactQueryStrings().filter(record)
    assert "cashuBsecret" not in record.getMessage()
    assert "/v1/balance/create?[redacted]" in record.getMessage()


def test_other_query_strings_are_left_alone() -> None:
    record = _access_record("/v1/models?page=2")
    RedactQueryStrings().filter(record)
    assert "/v1/models?page=2" in record.getMessage()
