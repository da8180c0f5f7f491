"""Replay sources: files read as streams of JSON values with line numbers, exports, filters."""

from __future__ import annotations

import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callbacks.events import parse_events
from callbacks.replay.files import iter_values
from callbacks.replay.sources import (
    FileSource,
    InvalidEntry,
    ReplayItem,
    export_events,
    log_items,
    matches,
)
from callbacks.store import EventFilter, EventStatus, open_store
from tests.support.log_bodies import ga_body, ga_element, ga_events
from tests.support.store_contract_queries import settle

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def values(text: str, chunk: int) -> list[tuple[int, object, str | None]]:
    return [(v.line, v.document, v.error) for v in iter_values(io.StringIO(text), chunk=chunk)]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_values_with_line_numbers_at_any_chunk_size(chunk: int) -> None:
    text = (
        '{"a": 1}\n'
        "\n"
        '[{"b": 2},\n {"c": 3}]\n'
        '{\n  "d": "x\\ny",\n  "e": [1, 2]\n}\n'
        '{"f": 1.5e3}'
    )
    assert values(text, chunk) == [
        (1, {"a": 1}, None),
        (3, {"b": 2}, None),
        (4, {"c": 3}, None),
        (5, {"d": "x\ny", "e": [1, 2]}, None),
        (9, {"f": 1500.0}, None),
    ]


@pytest.mark.parametrize("chunk", [2, 5, 1 << 20])
def test_a_malformed_line_is_reported_and_reading_goes_on(chunk: int) -> None:
    text = '{"a": 1}\n{"b": oops}\n\n{"c": 3}\nnot json\n{"d": 4}\n{"e":'
    found = values(text, chunk)
    assert [(line, doc) for line, doc, error in found if error is None] == [
        (1, {"a": 1}), (4, {"c": 3}), (6, {"d": 4}),
    ]
    errors = [(line, error) for line, _, error in found if error is not None]
    assert [line for line, _ in errors] == [2, 5, 7]
    assert all("JSON" in str(error) for _, error in errors)


def test_a_syntax_error_inside_an_array_ends_the_file() -> None:
    text = '[{"a": 1},\n {"b" 2},\n {"c": 3}]\n{"d": 4}'
    found = values(text, 4)
    assert found[0] == (1, {"a": 1}, None)
    line, _, error = found[1]
    assert line == 2 and error is not None and "rest of the array cannot be read" in error
    assert len(found) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"a": 1}', "not closed"),
        ('[{"a": 1} {"b": 2}]', "expected ',' or ']'"),
    ],
)
def test_broken_arrays_say_what_is_wrong(text: str, message: str) -> None:
    errors = [error for _, _, error in values(text, 3) if error]
    assert len(errors) == 1 and message in errors[0]


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_file_entries_parse_events_and_report_bad_ones(tmp_path: Path) -> None:
    good = json.dumps(ga_element("c", 1))
    path = write(
        tmp_path / "mixed.jsonl",
        good,
        '{"hello": "world"}',
        "[7]",
        json.dumps({**ga_element("c", 2), "time": "not a time"}),
        '"a string"',
        json.dumps(ga_element("c", 3)),
    )
    entries = list(FileSource(path, chunk=16).entries())
    assert [e.event.identity for e in entries if isinstance(e, ReplayItem)] == ["c/1", "c/3"]
    invalid = [str(e) for e in entries if isinstance(e, InvalidEntry)]
    assert invalid[0].startswith("line 2: not an event")
    assert invalid[1] == "line 3: an event must be a JSON object, not int"
    assert invalid[2].startswith("line 4: (PlayCompleted): time:")
    assert invalid[3] == "line 5: expected a JSON object or array"
    assert len(invalid) == 4


def test_a_json_array_file_streams_in_flat_memory(tmp_path: Path) -> None:
    def make(count: int) -> Path:
        path = tmp_path / f"{count}.json"
        with path.open("w", encoding="utf-8") as out:
            out.write("[\n")
            for n in range(count):
                out.write(("," if n else "") + json.dumps(ga_element("c", n)) + "\n")
            out.write("]\n")
        return path

    def peak(path: Path) -> int:
        tracemalloc.start()
        try:
            seen = sum(1 for _ in FileSource(path, chunk=1 << 16).entries())
            assert seen == int(path.stem)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(make(500)), peak(make(5000))
    assert large < 1.5 * small, (small, large)


async def test_export_keeps_raw_events_in_order_with_their_metadata(tmp_path: Path) -> None:
    pretty = json.dumps([ga_element("b", 1)], indent=2).encode()  # raw bytes span lines
    async with open_store(f"sqlite:///{tmp_path / 'log.db'}") as store:
        await store.append(ga_events("a", 1, 2), "tenant-a", received_at=T0)
        await store.append(parse_events(pretty), None, received_at=T0 + timedelta(seconds=5))
        await settle(store, "a", EventStatus.DONE)
        out = io.StringIO()
        assert await export_events(store, EventFilter(), out) == 3
        listed = [(r.id, r.raw) async for r in store.list_events()]
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["meta"]["id"] == "a/1" and first["meta"]["status"] == "done"
    assert first["meta"]["path_context"] == "tenant-a"
    assert first["meta"]["outcomes"][0]["handler"] == "h.a"
    assert '"event":' + listed[0][1].decode() + "}" in lines[0]  # the raw bytes, verbatim
    assert json.loads(lines[2])["event"] == json.loads(listed[2][1])

    path = tmp_path / "export.jsonl"
    path.write_text(out.getvalue(), encoding="utf-8")
    items = [e for e in FileSource(path).entries() if isinstance(e, ReplayItem)]
    assert [(i.event.identity, i.origin) for i in items] == [
        ("a/1", "line 1"), ("a/2", "line 2"), ("b/1", "line 3")
    ]
    assert items[0].received_at == T0 and items[0].path_context == "tenant-a"
    assert items[0].status is EventStatus.DONE and items[1].status is EventStatus.PENDING
    assert items[2].moment == T0 + timedelta(seconds=5)


def test_export_lines_with_bad_metadata_are_invalid(tmp_path: Path) -> None:
    event = ga_element("c", 1)
    path = write(
        tmp_path / "bad-meta.jsonl",
        json.dumps({"meta": {"received_at": "yesterday"}, "event": event}),
        json.dumps({"meta": {"received_at": "2024-03-01T12:00:00"}, "event": event}),
        json.dumps({"meta": {"status": "sleeping"}, "event": event}),
        json.dumps({"meta": [], "event": event}),
        json.dumps({"meta": {"path_context": "t"}, "event": event}),
    )
    entries = list(FileSource(path).entries())
    assert [type(e).__name__ for e in entries] == ["InvalidEntry"] * 4 + ["ReplayItem"]
    assert "not an ISO 8601 time" in str(entries[0])
    assert "no time zone" in str(entries[1])
    assert "meta must be an object" in str(entries[3])


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (EventFilter(), ["a/1", "a/2", "b/1"]),
        (EventFilter(call_id="a"), ["a/1", "a/2"]),
        (EventFilter(type="CallConnected"), ["b/1"]),
        (EventFilter(type="Microsoft.Communication.PlayCompleted", call_id="a"), ["a/1", "a/2"]),
        (EventFilter(operation_context="menu"), ["a/2"]),
        (EventFilter(operation_context="m*"), ["a/2"]),
        (EventFilter(operation_context="[cm]??*"), ["a/1", "a/2", "b/1"]),
        (EventFilter(operation_context="M*"), []),
        (EventFilter(id_prefix="a/"), ["a/1", "a/2"]),
        (EventFilter(id="a/2"), ["a/2"]),
        (EventFilter(since=T0 + timedelta(seconds=1)), ["a/2", "b/1"]),
        (EventFilter(until=T0 + timedelta(seconds=2)), ["a/1", "a/2"]),
        (EventFilter(status=EventStatus.DONE), ["a/1"]),
        (EventFilter(call_id="a", operation_context="menu", since=T0), ["a/2"]),
    ],
)
def test_file_items_pass_the_same_filters_as_the_log(
    tmp_path: Path, where: EventFilter, expected: list[str]
) -> None:
    path = write(
        tmp_path / "export.jsonl",
        json.dumps({"meta": {"received_at": T0.isoformat(), "status": "done"},
                    "event": ga_element("a", 1)}),
        json.dumps({"meta": {"received_at": (T0 + timedelta(seconds=1)).isoformat()},
                    "event": ga_element("a", 2, operation_context="menu")}),
        json.dumps({"meta": {"received_at": (T0 + timedelta(seconds=2)).isoformat()},
                    "event": ga_element("b", 1, event_type="CallConnected")}),
    )
    items = [e for e in FileSource(path).entries() if isinstance(e, ReplayItem)]
    assert [i.event.identity for i in items if matches(where, i)] == expected


def test_an_array_body_file_is_read_element_by_element(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(ga_body("c", 1, 2, 3))
    items = list(FileSource(path, chunk=64).entries())
    assert [i.event.identity for i in items if isinstance(i, ReplayItem)] == ["c/1", "c/2", "c/3"]


async def test_log_items_are_in_log_order_with_their_origin(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'log.db'}") as store:
        await store.append(ga_events("a", 1) + ga_events("b", 1) + ga_events("a", 2), "ctx")
        items = [e async for e in log_items(store, EventFilter(call_id="a"))]
    assert [(i.origin, i.path_context) for i in items if isinstance(i, ReplayItem)] == [
        ("seq 1 (a/1)", "ctx"), ("seq 3 (a/2)", "ctx")
    ]
