from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from newsdesk.cluster import (
    Assignment,
    ClusterConfig,
    ClusterDoc,
    OnlineClusterer,
    _Index,
    link_key,
    term_weights,
    tokens,
    versions,
)
from newsdesk.evaluate import load_gva

T0 = datetime(2025, 6, 10, 12, tzinfo=UTC)

# A real-looking article body, long enough for near-duplicate detection.
BODY = (
    "Mistral released Magistral on Tuesday, its first reasoning model, in two sizes. "
    "The small version has 24 billion parameters and ships under the Apache 2.0 license, "
    "while the medium version is available through the company's API and Le Chat. "
    "The Paris-based company said the model reasons in French, Spanish, German and Chinese "
    "and that its chain of thought can be read by users, unlike some competing systems."
)
PAYWALL = (
    "Just One More Thing...\n\nWe have sent you a verification email. Please check your "
    "email and click on the link to activate your profile. If you do not receive the "
    "verification message within a few minutes of signing up, please check your Spam or "
    "Junk folder."
)


def doc(
    id: str,
    title: str,
    text: str = "",
    hours: float = 0.0,
    **kw: object,
) -> ClusterDoc:
    return ClusterDoc(id=id, title=title, text=text, published_at=T0 + timedelta(hours=hours), **kw)  # type: ignore[arg-type]


def test_same_canonical_url_joins_whatever_the_text() -> None:
    c = OnlineClusterer()
    first = c.add(doc("a", "Magistral is out", canonical_url="https://mistral.ai/news/magistral"))
    second = c.add(
        doc(
            "b",
            "Completely different words",
            hours=24 * 60,  # far outside the window: the URL still wins
            canonical_url="https://mistral.ai/news/magistral?utm_source=rss#top",
        )
    )
    assert first.new_story and first.reason == "new"
    assert second.story_id == first.story_id
    assert (second.new_story, second.reason) == (False, "canonical-url")


def test_near_duplicate_body_joins() -> None:
    c = OnlineClusterer()
    a = c.add(doc("a", "Mistral releases Magistral reasoning model", BODY))
    b = c.add(doc("b", "Mistral releases Magistral, its reasoning model", BODY + " (AP)", hours=3))
    assert (b.story_id, b.reason) == (a.story_id, "near-duplicate")


def test_boilerplate_body_under_different_titles_does_not_join() -> None:
    c = OnlineClusterer()
    titles = [
        "4 people shot in southeast Atlanta",
        "Teen killed in accidental DeKalb shooting identified",
        "Georgia man indicted in shooting that injured 7",
    ]
    results = [c.add(doc(str(i), t, PAYWALL, hours=i)) for i, t in enumerate(titles)]
    assert len({r.story_id for r in results}) == 3
    assert all(r.reason == "new" for r in results)


def test_a_site_name_in_titles_does_not_glue_its_stories() -> None:
    c = OnlineClusterer()
    site = " - WTOC-TV: Savannah, Beaufort, SC, News, Weather & Sports"
    a = c.add(doc("a", "Teen wounded in Pennsylvania Avenue shooting" + site))
    b = c.add(doc("b", "Police investigate overnight burglaries" + site[:30], hours=2))
    same = c.add(doc("c", "Teen wounded in Pennsylvania Avenue shooting dies" + site, hours=5))
    assert b.new_story
    assert same.story_id == a.story_id
    # A hyphen inside a headline is not a site's name.
    assert c._headline("Colts top Chiefs 20 - 13 - WTOC-TV: Savannah") == "Colts top Chiefs 20 - 13"


def test_boilerplate_groups_of_gva_never_glue_incidents(shared_data: Path) -> None:
    """GVA's byte-identical bodies reused across incidents (paywall, error and login
    pages) under clearly different titles: no two incidents share a story through them."""
    docs = load_gva(shared_data / "gva-incident-news" / "gva_incident_docs_dev.jsonl.gz")
    c = OnlineClusterer()
    story = {d.id: c.add(d).story_id for d, _ in docs}
    groups: dict[str, list[tuple[ClusterDoc, str]]] = defaultdict(list)
    for d, incident in docs:
        if d.text:
            groups[d.text].append((d, incident))
    pairs = 0
    for members in groups.values():
        for i, (a, inc_a) in enumerate(members):
            for b, inc_b in members[i + 1 :]:
                ta, tb = set(tokens(a.title)), set(tokens(b.title))
                different_titles = len(ta & tb) < 0.5 * min(len(ta), len(tb))
                if inc_a != inc_b and different_titles:
                    pairs += 1
                    assert story[a.id] != story[b.id], (a.title, b.title)
    assert pairs >= 20  # the check really ran on the reused pages


def test_long_essays_of_one_day_do_not_glue_to_a_story_by_their_general_words(
    shared_data: Path,
) -> None:
    """A day of Hacker News's front page (the recorded feed, full texts): two long essays
    (4,779 and 15,533 words, on slow software and on HN's comments) shared enough general
    words with a 2,500-word post on a Rust language server to join its story when the
    clusterer read whole bodies. Reading each body's first 1,000 words keeps them apart
    and the two posts on the server together."""
    from newsdesk.sources.feed import adapt, parse_feed

    url = "https://raw.githubusercontent.com/0xSMW/rss-feeds/main/feeds/feed_hackernews.xml"
    path = shared_data / "rss-ai-feeds" / "head" / "feed_hackernews.xml"
    items = adapt(parse_feed(path.read_bytes(), url), url)
    docs = sorted(
        (
            ClusterDoc(
                id=i.external_id,
                title=i.title or "",
                text=i.text or "",
                published_at=i.published_at,
                canonical_url=i.url,
                links=[i.url] if i.url else [],
            )
            for i in items
        ),
        key=lambda d: (d.published_at or T0, d.id),
    )

    def story_titles(config: ClusterConfig) -> set[str]:
        c = OnlineClusterer(config)
        story = {d.title: c.add(d).story_id for d in docs}
        return {t for t, s in story.items() if s == story["Rust Glancer"]}

    essays = {"HN: The Good Parts", "There's no reason for software to be slow anymore"}
    server = {"Rust Glancer", "Rust Glancer: Rust LSP using 100x less RAM"}
    assert story_titles(ClusterConfig()) == server
    # As before, reading whole bodies with the whole same-day bonus (on this crowded
    # day the shrunk bonus alone keeps the essays out too).
    assert story_titles(ClusterConfig(body_words_read=0, same_day_items=0)) == server | essays
    assert story_titles(ClusterConfig(body_words_read=0)) == server


def test_two_posts_join_on_the_forums_threshold_a_post_and_an_article_on_news() -> None:
    # Mistral's announcement in its feed and r/LocalLLaMA's post of it (the demo's
    # "Codestral 25.08": their score lay between 0.25 and 0.3, and a forum's threshold for
    # every join of a post had kept them apart). Here the forum's bar is out of reach.
    config = ClusterConfig(forum_threshold=0.99)
    post = "Mistral released Magistral, a reasoning model: the small one is 24B, Apache 2.0."
    other = "Magistral is here. Mistral says the 24B model reasons in French and Chinese."
    for order in ("article first", "post first"):
        c = OnlineClusterer(config)
        article = doc("lab", "Magistral: Mistral's first reasoning model", BODY)
        forum = doc("r1", "Mistral releases Magistral", post, hours=2, forum=True)
        first, second = (article, forum) if order == "article first" else (forum, article)
        a, b = c.add(first), c.add(second)
        assert (b.story_id, b.reason) == (a.story_id, "similar"), order
        # Another post joins through the article, not through the post (and by the
        # article's score alone: the other post, out of the forum's reach, does not
        # count as a second member).
        again = c.add(doc("r2", "Magistral is out from Mistral", other, hours=3, forum=True))
        assert (again.story_id, again.reason) == (a.story_id, "similar"), order
    # Two posts alone join on the threshold of news, not on the forum's.
    for forum_threshold, joined in ((0.0, True), (0.99, False)):
        c = OnlineClusterer(ClusterConfig(forum_threshold=forum_threshold))
        one = c.add(doc("r1", "Mistral releases Magistral", post, forum=True))
        two = c.add(doc("r2", "Magistral is out from Mistral", other, hours=1, forum=True))
        assert (two.story_id == one.story_id) is joined


def test_follow_up_joins_past_the_window_only_on_strong_evidence() -> None:
    # (Off by default, and bounded by a story's span: both lifted here.)
    c = OnlineClusterer(ClusterConfig(window_hours=72, follow_up_hours=720, story_span_hours=0))
    a = c.add(doc("a", "Mistral releases Magistral reasoning model", BODY))
    # Ten days on: the same names, places and numbers -- a follow-up.
    later = c.add(doc("b", "Magistral, Mistral's reasoning model, gets an update", BODY, hours=240))
    assert (later.story_id, later.reason) == (a.story_id, "similar")
    # A bare title past the window is too thin, whatever it says.
    bare = c.add(doc("c", "Mistral releases Magistral reasoning model", hours=24 * 20))
    assert bare.new_story
    # Past the follow-up horizon nothing joins by similarity.
    gone = c.add(doc("d", "Mistral releases Magistral reasoning model", BODY, hours=24 * 60))
    assert gone.new_story


def test_past_the_window_only_a_dated_follow_up_joins_by_default() -> None:
    """By default an item past the window joins by similarity only when it names the day of
    the story's event: in r/LocalLLaMA's dump, 274 of 292 such joins without a named day
    were another post on the same subject weeks later (docs/stories.md, "Follow-ups")."""
    assert ClusterConfig().follow_up_hours == 0
    c = OnlineClusterer()
    a = c.add(doc("a", "Mistral releases Magistral reasoning model", BODY))
    later = c.add(doc("b", "Magistral, Mistral's reasoning model, gets an update", BODY, hours=240))
    assert later.new_story
    # Inside the window the same words join.
    soon = c.add(doc("c", "Magistral, Mistral's reasoning model: first tests", BODY, hours=30))
    assert (soon.story_id, soon.reason) == (a.story_id, "similar")


def test_a_story_takes_items_by_similarity_only_in_its_first_days() -> None:
    """Each day's post on a subject is inside the window of the day before, yet the story
    stops taking them ``story_span_hours`` (120) after its first item: the sixth day's
    post starts a story of its own, which takes the seventh's."""

    def post(day: int) -> ClusterDoc:
        return doc(
            str(day),
            f"Magistral, Mistral's reasoning model, on day {day}",
            f"Notes of day {day} on Magistral, the reasoning model of Mistral in Paris.",
            hours=24 * day,
        )

    c = OnlineClusterer()
    posts = [c.add(post(day)) for day in range(8)]
    first = posts[0].story_id
    assert [p.story_id for p in posts[:6]] == [first] * 6  # up to 120 hours
    assert posts[6].new_story  # 144 hours after the first item
    assert (posts[7].story_id, posts[7].reason) == (posts[6].story_id, "similar")
    # Without a span the chain goes on, each post inside the window of the last; and a
    # window longer than the span (a user's setting) lengthens the span to it.
    for config in (ClusterConfig(story_span_hours=0), ClusterConfig(window_hours=7 * 24)):
        c = OnlineClusterer(config)
        assert len({c.add(post(day)).story_id for day in range(8)}) == 1


def test_same_day_bonus_lowers_the_bar_only_for_items_close_in_time() -> None:
    def score(bonus: float, hours: float) -> bool:
        c = OnlineClusterer(ClusterConfig(same_day_bonus=bonus, threshold=0.5))
        a = c.add(doc("a", "Two men shot outside Elm Street bar", "Police said two men were hurt."))
        b = c.add(doc("b", "Elm Street shooting leaves men hurt", "Officers responded.", hours))
        return b.story_id == a.story_id

    assert score(0.3, 2) and not score(0.0, 2)
    assert not score(0.3, 48)  # a day and more apart: no bonus


def test_web_addresses_in_a_text_are_no_words_of_it() -> None:
    """Reddit image posts write their images' addresses into the text; their words
    ("preview", "redd", "png", "width", "webp") glued unrelated posts into one story."""

    def image(n: int) -> str:
        return (
            f"https://preview.redd.it/{n}abc{n}.png?width=1201&amp;format=png&amp;auto=webp"
            f"&amp;s={n}f0e{n}d\n\nhttps://preview.redd.it/{n}xy{n}.jpg?width=587&amp;format=pjpg"
        )

    c = OnlineClusterer()
    a = c.add(doc("a", "Overthinking a greeting?", image(1) + "\n\nWhat is going on?"))
    b = c.add(doc("b", "Who made these charts...", image(2) + "\n\nThey look vibecoded.", 2))
    assert b.new_story and b.story_id != a.story_id
    # The same posts scored on the addresses' words: one story.
    c = OnlineClusterer()
    a = c.add(doc("a", "Overthinking a greeting?", image(1).replace("https://", "")))
    b = c.add(doc("b", "Who made these charts...", image(2).replace("https://", ""), 2))
    assert b.story_id == a.story_id


def test_a_headline_names_versions_not_dates_sizes_or_sites() -> None:
    assert versions("Update to GPT-5 System Card: GPT-5.2") == {"gpt": {"5", "5.2"}}
    assert versions("GPT‑5 > Grok‑4 > Opus 4.1") == {"gpt": {"5"}, "grok": {"4"}, "opus": {"4.1"}}
    assert versions("Is there anything like GPT 4o ?") == {"gpt": {"4o"}}
    assert versions("Qwen3-30B-A3B-2507 and Llama-3.1-8b") == {"qwen": {"3"}, "llama": {"3.1"}}
    for none in (
        "Installing GPT-OSS-20b",  # a size
        "Thursday , December 11 , 2008",  # a date
        "Colts Beat Chiefs 20 - 13",  # a score
        "Kimi K2 on Fiction.liveBench in 2025",  # a one-letter name, a year
        "Man charged in triple murder - WBRC FOX6 News",  # a site's name
    ):
        assert versions(none) == {}, none


def test_another_version_is_another_release() -> None:
    """OpenAI's system cards share their template words: GPT-5.2's joined GPT-5.1's story."""
    card = (
        "This system card describes the safety work for {v}, evaluated with our Preparedness "
        "Framework on biological, cyber and self-improvement risks, and the mitigations "
        "deployed in ChatGPT and the API for {v} {extra}."
    )

    def stories(config: ClusterConfig) -> int:
        c = OnlineClusterer(config)
        c.add(doc("a", "GPT-5.1 System Card", card.format(v="GPT-5.1", extra="Instant")))
        c.add(doc("b", "GPT-5.2 System Card", card.format(v="GPT-5.2", extra="Thinking"), 30))
        c.add(doc("c", "Introducing GPT-5.2", "GPT-5.2 is our best model for work.", 31))
        return len(c.stories())

    assert stories(ClusterConfig(version_conflicts=False)) == 1
    assert stories(ClusterConfig()) == 2  # GPT-5.1's card; GPT-5.2's card and launch


def test_same_day_bonus_shrinks_on_a_crowded_day() -> None:
    """Sharing a day says much where a few items come a day, little among a hundred."""

    def joins(others: int, items: int = 10) -> bool:
        c = OnlineClusterer(ClusterConfig(same_day_bonus=0.3, threshold=0.6, same_day_items=items))
        for i in range(others):  # the day's other posts, on other subjects
            c.add(doc(f"o{i}", f"Benchmark {i} of quantized model {i}", f"Tokens/s on card {i}."))
        a = c.add(doc("a", "Two men shot outside Elm Street bar", "Police said two men were hurt."))
        b = c.add(doc("b", "Elm Street shooting leaves men hurt", "Officers responded.", hours=2))
        return b.story_id == a.story_id

    assert joins(0) and joins(9)  # up to 10 items within a day: the whole bonus
    assert not joins(40)  # 42 items: 10/42 of it
    assert joins(40, items=0)  # 0 keeps it whole


def test_a_name_in_every_post_of_the_moment_weighs_little() -> None:
    """A launch's name is rare over a month and in every other post of its days: weighed
    by the month's IDF alone, two posts that share only it (and a size) joined; by the
    lesser of the month's and the window's, they do not. Generated posts, for the rule;
    r/LocalLLaMA's dump measures it (tests/test_evaluate.py)."""

    def joins(window_idf_items: int) -> bool:
        c = OnlineClusterer(ClusterConfig(window_idf_items=window_idf_items))
        for i in range(1000):  # a month of posts on other subjects
            c.add(doc(f"m{i}", f"Question {i} on rig{i}", f"My card{i} runs model{i}.", i * 0.7))
        for i in range(120):  # a launch: its name in every post of two days
            c.add(doc(f"l{i}", f"Zorblax 20B on rig{i}", f"Tried it with card{i}.", 720 + i * 0.4))
        a = c.add(doc("a", "Zorblax 20B fails the heptagon test", "The balls fall out.", 770))
        b = c.add(doc("b", "Is Zorblax 20B worth a budget laptop?", "Slow but it runs.", 771))
        return b.story_id == a.story_id

    assert not joins(100)
    assert joins(0)  # the month's IDF alone
    assert joins(2000)  # a window never that full: the same


def test_the_windows_document_frequencies_are_those_of_its_docs() -> None:
    """Restored and added, in and out of order: the window's counts are always those of
    the docs within ``window_hours`` of the latest, never below zero."""
    rng = np.random.default_rng(0)
    c = OnlineClusterer(ClusterConfig(window_hours=24))
    docs = [
        doc(f"d{i}", f"Report {i % 7} on topic {i % 5}", f"Words {i % 3} and {i % 11}.", h)
        for i, h in enumerate(np.sort(rng.uniform(0, 400, 300)) + rng.uniform(-30, 30, 300))
    ]
    c.restore("old", docs[:40][::-1])  # a store's rows, in any order
    for d in docs[40:]:
        c.add(d)
    latest = max(d.published_at.timestamp() / 3600 for d in docs if d.published_at)
    inside = [i for i, t in enumerate(c._times.values) if t >= latest - 24]
    for index, features in ((c._words, "words"), (c._entities, "entities")):
        counts = np.zeros(len(index.vocab))
        for i in inside:
            counts[getattr(c._features[i], features)[0]] += 1
        assert index.window_n == len(inside) > 0
        assert (index.window_df[: len(index.vocab)] == counts).all()


def test_a_post_joins_a_story_of_posts_by_its_two_best_members() -> None:
    """A question close to one post of a release's story, and far from the other, is a
    story of its own on a forum; by its best member alone it joined."""

    def post(id: str, title: str, text: str, hours: float) -> ClusterDoc:
        return doc(id, title, text, hours, forum=True)

    def joins(second_weight: float) -> tuple[bool, bool]:
        c = OnlineClusterer(ClusterConfig(forum_second_weight=second_weight))
        for i in range(30):  # the forum's days before, 8 of them on Apache 2.0 weights
            licence = ", Apache 2.0 weights." if i < 8 else "."
            c.add(
                post(f"o{i}", f"Benchmark {i} of quantized model {i}", f"On card {i}{licence}", i)
            )
        a = c.add(
            post(
                "a",
                "Zorblax 20B released under Apache 2.0",
                "Weights on the hub, with a model card and GGUFs.",
                101,
            )
        )
        b = c.add(
            post("b", "Zorblax weights and GGUFs on the hub", "The model card is inside.", 102)
        )
        q = c.add(
            post(
                "q",
                "Can I sell the outputs of an Apache 2.0 model?",
                "Asking for a startup, thinking of Zorblax.",
                103,
            )
        )
        return b.story_id == a.story_id, q.story_id == a.story_id

    assert joins(0.5) == (True, False)
    assert joins(0.0) == (True, True)  # through its best member alone


def test_shared_specific_link_joins_reddit_and_hn_posts() -> None:
    c = OnlineClusterer()
    reddit = c.add(
        doc(
            "reddit:1",
            "I made a tiny inference server in Rust, feedback welcome",
            "Been hacking on this for months.",
            links=["https://github.com/acme/tinyserve"],
        )
    )
    hn = c.add(
        doc(
            "hn:2",
            "Show HN: Tinyserve",
            hours=5,
            links=["https://www.github.com/acme/tinyserve/?utm_source=hn", "https://github.com/"],
        )
    )
    assert (hn.story_id, hn.reason) == (reddit.story_id, "shared-link")


def test_generic_links_do_not_join() -> None:
    assert link_key("https://github.com/") is None
    assert link_key("https://twitter.com/someone") is None
    assert link_key("https://en.wikipedia.org/wiki/Paris") is not None
    c = OnlineClusterer()
    a = c.add(doc("a", "Local bakery wins award", links=["https://twitter.com/bakery"]))
    b = c.add(doc("b", "Council votes on budget", links=["https://twitter.com/bakery"]))
    assert a.story_id != b.story_id


def test_window_is_respected() -> None:
    config = ClusterConfig(window_hours=72, follow_up_hours=0)
    c = OnlineClusterer(config)
    a = c.add(doc("a", "Mistral releases Magistral reasoning model", BODY))
    later = c.add(doc("b", "Mistral releases Magistral reasoning model", BODY, hours=24 * 10))
    inside = c.add(doc("c", "Mistral releases Magistral reasoning model", BODY, hours=24 * 11))
    assert later.new_story and later.story_id != a.story_id
    assert inside.story_id == later.story_id


def test_undated_items_have_no_time_constraint() -> None:
    c = OnlineClusterer()
    a = c.add(ClusterDoc("a", "Mistral releases Magistral reasoning model", BODY))
    b = c.add(doc("b", "Mistral releases Magistral reasoning model", BODY, hours=24 * 365))
    assert b.story_id == a.story_id


def test_new_story_ids_come_from_the_callable() -> None:
    c = OnlineClusterer(new_id=lambda d: f"story-{d.id}")
    assert c.add(doc("x", "Something happened")).story_id == "story-x"
    assert c.stories() == {"story-x": ["x"]}


@pytest.fixture
def gva_head(shared_data: Path) -> list[ClusterDoc]:
    docs = load_gva(shared_data / "gva-incident-news" / "gva_incident_docs_dev.jsonl.gz")
    return [d for d, _ in docs[:300]]


def test_same_order_same_clusters(gva_head: list[ClusterDoc]) -> None:
    runs = []
    for _ in range(2):
        c = OnlineClusterer()
        runs.append([(a.story_id, a.reason) for a in map(c.add, gva_head)])
    assert runs[0] == runs[1]


def test_index_cosines_over_some_docs_are_those_over_all(gva_head: list[ClusterDoc]) -> None:
    # The clusterer asks only about the docs whose score can count; each of their cosines
    # must be the one a query over every doc gives, to the last bit.
    index = _Index()
    vectors = [index.vector(term_weights(d.title, d.text, 2.0)) for d in gva_head[:251]]
    for i, vector in enumerate(vectors[:250]):
        index.add(vector, i)
    assert index.size > 4096  # the arrays grew past their first size
    dead = np.zeros(250, bool)
    dead[:40] = True
    index.drop(dead)
    full = index.cosines(vectors[250], 250)
    assert not full[:40].any() and full[40:].max() > 0
    for docs in (
        np.arange(100, 250),
        np.array([3, 50, 51, 52, 120, 200, 201, 249]),
        np.array([60, 70]),
        np.arange(0),
        np.arange(250),
    ):
        part = index.cosines(vectors[250], 250, docs)
        assert np.array_equal(part[docs], full[docs])
        assert not np.delete(part, docs).any()


def test_restore_rebuilds_without_redeciding(gva_head: list[ClusterDoc]) -> None:
    head, tail = gva_head[:200], gva_head[200:]
    original = OnlineClusterer()
    for d in head:
        original.add(d)
    by_id = {d.id: d for d in head}
    restored = OnlineClusterer()
    for story_id, ids in original.stories().items():
        restored.restore(story_id, [by_id[i] for i in ids])
    assert restored.stories() == original.stories()
    # Both go on to make the same decisions.
    assert [original.add(d) for d in tail] == [restored.add(d) for d in tail]


def test_dated_follow_up_joins_months_later_only_naming_the_day() -> None:
    """A trial months after a shooting joins its story when it names the day of the
    shooting (on the follow-up bar); the same words naming another day start a new story."""
    shooting = (
        "Marcus Reed, 24, was shot and killed outside a store on Elm Street in Memphis late "
        "on Sunday. Memphis police arrested Darnell Price, 31, the next morning and charged "
        "him with first-degree murder in the death of Reed, a father of two."
    )
    trial = (
        "Jury selection began Monday in the murder trial of Darnell Price, 31, who is accused "
        "of shooting Marcus Reed, 24, on Elm Street in Memphis on {day}. Prosecutors said "
        "Price fired four times after an argument; his lawyer says he acted in self-defense."
    )
    title = "Trial opens for Darnell Price in Elm Street killing"
    day = (T0 - timedelta(days=2)).strftime("%B %-d")  # T0 is a Tuesday: Sunday is T0 - 2
    other = (T0 - timedelta(days=20)).strftime("%B %-d")

    def follow_up(named: str, **config: float) -> tuple[Assignment, Assignment]:
        c = OnlineClusterer(ClusterConfig(window_hours=72, follow_up_hours=720, **config))
        first = c.add(doc("a", "Man shot dead on Elm Street", shooting))
        return first, c.add(doc("b", title, trial.format(day=named), hours=24 * 200))

    first, joined = follow_up(day)
    assert (joined.story_id, joined.reason) == (first.story_id, "similar")
    assert follow_up(other)[1].new_story
    assert follow_up(day, dated_follow_up_hours=0)[1].new_story  # off
