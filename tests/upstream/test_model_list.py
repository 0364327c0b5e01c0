"""The upstream's model list: bad entries are skipped, good ones kept, nothing it sends stops the node."""

import logging

import pytest

from app.upstream.model_list import UpstreamModel, parse_model_list

GOOD = {"id": "m", "object": "model", "created": 1, "owned_by": "o", "context_length": 4096}


@pytest.mark.parametrize(
    "bad",
    [
        {**GOOD, "created": "x"},
        {**GOOD, "created": True},
        {**GOOD, "created": 1.5},
        {**GOOD, "created": -1},
        {**GOOD, "created": 2**64},
        {**GOOD, "id": 5},
        {**GOOD, "id": ""},
        {**GOOD, "id": "x" * 257},
        {**GOOD, "id": "bad\nid"},
        {**GOOD, "owned_by": ["o"]},
        {**GOOD, "context_length": 0},
        {**GOOD, "context_length": "4096"},
        {**GOOD, "context_length": 10**9},
        "m",
        None,
        [GOOD],
    ],
)
def test_a_bad_entry_is_skipped_and_the_good_ones_kept(bad: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        models = parse_model_list({"data": [bad, GOOD, {"id": "n"}]})
    assert models == [UpstreamModel("m", 1, "o", 4096), UpstreamModel("n", 0, "", None)]
    assert len([r for r in caplog.records if "model_list_garbage" in r.message]) == 1


@pytest.mark.parametrize("payload", [None, [], "x", {"data": "x"}, {"data": None}, {}, 12])
def test_a_list_that_is_not_a_list_gives_no_models(payload: object) -> None:
    assert parse_model_list(payload) == []


def test_nulls_are_defaults() -> None:
    assert parse_model_list({"data": [{"id": "m", "created": None, "owned_by": None}]}) == [
        UpstreamModel("m", 0, "", None)
    ]
