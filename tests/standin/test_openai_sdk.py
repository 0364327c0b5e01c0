"""The stand-in seen through the official OpenAI SDK: it must parse every reply as it would a real upstream."""

import math
from collections.abc import Iterator

import openai
import pytest

CONTENT = "Say hello to the benchmark"


@pytest.fixture
def client(standin_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=standin_url, api_key="sk-standin", max_retries=0, timeout=5.0) as sdk:
        yield sdk


def prompt_tokens(*texts: str) -> int:
    return math.ceil(sum(map(len, texts)) / 4)


def test_models_lists_the_three_standin_models(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == ["standin-small", "standin-large", "standin-embed"]
    assert {model.owned_by for model in models.data} == {"standin"}


def test_chat_completion_answers_eight_tokens_and_counts_usage(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="any-model-name", messages=[{"role": "user", "content": CONTENT}])
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.model == "any-model-name"
    assert reply.choices[0].message.content == "hi " * 8
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == prompt_tokens(CONTENT)
    assert (reply.usage.completion_tokens, reply.usage.total_tokens) == (8, prompt_tokens(CONTENT) + 8)


def test_max_tokens_cuts_the_reply_with_finish_reason_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="standin-small", messages=[{"role": "user", "content": CONTENT}], max_completion_tokens=3
    )
    assert reply.choices[0].message.content == "hi hi hi "
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 3


def test_chunks_switch_passes_through_extra_body(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="standin-small",
        messages=[{"role": "user", "content": CONTENT}],
        max_tokens=10,
        extra_body={"standin": {"chunks": 2}},
    )
    assert reply.choices[0].message.content == "hi hi "
    assert reply.choices[0].finish_reason == "stop"


def test_prompt_tokens_count_text_parts_of_every_message(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="standin-small",
        messages=[
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": " this picture?"},
                ],
            },
        ],
    )
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == prompt_tokens("be brief", "what is in", " this picture?")


def test_chat_stream_sends_role_tokens_finish_and_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="standin-small",
        messages=[{"role": "user", "content": CONTENT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [chunk.choices[0].delta.content for chunk in chunks[1:9]] == ["hi "] * 8
    assert chunks[9].choices[0].finish_reason == "stop"
    assert chunks[10].choices == []
    assert chunks[10].usage is not None and chunks[10].usage.completion_tokens == 8
    assert len(chunks) == 11
    assert {chunk.id for chunk in chunks} == {chunks[0].id}


def test_chat_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="standin-small", messages=[{"role": "user", "content": CONTENT}], stream=True
        )
    )
    assert len(chunks) == 10
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)


def test_text_completion_with_a_list_prompt(client: openai.OpenAI) -> None:
    reply = client.completions.create(model="standin-large", prompt=["one", "three"], max_tokens=4)
    assert reply.object == "text_completion"
    assert reply.choices[0].text == "hi " * 4
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.prompt_tokens == prompt_tokens("one", "three")


def test_text_completion_stream(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(
            model="standin-large", prompt="abc", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(chunk.choices[0].text for chunk in chunks if chunk.choices) == "hi " * 8
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 1 + 8


def test_embeddings_are_deterministic_in_float_and_base64(client: openai.OpenAI) -> None:
    as_base64 = client.embeddings.create(model="standin-embed", input=["a cat", "a dog"])
    as_float = client.embeddings.create(model="standin-embed", input=["a cat", "a dog"], encoding_format="float")
    assert [item.embedding for item in as_base64.data] == [item.embedding for item in as_float.data]
    assert all(len(item.embedding) == 8 for item in as_float.data)
    assert as_float.data[0].embedding != as_float.data[1].embedding
    assert as_float.usage.prompt_tokens == prompt_tokens("a cat") + prompt_tokens("a dog")


def test_injected_statuses_surface_as_sdk_errors(client: openai.OpenAI) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": CONTENT}]
    with pytest.raises(openai.RateLimitError) as rate_limited:
        client.chat.completions.create(
            model="standin-small", messages=messages, extra_body={"standin": {"status": 429}}
        )
    assert rate_limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="standin-small", messages=messages, extra_body={"standin": {"status": 500}}
        )
