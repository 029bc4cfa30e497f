"""Any OpenAI-compatible chat server: vLLM, SGLang, llama.cpp's server, Ollama, a hosted API.

Configured by data: ``llm_url`` (base URL ending in /v1), ``llm_model`` (the model name sent),
``llm_api_key_env`` (the variable holding the key) and ``llm_structured_output``, how the
server is asked for JSON:

- ``json_schema``: ``response_format = {"type": "json_schema", ...}`` (OpenAI, vLLM, SGLang,
  llama.cpp's server);
- ``json_object``: ``{"type": "json_object", "schema": ...}`` (llama-cpp-python's server);
- ``none``: the schema goes into the prompt and the answer is validated by the caller, which
  retries a bounded number of times.

Servers with prefix caching (vLLM, SGLang) reuse the shared instructions and source pack of a
brief's calls on their side; their count of cached tokens is reported when they give one.
``generate_many`` sends up to ``llm_parallel`` requests at once, for the server to batch.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import httpx

from newsdesk.exceptions import LLMError
from newsdesk.llm import Generation, LLMBackend, Message, Request, register

MODES = ("json_schema", "json_object", "none")
# Candidates listed for a yes/no answer's first token (OpenAI allows at most 20).
TOP_LOGPROBS = 20


@register
class OpenAIBackend(LLMBackend):
    name: ClassVar[str] = "openai"
    supports_schema: ClassVar[bool] = True
    can_stream: ClassVar[bool] = True
    caches_prefix: ClassVar[bool] = True

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.url = str(settings.llm_url).rstrip("/")
        if not self.url:
            raise LLMError(
                "the openai backend needs NEWSDESK_LLM_URL, e.g. http://127.0.0.1:8080/v1"
            )
        self.mode = str(settings.llm_structured_output)
        if self.mode not in MODES:
            raise LLMError(f"llm_structured_output is {self.mode!r}: use one of {', '.join(MODES)}")
        headers = {}
        key = os.environ.get(str(settings.llm_api_key_env) or "", "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(float(settings.llm_timeout), connect=10.0)
        )

    def _body(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, max_tokens: int
    ) -> dict[str, Any]:
        msgs: list[dict[str, str]] = [
            {"role": m["role"], "content": m["content"]} for m in messages
        ]
        body: dict[str, Any] = {
            "model": self.settings.llm_model,
            "messages": msgs,
            "temperature": 0,
            "max_tokens": max_tokens,
            "seed": 0,
        }
        if schema is None:
            return body
        if self.mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            }
        elif self.mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": schema}
        else:
            msgs[-1]["content"] += (
                "\n\nAnswer with one JSON object, nothing else, that satisfies this JSON "
                "Schema:\n" + json.dumps(schema)
            )
        return body

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        url = self.url + "/chat/completions"
        try:
            response = self._client.post(url, json=body)
        except httpx.TimeoutException as e:
            raise LLMError(f"no answer in {self.settings.llm_timeout} s", url) from e
        except httpx.HTTPError as e:
            raise LLMError(f"the model server is unreachable ({e})", url) from e
        if response.status_code >= 400:
            raise LLMError(f"HTTP {response.status_code}: {response.text[:300]}", url)
        return response

    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 512,
    ) -> Generation:
        start = time.perf_counter()
        response = self._post(self._body(messages, schema, max_tokens))
        seconds = time.perf_counter() - start
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
            if not isinstance(text, str):
                raise TypeError("content is not text")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise LLMError(
                f"the server answered something that is not a chat completion: "
                f"{response.text[:200]!r}",
                self.url,
            ) from e
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0)
        return Generation(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0) - cached,
            cached_tokens=cached,
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=seconds,
        )

    def yes_odds(self, messages: Sequence[Message]) -> float:
        """From the server's log-probabilities of the first answer token (``logprobs`` with
        ``top_logprobs``: vLLM, SGLang, llama.cpp's server, OpenAI). A word missing from the
        top list counts as no likelier than the least likely token listed."""
        body = self._body(messages, None, 1)
        body["logprobs"] = True
        body["top_logprobs"] = TOP_LOGPROBS
        response = self._post(body)
        try:
            top = response.json()["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            listed = [(str(t["token"]).strip().lower(), float(t["logprob"])) for t in top]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise LLMError(
                f"the server gave no log-probabilities: {response.text[:200]!r}", self.url
            ) from e
        if not listed:
            raise LLMError("the server gave no log-probabilities", self.url)
        floor = min(lp for _, lp in listed)

        def total(word: str) -> float:
            found = [lp for token, lp in listed if token == word]
            return math.log(sum(math.exp(lp) for lp in found)) if found else floor

        return total("yes") - total("no")

    def generate_many(self, requests: Sequence[Request]) -> list[Generation]:
        """Send up to ``llm_parallel`` requests at once; every request is answered or has
        failed before the first failure is raised."""
        workers = min(len(requests), max(1, int(self.settings.llm_parallel)))
        if workers <= 1:
            return super().generate_many(requests)
        with ThreadPoolExecutor(workers, thread_name_prefix="newsdesk-llm") as pool:
            futures = [
                pool.submit(self.generate, r.messages, schema=r.schema, max_tokens=r.max_tokens)
                for r in requests
            ]
        return [f.result() for f in futures]

    def stream(self, messages: Sequence[Message], *, max_tokens: int = 512) -> Iterator[str]:
        body = self._body(messages, None, max_tokens) | {"stream": True}
        url = self.url + "/chat/completions"
        try:
            with self._client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise LLMError(f"HTTP {response.status_code}: {response.text[:300]}", url)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    try:
                        delta = json.loads(payload)["choices"][0]["delta"]
                    except (ValueError, KeyError, IndexError) as e:
                        raise LLMError(f"bad stream event {payload[:100]!r}", url) from e
                    if delta.get("content"):
                        yield delta["content"]
        except httpx.HTTPError as e:
            raise LLMError(f"the model server is unreachable ({e})", url) from e

    def close(self) -> None:
        self._client.close()
