"""A NIP-90 text-generation job (kind 5050) as the node reads it: inputs, params, bid, relays and payment, turned
into the OpenAI chat body the metered proxy path takes. Only what the node needs is read; a job it cannot run is a
MalformedJob whose message is the reason the customer sees."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from app.dvm.sealing import Sealing
from app.nostr.event import Event, Tags

JOB_KIND = 5050
RESULT_KIND = 6050
FEEDBACK_KIND = 7000
TEXT_INPUTS = ("text", "prompt")
MAX_JOB_RELAYS = 3  # relays a job may ask its result to go to, beyond the node's own


class JobRefused(Exception):
    """Why a job is not run, as its kind 7000 feedback says. Not a NodeError: it never leaves over HTTP."""

    default_message = "job refused"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class MalformedJob(JobRefused):
    default_message = "malformed job request"


@dataclass(frozen=True, slots=True)
class JobRequest:
    event: Event
    prompt: str
    model: str
    params: dict[str, Any]  # OpenAI chat fields from the job's params (max_tokens, temperature, ...)
    bid_msat: int | None
    relays: tuple[str, ...]
    cashu: str | None
    sealing: Sealing | None = None  # how the job's tags came encrypted to the node; answers go back the same way

    @property
    def id(self) -> str:
        return self.event.id

    @property
    def encrypted(self) -> bool:
        return self.sealing is not None

    @property
    def customer(self) -> str:
        return self.event.pubkey

    def chat_body(self, *, stream: bool = False) -> bytes:
        messages = [{"role": "user", "content": self.prompt}]
        return orjson.dumps({"model": self.model, "messages": messages, "stream": stream, **self.params})


def request_id_for(job_id: str) -> str:
    """The id the job's reservation and charge are journaled under (64 characters at most, as the ledger keeps)."""
    return "dvm-" + job_id[:60]


def _number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            return kind(value)
        except ValueError as exc:
            raise MalformedJob(f"param {value!r} is not a number") from exc

    return parse


_PARAMS: dict[str, Callable[[str], Any]] = {
    "max_tokens": _number(int),
    "temperature": _number(float),
    "top_p": _number(float),
    "frequency_penalty": _number(float),
    "presence_penalty": _number(float),
    "seed": _number(int),
    "top-k": _number(int),
}
_BODY_FIELDS = {"top-k": "top_k"}  # NIP-90's name -> the chat body's (OpenRouter, vLLM and llama.cpp read top_k)


def parse_job(
    event: Event, default_model: str = "", tags: Tags | None = None, *, sealing: Sealing | None = None
) -> JobRequest:
    """The job in `event` (already verified), or MalformedJob with the reason. `tags`: the job's tags as the node
    reads them (with an encrypted job's secret tags added and event inputs resolved); default: the event's."""
    tags = event.tags if tags is None else tags
    params = _params(tags)
    model = params.pop("model", None) or default_model
    if not model:
        raise MalformedJob('no model: add a tag ["param", "model", "<model id>"]')
    return JobRequest(
        event=event,
        prompt=_prompt(tags),
        model=model,
        params=params,
        bid_msat=_bid(_first(tags, "bid")),
        relays=_relays(tags),
        cashu=_first(tags, "cashu"),
        sealing=sealing,
    )


def _first(tags: Tags, name: str) -> str | None:
    return next((tag[1] for tag in tags if len(tag) > 1 and tag[0] == name), None)


def _prompt(tags: Tags) -> str:
    inputs = [tag for tag in tags if tag[0] == "i" and len(tag) > 1]
    if not inputs:
        raise MalformedJob('no input: add a tag ["i", "<prompt>", "text"]')
    unsupported = [tag[2] for tag in inputs if len(tag) > 2 and tag[2] not in TEXT_INPUTS]
    if unsupported:
        raise MalformedJob(f"input type {unsupported[0]!r} is not supported here (only text and prompt)")
    prompt = "\n\n".join(tag[1] for tag in inputs)
    if not prompt.strip():
        raise MalformedJob("the input is empty")
    return prompt


def _params(tags: Tags) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for tag in tags:
        if tag[0] != "param" or len(tag) < 3:
            continue
        name, value = tag[1], tag[2]
        if name == "model":
            params["model"] = value
        elif name in _PARAMS:
            params[_BODY_FIELDS.get(name, name)] = _PARAMS[name](value)
    return params


def _bid(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise MalformedJob("bid is not an amount in msat") from exc


def _relays(tags: Tags) -> tuple[str, ...]:
    for tag in tags:
        if tag[0] == "relays":
            urls = [url for url in tag[1:] if url.startswith(("ws://", "wss://"))]
            return tuple(urls[:MAX_JOB_RELAYS])
    return ()
