"""Settings: one declarative table, read from the environment, newsdesk.toml, or defaults.

Precedence, highest first: the ``NEWSDESK_<NAME>`` environment variable, then ``<name>`` in
``newsdesk.toml`` inside the data directory, then the default in ``SETTINGS`` below.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsdesk.exceptions import SettingsError

ENV_PREFIX = "NEWSDESK_"
CONFIG_FILE = "newsdesk.toml"


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


def _default_data_dir() -> str:
    import platformdirs

    return platformdirs.user_data_dir("newsdesk")


_UA = "newsdesk/0.1 (+https://github.com/newsdesk/newsdesk; self-hosted news reader)"

# Settings whose value is a secret: shown as set or not, never printed.
SECRET_SETTINGS = frozenset({"admin_token"})

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        Path,
        None,
        "Folder for the database, models and newsdesk.toml. "
        "Default: the user's data directory (platformdirs).",
    ),
    Setting(
        "database_url",
        str,
        "",
        "SQLAlchemy URL of the store. Empty: SQLite file "
        "newsdesk.db in the data directory. PostgreSQL: postgresql+psycopg://user@host/db",
    ),
    Setting("user_agent", str, _UA, "User-Agent sent with every request."),
    Setting("connect_timeout", float, 10.0, "Seconds to wait for a TCP/TLS connection."),
    Setting("read_timeout", float, 30.0, "Seconds to wait for the next bytes of an answer."),
    Setting(
        "max_body_bytes",
        int,
        10_000_000,
        "Largest body accepted, counted after decompression; larger downloads stop with an error.",
    ),
    Setting("max_redirects", int, 5, "Redirects followed before a fetch fails."),
    Setting("retries", int, 3, "Retries after a network error, 5xx, 429 or 503."),
    Setting(
        "backoff_base", float, 1.0, "First retry delay in seconds; doubles each retry, with jitter."
    ),
    Setting(
        "max_retry_after",
        float,
        300.0,
        "Longest Retry-After (seconds) honoured; a "
        "longer one fails the fetch and is retried on the next update.",
    ),
    Setting("host_concurrency", int, 2, "Requests in flight at once to one host."),
    Setting("host_delay", float, 1.0, "Minimum seconds between two requests to one host."),
    Setting("update_concurrency", int, 8, "Sources fetched at once by `newsdesk update`."),
    Setting(
        "allow_hosts",
        list,
        [],
        "IP addresses or host names that the SSRF guard lets "
        "through although they are private, loopback or reserved (comma-separated).",
    ),
    Setting(
        "fetch_interval",
        int,
        30,
        "Minutes between two fetches of a new source; then each source adapts (polling.py).",
    ),
    Setting("poll_min_minutes", float, 5.0, "Shortest polling interval of a busy source."),
    Setting("poll_max_minutes", float, 360.0, "Longest polling interval of a quiet source."),
    Setting(
        "extract_articles",
        bool,
        True,
        "Fetch linked articles and extract their text "
        "for feed entries and link posts that carry only a summary.",
    ),
    Setting(
        "extract_max_per_source", int, 20, "Articles fetched for extraction per source per update."
    ),
    Setting("reddit_base_url", str, "https://www.reddit.com", "Base URL of Reddit's JSON API."),
    Setting("reddit_pages", int, 1, "Listing pages (100 posts each) read per subreddit."),
    Setting(
        "reddit_comment_threads",
        int,
        0,
        "Posts per update whose thread is fetched for top comments (highest score first).",
    ),
    Setting("reddit_top_comments", int, 5, "Top-level comments kept per fetched thread."),
    Setting(
        "hn_base_url",
        str,
        "https://hacker-news.firebaseio.com/v0",
        "Base URL of the Hacker News Firebase API.",
    ),
    Setting("hn_max_items", int, 30, "Stories read from a Hacker News list per update."),
    Setting(
        "arxiv_base_url",
        str,
        "https://export.arxiv.org/api/query",
        "URL of the arXiv Atom query API.",
    ),
    Setting("arxiv_max_results", int, 50, "Entries asked of arXiv per category per update."),
    Setting(
        "replay",
        str,
        "",
        "Path of a replay manifest (TOML, url = file). When set, "
        "every fetch is answered from recorded files: no network at all; a manifest's "
        "recorded_at is taken as now.",
    ),
    Setting(
        "embed_backend",
        str,
        "minilm",
        "Embedding backend: `minilm` (all-MiniLM-L6-v2, "
        "int8 ONNX on the CPU, bundled) or `openai` (any OpenAI-compatible /v1/embeddings).",
    ),
    Setting(
        "embed_url",
        str,
        "",
        "Base URL of the OpenAI-compatible embeddings server, "
        "e.g. http://127.0.0.1:8080/v1 (openai backend).",
    ),
    Setting("embed_model", str, "", "Model name sent to the embeddings server (openai backend)."),
    Setting(
        "embed_api_key_env",
        str,
        "OPENAI_API_KEY",
        "Name of the environment variable "
        "holding the embeddings server's API key (openai backend; unset: no key).",
    ),
    Setting("embed_batch_size", int, 32, "Texts embedded per batch."),
    Setting(
        "embed_threads",
        int,
        0,
        "Texts the minilm backend embeds at once, one CPU thread each (0: one per CPU).",
    ),
    Setting(
        "llm_backend",
        str,
        "llamacpp",
        "Model backend that writes briefs: `llamacpp` (in process, a GGUF file, on the CPU) "
        "or `openai` (any OpenAI-compatible server: vLLM, SGLang, llama.cpp's server, Ollama).",
    ),
    Setting(
        "llm_model",
        str,
        "qwen2.5-coder-1.5b",
        "llamacpp: a known model name (`newsdesk models list`) or the path of any GGUF file; "
        "openai: the model name sent to the server.",
    ),
    Setting(
        "models_dir",
        str,
        "",
        "Folder of pulled model files. Empty: `models` in the data directory.",
    ),
    Setting(
        "llm_draft_tokens",
        int,
        0,
        "Tokens guessed ahead from the prompt inside strings and checked by the model in "
        "one batch (llamacpp; 0: off). Slower on 2 CPU cores (docs/benchmarks.md).",
    ),
    Setting(
        "llm_parallel",
        int,
        8,
        "Answers decoded together: llamacpp decodes up to this many in the same passes over "
        "the model (a brief's sections, sharing the source pack in the cache); openai sends "
        "up to this many requests at once. 1: one after another.",
    ),
    Setting("llm_threads", int, 0, "CPU threads for the llamacpp backend (0: every core)."),
    Setting(
        "llm_cpu_variant",
        str,
        "auto",
        "ggml CPU variant of the llamacpp backend: auto (the best that runs here, probed "
        "once) or a name such as haswell, zen4, sapphirerapids.",
    ),
    Setting(
        "llm_context",
        int,
        4096,
        "Context window in tokens (llamacpp): instructions, source pack and answer.",
    ),
    Setting(
        "llm_url",
        str,
        "",
        "Base URL of the OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (openai).",
    ),
    Setting(
        "llm_api_key_env",
        str,
        "OPENAI_API_KEY",
        "Name of the environment variable holding the model server's API key (openai).",
    ),
    Setting(
        "llm_structured_output",
        str,
        "json_schema",
        "How the openai backend asks for JSON: `json_schema` (OpenAI, vLLM, SGLang, "
        "llama.cpp's server), `json_object` (llama-cpp-python's server) or `none` "
        "(schema in the prompt, answer validated).",
    ),
    Setting(
        "admin_token",
        str,
        "",
        "Bearer token of the admin API (/api/v1/admin: sources, update, briefs); empty: "
        "the admin API is off.",
    ),
    Setting("llm_timeout", float, 300.0, "Seconds to wait for one answer of the model server."),
    Setting(
        "llm_retries",
        int,
        1,
        "Retries of a brief section whose answer does not validate; then that story fails.",
    ),
    Setting(
        "brief_pack_tokens",
        int,
        1200,
        "Tokens of source passages a brief is written from (capped by the context).",
    ),
    Setting(
        "grounding_judge",
        bool,
        False,
        "Ask the model backend whether the source pack supports each claim (its log-odds "
        "of yes, one forward pass a claim; openai: a server with logprobs), on top of the "
        "word and embedding checks (off: those two alone, no model needed).",
    ),
    Setting(
        "grounding_policy",
        str,
        "mark",
        "What a brief does with a claim the checker finds unsupported: mark (keep it, shown "
        "as unverified) or drop (remove it where its section can do without it).",
    ),
    Setting(
        "grounding_judge_model",
        str,
        "",
        "Model that judges support (a known name or GGUF path; openai: a model name). "
        "Empty: llm_model.",
    ),
    Setting(
        "cluster_window_hours",
        int,
        72,
        "An item joins only stories updated within this many hours of its publication time.",
    ),
    Setting(
        "fresh_hours",
        int,
        24,
        "A story is Fresh while its newest item is younger than this many hours, then Stale.",
    ),
    Setting(
        "run_briefs",
        int,
        3,
        "`newsdesk run`: briefs kept current each cycle, for the best stories (0: none).",
    ),
    Setting(
        "run_idle_seconds",
        float,
        60.0,
        "`newsdesk run`: longest sleep between two cycles (shorter when a source is due).",
    ),
    Setting(
        "broker_url",
        str,
        "redis://127.0.0.1:6379/0",
        "Distributed mode: the Celery broker that `newsdesk worker` and `enqueue` share.",
    ),
    Setting(
        "broker_visibility_timeout",
        float,
        3600.0,
        "Distributed mode: seconds before a task taken by a worker that died runs again "
        "(and at most a quarter of it, or 1 s, later).",
    ),
    Setting("host", str, "127.0.0.1", "Address `newsdesk serve` listens on."),
    Setting("port", int, 8000, "Port `newsdesk serve` listens on."),
    Setting(
        "page_cache_seconds",
        float,
        5.0,
        "Seconds the site keeps a rendered page for the next readers (0: off); bench/web.py.",
    ),
    Setting(
        "log_level",
        str,
        "warning",
        "Log records the CLI writes to standard error: debug, info, warning or error. "
        "Secrets (admin token, API keys, passwords in URLs) are never logged.",
    ),
    Setting(
        "api_rate_limit",
        int,
        600,
        "JSON API requests a minute per client address, in bursts of as many (0: no limit); "
        "past it: 429 with Retry-After.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    kind = setting.type
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if kind is list:
            if isinstance(value, list):
                return [str(v).strip() for v in value if str(v).strip()]
            return [part.strip() for part in str(value).split(",") if part.strip()]
        if kind is Path:
            return Path(str(value)).expanduser()
        if kind is int and isinstance(value, float):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as e:
        raise SettingsError(
            f"{setting.name} from {origin} must be {kind.__name__}, got {value!r}"
        ) from e


@dataclass(frozen=True)
class Settings:
    """Resolved settings; attribute access by name (``settings.read_timeout``)."""

    values: Mapping[str, Any]
    origins: Mapping[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def data_path(self) -> Path:
        path: Path = self.values["data_dir"]
        return path

    def with_(self, **changes: Any) -> Settings:
        """A copy with some values replaced (origin: "code")."""
        values = dict(self.values)
        origins = dict(self.origins)
        for name, value in changes.items():
            values[name] = _coerce(_BY_NAME[name], value, "code")
            origins[name] = "code"
        return Settings(values, origins)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve every setting: overrides, environment, newsdesk.toml, default."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}

        def env_value(name: str) -> str | None:
            return env.get(ENV_PREFIX + name.upper())

        raw_dir = overrides.get("data_dir") or env_value("data_dir") or _default_data_dir()
        data_dir = Path(str(raw_dir)).expanduser()
        config_path = data_dir / CONFIG_FILE
        config: dict[str, Any] = {}
        if config_path.exists():
            try:
                config = tomllib.loads(config_path.read_text("utf-8"))
            except tomllib.TOMLDecodeError as e:
                raise SettingsError(f"{config_path}: {e}") from e
            unknown = sorted(set(config) - set(_BY_NAME))
            if unknown:
                raise SettingsError(
                    f"{config_path}: unknown settings {', '.join(unknown)}; "
                    "`newsdesk settings` lists the known ones"
                )

        for s in SETTINGS:
            if s.name == "data_dir":
                values[s.name] = data_dir
                origins[s.name] = (
                    "code"
                    if overrides.get("data_dir")
                    else "env"
                    if env_value("data_dir")
                    else "default"
                )
            elif s.name in overrides:
                values[s.name] = _coerce(s, overrides[s.name], "code")
                origins[s.name] = "code"
            elif (raw := env_value(s.name)) is not None:
                values[s.name] = _coerce(s, raw, ENV_PREFIX + s.name.upper())
                origins[s.name] = "env"
            elif s.name in config:
                values[s.name] = _coerce(s, config[s.name], str(config_path))
                origins[s.name] = "file"
            else:
                values[s.name] = s.default
                origins[s.name] = "default"
        return cls(values, origins)
