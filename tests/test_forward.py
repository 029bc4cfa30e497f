"""Jump-forward decoding: the text a schema forces is always what a valid answer carries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from newsdesk.briefs.schema import SECTIONS, Timeline, TimelineWording, json_schema
from newsdesk.llm.forward import JsonCursor

CLAIM = {"text": 'A claim with "quotes", a \\ and ünïcode.', "cites": [1, 12]}
ANSWERS: dict[str, list[dict[str, Any]]] = {
    "headline": [{"hook": "Qwen ships a 1.5B coder", "hashtags": ["qwen", "open-weights"]}],
    "tldr": [
        {
            "tldr": {
                "what_changed": CLAIM,
                "why_it_matters": {"text": "It runs on a laptop CPU.", "cites": [2]},
                "what_to_do_next": CLAIM,
                "who_should_care": ["ML Engineers", "Developers"],
            }
        }
    ],
    "key_takeaways": [{"key_takeaways": [CLAIM]}, {"key_takeaways": [CLAIM, CLAIM, CLAIM]}],
    "comparison": [
        {"comparison": {"columns": [], "rows": [], "cites": []}},
        {
            "comparison": {
                "columns": ["model", "score"],
                "rows": [["a", "1"], ["b", "2"]],
                "cites": [3],
            }
        },
    ],
    "technical_deep_dive": [{"technical_deep_dive": [CLAIM, CLAIM]}],
    "future_implications": [
        {"future_implications": []},
        {"future_implications": [{"prediction": "More of the same.", "rationale": CLAIM}] * 2},
    ],
    "timeline": [
        {"timeline": []},
        {"timeline": [{"date": "2025-01-02", "event": CLAIM, "evidence": "On 2 Jan."}] * 4},
    ],
    "timeline_wording": [{"events": []}, {"events": ["It shipped.", "It was fixed."]}],
}
MODELS: dict[str, Any] = {**SECTIONS, "timeline": Timeline, "timeline_wording": TimelineWording}


def canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@pytest.mark.parametrize("name", list(MODELS))
def test_forced_text_is_what_every_valid_answer_carries(name: str) -> None:
    schema = json_schema(MODELS[name])
    for answer in ANSWERS[name]:
        MODELS[name].model_validate(answer)
        text = canonical(answer)
        forced_chars = 0
        for i in range(len(text) + 1):
            cursor = JsonCursor(schema)
            cursor.feed(text[:i])
            forced = cursor.forced()
            assert text[i:].startswith(forced), (name, text[:i], forced)
            forced_chars += bool(forced)
        cursor = JsonCursor(schema)
        cursor.feed(text)
        assert cursor.complete
        assert cursor.forced() == ""
        assert forced_chars > 0


def test_jumping_forward_writes_the_structure() -> None:
    """Following the cursor alone, filling in only what the schema leaves open."""
    schema = json_schema(SECTIONS["tldr"])
    cursor = JsonCursor(schema)
    start = cursor.forced()
    assert start == '{"tldr": {"what_changed": {"text": "'
    cursor.feed(start + 'It shipped."')
    assert cursor.forced() == ', "cites": ['
    cursor.feed(', "cites": [2')
    assert cursor.forced() == ""  # another digit, a comma or the end: the model's choice
    cursor.feed("]")
    assert cursor.forced() == '}, "why_it_matters": {"text": "'


def test_a_key_the_model_began_is_finished_for_it() -> None:
    cursor = JsonCursor(json_schema(SECTIONS["headline"]))
    cursor.feed('{"ho')
    assert cursor.forced() == 'ok": "'


def test_an_array_at_its_maximum_closes() -> None:
    cursor = JsonCursor(json_schema(SECTIONS["future_implications"]))
    one = canonical({"prediction": "More of the same.", "rationale": CLAIM})
    cursor.feed('{"future_implications": [' + one)
    assert cursor.forced() == ""  # a second one or the end
    cursor.feed(", " + one)
    assert cursor.forced() == "]}"


def test_whitespace_and_escapes_are_followed() -> None:
    cursor = JsonCursor(json_schema(SECTIONS["headline"]))
    cursor.feed('{ "hook" :  "a \\" quote"  ,  ')
    assert cursor.forced() == '"hashtags": ["'
