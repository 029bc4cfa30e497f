"""Hashtags: lower-case, hyphenated, from a small controlled vocabulary plus keyphrases.

The vocabulary maps each tag to the phrases that mean it (synonyms merged: "open weights",
"open-weight" and "weights released" are all #open-weights). Keyphrases add the names a
story is about that the vocabulary cannot know in advance (#qwen3, #deepseek-v3), taken
from the capitalized or alphanumeric names that recur in the story's titles.

Spellings that differ only by hyphens are one tag (``tag_key``): titles write "GPT-5" and
"GPT5", "GLM-4.5" and "GLM4.5". Where tags of several stories or a story and its brief meet,
they are merged (``merged``) and counted (``tally``) as one, under the spelling most of them
use.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

# tag -> phrases (regular expressions, matched case-insensitively on word boundaries)
VOCABULARY: dict[str, tuple[str, ...]] = {
    "open-weights": (r"open[- ]weights?", r"open[- ]source (?:llm|model)s?", r"weights released"),
    "llm": (r"llms?", r"large language models?", r"language models?"),
    "local-llm": (r"local (?:llm|model|inference)s?", r"localllama", r"run(?:s|ning)? locally"),
    "quantization": (r"quantiz\w+", r"gguf", r"q4_k_m", r"awq", r"gptq", r"int4", r"int8"),
    "inference": (r"inference", r"llama\.cpp", r"vllm", r"sglang", r"ollama", r"tokens?/s"),
    "fine-tuning": (r"fine[- ]?tun\w+", r"lora", r"qlora", r"sft", r"rlhf", r"dpo"),
    "agents": (r"agents?", r"agentic", r"tool[- ]use", r"function calling", r"mcp"),
    "coding": (r"coding", r"code (?:model|generation|assistant)s?", r"copilot", r"swe-bench"),
    "benchmarks": (r"benchmarks?", r"leaderboard", r"evals?", r"mmlu", r"arena"),
    "multimodal": (r"multimodal", r"vision[- ]language", r"vlms?", r"image generation"),
    "speech": (r"speech", r"text[- ]to[- ]speech", r"tts", r"asr", r"voice"),
    "hardware": (r"gpus?", r"nvidia", r"rtx \d+", r"h100", r"vram", r"apple silicon", r"tpus?"),
    "research": (r"paper", r"arxiv", r"preprint"),
    "safety": (r"ai safety", r"alignment", r"jailbreak\w*", r"red[- ]team\w*"),
    "policy": (r"regulation", r"policy", r"export controls?", r"ai act", r"executive order"),
    "china-ai": (r"chinese (?:lab|model|ai)s?", r"china'?s ai", r"deepseek", r"qwen", r"kimi"),
    "us-policy": (r"white house", r"congress", r"u\.s\. (?:government|policy)", r"senate"),
    "funding": (r"raises? \$", r"funding", r"series [a-e]\b", r"valuation", r"acqui\w+"),
    "reasoning": (r"reasoning", r"chain[- ]of[- ]thought", r"thinking model"),
    "rag": (r"rag", r"retrieval[- ]augmented", r"vector (?:db|database|search)", r"embeddings?"),
}

# The tags each reader of "who should care" follows: a story carrying one is for that
# persona even before (or without) a brief naming them.
PERSONA_TAGS: dict[str, frozenset[str]] = {
    "Founders & Product Leaders": frozenset({"funding", "agents", "coding", "open-weights"}),
    "ML Engineers": frozenset(
        {"inference", "quantization", "fine-tuning", "hardware", "local-llm", "rag"}
    ),
    "Researchers": frozenset({"research", "benchmarks", "reasoning", "safety", "multimodal"}),
    "Developers": frozenset({"coding", "agents", "rag", "local-llm", "inference"}),
    "Policy & Legal": frozenset({"policy", "us-policy", "safety", "china-ai"}),
    "Investors": frozenset({"funding", "hardware", "china-ai"}),
}


def persona_score(persona: str, who_should_care: Sequence[str], tags: Sequence[str]) -> int:
    """How much a story is for ``persona``: 2 when its brief names them in "who should
    care", plus 1 when it carries one of their tags; 0: not for them."""
    named = 2 if persona in who_should_care else 0
    return named + (1 if PERSONA_TAGS.get(persona, frozenset()) & set(tags) else 0)


# Matched on lower-cased text. _ANY finds every place where some phrase starts, in one pass;
# a tag is in a text when one of its own phrases matches at one of those places.
_COMPILED = {
    tag: re.compile(r"\b(?:" + "|".join(phrases) + r")\b") for tag, phrases in VOCABULARY.items()
}
_ANY = re.compile(
    r"(?=\b(?:" + "|".join(p for phrases in VOCABULARY.values() for p in phrases) + r")\b)"
)
# Names worth a tag: "Qwen3", "DeepSeek-V3", "Llama 4", "GPT-5", "Magistral".
_NAME = re.compile(
    r"\b((?:[A-Z][a-zA-Z]*[A-Z0-9][\w.]*|[A-Z][a-z]{3,}\d[\w.]*)"
    r"(?:-[A-Za-z0-9][\w.]*)*)"
)
_STOP_NAMES = {"I", "AI", "LLM", "LLMs", "API", "GPU", "CPU", "HN", "PDF", "TL", "DR"}


def slug(text: str) -> str:
    """A tag's spelling: lower-case words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def tag_key(tag: str) -> str:
    """What the spellings of one tag share: #gpt-5 and #gpt5, #glm-4-5 and #glm4-5."""
    return tag.replace("-", "")


def merged(*groups: Iterable[str]) -> list[str]:
    """The tags of ``groups`` in order, each once: a tag spelled as an earlier one
    (``tag_key``) is left out."""
    seen: set[str] = set()
    out = []
    for group in groups:
        for tag in group:
            if tag_key(tag) not in seen:
                seen.add(tag_key(tag))
                out.append(tag)
    return out


def tally(groups: Iterable[Iterable[str]]) -> Counter[str]:
    """How many of ``groups`` carry each tag, the spellings of a tag counted together
    under the one most groups use (ties: the one with more hyphens, then the first by
    name)."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for group in groups:
        for tag in merged(group):
            counts[tag_key(tag)] += 1
            spellings.setdefault(tag_key(tag), Counter())[tag] += 1
    return Counter(
        {
            min(spellings[key].items(), key=lambda kv: (-kv[1], -kv[0].count("-"), kv[0]))[0]: n
            for key, n in counts.items()
        }
    )


def vocabulary_tags(text: str) -> list[str]:
    """The tags of the vocabulary whose phrases occur in ``text``, in any case."""
    text = text.lower()
    starts = [m.start() for m in _ANY.finditer(text)]
    if not starts:
        return []
    return [
        tag for tag, pattern in _COMPILED.items() if any(pattern.match(text, i) for i in starts)
    ]


def hashtags(titles: Sequence[str], texts: Sequence[str], limit: int = 5) -> list[str]:
    """Tags of a story from its items' titles and texts, most supported first."""
    votes: Counter[str] = Counter()
    for title in titles:
        for tag in vocabulary_tags(title):
            votes[tag] += 3  # a title says what the story is about
    for text in texts:
        for tag in vocabulary_tags(text[:2000]):
            votes[tag] += 1
    names = tally(
        {slug(name) for name in _NAME.findall(title) if name not in _STOP_NAMES and len(name) > 2}
        for title in titles
    )
    # At most two names: a story about one release should not list each of its variants.
    top_names = sorted(names.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[:2]
    for name, count in top_names:
        if name and name not in VOCABULARY:
            votes[name] += 2 * count
    ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    return [tag for tag, score in ranked if score >= 2][:limit]
