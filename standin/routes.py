"""The stand-in's endpoints: request method, path and body in, a Reply out. Errors are OpenAI-shaped."""

from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from app.errors import BadRequest, NodeError, NotFound
from standin import generation as gen
from standin import openai_shapes as shapes
from standin.hostile import FOLLOWED_PREFIX, GARBAGE_PREFIX, garbage_model_list, hostile_reply
from standin.messages_api import messages, recorded
from standin.replies import Drop, JsonReply, Reply, json_reply
from standin.responses_api import responses
from standin.switches import parse_switches

MODELS_PATH = "/v1/models"


class MethodNotAllowed(NodeError):
    default_message: ClassVar[str] = "method not allowed"


# The stand-in plays an OpenAI upstream, so it renders its errors itself, as OpenAI does (not as the node does).
_SHOWN_AS: dict[type[NodeError], tuple[int, str]] = {
    BadRequest: (400, "invalid_request"),
    NotFound: (404, "not_found"),
    MethodNotAllowed: (405, "method_not_allowed"),
}


def route(method: bytes, path: str, body: bytes) -> Reply:
    try:
        return _dispatch(method, path, body)
    except NodeError as error:
        status, code = _SHOWN_AS[type(error)]
        return json_reply(status, {"error": {"message": error.message, "type": "invalid_request_error", "code": code}})


def _dispatch(method: bytes, path: str, body: bytes) -> Reply:
    if path == GARBAGE_PREFIX + MODELS_PATH:
        _require_method(method, b"GET")
        return JsonReply(200, garbage_model_list())
    path = path.removeprefix(GARBAGE_PREFIX)
    followed = path.startswith(FOLLOWED_PREFIX + "/")
    path = path.removeprefix(FOLLOWED_PREFIX)
    post_handler = _POST_ROUTES.get(path)
    if post_handler is not None:
        _require_method(method, b"POST")
        parsed = _parse_body(body)
        if followed:  # the target of a hostile redirect answers like a well-behaved upstream
            parsed.pop("standin", None)
        return post_handler(parsed)
    if path == MODELS_PATH or path.startswith(MODELS_PATH + "/"):
        _require_method(method, b"GET")
        return _models(path)
    raise NotFound(f"unknown path {path}")


def _require_method(method: bytes, expected: bytes) -> None:
    if method != expected:
        raise MethodNotAllowed(f"use {expected.decode()}")


def _parse_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("malformed JSON body") from exc
    if not isinstance(parsed, dict):
        raise BadRequest("the body must be a JSON object")
    return parsed


def _models(path: str) -> Reply:
    if path == MODELS_PATH:
        return json_reply(200, shapes.model_list())
    model_id = path.removeprefix(MODELS_PATH + "/")
    if model_id not in shapes.MODEL_IDS:
        raise NotFound(f"model {model_id} not found")
    return json_reply(200, shapes.model_object(model_id))


def chat_completions(body: dict[str, Any]) -> Reply:
    switches = parse_switches(body)
    early = gen.short_circuit(switches) or recorded(body, switches)
    if early is not None:
        return early
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    max_tokens = gen.optional_max_tokens(body, "max_completion_tokens", "max_tokens")
    generation = gen.plan_generation(body, switches, sum(map(_message_chars, messages)), max_tokens)
    if switches.hostile is not None:
        return hostile_reply(switches.hostile, body, switches, generation, chat=True)
    return gen.deliver(body, switches, generation, chat=True)


def completions(body: dict[str, Any]) -> Reply:
    switches = parse_switches(body)
    early = gen.short_circuit(switches)
    if early is not None:
        return early
    prompts = _strings(body.get("prompt"), "prompt")
    max_tokens = gen.optional_max_tokens(body, "max_tokens")
    generation = gen.plan_generation(body, switches, sum(map(len, prompts)), max_tokens)
    if switches.hostile is not None:
        return hostile_reply(switches.hostile, body, switches, generation, chat=False)
    return gen.deliver(body, switches, generation, chat=False)


def embeddings(body: dict[str, Any]) -> Reply:
    switches = parse_switches(body)
    early = gen.short_circuit(switches)
    if early is not None:
        return early
    model = gen.require_model(body)
    texts = _strings(body.get("input"), "input")
    if switches.drop_after is not None:
        return Drop()
    as_base64 = body.get("encoding_format") == "base64"
    return json_reply(200, shapes.embedding_list(model, texts, as_base64), switches.delay_s)


def _message_chars(message: object) -> int:
    if not isinstance(message, dict):
        raise BadRequest("each message must be an object")
    content = message.get("content")
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(part["text"]) for part in content if isinstance(part, dict) and _is_text(part))
    return 0


def _is_text(part: dict[str, Any]) -> bool:
    return isinstance(part.get("text"), str) and part.get("type", "text") == "text"


def _strings(value: object, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    raise BadRequest(f"'{name}' must be a string or a non-empty list of strings")


_POST_ROUTES: dict[str, Callable[[dict[str, Any]], Reply]] = {
    "/v1/chat/completions": chat_completions,
    "/v1/completions": completions,
    "/v1/embeddings": embeddings,
    "/v1/responses": responses,
    "/v1/messages": messages,
}
