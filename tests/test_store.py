from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from newsdesk.exceptions import SourceNotFoundError
from newsdesk.models import Item
from newsdesk.store import Store


def _item(n: int, **kw: object) -> Item:
    fields: dict[str, object] = {
        "external_id": f"test:{n}",
        "title": f"Qwen release number {n}",
        "url": f"https://example.org/{n}",
        "text": f"body of post {n} about quantization",
        "published_at": datetime(2025, 7, 1, 12, n % 60, tzinfo=UTC),
        "score": n,
    }
    fields.update(kw)
    return Item(**fields)  # type: ignore[arg-type]


def test_migrates_and_starts_empty(store: Store) -> None:
    assert store.counts() == {"sources": 0, "items": 0, "stories": 0, "briefs": 0, "recaps": 0}
    store.migrate()  # a second migration is a no-op
    assert store.counts()["items"] == 0


def test_add_source_is_idempotent_by_url(store: Store) -> None:
    a = store.add_source("reddit", "https://www.reddit.com/r/LocalLLaMA/new", "r/LocalLLaMA", "👽")
    b = store.add_source("reddit", "https://www.reddit.com/r/LocalLLaMA/new", "other", "👽")
    assert a.id == b.id
    assert b.name == "r/LocalLLaMA"
    assert store.get_source(a.url).id == a.id
    assert store.get_source(str(a.id)).emoji == "👽"
    with pytest.raises(SourceNotFoundError):
        store.get_source(999)


def test_upsert_is_idempotent_and_refreshes_engagement(store: Store) -> None:
    src = store.add_source("feed", "https://example.org/feed.xml", "Example", "📰")
    batch = [_item(n) for n in range(1, 6)]
    assert store.upsert_items(src.id, batch).new == 5
    again = store.upsert_items(src.id, batch)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 5)

    changed = [_item(1, score=99, comment_count=7), _item(2, text="edited body")]
    counts = store.upsert_items(src.id, changed)
    assert (counts.new, counts.updated) == (0, 2)
    assert store.counts()["items"] == 5
    row = store.get_item("test:1")
    assert (row.score, row.comment_count) == (99, 7)
    assert store.get_item("test:2").text == "edited body"


def test_item_seen_by_two_sources_is_one_row(store: Store) -> None:
    hot = store.add_source("reddit", "https://www.reddit.com/r/LocalLLaMA/hot", "hot", "👽")
    new = store.add_source("reddit", "https://www.reddit.com/r/LocalLLaMA/new", "new", "👽")
    store.upsert_items(new.id, [_item(1)])
    store.upsert_items(hot.id, [_item(1, score=50)])
    assert store.counts()["items"] == 1
    row = store.get_item("test:1")
    assert row.source_id == new.id  # keeps the source that saw it first
    assert row.score == 50


def test_datetimes_are_aware_utc(store: Store) -> None:
    src = store.add_source("feed", "https://example.org/feed.xml", "Example", "📰")
    plus2 = timezone(timedelta(hours=2))
    store.upsert_items(src.id, [_item(1, published_at=datetime(2025, 7, 1, 14, 0, tzinfo=plus2))])
    row = store.get_item("test:1")
    assert row.published_at == datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert row.published_at.tzinfo is not None
    assert row.collected_at.utcoffset() == timedelta(0)
    with pytest.raises(sa.exc.StatementError):
        store.upsert_items(src.id, [_item(2, published_at=datetime(2025, 7, 1))])


def test_record_fetch_counts_and_resets_errors(store: Store) -> None:
    src = store.add_source("feed", "https://example.org/feed.xml", "Example", "📰")
    now = datetime(2025, 7, 1, tzinfo=UTC)
    for _ in range(2):
        store.record_fetch(src.id, fetched_at=now, next_fetch_at=now, error="HTTP 500")
    failed = store.get_source(src.id)
    assert (failed.error_count, failed.last_error) == (2, "HTTP 500")
    store.record_fetch(src.id, fetched_at=now, next_fetch_at=now, etag='"v1"')
    ok = store.get_source(src.id)
    assert (ok.error_count, ok.last_error, ok.etag) == (0, None, '"v1"')
    assert store.list_sources(due_at=now - timedelta(seconds=1)) == []
    assert [s.id for s in store.list_sources(due_at=now)] == [src.id]


def test_full_text_search(store: Store) -> None:
    src = store.add_source("feed", "https://example.org/feed.xml", "Example", "📰")
    store.upsert_items(
        src.id,
        [
            _item(1, title="Mistral releases Devstral", text="a coding model"),
            _item(2, title="Anthropic ships Claude", text="a chat model with tools"),
        ],
    )
    assert [r.external_id for r in store.search_items("devstral")] == ["test:1"]
    assert [r.external_id for r in store.search_items("tools")] == ["test:2"]
    assert store.search_items('AND "OR (') == []  # operators in input are plain words
    # A NUL (found by schemathesis: FTS5 said "unterminated string", a 500) is a space.
    assert store.search_items("\x00") == []
    assert [r.external_id for r in store.search_items("devstral\x00\x1f")] == ["test:1"]
    store.upsert_items(src.id, [_item(1, title="Mistral renames it", text="nothing else")])
    assert store.search_items("devstral") == []  # the index follows updates


def test_remove_source_removes_its_items(store: Store) -> None:
    src = store.add_source("feed", "https://example.org/feed.xml", "Example", "📰")
    store.upsert_items(src.id, [_item(1), _item(2)])
    store.remove_source(src.id)
    assert store.counts()["items"] == 0
    with pytest.raises(SourceNotFoundError):
        store.remove_source(src.id)
