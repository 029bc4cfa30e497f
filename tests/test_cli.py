from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from newsdesk.cli import app

from httpserver import RecordedServer, Reply

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, http_server: RecordedServer) -> dict[str, str]:
    return {
        "NEWSDESK_DATA_DIR": str(tmp_path / "cli"),
        "NEWSDESK_ALLOW_HOSTS": "127.0.0.1",
        "NEWSDESK_HOST_DELAY": "0",
        "NEWSDESK_EXTRACT_ARTICLES": "0",
    }


def test_settings_shows_values_and_origins(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["settings"], env={**env, "NEWSDESK_HN_MAX_ITEMS": "12"})
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "hn_max_items" in line)
    assert "12" in line and "env" in line


def test_stats_json_for_scripts(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["stats", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "sources": 0,
        "items": 0,
        "stories": 0,
        "briefs": 0,
        "recaps": 0,
    }


def test_add_update_list(
    env: dict[str, str], shared_data: Path, http_server: RecordedServer
) -> None:
    url = http_server.file(
        "/thinking.xml",
        shared_data / "rss-ai-feeds" / "head" / "feed_thinkingmachines.xml",
        "application/rss+xml",
    )
    assert runner.invoke(app, ["sources", "add", url], env=env).exit_code == 0
    assert runner.invoke(app, ["sources", "add", "hn:top"], env=env).exit_code == 0
    update = runner.invoke(
        app, ["update"], env={**env, "NEWSDESK_HN_BASE_URL": http_server.base_url + "/nothing"}
    )
    assert update.exit_code == 0, update.output
    assert "HN top" in update.output and "404" in update.output
    listed = json.loads(runner.invoke(app, ["sources", "list", "--json"], env=env).output)
    by_kind = {s["kind"]: s for s in listed}
    assert by_kind["feed"]["error_count"] == 0
    assert by_kind["hn"]["error_count"] == 1
    assert "404" in by_kind["hn"]["last_error"]
    stats = json.loads(runner.invoke(app, ["stats", "--json"], env=env).output)
    assert stats["items"] == 7
    assert "update --all" in runner.invoke(app, ["update"], env=env).output


def test_errors_are_one_clear_line(env: dict[str, str]) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "newsdesk", "sources", "add", "gopher://old.example"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "error:" in result.stderr and "Cannot tell what kind of source" in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_cluster_json_keys(env: dict[str, str], shared_data: Path) -> None:
    path = shared_data / "ecbplus" / "ecbplus_docs_train_dev.jsonl"
    result = runner.invoke(
        app, ["eval", "cluster", "--dataset", "ecbplus", "--path", str(path), "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    for key in (
        "bcubed_precision",
        "bcubed_recall",
        "bcubed_f1",
        "pairwise_f1",
        "ari",
        "docs_per_s",
    ):
        assert figures[key] > 0
    assert figures["docs"] == 772


def test_eval_related_json_keys(env: dict[str, str], shared_data: Path) -> None:
    args = ["eval", "related", "--path", str(shared_data / "lee-news-similarity")]
    args += ["--ecbplus", str(shared_data / "ecbplus" / "ecbplus_docs_train_dev.jsonl")]
    result = runner.invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures) == {
        "pearson",
        "links_precision",
        "links_recall",
        "links_f1",
        "links",
        "events",
    }
    assert figures["events"] == 66 and 0 < figures["links_f1"] <= 1 and figures["pearson"] > 0


def test_eval_without_data_says_where_it_looked(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = runner.invoke(
        app, ["eval", "cluster", "--dataset", "gva", "--path", str(missing)], env=env
    )
    assert result.exit_code != 0
    assert "No gva data at" in str(result.exception)


def test_eval_of_a_file_without_labelled_posts_says_so(env: dict[str, str], tmp_path: Path) -> None:
    dump = tmp_path / "other.jsonl"  # a dump of other posts: no figures of nothing
    post = {"id": "zzz", "name": "t3_zzz", "title": "Hello", "created_utc": 1754550000}
    dump.write_text(json.dumps({"kind": "t3", "data": post}) + "\n")
    result = runner.invoke(
        app, ["eval", "cluster", "--dataset", "localllama", "--path", str(dump)], env=env
    )
    assert result.exit_code != 0
    assert "No labelled documents in" in str(result.exception)
    assert "none of the labelled r/LocalLLaMA posts" in str(result.exception)


def test_text_from_sources_is_printed_as_it_is(
    env: dict[str, str], http_server: RecordedServer
) -> None:
    """Titles, names and errors are never read as Rich markup: "[/b]" used to stop the
    command with a MarkupError, and "[link=...]" or "[bold red]" would style the terminal."""
    title = "Qwen [/b] ships [link=https://evil.example/x]weights[/link] [bold red]now[/]"
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Lab [/i] [blink]News[/]'
        "</title><link>https://lab.example/</link><description>d</description>"
        f"<item><title>{title}</title><link>https://lab.example/1</link>"
        "<guid>lab-1</guid><pubDate>Tue, 02 Dec 2025 10:00:00 GMT</pubDate>"
        "<description>Open weights [/] for all.</description></item></channel></rss>"
    ).encode()
    url = http_server.route(
        "/hostile.xml", Reply(200, {"Content-Type": "application/rss+xml"}, feed)
    )
    wide = {**env, "COLUMNS": "400"}
    assert runner.invoke(app, ["sources", "add", url], env=wide).exit_code == 0
    update = runner.invoke(app, ["update"], env=wide)
    assert update.exit_code == 0, update.output
    assert "Lab [/i] [blink]News[/]" in update.output
    listed = runner.invoke(app, ["sources", "list"], env=wide)
    assert listed.exit_code == 0 and "Lab [/i] [blink]News[/]" in listed.output
    refreshed = runner.invoke(app, ["cluster", "--refresh"], env=wide)
    assert refreshed.exit_code == 0, refreshed.output
    assert "story fields recomputed: 1" in refreshed.output
    stories = runner.invoke(app, ["stories"], env=wide)
    assert stories.exit_code == 0, stories.output
    assert title in stories.output
    (story_id,) = json.loads(runner.invoke(app, ["stories", "--json"], env=wide).output)
    shown = runner.invoke(app, ["story", story_id["id"]], env=wide)
    assert shown.exit_code == 0, shown.output
    assert shown.output.count(title) == 2  # the story's title and its item's
    assert "1 source · 1 item · importance" in shown.output


def test_a_verdict_is_marked_in_the_pages_words() -> None:
    from newsdesk.cli import _mark
    from newsdesk.grounding import SAID

    assert _mark("supported") == " [green]✓[/]"
    assert _mark("partial") == f" [yellow]{SAID['partial']}[/]"
    assert _mark("unsupported") == f" [red]{SAID['unsupported']}[/]" == _mark("no such label")


def _lab_stories(env: dict[str, str], stories: list[list[int]]) -> list[Any]:
    """A lab's posts "Post 1", "Post 2", ... put into stories as given (lists of post
    numbers; each story's id is its first post's); returns the item rows by number - 1."""
    from newsdesk.desk import Desk
    from newsdesk.models import Item
    from newsdesk.store import story_id_for

    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        desk = Desk()
    source = desk.store.add_source("feed", "https://lab.example/feed.xml", "Lab", "📰")
    when = datetime(2025, 8, 5, 17, tzinfo=UTC)
    numbers = sorted(n for story in stories for n in story)
    desk.store.upsert_items(
        source.id,
        [Item(f"lab:{i}", f"Post {i}", f"https://lab.example/{i}", when) for i in numbers],
    )
    rows = desk.store.unclustered_items()
    for story in stories:
        story_id = story_id_for(f"lab:{story[0]}")
        desk.store.assign(
            [(rows[n - 1].id, story_id, "new" if n == story[0] else "similar") for n in story],
            {story_id: rows[story[0] - 1]},
        )
    desk.close()
    return rows


def test_merge_joins_two_stories_and_says_where_the_old_id_goes(env: dict[str, str]) -> None:
    from newsdesk.cli import main
    from newsdesk.store import story_id_for

    _lab_stories(env, [[1], [2]])
    one, two = story_id_for("lab:1"), story_id_for("lab:2")
    with pytest.MonkeyPatch.context() as mp:
        merged = runner.invoke(app, ["merge", two, one], env=env)
        assert merged.exit_code == 0, merged.output
        assert f"merged {two} into {one}: 2 items from 1 source" in merged.output
        assert f"/stories/{two} now redirects to /stories/{one}" in merged.output
        shown = runner.invoke(app, ["story", two], env={**env, "COLUMNS": "400"})
        assert f"{two} was merged into {one}" in shown.output
        # How each item came in: the first started the story, the other was merged.
        lines = {
            n: line for line in shown.output.splitlines() for n in (1, 2) if f"Post {n}" in line
        }
        assert "started it" in lines[1] and "merged" in lines[2]
        # Again: they are one story now, a clear error and exit status 1.
        for key, value in env.items():
            mp.setenv(key, value)
        mp.setattr(sys, "argv", ["newsdesk", "merge", two, one])
        with pytest.raises(SystemExit) as stopped:
            main()
        assert stopped.value.code == 1


def test_split_moves_items_out_into_a_story_of_their_own(env: dict[str, str]) -> None:
    """`newsdesk story` numbers the items; `newsdesk split` moves the named ones into a new
    story, and the old story keeps its id and the rest."""
    from newsdesk.cli import main
    from newsdesk.store import story_id_for

    rows = _lab_stories(env, [[1, 2, 3]])
    one = story_id_for("lab:1")
    shown = runner.invoke(app, ["story", one], env={**env, "COLUMNS": "400"})
    numbers = {
        n: line.split()[1]
        for line in shown.output.splitlines()
        for n in (1, 2, 3)
        if f"Post {n}" in line
    }
    assert numbers == {n: str(rows[n - 1].id) for n in (1, 2, 3)}, shown.output
    split = runner.invoke(app, ["split", one, numbers[2], numbers[3]], env=env)
    assert split.exit_code == 0, split.output
    new = split.output.split("into a new story, ")[1].split()[0]
    assert f"moved 2 items out of {one} into a new story, {new}" in split.output
    assert new != one
    after = runner.invoke(app, ["story", new], env={**env, "COLUMNS": "400"})
    assert "Post 2" in after.output and "Post 3" in after.output and "split" in after.output
    assert "Post 1" not in after.output
    kept = runner.invoke(app, ["story", one], env={**env, "COLUMNS": "400"})
    assert "Post 1" in kept.output and "Post 2" not in kept.output
    # An item the story does not hold: a clear error and exit status 1.
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.setattr(sys, "argv", ["newsdesk", "split", one, numbers[2]])
        with pytest.raises(SystemExit) as stopped:
            main()
        assert stopped.value.code == 1
