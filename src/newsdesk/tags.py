"""Hashtags: lower-case, hyphenated, from a small controlled vocabulary plus keyphrases.

The vocabulary maps each tag to the phrases that mean it (synonyms merged: "open weights",
"open-weight" and "weights released" are all #open-weights). Keyphrases add the names a
story is about that the vocabulary cannot know in advance (#qwen3, #glm-4-5), taken
from the capitalized or alphanumeric names of the story's titles (``title_names``: a
version or a kind of product after a space is part of the name, "GLM 4.5", "Kimi K2",
"Claude Code"; a size or a quantization is not). A brief's
hashtags, which the model writes, are kept where they sort stories (``written_tags``).

Spellings that differ only by hyphens are one tag (``tag_key``): titles write "GPT-5" and
"GPT5", "GLM-4.5" and "GLM4.5"; so are a few places' names (#us, #usa). Where tags of
several stories or a story and its brief meet, they are merged (``merged``) and counted
(``tally``) as one, under the spelling most of them use.
"""

from __future__ import annotations

import itertools
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
    # Not "policy" alone: r/LocalLLaMA's policies are mostly a model's (content policy) or
    # reinforcement learning's (Group Sequence Policy Optimization).
    "policy": (
        *(r"regulations?", r"regulators?", r"export controls?", r"ai act", r"executive order"),
        *(r"(?:public|government|ai|tech|trade|industrial|federal|national) polic(?:y|ies)",),
        *(r"policymakers?", r"lawmakers?", r"legislation"),
    ),
    "china-ai": (r"chinese (?:lab|model|ai)s?", r"china'?s ai", r"deepseek", r"qwen", r"kimi"),
    "us-policy": (r"white house", r"congress", r"u\.s\. (?:government|policy)", r"senate"),
    # Not "acquire" alone: posts acquire knowledge, reasoning traces and workstations.
    "funding": (
        *(r"raises? \$", r"funding", r"series [a-e]\b", r"valuation", r"acquires"),
        *(r"acquired by", r"acqui-?hires?", r"(?<!user )acquisitions?", r"offer to acquire"),
    ),
    "reasoning": (r"reasoning", r"chain[- ]of[- ]thought", r"thinking model"),
    "rag": (r"rag", r"retrieval[- ]augmented", r"vector (?:db|database|search)", r"embeddings?"),
}

# The tags each reader of "who should care" follows, of the vocabulary and of the desk's
# topics (``TOPICS``): a story carrying one is for that persona even before (or without) a
# brief naming them, and a brief names a persona only where its sources speak of one of
# them (``cared_for``).
PERSONA_TAGS: dict[str, frozenset[str]] = {
    "Founders & Product Leaders": frozenset(
        {"funding", "agents", "coding", "open-weights", "business", "startups", "advertising"}
    ),
    "ML Engineers": frozenset(
        {"inference", "quantization", "fine-tuning", "hardware", "local-llm", "rag"}
        | {"performance"}
    ),
    "Researchers": frozenset(
        {"research", "benchmarks", "reasoning", "safety", "multimodal", "science"}
    ),
    "Developers": frozenset(
        {"coding", "agents", "rag", "local-llm", "inference", "programming", "compilers"}
        | {"databases", "web", "devops", "systems", "open-source", "performance", "security"}
        | {"self-hosted"}
    ),
    "Policy & Legal": frozenset(
        {"policy", "us-policy", "safety", "china-ai", "politics", "law", "privacy", "trade"}
    ),
    "Investors": frozenset(
        {"funding", "hardware", "china-ai", "business", "startups", "economics"}
    ),
}


def cared_for(personas: Sequence[str], text: str, tags: Sequence[str] = ()) -> list[str]:
    """The personas of ``personas`` (a brief's "who should care") whose tags ``text`` or
    ``tags`` give (``PERSONA_TAGS``), in order; the first of them when none is: a small
    model names "Investors" for a story of a 1970s microprocessor."""
    found = set(tags) | set(vocabulary_tags(text)) | topic_tags(text)
    kept = [p for p in personas if PERSONA_TAGS.get(p, frozenset()) & found]
    return kept or list(personas[:1])


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
# Names worth a tag: "Qwen3", "DeepSeek-V3", "GPT-5", "OpenAI".
_NAME = re.compile(
    r"\b((?:[A-Z][a-zA-Z]*[A-Z0-9][\w.]*|[A-Z][a-z]{3,}\d[\w.]*)"
    r"(?:-[A-Za-z0-9][\w.]*)*)"
)
_STOP_NAMES = {
    *("I", "AI", "LLM", "API", "GPU", "CPU", "NPU", "TPU", "HN", "PDF", "TL", "DR", "FYI", "VRAM"),
    *("NEW", "BEST", "HELP", "FREE", "FULL", "PRO", "MAX"),
}
# A size, an active size, a quantization or a precision, alone or as a part of a name:
# "235B", "A22B", "Q4_K_M", "IQ4_XS", "8x7B", "BF16", "MXFP4". A model's name ends before
# its first such part: "Qwen3-30B-A3B-Instruct-2507" is #qwen3, "Qwen3-Coder-30B"
# #qwen3-coder. A word that says what a thing is like ends it too: "HRM-Based" is #hrm,
# "OpenAI-compatible" #openai.
_SIZE = re.compile(
    r"^(?:A?\d+(?:\.\d+)?[BMKT]|\d+x\d+(?:\.\d+)?B|I?Q\d[\w.]*|(?:MX|NV)?(?:BF|FP|INT)\d+|GGUF)$",
    re.IGNORECASE,
)
_LIKE = frozenset(
    "based powered style like only free ready native friendly compatible".split()  # noqa: SIM905
)
# A version written after a space: "Gemma 3n", "GLM 4.5", "RTX 5090", "Llama 3.1-8B" (the
# part after a hyphen is left out), or a letter and one or two digits, too short to be a
# name alone: "Kimi K2", "DeepSeek R1-0528", "DeepSeek V3.1", "Tesla P40". Not a size or an
# amount ("30b", "5090s", "8x").
_VERSION = re.compile(r"^(\d+(?:\.\d+)*[a-z]?|[A-Z]\d{1,2}(?:\.\d+)?)(?:-\S+)?$")
_AMOUNT = re.compile(r"[bkmgtxs]$", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[A-Z][A-Za-z0-9.]*$")
# A model's tier or kind takes the word before it too: "Mistral Small 3.2", "RTX Pro 6000",
# "Mistral OCR 3", "Higgs Audio V2". Not Anthropic's "Opus" and "Sonnet": titles write
# "Sonnet 4" alone as often as after "Claude", and one spelling keeps them one tag.
_TIERS = frozenset(
    """pro small medium large mini max ultra flash plus air nano lite ocr vl audio image
    code coder cli oss studio chat""".split()  # noqa: SIM905
)
# The kinds of a product that join the name before them without a version: "Claude Code",
# "Gemini CLI", "GPT OSS", "LM Studio", "Qwen3 Coder", but not a word that only says what
# the thing is like ("Source Code", "Better Code", "Positional Embeddings").
_KINDS = frozenset("code coder cli oss studio chat".split())  # noqa: SIM905
_GENERIC = re.compile(
    r"(?:al|ive|ous|ful|less|able|ible|er|ent)$|^(?:source|pseudo|safe|awesome|vibe|clean"
    r"|demo|open|simple|good|great|bad|fast|own|secure|sample|example|write|local|web|voice)$",
    re.IGNORECASE,
)
# Capitalized words that a number follows in titles without naming a thing with it:
# dates, counters, the words of a sentence ("Day 1", "Top 10", "Runs 3", "June 25").
_NOT_NAMES = frozenset(
    """january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday
    saturday sunday day days week weeks month months year years hour hours version update part
    round top gen generation model models step phase level episode chapter series season page
    issue tier vol no number only why with to my like after before free multiple single
    compare research notable whopping compact quad map build benchmark budget instruct base
    chat the a an and or of for in on at by is are was it its this that i we you me our your
    all any every each just new best first last next over under about from into than vs via
    per run runs got get has have had can will what how when which who ai llm gpu cpu tg pp
    q1 q2 q3 q4 h1 h2 ti laptop desktop server""".split()  # noqa: SIM905
)
# After the number, a unit makes it an amount: "RTX 3090 24 GB", "pp 1348 t/s", "8 GPUs".
_UNITS = frozenset(
    """gb gib mb tb g t/s tok/s tokens/s tps tokens token x % b k m gpus cores bit bits
    w watts hours days minutes seconds ms s fps ctx context params parameters layers experts
    times percent users stars downloads words lines pages steps languages thousand million
    billion trillion""".split()  # noqa: SIM905
)
_EDGES = "()[]{}\"'“”‘’,.:;!?*"


def _versioned_names(title: str) -> list[str]:
    """The names of ``title`` written with a version or a kind after a space ("Gemma 3n",
    "Mistral Small 3.2", "Claude Code"), as they are written."""
    raw = title.split()
    words = [re.sub(r"['’]s$", "", w.strip(_EDGES)) for w in raw]  # "GPT OSS's"
    names = []
    versions = set()  # where a word was read as a version: "R1" of "DeepSeek R1 0528"
    for i in range(1, len(words)):
        before = words[i - 1]
        # Not across a comma or a colon ("Executive Order, G7"), nor on from a version.
        if not _is_name_word(before) or raw[i - 1][-1] in ",:;" or i - 1 in versions:
            continue
        version = _version_at(raw, words, i)
        if version is None:
            if (
                words[i].lower() in _KINDS
                and words[i][0].isupper()
                and _version_at(raw, words, i + 1) is None
                and (i + 1 == len(words) or words[i + 1] != "of")  # "EU Code of Practice"
                and before.lower() not in _TIERS
                and not _VERSION.match(before)  # "M4 Studio"
                and (_NAME.fullmatch(before) or not _GENERIC.search(before))
            ):
                names.append(f"{before} {words[i]}")
            continue
        versions.add(i)
        parts = [before, version] if version else [before]  # a release: "Dingo 1.9.0"
        if before.lower() in _TIERS and i >= 2 and _is_name_word(words[i - 2]):
            parts.insert(0, words[i - 2])
        names.append(" ".join(parts))
    return names


def _version_at(raw: list[str], words: list[str], i: int) -> str | None:
    """The version that word ``i`` of a title writes, if it writes one (not a year in
    brackets, a size or an amount before a unit), and "" for a release's number
    ("0.3.20"), which is no part of the name."""
    if i >= len(words) or raw[i].startswith("("):  # "(1986)"
        return None
    version = _VERSION.match(words[i])
    after = words[i + 1].lower() if i + 1 < len(words) else ""
    if version is None or _AMOUNT.search(version.group(1)) or after in _UNITS:
        return None
    return "" if version.group(1).count(".") >= 2 else version.group(1)


def _is_name_word(word: str) -> bool:
    return (
        bool(_NAME_WORD.match(word))
        and word.lower() not in _NOT_NAMES
        and not _SIZE.match(word)
        and not re.search(r"(?:ing|ed|[^Ssu]s)$", word)  # "Serving", "Published", "GPUs"
    )


def title_names(title: str) -> list[str]:
    """The names of things in a title, as tags: a model, a product, a lab ("Qwen3-Coder",
    "GLM 4.5", "RTX 5090", "Claude Code", "OpenAI"). A name with a version or a kind makes
    its parts no tags of their own (not #glm beside #glm-4-5, nor #oss beside #gpt-oss);
    sizes and quantizations are no names."""
    written = _versioned_names(title)
    versioned = [slug(name) for name in written]
    # A versioned name's parts and its version, alone or with a suffix, are no tags of their
    # own: not #glm, #oss or #r1-0528 beside #glm-4-5, #gpt-oss or #deepseek-r1.
    parts_of = {part for tag in versioned for part in tag.split("-")}
    ends = tuple(slug(name.split()[-1]) for name in written)
    # A title that shouts ("INSANE NEWS: FULLY UNCENSORED") names nothing by its capitals.
    shouting = len(set(re.findall(r"\b[A-Z]{4,}\b", title))) >= 3
    plain = []
    for name in _NAME.findall(title):
        name = name.rstrip(".")  # "A16B." at a sentence's end
        if re.search(r"[A-Z0-9]s$", name):  # "VLMs", "H100s", "GGUFs"
            name = name[:-1]
        if shouting and name.isalpha() and name.isupper():
            continue
        parts = name.split("-")
        kept = list(
            itertools.takewhile(lambda p: not _SIZE.match(p) and p.lower() not in _LIKE, parts)
        )
        name = "-".join(kept)
        tag = slug(name)
        if (
            len(name) > 2
            and parts[0] not in _STOP_NAMES  # "AI-native", "LLM-based"
            and tag not in parts_of
            and tag not in ends  # "R1" and "R1-0528" of "DeepSeek R1"
            and not tag.startswith(tuple(end + "-" for end in ends))
        ):
            plain.append(tag)
    return list(dict.fromkeys(versioned + plain))


def slug(text: str) -> str:
    """A tag's spelling: lower-case words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# Names that are written several ways and mean one place: a title's "USA" and a brief's #us.
_SAME_PLACE = {
    **dict.fromkeys(("us", "u-s", "u-s-a", "united-states", "united-states-of-america"), "usa"),
    **dict.fromkeys(("united-kingdom", "great-britain", "britain"), "uk"),
    **dict.fromkeys(("european-union",), "eu"),
}


def tag_key(tag: str) -> str:
    """What the spellings of one tag share: #gpt-5 and #gpt5, #glm-4-5 and #glm4-5, #us
    and #usa."""
    return _SAME_PLACE.get(tag, tag).replace("-", "")


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
    """Tags of a story from its items' titles (its own title first) and texts, most
    supported first."""
    votes: Counter[str] = Counter()
    for title in titles:
        for tag in vocabulary_tags(title):
            votes[tag] += 3  # a title says what the story is about
    for text in texts:
        for tag in vocabulary_tags(text[:2000]):
            votes[tag] += 1
    named = [title_names(title) for title in titles]
    names = tally(named)
    first: dict[str, int] = {}  # where each name is given first
    for i, tag in enumerate(itertools.chain(*named)):
        first.setdefault(tag_key(tag), i)
    # At most two names: those most titles give, then those of the first titles.
    top_names = sorted(names.items(), key=lambda kv: (-kv[1], first[tag_key(kv[0])]))[:2]
    for name, count in top_names:
        if name and name not in VOCABULARY:
            votes[name] += 2 * count
    ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    return [tag for tag, score in ranked if score >= 2][:limit]


# Fields a brief's writer may tag a story with besides the vocabulary and the names of its
# sources: the sections of a news desk. Each tag with the words that mean it.
TOPICS: dict[str, tuple[str, ...]] = {
    "politics": ("politics", "political", "government", "elections?", "corruption"),
    "economics": ("economics", "economy", "economic", "markets?"),
    "trade": ("trade", "tariffs?", "trade war", "exports?", "imports?"),
    "law": ("law", "legal", "courts?", "lawsuits?", "copyright", "antitrust"),
    "security": (
        *("security", "cybersecurity", "vulnerabilit(?:y|ies)", "malware", "exploits?"),
        *("hacking", "brute[- ]force", "encryption", "cryptography"),
    ),
    "privacy": ("privacy", "surveillance", "data protection"),
    "science": (
        *("science", "physics", "biology", "chemistry", "mathematics", "math"),
        *("astronomy", "astrophysics", "cosmology"),
    ),
    "health": ("health", "healthcare", "medicine", "medical"),
    "education": ("education", "schools?", "universit(?:y|ies)"),
    "history": ("history", "historical"),
    "business": ("business", "companies", "corporate", "industry"),
    "startups": ("startups?",),
    "open-source": ("open source", "foss", "oss"),
    "programming": ("programming", "software development", "developers?"),
    "compilers": ("compilers?", "jit"),
    "databases": ("databases?", "sql"),
    "web": ("web", "browsers?", "websites?"),
    "energy": ("energy", "power grid", "electricity"),
    "climate": ("climate", "climate change"),
    "space": ("space", "spaceflight", "nasa"),
    "media": ("media", "journalism", "newspapers?", "press", "publishing"),
    "advertising": ("advertising", "ads", "adverts?", "marketing"),
    "jobs": ("jobs", "employment", "labor", "labour", "hiring"),
    "books": ("books?", "libraries", "library"),
    "games": ("games?", "gaming", "video games?"),
    "robotics": ("robotics", "robots?", "humanoids?"),
    "devops": (
        *("devops", "observability", "kubernetes", "monitoring", "tracing"),
        *("open ?telemetry", "otel"),
    ),
    "self-hosted": ("self[- ]hosted", "self[- ]hosting", "home ?lab", "home servers?"),
    "systems": ("low[- ]level", "assembly", "operating systems?", "firmware"),
    "performance": ("performance", "optimi[sz]ation", "latency", "throughput"),
    "audio": ("audio", "music", "sound"),
    "devices": ("e[- ]readers?", "phones?", "smartphones?", "laptops?", "tablets?", "wearables?"),
}
_TOPIC_WORDS = {
    tag: re.compile(r"\b(?:" + "|".join(phrases) + r")\b", re.IGNORECASE)
    for tag, phrases in TOPICS.items()
}


def topic_tags(text: str) -> set[str]:
    """The tags of ``TOPICS`` whose words occur in ``text``, in any case."""
    return {tag for tag, words in _TOPIC_WORDS.items() if words.search(text)}


# Tags that sort nothing on a desk of AI and tech news.
_EMPTY_TAGS = frozenset({"ai", "artificial-intelligence", "tech", "technology", "news", "update"})
_MEANING = {
    tag: re.compile(r"(?:" + "|".join(phrases) + r")")
    for tag, phrases in {**VOCABULARY, **TOPICS}.items()
}


def written_tags(tags: Sequence[str], text: str) -> list[str]:
    """The hashtags a model wrote for ``text``, kept when they sort: a name of ``text`` (a
    word it writes in capitals, or with a capital at least as often as without: #canada,
    #us, #z80, #rust; not #memory from a title's "Memory"), a tag of the vocabulary or of
    TOPICS, or one of their words, which becomes that tag (#large-language-models is #llm,
    #tariffs #trade). Words that are neither (#mean, #functional, #realwork) and tags that
    sort nothing (#ai) are left out."""

    def forms(word: str) -> set[str]:  # "U.S." and "US", "Republicans" and "Republican"
        word = word.rstrip(".")
        return {word, word.replace(".", ""), word.removesuffix("s")}

    lower = Counter(f for w in re.findall(r"\b[a-z][\w.]*", text) for f in forms(w))
    upper = Counter(f.lower() for w in re.findall(r"\b[A-Z][\w.]*", text) for f in forms(w))
    shouted = {
        f.lower() for w in re.findall(r"\b[A-Z][A-Z0-9.]+\b", text) for f in forms(w)
    }  # "US", "HN", "Z80"
    names = shouted | {word for word, n in upper.items() if n >= lower[word]}
    kept: list[str] = []
    named = False  # whether the last tag kept is a name
    for tag in tags:
        if tag in _EMPTY_TAGS or len(tag) < 2:  # "#k" of "#philip #k #dick"
            continue
        if tag in _MEANING:
            kept.append(tag)
            named = False
        elif all(word in names for word in tag.split("-")):
            # A name the model cut in two tags is one where the text never writes its
            # first part alone: #errol #flynn is #errol-flynn, #rust #lsp stay two.
            if named and _always_together(kept[-1], tag, text):
                kept[-1] = f"{kept[-1]}-{tag}"
            else:
                kept.append(tag)
            named = True
        else:
            spaced = tag.replace("-", " ")
            kept += [key for key, meaning in _MEANING.items() if meaning.fullmatch(spaced)][:1]
            named = False
    return merged(kept)


def _always_together(first: str, second: str, text: str) -> bool:
    """Whether ``text`` writes the tag ``first`` only ever followed by ``second`` (in any
    case; "Electric Scooters" for #electric #scooter), or ``second``, a kind of product,
    only ever as the name of one after ``first`` ("Claude Code" for #claude #code; #rust
    #lsp stay two), and the two fit one hashtag."""
    if len(first) + 1 + len(second) > 30:
        return False
    one, two = (re.escape(tag.replace("-", " ")) for tag in (first, second))
    together = len(re.findall(rf"\b{one} {two}s?\b", text, re.I))
    # A kind is counted where it is written as a name: "Code", not the word "code".
    named = [m for m in re.finditer(rf"\b{two}s?\b", text, re.I) if m.group()[0].isupper()]
    return together > 0 and (
        together == len(re.findall(rf"\b{one}\b", text, re.I))
        or (second in _KINDS and together == len(named))
    )
