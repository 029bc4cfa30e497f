from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

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


def test_merge_joins_two_stories_and_says_where_the_old_id_goes(env: dict[str, str]) -> None:
    from newsdesk.cli import main
    from newsdesk.desk import Desk
    from newsdesk.models import Item
    from newsdesk.store import story_id_for

    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        desk = Desk()
        source = desk.store.add_source("feed", "https://lab.example/feed.xml", "Lab", "📰")
        when = datetime(2025, 8, 5, 17, tzinfo=UTC)
        desk.store.upsert_items(
            source.id,
            [Item(f"lab:{i}", f"Post {i}", f"https://lab.example/{i}", when) for i in (1, 2)],
        )
        rows = desk.store.unclustered_items()
        one, two = story_id_for("lab:1"), story_id_for("lab:2")
        desk.store.assign(
            [(rows[0].id, one, "new"), (rows[1].id, two, "new")], {one: rows[0], two: rows[1]}
        )
        desk.close()
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
        mp.setattr(sys, "argv", ["newsdesk", "merge", two, one])
        with pytest.raises(SystemExit) as stopped:
            main()
        assert stopped.value.code == 1
