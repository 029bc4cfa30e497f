from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from conftest import hand_brief, save_hand_brief
from newsdesk.desk import Desk
from newsdesk.models import Item, utcnow
from newsdesk.settings import Settings
from newsdesk.web import create_app


def _client(settings: Settings) -> tuple[Desk, TestClient]:
    desk = Desk(settings)
    source = desk.store.add_source("feed", "https://example.org/feed.xml", "Example Lab", "📰")
    desk.store.upsert_items(
        source.id,
        [
            Item(
                "feed:1",
                "Qwen3 ships <script>alert(1)</script>",
                "https://example.org/1",
                published_at=utcnow(),
                text="a release of open weights",
                score=12,
            ),
            Item("feed:2", "Devstral benchmarks", "javascript:alert(2)", text="coding agents"),
        ],
    )
    return desk, TestClient(create_app(desk))


def test_page_lists_items_escaped_with_safety_headers(settings: Settings) -> None:
    _desk, client = _client(settings)
    page = client.get("/")
    assert page.status_code == 200
    assert "Qwen3 ships &lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert 'href="javascript:' not in page.text
    assert "📰 Example Lab" in page.text
    assert "2 items" in page.text
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"]


def test_search_and_stats(settings: Settings) -> None:
    desk, client = _client(settings)
    desk.cluster()
    found = client.get("/search", params={"q": "devstral"})
    assert "Devstral benchmarks" in found.text and "Qwen3" not in found.text
    # The story of the found item is listed, and the item links to it.
    (story_id,) = desk.search("devstral").story_of.values()
    assert found.text.count(f'href="/stories/{story_id}"') == 2
    assert "No story matches." in client.get("/search", params={"q": "nothing-like-it"}).text
    old = client.get("/", params={"q": "devstral"}, follow_redirects=False)
    assert old.status_code == 301 and old.headers["location"] == "/search?q=devstral"
    assert client.get("/api/v1/stats").json() == {
        "sources": 1,
        "items": 2,
        "stories": 2,
        "briefs": 0,
        "recaps": 0,
    }


def test_api_sources_search_and_schema(settings: Settings) -> None:
    _desk, client = _client(settings)
    (source,) = client.get("/api/v1/sources").json()
    assert source["name"] == "Example Lab" and source["error_count"] == 0
    found = client.get("/api/v1/search", params={"q": "devstral"}).json()
    (hit,) = found["items"]
    assert hit["title"] == "Devstral benchmarks" and hit["source"] == "Example Lab"
    assert hit["story_id"] is None and found["stories"] == []  # not clustered yet
    assert client.get("/api/v1/search").status_code == 422  # q is required
    assert client.get("/api/v1/stories").json() == []
    assert client.get("/api/v1/stories/nope").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/stories", "/api/v1/stories/{story_id}", "/api/v1/sources"):
        assert path in paths
    for path in ("/api/v1/tags", "/api/v1/search", "/api/v1/stats"):
        assert path in paths


def test_admin_api_needs_its_token_and_is_off_without_one(settings: Settings) -> None:
    _desk, off = _client(settings)
    assert off.post("/api/v1/admin/sources", json={"spec": "hn:top"}).status_code == 404

    desk, client = _client(settings.with_(admin_token="s3cret-token"))
    add = {"spec": "reddit:LocalLLaMA"}
    assert client.post("/api/v1/admin/sources", json=add).status_code == 401
    wrong = {"Authorization": "Bearer s3cret-tokeX"}
    assert client.post("/api/v1/admin/sources", json=add, headers=wrong).status_code == 403
    auth = {"Authorization": "Bearer s3cret-token"}
    created = client.post("/api/v1/admin/sources", json=add, headers=auth)
    assert created.status_code == 201 and created.json()["kind"] == "reddit"
    bad = client.post("/api/v1/admin/sources", json={"spec": "no such kind"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["detail"]
    ref = str(created.json()["id"])
    assert client.delete(f"/api/v1/admin/sources/{ref}", headers=auth).status_code == 200
    assert [s.kind for s in desk.sources()] == ["feed"]
    assert client.post("/api/v1/admin/stories/nope/brief", headers=auth).status_code == 404
    # The token is a secret: `newsdesk settings` shows that it is set, not what it is.
    shown = {name: value for name, value, _, _ in desk.settings_table()}
    assert shown["admin_token"] == "(set, hidden)"


def test_tag_and_source_pages(settings: Settings) -> None:
    desk, client = _client(settings)
    desk.cluster()
    cards = desk.river().cards
    assert cards and all(c.badges == [("Example Lab", "📰", 1)] for c in cards)
    tag = next(c.tags[0] for c in cards if c.tags)
    page = client.get(f"/tags/{tag}")
    assert page.status_code == 200 and f"<h1>#{tag}</h1>" in page.text
    tagged = {c.story.id for c in cards if tag in c.tags}
    assert set(re.findall(r'href="/stories/([^"]+)"', page.text)) == tagged
    assert f'href="/feeds/stories.rss?tag={tag}"' in page.text
    # A tag no story carries now still has its page (links to it outlive the stories),
    # marked for robots; another spelling redirects; what is no tag at all is a 404.
    empty = client.get("/tags/no-such-tag")
    assert empty.status_code == 200 and "carries this tag now" in empty.text
    assert '<meta name="robots" content="noindex">' in empty.text
    assert 'content="noindex"' not in page.text
    beyond = client.get(f"/tags/{tag}?page=50")
    assert beyond.status_code == 200 and "No more stories carry this tag." in beyond.text
    moved = client.get(f"/tags/{tag.upper()}?page=2", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == f"/tags/{tag}?page=2"
    assert client.get("/tags/%E2%80%94").status_code == 404

    source = desk.sources()[0]
    now = utcnow()
    desk.store.record_fetch(
        source.id, fetched_at=now, next_fetch_at=now, error="HTTP 503 from example.org"
    )
    page = client.get(f"/sources/{source.id}")
    assert page.status_code == 200
    for text in ("Health", "Last fetch", "Next fetch", "HTTP 503 from example.org", "failing"):
        assert text in page.text
    assert set(re.findall(r'href="/stories/([^"]+)"', page.text)) == {c.story.id for c in cards}
    assert client.get("/sources/999").status_code == 404
    home = client.get("/", params={"source": source.id}).text
    assert "from 📰 Example Lab" in home
    assert 'href="/static/style.css"' in home
    css = client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    # The index pages, linked from every page's header: every tag of the river's stories
    # by count, and every source with its health and its items.
    assert '<a href="/tags">Tags</a> <a href="/sources">Sources</a>' in home
    listed = re.findall(
        r'href="/tags/([^"]+)">#[^<]+</a> <span class="meta">(\d+) stor', client.get("/tags").text
    )
    counts = desk.tags()
    assert listed and [(t, int(n)) for t, n in listed] == sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0])
    )
    sources = client.get("/sources").text
    assert f'href="/sources/{source.id}">📰 Example Lab</a>' in sources
    assert "failing (1 error in a row): HTTP 503 from example.org" in sources
    assert "<td>2</td>" in sources  # its two items


def test_spellings_of_one_tag_are_one_tag(settings: Settings) -> None:
    # Titles write "GPT-5" and "GPT5" (in the recorded r/LocalLLaMA titles: 18 and 3
    # times): one tag, counted once per story under the spelling most stories use, and
    # either spelling's page lists every story that carries it.
    desk, client = _client(settings)
    desk.cluster()
    ids = sorted(c.story.id for c in desk.river().cards)
    desk.store.update_stories({ids[0]: {"tags": ["gpt-5", "llm"]}, ids[1]: {"tags": ["gpt5"]}})
    counts = desk.tags()
    assert counts["gpt-5"] == 2 and "gpt5" not in counts
    for spelling in ("gpt-5", "gpt5"):
        page = client.get(f"/tags/{spelling}").text
        assert set(re.findall(r'href="/stories/([^"]+)"', page)) == set(ids)
        # The tags seen beside it are the others, not its own other spelling.
        beside = page.split('id="other-tags"')[1]
        assert re.findall(r'href="/tags/([^"]+)">#', beside) == ["llm"]
    assert "#gpt5" not in client.get("/tags").text


def test_admin_api_merges_and_splits_stories(settings: Settings) -> None:
    """An editor's two corrections over HTTP: merge a story into another (its page then
    redirects), and part items out into a story of their own."""
    desk, client = _client(settings.with_(admin_token="t0ken", page_cache_seconds=60))
    desk.cluster()
    qwen, devstral = (desk.search(q).story_of.popitem()[1] for q in ("qwen3", "devstral"))
    auth = {"Authorization": "Bearer t0ken"}
    url = f"/api/v1/admin/stories/{devstral}/merge"
    assert client.post(url, json={"into": qwen}).status_code == 401
    assert client.get(f"/stories/{devstral}").status_code == 200  # cached from here on
    merged = client.post(url, json={"into": qwen}, headers=auth)
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == qwen and merged.json()["item_count"] == 2
    moved = client.get(f"/stories/{devstral}", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == f"/stories/{qwen}"
    assert client.post(url, json={"into": qwen}, headers=auth).status_code == 409
    none = client.post(url.replace(devstral, "s-none"), json={"into": qwen}, headers=auth)
    assert none.status_code == 404 and "s-none" in none.json()["detail"]
    items = {i["title"]: i["id"] for i in client.get(f"/api/v1/stories/{qwen}").json()["items"]}
    split_url = f"/api/v1/admin/stories/{qwen}/split"
    part = client.post(split_url, json={"items": [items["Devstral benchmarks"]]}, headers=auth)
    assert part.status_code == 201, part.text
    new = part.json()
    assert new["id"] not in (qwen, devstral) and new["title"] == "Devstral benchmarks"
    assert client.get(f"/api/v1/stories/{qwen}").json()["items"][0]["title"].startswith("Qwen3")
    every = client.post(split_url, json={"items": list(items.values())}, headers=auth)
    assert every.status_code == 400 and "not items of" in every.json()["detail"]
    qwen_item = next(i for t, i in items.items() if t.startswith("Qwen3"))
    left = client.post(split_url, json={"items": [qwen_item]}, headers=auth)
    assert left.status_code == 400 and "every item" in left.json()["detail"]
    assert client.post(split_url, json={"items": []}, headers=auth).status_code == 422
    assert client.post(split_url, json={"items": [0]}, headers=auth).status_code == 422


def test_page_cache_serves_a_page_until_it_expires_or_an_admin_acts(settings: Settings) -> None:
    desk, client = _client(settings.with_(page_cache_seconds=60, admin_token="t0ken"))
    first = client.get("/")
    assert "2 items" in first.text
    desk.store.upsert_items(desk.sources()[0].id, [Item("feed:3", "A third post", None)])
    again = client.get("/")
    assert again.text == first.text  # cached, and with the same headers
    assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert "3 items" in client.get("/", params={"page": 1}).text  # another URL
    auth = {"Authorization": "Bearer t0ken"}
    assert client.post("/api/v1/admin/sources", json={"spec": "hn:top"}, headers=auth).is_success
    assert "3 items" in client.get("/").text  # an admin action cleared the cache
    assert client.get("/stories/nope").status_code == 404  # errors are not kept...
    desk, client = _client(settings.with_(page_cache_seconds=0))
    client.get("/")
    desk.store.upsert_items(desk.sources()[0].id, [Item("feed:3", "A third post", None)])
    assert "3 items" in client.get("/").text  # no cache at all


def test_an_expired_page_is_served_while_the_next_is_built(settings: Settings) -> None:
    import time

    desk, plain = _client(settings.with_(page_cache_seconds=0.3))
    with plain as client:  # one event loop for the whole test: background builds finish
        assert "2 items" in client.get("/").text
        desk.store.upsert_items(desk.sources()[0].id, [Item("feed:3", "A third post", None)])
        time.sleep(0.4)
        assert "2 items" in client.get("/").text  # expired: served, and rebuilt behind it
        deadline = time.monotonic() + 5
        while "3 items" not in client.get("/").text:
            assert time.monotonic() < deadline, "the page was never rebuilt"
            time.sleep(0.05)


def test_numbers_in_addresses_out_of_range_are_refused(settings: Settings) -> None:
    """Found by schemathesis: an id past 64 bits reached SQLite and gave a 500."""
    desk, client = _client(settings)
    too_big = 2**63
    assert client.get(f"/sources/{too_big}").status_code == 422
    assert client.get("/", params={"source": too_big}).status_code == 422
    assert client.get("/", params={"page": 10**9}).status_code == 422
    assert client.get("/api/v1/stories", params={"offset": 10**12}).status_code == 422
    from newsdesk.exceptions import SourceNotFoundError

    with pytest.raises(SourceNotFoundError):
        desk.store.get_source(str(too_big))


def test_story_timeline_holds_the_dated_archive_stories(settings: Settings) -> None:
    """A timeline entry is a dated sentence of a source (the brief's) or a dated story of
    the archive (a related story, dated by its first item), shown together by date."""
    from datetime import UTC, datetime

    from newsdesk.store import story_id_for

    desk = Desk(settings.with_(page_cache_seconds=0))
    source = desk.store.add_source("feed", "https://example.org/feed.xml", "Example Lab", "📰")
    days = {"a": (2025, 7, 22), "b": (2025, 4, 29), "c": (2025, 7, 22)}
    titles = {"a": "Qwen3-Coder ships", "b": "Qwen3 <b>ships</b>", "c": "Devstral 2 is out"}
    desk.store.upsert_items(
        source.id,
        [
            Item(
                f"feed:{k}",
                titles[k],
                f"https://example.org/{k}",
                published_at=datetime(*days[k], 9, tzinfo=UTC),
                text="text",
            )
            for k in "abc"
        ],
    )
    rows = desk.store.unclustered_items()
    ids = {k: story_id_for(f"feed:{k}") for k in "abc"}
    desk.store.assign(
        [(r.id, ids[r.external_id[-1]], "new") for r in rows],
        {ids[r.external_id[-1]]: r for r in rows},
    )
    desk.store.update_story(ids["a"], related=[ids["c"], ids["b"], "s-gone"])
    event = {"text": "Qwen3-Coder was released on July 22.", "cites": [1]}
    entry = {"date": "2025-07-22", "event": event, "evidence": "On July 22 ..."}
    save_hand_brief(desk.store, ids["a"], hand_brief(event, timeline=[entry]))
    client = TestClient(create_app(desk))

    page = client.get(f"/stories/{ids['a']}").text
    timeline = page[page.index('<ol class="timeline">') :]
    timeline = timeline[: timeline.index("</ol>")]
    entries = re.findall(r"<li>(.*?)</li>", timeline)
    assert len(entries) == 3
    # Date order; on a day that both have, the source's entry first.
    assert entries[0].startswith('<time datetime="2025-04-29">')
    assert f'href="/stories/{ids["b"]}">Qwen3 &lt;b&gt;ships&lt;/b&gt;</a>' in entries[0]
    assert "Qwen3-Coder was released on July 22." in entries[1]
    assert f'href="/stories/{ids["c"]}">Devstral 2 is out</a>' in entries[2]
    assert all("(a story in the archive)" in e for e in (entries[0], entries[2]))

    story = client.get(f"/api/v1/stories/{ids['a']}").json()
    assert story["archive_timeline"] == [
        {"date": "2025-04-29", "story_id": ids["b"], "title": titles["b"]},
        {"date": "2025-07-22", "story_id": ids["c"], "title": titles["c"]},
    ]
    assert story["brief"]["brief"]["timeline"][0]["event"] == event
    # A story with no related story has no archive entry.
    assert client.get(f"/api/v1/stories/{ids['b']}").json()["archive_timeline"] == []
    # A section left empty (its points repeated the TL;DR, or the checker dropped them)
    # says so.
    save_hand_brief(
        desk.store, ids["b"], hand_brief(event, key_takeaways=[], technical_deep_dive=[])
    )
    page = client.get(f"/stories/{ids['b']}").text
    assert "Nothing beyond the TL;DR.</p>" in page
    assert "Nothing beyond the TL;DR and the takeaways.</p>" in page
    assert "None that the sources support.</p>" in page and "forecasts" not in page
    # A forecast is the model's, and says so; its rationale is the checked claim.
    forecast = {"prediction": "Qwen3-Coder will get smaller variants.", "rationale": event}
    save_hand_brief(desk.store, ids["b"], hand_brief(event, future_implications=[forecast]))
    page = client.get(f"/stories/{ids['b']}").text
    assert "The model's forecasts, not the sources'" in page
    assert "<strong>Qwen3-Coder will get smaller variants.</strong>" in page
    desk.close()


def test_a_hook_the_checker_does_not_support_heads_no_page(settings: Settings) -> None:
    """The hook heads the story's page, its card, the API's ``headline`` and the feeds only
    where the checker supports it: a list shows no verdict. Else the story's title (a
    source's own words) heads them, and the page says what the model wrote and its
    verdict. A brief stored before hooks were checked keeps its hook."""
    from newsdesk.store import story_id_for

    desk, client = _client(settings.with_(page_cache_seconds=0))
    rows = desk.store.unclustered_items()
    story_id = story_id_for("feed:1")
    desk.store.assign([(r.id, story_id, "new") for r in rows[:1]], {story_id: rows[0]})
    title = desk.story(story_id).title
    claim = {"text": "Qwen3 ships open weights.", "cites": [1]}
    brief = hand_brief(claim, hook="AI researchers revive the Z80 from the 1970s")
    supported = {"label": "supported", "score": 0.9, "reasons": [], "signals": {}}
    partial = {**supported, "label": "partial", "score": 0.77}
    claims = [supported] * 5  # the TL;DR's three, one takeaway, one deep-dive point

    def shown() -> tuple[str, str, str]:
        page = client.get(f"/stories/{story_id}").text
        h1 = re.search(r"<h1>(.*?)</h1>", page).group(1)  # type: ignore[union-attr]
        card = re.search(rf'href="/stories/{story_id}">(.*?)</a>', client.get("/").text)
        listed = {s["id"]: s for s in client.get("/api/v1/stories").json()}[story_id]
        return h1, card.group(1), listed["headline"]  # type: ignore[union-attr]

    save_hand_brief(desk.store, story_id, brief, verdicts=[*claims, partial])
    assert shown() == (str(escape(title)), str(escape(title)), title)
    page = client.get(f"/stories/{story_id}").text
    assert "The model's headline, “AI researchers revive the Z80 from the 1970s”" in page
    assert '<span class="verdict partial"' in page
    save_hand_brief(desk.store, story_id, brief, verdicts=[*claims, supported])
    assert shown() == (brief["hook"],) * 3
    assert "Headline, checked against every passage:" in client.get(f"/stories/{story_id}").text
    save_hand_brief(desk.store, story_id, brief, verdicts=claims)  # no hook verdict
    assert shown() == (brief["hook"],) * 3
    desk.close()


def test_a_port_in_use_is_a_clear_error_before_the_site_says_it_serves(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from newsdesk.exceptions import SettingsError
    from newsdesk.web import run

    desk = Desk(settings)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(SettingsError, match=f"cannot serve on 127.0.0.1:{port}: .*--port"):
            run(desk, "127.0.0.1", port)
    desk.close()
    assert "serving" not in capsys.readouterr().out
