"""Model files and backends, with real GGUF files from the package index and a real server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import CONTENT_MODEL, MODELS_DIR, SMALL_MODEL, llm_settings
from newsdesk.exceptions import LLMError, ModelError
from newsdesk.llm import BACKENDS, Request, get_backend
from newsdesk.llm.files import KNOWN, check_gguf, resolve, verify

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
    },
    "required": ["name", "tags"],
    "additionalProperties": False,
}
MESSAGES = [
    {"role": "system", "content": "You describe software. Qwen is a family of open models."},
    {"role": "user", "content": "Name the model family and give tags."},
]


@pytest.fixture(scope="module")
def small_path() -> Path:
    """The pulled SmolLM2 file (pulled and verified on first use)."""
    return resolve(llm_settings(MODELS_DIR.parent, SMALL_MODEL))


# -- model files ---------------------------------------------------------------------------


def test_missing_known_model_says_how_to_pull(tmp_path: Path) -> None:
    settings = llm_settings(tmp_path, SMALL_MODEL, models_dir=str(tmp_path / "empty"))
    with pytest.raises(ModelError, match="newsdesk models pull smollm2-135m"):
        resolve(settings, pull_missing=False)


def test_partial_model_file_is_refused(tmp_path: Path, small_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    with small_path.open("rb") as f:
        (folder / small_path.name).write_bytes(f.read(5_000_000))
    settings = llm_settings(tmp_path, SMALL_MODEL, models_dir=str(folder))
    with pytest.raises(ModelError, match="partial"):
        resolve(settings)


def test_corrupt_model_file_is_refused(tmp_path: Path, small_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    copy = folder / small_path.name
    shutil.copyfile(small_path, copy)
    with copy.open("r+b") as f:
        f.seek(50_000_000)
        byte = f.read(1)
        f.seek(50_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="corrupt"):
        verify(KNOWN[SMALL_MODEL], copy)
    settings = llm_settings(tmp_path, SMALL_MODEL, models_dir=str(folder))
    with pytest.raises(ModelError, match="corrupt"):
        resolve(settings)


def test_verified_file_is_not_hashed_again_until_it_changes(
    tmp_path: Path, small_path: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    copy = folder / small_path.name
    shutil.copyfile(small_path, copy)
    settings = llm_settings(tmp_path, SMALL_MODEL, models_dir=str(folder))
    assert resolve(settings) == copy  # hashed in full and stamped
    with copy.open("r+b") as f:
        f.seek(1000)
        f.write(b"\0\0\0\0")
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    with pytest.raises(ModelError, match="corrupt"):
        resolve(settings)


def test_own_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelError, match="not a GGUF file"):
        check_gguf(path)
    with pytest.raises(ModelError, match="No model file"):
        check_gguf(tmp_path / "absent.gguf")


def test_broken_gguf_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 4000)
    backend = get_backend(llm_settings(tmp_path, str(path)))
    with pytest.raises(ModelError, match="cannot load"):
        backend.generate(MESSAGES)


def test_unknown_backend_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="llamacpp, openai"):
        get_backend(llm_settings(tmp_path, llm_backend="nope"))
    assert BACKENDS["llamacpp"].supports_schema and BACKENDS["openai"].caches_prefix


# -- llamacpp ------------------------------------------------------------------------------


def test_llamacpp_answers_the_schema_and_reuses_the_prefix(tmp_path: Path) -> None:
    backend = get_backend(llm_settings(tmp_path, SMALL_MODEL))
    first = backend.generate(MESSAGES, schema=SCHEMA, max_tokens=120)
    data = json.loads(first.text)
    assert set(data) == {"name", "tags"} and len(data["tags"]) <= 3
    assert first.completion_tokens > 0 and first.cached_tokens == 0
    other = [MESSAGES[0], {"role": "user", "content": "Now answer for llama.cpp."}]
    second = backend.generate(other, schema=SCHEMA, max_tokens=120)
    json.loads(second.text)
    assert second.cached_tokens >= backend.count_tokens(MESSAGES[0]["content"])
    assert second.prompt_tokens < first.prompt_tokens
    assert "".join(backend.stream(MESSAGES, max_tokens=8)).strip()
    backend.close()


def test_answers_decoded_together_share_the_prefix_and_each_meets_its_schema(
    tmp_path: Path,
) -> None:
    """``generate_many``: one sequence per answer after the shared prefix, evaluated once;
    the cache is left holding that prefix; what does not fit the context goes in turn."""
    other_schema = {
        "type": "object",
        "properties": {"year": {"type": "integer"}, "open": {"type": "boolean"}},
        "required": ["year", "open"],
        "additionalProperties": False,
    }
    system = {
        "role": "system",
        "content": MESSAGES[0]["content"]
        + " Qwen2.5-Coder was released in 2024 in six sizes, from 0.5B to 32B parameters,"
        " under the Apache 2.0 license, and runs on llama.cpp, vLLM and SGLang.",
    }
    asks = [
        Request([system, MESSAGES[1]], SCHEMA, 120),
        Request([system, {"role": "user", "content": "When was it released?"}], other_schema, 40),
        Request([system, {"role": "user", "content": "Say hello."}], None, 12),
    ]
    alone = get_backend(llm_settings(tmp_path, CONTENT_MODEL, llm_parallel=1))
    one_by_one = alone.generate_many(asks)
    alone.close()
    backend = get_backend(llm_settings(tmp_path, CONTENT_MODEL, llm_parallel=8))
    together = backend.generate_many(asks)
    assert [g.parallel for g in together] == [3, 3, 3]
    assert [g.parallel for g in one_by_one] == [1, 1, 1]
    assert set(json.loads(together[0].text)) == {"name", "tags"}
    assert set(json.loads(together[1].text)) == {"year", "open"}
    assert together[2].text.strip() and together[2].completion_tokens <= 12
    shared = backend.count_tokens(system["content"])
    # The shared prefix was evaluated once, for the first answer; the others found it.
    assert together[0].prompt_tokens > shared
    assert all(g.cached_tokens >= shared > g.prompt_tokens for g in together[1:])
    # Each answer is the greedy answer to its own prompt (the same as one by one, but for
    # a near tie that a batched pass's last bits could turn).
    same = sum(a.text == b.text for a, b in zip(together, one_by_one, strict=True))
    assert same >= 2, [(a.text, b.text) for a, b in zip(together, one_by_one, strict=True)]
    # The cache holds the shared prefix only: the next call reuses it and answers right.
    after = backend.generate(asks[0].messages, schema=SCHEMA, max_tokens=120)
    assert after.cached_tokens >= shared and after.text == one_by_one[0].text
    backend.close()

    # A context too small for all three: the first two together, then the third alone.
    small = get_backend(llm_settings(tmp_path, CONTENT_MODEL, llm_parallel=8, llm_context=512))
    long_asks = [Request(a.messages, a.schema, 150) for a in asks]
    assert [g.parallel for g in small.generate_many(long_asks)] == [2, 2, 1]
    small.close()


def _question(claim: str) -> list[dict[str, str]]:
    article = "Mistral released Codestral 2, a 22B code model, under the Apache 2.0 license."
    return [
        {"role": "system", "content": "You check whether a claim is supported by an article."},
        {
            "role": "user",
            "content": f"Article:\n{article}\n\nClaim: {claim}\n\n"
            "Is the claim supported by the article? Answer yes or no.",
        },
    ]


def test_yes_odds_tell_a_supported_claim_from_a_contradicted_one(tmp_path: Path) -> None:
    backend = get_backend(llm_settings(tmp_path, CONTENT_MODEL))
    try:
        true = backend.yes_odds(_question("Codestral 2 is released under Apache 2.0."))
        false = backend.yes_odds(_question("Codestral 2 is a 7B model released by Google."))
        again = backend.yes_odds(_question("Codestral 2 is released under Apache 2.0."))
    finally:
        backend.close()
    assert true > false, (true, false)
    assert true > 0 > false, (true, false)
    assert again == pytest.approx(true, abs=1e-3)  # from the cached prefix, the same answer


def test_guesses_from_the_prompt_do_not_change_the_answer(tmp_path: Path) -> None:
    """Prompt-lookup guesses are checked by the model: the same answer, fewer passes."""
    passage = (
        "llama.cpp added a new quantization type that keeps the quality of 8-bit weights "
        "at the size of 4-bit weights on consumer CPUs and phones."
    )
    messages = [
        {"role": "system", "content": "Copy the passage exactly.\n\nPassage: " + passage},
        {"role": "user", "content": "Copy the passage, word for word."},
    ]
    schema = {
        "type": "object",
        "properties": {"text": {"type": "string", "maxLength": 200}},
        "required": ["text"],
        "additionalProperties": False,
    }
    answers = {}
    for draft in (0, 6):
        settings = llm_settings(tmp_path, CONTENT_MODEL, llm_draft_tokens=draft)
        backend = get_backend(settings)
        answers[draft] = backend.generate(messages, schema=schema, max_tokens=80)
        backend.close()
    assert answers[6].text == answers[0].text
    assert answers[0].guessed_tokens == 0
    assert answers[6].guessed_tokens > 0
    # The keys, quotes and brackets were written by the schema, not by forward passes.
    assert answers[0].forced_tokens > 0
    json.loads(answers[6].text)


# -- openai, against llama-cpp-python's own server -----------------------------------------

# The wheel `make` builds loads ggml's CPU variants on demand; the server needs them loaded
# as newsdesk does, before it starts.
_SERVER = (
    "import pathlib, runpy, sys, llama_cpp\n"
    "from newsdesk.llm.llamacpp import _load_cpu_backends\n"
    "_load_cpu_backends(llama_cpp, pathlib.Path(sys.argv[2]), 'auto')\n"
    "sys.argv = ['llama_cpp.server'] + sys.argv[1:]\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__')\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(small_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    args = ["--model", str(small_path), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--n_ctx", "2048", "--n_threads", "2", "--model_alias", SMALL_MODEL]
    args += ["--verbose", "False"]
    # The server's log goes to a file: a pipe nobody reads fills up and blocks the server.
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, *args], stdout=log_file, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = log.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server did not start: {tail}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_openai_backend_against_a_real_server(tmp_path: Path, llama_server: str) -> None:
    settings = llm_settings(
        tmp_path, llm_backend="openai", llm_url=llama_server, llm_structured_output="json_object"
    )
    backend = get_backend(settings)
    answer = backend.generate(MESSAGES, schema=SCHEMA, max_tokens=120)
    assert set(json.loads(answer.text)) == {"name", "tags"}
    assert answer.completion_tokens > 0
    assert "".join(backend.stream(MESSAGES, max_tokens=8)).strip()
    backend.close()


def test_openai_yes_odds_match_the_in_process_model(tmp_path: Path, llama_server: str) -> None:
    """The server's log-probabilities and llama.cpp's own logits give the same log-odds."""
    remote = get_backend(llm_settings(tmp_path, llm_backend="openai", llm_url=llama_server))
    local = get_backend(llm_settings(tmp_path, SMALL_MODEL))
    try:
        for claim in ("Codestral 2 is released under Apache 2.0.", "Google made Codestral 2."):
            assert remote.yes_odds(_question(claim)) == pytest.approx(
                local.yes_odds(_question(claim)), abs=0.05
            )
    finally:
        remote.close()
        local.close()


def test_briefs_through_the_server(tmp_path: Path, llama_server: str, shared_data: Path) -> None:
    import gzip

    from newsdesk.briefs.schema import Brief
    from newsdesk.desk import Desk

    subset = tmp_path / "posts.jsonl.gz"
    source = shared_data / "reddit-localllama" / "posts.jsonl.gz"
    with gzip.open(source, "rt") as src, gzip.open(subset, "wt") as out:
        for _, line in zip(range(40), src, strict=False):
            out.write(line)
    desk = Desk(
        llm_settings(
            tmp_path / "data",
            SMALL_MODEL,
            llm_backend="openai",
            llm_url=llama_server,
            llm_structured_output="json_object",
        )
    )
    desk.import_reddit(subset)
    desk.cluster()
    result = desk.write_briefs(limit=1)[0]
    assert result.error is None and result.written
    row = desk.brief(result.story_id)
    Brief.model_validate(row.brief)
    assert row.backend == "openai"
    desk.close()


def test_openai_backend_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="NEWSDESK_LLM_URL"):
        get_backend(llm_settings(tmp_path, llm_backend="openai"))


def test_cpu_variant_is_one_that_runs_the_model_here(small_path: Path, tmp_path: Path) -> None:
    """The chosen ggml variant ran the model in a child process; a named one is taken as is,
    an unknown name is a clear error, and the verdict is remembered."""
    import llama_cpp

    from newsdesk.exceptions import ModelError
    from newsdesk.llm import cpu

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    ranked = cpu.ranked_variants(lib_dir)
    if not ranked:
        pytest.skip("this llama-cpp-python has no separate CPU variants (not the make build)")
    chosen = cpu.choose_variant(lib_dir, small_path, tmp_path, "auto")
    assert cpu.probe(chosen, small_path)
    # Every variant scored above it crashed on this machine (SIGILL: AMX in some VMs).
    for better in ranked[: ranked.index(chosen)]:
        assert not cpu.probe(better, small_path)
    (remembered,) = json.loads((tmp_path / "ggml-cpu-variant.json").read_text()).values()
    assert remembered == chosen.name
    last = ranked[-1]
    assert cpu.choose_variant(lib_dir, small_path, tmp_path, cpu.variant_name(last)) == last
    with pytest.raises(ModelError, match="no ggml CPU variant 'pentium'"):
        cpu.choose_variant(lib_dir, small_path, tmp_path, "pentium")


@pytest.mark.parametrize(
    "text",
    [
        "The new mixture-of-experts model decodes about 1.8 times faster than the baseline.",
        "社区开发者在单机上部署了新的混合专家模型，解码吞吐比基线高约一点八倍，显存占用明显下降。",
        "Το νέο μοντέλο τρέχει τοπικά σε φορητό υπολογιστή με οκτώ γιγαμπάιτ μνήμης "
        "και αποκωδικοποιεί γρήγορα.",
        "Новая модель работает локально на ноутбуке с восемью гигабайтами памяти "
        "и быстро декодирует текст.",
        "नया मॉडल आठ गीगाबाइट मेमोरी वाले लैपटॉप पर स्थानीय रूप से चलता है और तेज़ी से डिकोड करता है।",
        "新しいモデルは八ギガバイトのメモリを積んだノートパソコンでローカルに動き、高速にデコードします。",
    ],
)
def test_the_token_estimate_follows_the_script(text: str, tmp_path: Path) -> None:
    """A backend without a tokenizer (``openai``) estimates by script. In six scripts the
    estimate is at least two thirds of Qwen's own count, so that budgets hold, and at most
    twice it. len/4 gave 27% to 41% of Qwen's count in Chinese, Greek, Hindi and Japanese."""
    from newsdesk.llm import estimate_tokens, get_backend

    real = get_backend(llm_settings(tmp_path, CONTENT_MODEL)).count_tokens(text)
    assert real / 1.5 <= estimate_tokens(text) <= real * 2
