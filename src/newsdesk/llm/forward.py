"""Jump-forward decoding: the text that a JSON Schema forces next, so that no model call
is spent on it.

In a schema-constrained answer much of the text is fixed by the schema: the keys of an
object whose properties are all required, in their declared order, the colon after each
key, the ``{`` of a nested object, the ``"`` that opens a string, the ``]`` of an array
that reached ``maxItems``. A model that writes that text token by token runs one forward
pass per token; a decoder that knows where it stands in the schema appends all of it at
once and evaluates it in one batch (SGLang calls this jump-forward decoding).

``JsonCursor`` follows the answer character by character (fed the text of each token as
it is chosen) and says what must come next (``forced``). It writes the canonical spacing
``{"key": value, "next": value}``, which the grammar allows (its spaces are optional).
Where the schema leaves a choice (a number, the end of a string, another array element)
it forces nothing, and the model decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

_SPACE = " \t\n\r"
_SCALAR = "0123456789+-.eE"
_LITERAL = "truefalsn"


@dataclass
class _Frame:
    kind: str  # object, array, key, string, scalar
    schema: dict[str, Any]
    state: str = ""
    done: int = 0  # properties or elements completed
    key: str = ""
    escape: bool = False
    keys: list[str] = field(default_factory=list)


class JsonCursor:
    """Where an answer constrained by ``schema`` stands, and the text it must go on with."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._stack: list[_Frame] = []
        self.complete = False
        self._started = False
        self._last = ""

    @property
    def in_string(self) -> bool:
        """Inside a string value: the model writes free text."""
        return bool(self._stack) and self._stack[-1].kind == "string"

    # -- following the answer -------------------------------------------------------------

    def feed(self, text: str) -> None:
        for ch in text:
            self._feed(ch)

    def _feed(self, ch: str) -> None:
        self._last = ch
        if self.complete:
            return
        if not self._stack:
            if ch in _SPACE:
                return
            self._started = True
            self._open(ch, self.schema)
            return
        top = self._stack[-1]
        if top.kind in ("string", "key"):
            if top.escape:
                top.escape = False
            elif ch == "\\":
                top.escape = True
            elif ch == '"':
                self._stack.pop()
                if top.kind == "key":
                    parent = self._stack[-1]
                    parent.key, parent.state = top.key, "colon"
                else:
                    self._value_done()
            elif top.kind == "key":
                top.key += ch
            return
        if top.kind == "scalar":
            if ch in _SCALAR or ch in _LITERAL:
                return
            self._stack.pop()
            self._value_done()
            self._feed(ch)
            return
        if ch in _SPACE:
            return
        if top.kind == "object":
            if top.state in ("first", "key") and ch == '"':
                top.state = "in_key"
                self._stack.append(_Frame("key", {}))
            elif top.state in ("first", "next") and ch == "}":
                self._stack.pop()
                self._value_done()
            elif top.state == "next" and ch == ",":
                top.state = "key"
            elif top.state == "colon" and ch == ":":
                top.state = "value"
            elif top.state == "value":
                top.state = "after"
                self._open(ch, _properties(top.schema).get(top.key, {}))
        elif top.kind == "array":
            if top.state in ("first", "next") and ch == "]":
                self._stack.pop()
                self._value_done()
            elif top.state == "next" and ch == ",":
                top.state = "value"
            elif top.state in ("first", "value"):
                top.state = "after"
                self._open(ch, top.schema.get("items") or {})

    def _open(self, ch: str, schema: dict[str, Any]) -> None:
        if ch == "{":
            self._stack.append(_Frame("object", schema, "first"))
        elif ch == "[":
            self._stack.append(_Frame("array", schema, "first"))
        elif ch == '"':
            self._stack.append(_Frame("string", schema))
        else:
            self._stack.append(_Frame("scalar", schema))

    def _value_done(self) -> None:
        if not self._stack:
            self.complete = True
            return
        parent = self._stack[-1]
        parent.done += 1
        if parent.kind == "object":
            parent.keys.append(parent.key)
        parent.state = "next"

    # -- what must come next --------------------------------------------------------------

    def forced(self) -> str:
        """The text the schema allows next and nothing else ('' where the model must choose)."""
        if self.complete:
            return ""
        if not self._stack:
            return "" if self._started else _start(self.schema)
        top = self._stack[-1]
        if top.kind == "key":
            return _key_rest(self._stack[-2], top.key)
        if top.kind in ("string", "scalar"):
            return ""
        stack = [replace(frame, keys=list(frame.keys)) for frame in self._stack]
        # Right after a colon or a comma, the canonical space.
        out = " " if self._last in ":," and top.state in ("value", "key") else ""
        while stack:
            frame = stack[-1]
            if frame.state == "colon":
                return out + ": " + _start(_properties(frame.schema).get(frame.key, {}))
            if frame.state == "value":
                value = _properties(frame.schema).get(frame.key, {})
                if frame.kind == "array":
                    value = frame.schema.get("items") or {}
                return out + _start(value)
            if frame.state == "key":
                return out + '"' + _key_rest(frame, "")
            step, closes = _after_value(frame)
            out += step
            if not closes:
                return out
            stack.pop()
            if stack:
                stack[-1].done += 1
                stack[-1].state = "next"
        return out


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(schema.get("properties") or {})


def _fixed_keys(schema: dict[str, Any]) -> list[str] | None:
    """The object's keys in order when every one is required and no other is allowed."""
    props = list(_properties(schema))
    if set(schema.get("required") or []) != set(props) or schema.get("additionalProperties", False):
        return None
    return props


def _start(schema: dict[str, Any]) -> str:
    """The fixed opening of a value of ``schema``."""
    kind = schema.get("type")
    if kind == "object":
        keys = _fixed_keys(schema)
        if keys is None:
            return "{"
        if not keys:
            return "{}"
        return '{"' + keys[0] + '": ' + _start(_properties(schema)[keys[0]])
    if kind == "array":
        if int(schema.get("maxItems", 1)) == 0:
            return "[]"
        if int(schema.get("minItems", 0)) >= 1:
            return "[" + _start(schema.get("items") or {})
        return "["
    if kind == "string" or ("enum" in schema and all(isinstance(v, str) for v in schema["enum"])):
        return '"'
    return ""


def _key_rest(frame: _Frame, typed: str) -> str:
    """The rest of the next key of object ``frame`` after ``typed``, its colon and value start."""
    keys = _fixed_keys(frame.schema) or []
    if frame.done >= len(keys) or not keys[frame.done].startswith(typed):
        return ""
    name = keys[frame.done]
    return name[len(typed) :] + '": ' + _start(_properties(frame.schema)[name])


def _after_value(frame: _Frame) -> tuple[str, bool]:
    """Fixed text of ``frame`` after a value (or right after it opened): a separator and the
    next key, or the closing bracket (then the frame closes)."""
    if frame.kind == "object":
        keys = _fixed_keys(frame.schema)
        if keys is None:
            return "", False
        if frame.done >= len(keys):
            return "}", True
        sep = "" if frame.state == "first" else ", "
        name = keys[frame.done]
        return sep + '"' + name + '": ' + _start(_properties(frame.schema)[name]), False
    if frame.kind == "array":
        low = int(frame.schema.get("minItems", 0))
        high = int(frame.schema.get("maxItems", 1 << 30))
        if frame.done >= high:
            return "]", True
        if frame.done < low:
            sep = "" if frame.state == "first" else ", "
            return sep + _start(frame.schema.get("items") or {}), False
        return "", False
    return "", False
