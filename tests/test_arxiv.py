from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsdesk.exceptions import ParseError
from newsdesk.fetch import Fetcher
from newsdesk.models import Source
from newsdesk.settings import Settings
from newsdesk.sources import FetchResult, parse_spec
from newsdesk.sources.arxiv import ArxivEntry, ArxivKind, adapt, format_authors, parse_response

from httpserver import RecordedServer, Reply

SAMPLE = "api-samples/arxiv/query_all-science_max10_2019-08-10.atom.xml"


@pytest.fixture
def entries(shared_data: Path) -> list[ArxivEntry]:
    path = shared_data / SAMPLE
    return parse_response(path.read_bytes(), str(path))


@pytest.mark.parametrize(
    ("spec", "category"),
    [
        ("arxiv:cs.CL", "cs.CL"),
        ("arxiv:quant-ph", "quant-ph"),
        ("arXiv:astro-ph.CO", "astro-ph.CO"),
        ("https://arxiv.org/list/cs.AI/recent", "cs.AI"),
        ("https://arxiv.org/list/stat.ML/new", "stat.ML"),
    ],
)
def test_parse_spec(settings: Settings, spec: str, category: str) -> None:
    found = ArxivKind.parse_spec(spec, settings)
    assert found is not None
    assert (found.kind, found.url, found.name) == (
        "arxiv",
        f"https://arxiv.org/list/{category}/recent",
        f"arXiv {category}",
    )
    assert ArxivKind.parse_spec(found.url, settings) == found
    assert parse_spec(spec, settings) == found


@pytest.mark.parametrize(
    "spec",
    [
        "arxiv:",
        "arxiv:cs.CL+cs.AI",
        "arxiv:2401.01234",
        "https://arxiv.org/abs/2401.01234",
        "hn:top",
    ],
)
def test_parse_spec_rejects(settings: Settings, spec: str) -> None:
    assert ArxivKind.parse_spec(spec, settings) is None


def test_parse_sample(entries: list[ArxivEntry]) -> None:
    assert len(entries) == 10
    ids = [e.arxiv_id for e in entries]
    assert len(set(ids)) == 10
    # Old-style ids keep their archive prefix; versions are split off.
    assert "quant-ph/0210005" in ids and "physics/0507092" in ids
    assert "1501.05039" in ids
    assert all(e.version == 1 for e in entries)
    for e in entries:
        assert e.title and "\n" not in e.title and "  " not in e.title
        assert e.summary and "\n" not in e.summary and not e.summary.startswith(" ")
        assert e.authors
        assert e.published is not None and e.published.tzinfo is not None
        assert e.updated is not None and e.updated >= e.published
        assert e.primary_category in e.categories
        assert e.abs_url == f"https://arxiv.org/abs/{e.arxiv_id}"
        assert e.pdf_url is not None and e.pdf_url.startswith(
            f"https://arxiv.org/pdf/{e.arxiv_id}v"
        )

    first = entries[0]
    assert first.arxiv_id == "1501.05039"
    assert first.title == "Defining Data Science"
    assert first.authors == ["Yangyong Zhu", "Yun Xiong"]
    assert first.published == datetime(2015, 1, 21, 2, 41, 55, tzinfo=UTC)
    assert first.categories == ["cs.DB", "cs.CY"]
    assert first.doi is None and first.comment is None

    report = entries[1]
    # A title wrapped over three lines in the XML.
    assert report.title.startswith(
        "Report on a Boston University Conference December 7-8, 2012 on 'How Can the History"
    )
    assert "Yann Benétreau-Dupin" in report.authors  # non-ASCII names survive
    assert report.doi == "10.1007/s11191-014-9716-8"
    assert report.journal_ref is not None and report.journal_ref.startswith("Science & Education")
    assert report.comment is not None and "31 pages" in report.comment

    assert any("Künsch" in a for e in entries for a in e.authors)
    # MSC and ACM classes are categories too.
    logic = next(e for e in entries if e.arxiv_id == "1802.03292")
    assert logic.primary_category == "cs.LO" and len(logic.categories) == 3


def test_adapt(entries: list[ArxivEntry]) -> None:
    items = [adapt(e) for e in entries]
    old = next(i for i in items if i.external_id == "arxiv:quant-ph/0210005")
    assert old.url == "https://arxiv.org/abs/quant-ph/0210005"
    for item, entry in zip(items, entries, strict=True):
        assert item.external_id == f"arxiv:{entry.arxiv_id}"
        assert item.title == entry.title
        assert item.text == entry.summary
        assert item.html.startswith("<p>") and item.html.endswith("</p>")
        assert item.author == ", ".join(entry.authors)
        assert item.published_at == entry.published
        assert not item.needs_extraction


def test_format_authors() -> None:
    names = [f"Author {n}" for n in range(12)]
    assert format_authors(names) == ", ".join(names[:10]) + " et al."
    assert format_authors(names[:10]) == ", ".join(names[:10])
    assert format_authors([]) is None


def test_errors_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="not XML"):
        parse_response(b"<html", "https://export.arxiv.org/api/query")
    with pytest.raises(ParseError, match="not an Atom feed"):
        parse_response(b"<rss/>", "https://export.arxiv.org/api/query")
    # arXiv's answer to a malformed query: 200 with one error entry.
    error = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        b"<id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id>"
        b"<title>Error</title><summary>incorrect id format for 1234</summary>"
        b"</entry></feed>"
    )
    with pytest.raises(ParseError, match="incorrect id format"):
        parse_response(error, "https://export.arxiv.org/api/query")
    empty = b'<feed xmlns="http://www.w3.org/2005/Atom"></feed>'
    assert parse_response(empty, "https://export.arxiv.org/api/query") == []


def test_fetch(shared_data: Path, http_server: RecordedServer, settings: Settings) -> None:
    http_server.route(
        "/api/query",
        Reply(200, {"Content-Type": "application/atom+xml; charset=utf-8"}, shared_data / SAMPLE),
    )
    settings = settings.with_(
        arxiv_base_url=http_server.base_url + "/api/query", arxiv_max_results=10
    )
    source = Source(
        id=3,
        kind="arxiv",
        url="https://arxiv.org/list/cs.CL/recent",
        name="arXiv cs.CL",
        emoji="📄",
    )

    async def go() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return await ArxivKind().fetch(source, fetcher, settings)

    result = asyncio.run(go())
    assert len(result.items) == 10
    assert [r.path for r in http_server.requests] == [
        "/api/query?search_query=cat:cs.CL&sortBy=submittedDate&sortOrder=descending&max_results=10"
    ]
