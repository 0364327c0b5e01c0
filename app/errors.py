"""Domain errors. Each carries its HTTP meaning; one handler in app.api renders them as OpenAI error JSON."""

from typing import Any, ClassVar


class NodeError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.default_message
        self.extra = extra
        self.headers: dict[str, str] = {}  # sent with the error response (e.g. the change of an X-Cashu payment)
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, **self.extra}}


class BadRequest(NodeError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    default_message = "invalid request"


class BodyTooLarge(NodeError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    default_message = "request body too large"


class Unauthorized(NodeError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"
    default_message = "missing or unknown API key"


class InsufficientBalance(NodeError):
    status = 402
    type = "insufficient_quota"
    code = "insufficient_balance"
    default_message = "insufficient balance"


class ModelNotFound(NodeError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"
    default_message = "model not found"


class NotFound(NodeError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    default_message = "not found"


class UpstreamUnavailable(NodeError):
    status = 502
    type = "upstream_error"
    code = "upstream_unavailable"
    default_message = "upstream unreachable"


class UpstreamTimeout(NodeError):
    status = 504
    type = "upstream_error"
    code = "upstream_timeout"
    default_message = "upstream timed out"


class ServiceUnavailable(NodeError):
    status = 503
    type = "server_error"
    code = "service_unavailable"
    default_message = "service unavailable"
