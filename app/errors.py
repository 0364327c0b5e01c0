"""Domain errors: what went wrong, never how HTTP shows it. app.api.errors maps each class to its status, `type` and
`code` in one table and renders them as OpenAI error JSON.

    NodeError
    ├── BadRequest
    ├── BodyTooLarge
    ├── Unauthorized
    ├── InsufficientBalance
    │   └── MinimumBalanceRequired   (an X-Cashu token worth less than the request may cost)
    ├── ModelNotFound
    ├── NotFound
    ├── UpstreamUnavailable
    ├── UpstreamTimeout
    ├── ServiceUnavailable
    ├── RequestsInFlight
    │   └── TokenRequestsInFlight  (the same, for an X-Cashu token: ask again shortly)
    └── (per package: app.cashu.errors, app.nostr.errors, app.upstream.client, app.proxy.service, app.payments)
"""

from typing import Any, ClassVar


class NodeError(Exception):
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.default_message
        self.extra = extra  # more fields for the error object (e.g. `param`, or a finer `code`)
        self.headers: dict[str, str] = {}  # sent with the error response (e.g. the change of an X-Cashu payment)
        super().__init__(self.message)


class BadRequest(NodeError):
    default_message = "invalid request"


class BodyTooLarge(NodeError):
    default_message = "request body too large"


class Unauthorized(NodeError):
    default_message = "missing or unknown API key"


class InsufficientBalance(NodeError):
    default_message = "insufficient balance"


class MinimumBalanceRequired(InsufficientBalance):
    default_message = "the X-Cashu token is worth less than this request may cost"


class ModelNotFound(NodeError):
    default_message = "model not found"


class NotFound(NodeError):
    default_message = "not found"


class UpstreamUnavailable(NodeError):
    default_message = "upstream unreachable"


class UpstreamTimeout(NodeError):
    default_message = "upstream timed out"


class ServiceUnavailable(NodeError):
    default_message = "service unavailable"


class RequestsInFlight(NodeError):
    """A refund asked while requests paid by the key are still running: it would leave what they hold behind."""

    default_message = "this key has ongoing requests; ask for the refund again once they have ended"


class TokenRequestsInFlight(RequestsInFlight):
    default_message = "a request paid with this token is still running; ask for the change again shortly"
