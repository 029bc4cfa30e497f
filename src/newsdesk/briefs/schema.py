"""The brief: what the model writes for a story, section by section, as pydantic models.

Every sentence-level claim is a ``Claim``: its text and the ids of the source passages that
support it (``cites``). Lengths and counts are bounded here, and the bounds travel into the
JSON Schema that constrains decoding, so that a small model cannot loop. Each section is its
own model (``SECTIONS``, and ``TimelineWording`` for the timeline); ``Brief`` is all of
them together, published as JSON Schema in docs/brief.schema.json.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from newsdesk.tags import merged

Persona = Literal[
    "Founders & Product Leaders",
    "ML Engineers",
    "Researchers",
    "Developers",
    "Policy & Legal",
    "Investors",
]
PERSONAS: tuple[str, ...] = get_args(Persona)

PassageId = Annotated[int, Field(ge=1, le=99)]
HASHTAG_MAX = 30
# Lower-case words joined by single hyphens. The pattern bounds its own length: grammar
# converters (llama.cpp's) ignore maxLength beside a pattern, and with an unbounded one
# SmolLM2-135M wrote "fuse-fuse-fuse-..." until its answer budget ran out, mid-string. This
# one ends after 30 letters and digits (59 characters with hyphens at most: longer ones
# fail maxLength and are dropped, ``writer._fit_hashtags``).
HASHTAG_PATTERN = r"^[a-z](-?[a-z0-9]){0,29}$"
Hashtag = Annotated[str, Field(pattern=HASHTAG_PATTERN, max_length=HASHTAG_MAX)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Claim(_Strict):
    """One sentence, and the passages that support it."""

    text: str = Field(min_length=8, max_length=180)
    # The model must cite (minItems in the schema it is given); a citation of a passage that
    # does not exist is dropped afterwards, and a claim left without one stays, uncited, for
    # the grounding checker to mark.
    cites: list[PassageId] = Field(max_length=3, json_schema_extra={"minItems": 1})


class Headline(_Strict):
    hook: str = Field(min_length=8, max_length=120, description="One line that makes one read")
    hashtags: list[Hashtag] = Field(min_length=1, max_length=5)


class TLDR(_Strict):
    what_changed: Claim
    why_it_matters: Claim
    what_to_do_next: Claim
    who_should_care: list[Persona] = Field(min_length=1, max_length=3)

    @field_validator("who_should_care")
    @classmethod
    def _each_once(cls, personas: list[str]) -> list[str]:
        """Each reader once: a grammar cannot forbid a repeat, and the 1.5B wrote
        "Researchers, Developers, Researchers"."""
        return list(dict.fromkeys(personas))


class TLDRSection(_Strict):
    tldr: TLDR


class Takeaways(_Strict):
    key_takeaways: list[Claim] = Field(min_length=1, max_length=3)


class Comparison(_Strict):
    """A small table, or no columns and no rows when nothing in the story compares."""

    columns: list[Annotated[str, Field(max_length=30)]] = Field(max_length=4)
    rows: list[Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=4)]] = Field(
        max_length=4
    )
    cites: list[PassageId] = Field(max_length=3)


class ComparisonSection(_Strict):
    comparison: Comparison


class DeepDive(_Strict):
    technical_deep_dive: list[Claim] = Field(min_length=1, max_length=3)


class Implication(_Strict):
    prediction: str = Field(min_length=8, max_length=160)
    rationale: Claim


class Implications(_Strict):
    future_implications: list[Implication] = Field(max_length=2)


class TimelineEntry(_Strict):
    """A dated event. The date is never the model's: it is the date that a sentence of the
    cited passage names (``newsdesk.timeline``); the model only words the event."""

    date: str = Field(pattern=r"^[12][0-9]{3}-[01][0-9]-[0-3][0-9]$")
    event: Claim
    evidence: str = Field(default="", max_length=400, description="The dated source sentence")


class Timeline(_Strict):
    timeline: list[TimelineEntry] = Field(max_length=4)


class TimelineWording(_Strict):
    """What the model writes for a timeline: one sentence per dated piece of evidence."""

    events: list[Annotated[str, Field(min_length=8, max_length=160)]] = Field(max_length=4)


class Brief(_Strict):
    """A whole brief: every section, as stored and served."""

    hook: str
    hashtags: list[str]
    tldr: TLDR
    key_takeaways: list[Claim]
    comparison: Comparison
    technical_deep_dive: list[Claim]
    future_implications: list[Implication]
    timeline: list[TimelineEntry]

    def claims(self) -> list[Claim]:
        """Every claim of the brief, in reading order."""
        out = [self.tldr.what_changed, self.tldr.why_it_matters, self.tldr.what_to_do_next]
        out += self.key_takeaways + self.technical_deep_dive
        out += [i.rationale for i in self.future_implications]
        out += [t.event for t in self.timeline]
        return out


SECTIONS: dict[str, type[_Strict]] = {
    "headline": Headline,
    "tldr": TLDRSection,
    "key_takeaways": Takeaways,
    "comparison": ComparisonSection,
    "technical_deep_dive": DeepDive,
    "future_implications": Implications,
}
"""The sections the model writes from the pack. The timeline is built from dated evidence
(``newsdesk.timeline``) and only worded by the model (``TimelineWording``)."""


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline_refs(defs[node["$ref"].split("/")[-1]], defs)
        return {
            k: _inline_refs(v, defs)
            for k, v in node.items()
            if k != "$defs" and not (k in ("title", "description") and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with references inlined, titles and descriptions dropped.

    Servers' structured output and llama.cpp's grammar converter all take this plain form.
    """
    schema = model.model_json_schema()
    return dict(_inline_refs(schema, schema.get("$defs", {})))


def citing_up_to(schema: dict[str, Any], passages: int) -> dict[str, Any]:
    """``schema`` with every ``cites`` list bounded to the passages 1..``passages`` there
    are, as an enum (llama.cpp's grammar converter ignores an integer's ``maximum``; the
    type stays, as OpenAI's strict mode requires): a small model given the schema's 1..99
    cites a passage that does not exist, and its sentence is left with none."""
    if passages < 1:
        raise ValueError("a schema of cites needs at least one passage to cite")
    return dict(_cites_bounded(schema, list(range(1, passages + 1))))


def _cites_bounded(node: Any, ids: list[int]) -> Any:
    if isinstance(node, list):
        return [_cites_bounded(v, ids) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _cites_bounded(v, ids) for k, v in node.items()}
    cites = out.get("properties", {}).get("cites")
    if isinstance(cites, dict):
        items = {"type": "integer", "enum": ids}
        out["properties"] = {**out["properties"], "cites": {**cites, "items": items}}
    return out


def assemble(sections: dict[str, BaseModel]) -> Brief:
    """One ``Brief`` from the validated sections (each holds some of the brief's fields)."""
    fields: dict[str, Any] = {}
    for section in sections.values():
        fields.update(section.model_dump())
    fields["hashtags"] = merged(fields.get("hashtags", []))
    return Brief.model_validate(fields)
