"""What the brief experiments read: the stories of a data directory to ask about."""

from __future__ import annotations

from collections.abc import Iterator

from newsdesk.briefs.pack import SourcePack, build_pack
from newsdesk.desk import Desk


def chosen_stories(desk: Desk, limit: int, unbriefed: bool) -> list[str]:
    """The first ``limit`` stories with a brief (by id), or, with ``unbriefed``, the
    ``limit`` best stories without one: a set that a rule was not written from."""
    briefed = [
        sid
        for (sid,) in desk.store.engine.connect().exec_driver_sql(
            "select distinct story_id from briefs order by story_id"
        )
    ]
    if unbriefed:
        ranked = [v.id for v in desk.stories(limit=limit + len(briefed))]
        return [sid for sid in ranked if sid not in briefed][:limit]
    return briefed[:limit]


def chosen_packs(desk: Desk, limit: int, unbriefed: bool) -> Iterator[tuple[str, SourcePack]]:
    """Each chosen story with the pack its brief is written from."""
    writer = desk.brief_writer
    for sid in chosen_stories(desk, limit, unbriefed):
        rows = desk.store.story_items(sid)
        yield sid, build_pack(rows, writer.budget(), writer.backend.count_tokens)
