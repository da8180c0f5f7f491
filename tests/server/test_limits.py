"""check_json: the cheap shape check on raw bytes, against a reference on the decoded document."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callbacks.events import parse_events
from callbacks.server.limits import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_STRING,
    MAX_DEPTH_CEILING,
    BodyRejected,
    Limits,
    NotUtf8,
    StringTooLong,
    TooDeep,
    TooManyEvents,
    check_json,
)
from tests.support.samples import SAMPLES, sample_bytes


def depth_of(value: Any) -> int:
    """Nesting depth as a parser sees it: a scalar is 0, ``[]`` is 1."""
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


def longest_string(value: Any, ensure_ascii: bool) -> int:
    """Longest string or key, in bytes as ``json.dumps`` encodes it, quotes excluded."""

    def encoded(text: str) -> int:
        return len(json.dumps(text, ensure_ascii=ensure_ascii).encode()) - 2

    if isinstance(value, list):
        return max((longest_string(item, ensure_ascii) for item in value), default=0)
    if isinstance(value, dict):
        return max(
            (max(encoded(key), longest_string(item, ensure_ascii)) for key, item in value.items()),
            default=0,
        )
    return encoded(value) if isinstance(value, str) else 0


# Text that stresses the scan: quotes, backslashes, brackets and non-ASCII inside strings.
tricky_text = st.text(alphabet=st.sampled_from('ab"\\[]{}é\n\u2028 /'), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=30,
)


@given(
    value=json_values,
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 2]),
    depth_slack=st.integers(-2, 2),
    string_slack=st.integers(-2, 2),
)
@settings(max_examples=300, deadline=None)
def test_check_json_agrees_with_the_decoded_document(
    value: Any, ensure_ascii: bool, indent: int | None, depth_slack: int, string_slack: int
) -> None:
    body = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()
    depth, longest = depth_of(value), longest_string(value, ensure_ascii)
    max_depth, max_string = max(1, depth + depth_slack), max(1, longest + string_slack)
    expected: type[Exception] | None = None
    if longest > max_string:
        expected = StringTooLong
    elif depth > max_depth:
        expected = TooDeep
    if expected is None:
        check_json(body, max_depth=max_depth, max_string=max_string)
    else:
        with pytest.raises(expected):
            check_json(body, max_depth=max_depth, max_string=max_string)


def elements_counted(value: Any) -> int:
    """What the event count sees: the objects and arrays in a top-level array (a scalar
    element is refused by the parser at once, so the count leaves it out)."""
    if not isinstance(value, list):
        return 1
    return sum(isinstance(item, list | dict) for item in value)


@given(
    value=json_values,
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 2]),
    slack=st.integers(-2, 2),
)
@settings(max_examples=300, deadline=None)
def test_the_event_count_agrees_with_the_decoded_document(
    value: Any, ensure_ascii: bool, indent: int | None, slack: int
) -> None:
    body = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()
    counted = elements_counted(value)
    max_events = max(1, counted + slack)  # Limits takes no limit under 1
    limits = {"max_depth": 64, "max_string": 1 << 20, "max_events": max_events}
    if counted > max_events:
        with pytest.raises(TooManyEvents, match=f"at most {max_events} events"):
            check_json(body, **limits)
    else:
        check_json(body, **limits)


@pytest.mark.parametrize(
    ("body", "limit", "refused"),
    [
        (b"[" + b"{}," * 4 + b"{}]", 5, False),  # exactly at the limit
        (b"[" + b"{}," * 5 + b"{}]", 5, True),  # one over
        (b"[" + b'{"a":{"b":[{},{}]}},' * 5 + b"{}]", 5, True),  # nested groups count once
        (b"[" + b'{"a":{"b":[{},{}]}},' * 4 + b"{}]", 5, False),
        (b'{"data":[' + b"{}," * 50 + b"{}]}", 5, False),  # one event, however many objects
        (b'[{"a":"' + b"{}" * 50 + b'"}]', 5, False),  # braces in a string are text
        (b'[{"a":"\\\\"},' + b"{}," * 5 + b'{"b":"\\"{}{}"}]', 5, True),  # escapes
        (b" \n [" + b"{}," * 5 + b"{}] ", 5, True),  # whitespace first
        (b'[{"b":"\\"' + b"{}[]" * 9 + b'"}]', 5, False),  # brackets after an escaped quote
    ],
)
def test_the_event_count_is_exact_at_the_limit(body: bytes, limit: int, refused: bool) -> None:
    limits = {"max_depth": 8, "max_string": 256, "max_events": limit}
    if refused:
        with pytest.raises(TooManyEvents):
            check_json(body, **limits)
    else:
        check_json(body, **limits)


def test_a_megabyte_of_tiny_events_is_counted_without_parsing_them() -> None:
    """The shape that cost 0.27 s of event loop per request when counted after parsing."""
    tiny = b'{"type":"X","specversion":"1"}'
    body = b"[" + b",".join([tiny] * 33_824) + b"]"
    assert len(body) <= 1 << 20
    started = time.perf_counter()
    with pytest.raises(TooManyEvents):
        check_json(body, max_depth=DEFAULT_MAX_DEPTH, max_string=DEFAULT_MAX_STRING,
                   max_events=1000)
    counted = time.perf_counter() - started
    started = time.perf_counter()
    parse_events(body)
    parsed = time.perf_counter() - started
    assert counted < 0.1 * parsed, (counted, parsed)


def test_every_recorded_sample_passes_the_default_limits() -> None:
    bodies = [path.read_bytes() for path in sorted(SAMPLES.glob("*/*.json"))]
    batch = json.dumps([element for body in bodies for element in json.loads(body)]).encode()
    for body in [*bodies, batch]:
        check_json(body, max_depth=DEFAULT_MAX_DEPTH, max_string=DEFAULT_MAX_STRING)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 200_000 + b"]" * 200_000, TooDeep),
        (b"[" * 9 + b"]" * 9, TooDeep),  # exactly one past the limit
        (b'{"a":' * 5 + b'[{"b":[[1]]}]' + b"}" * 5, TooDeep),
        (b"[" + b"[[],[[],[]]]," * 40 + b"[[[[[[[[[]]]]]]]]]]", TooDeep),  # interleaved, not a run
        (b'["' + b"x" * 300 + b'"]', StringTooLong),
        (b'{"' + b"k" * 300 + b'": 1}', StringTooLong),  # keys count too
        (b'["' + b'\\"' * 150 + b'"]', StringTooLong),  # escapes count as encoded
        ('{"a": 1}'.encode("utf-16"), NotUtf8),
        ('{"a": 1}'.encode("utf-32-be"), NotUtf8),
    ],
)
def test_check_json_refuses(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_json(body, max_depth=8, max_string=256)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 8 + b"]" * 8,
        b'["' + b"[" * 250 + b'"]',  # brackets inside a string are text
        b'["a\\"[[[[[[[[[[[[\\\\", "]]]]]]]]]]]]]]]]]]]]"]',  # escaped quote and backslash
        b'["' + b"x" * 256 + b'"]',
        b"[" + b'"short",' * 400 + b"1]",
        json.dumps({"eventType": "X.Y", "data": "[" * 100}).encode(),
    ],
)
def test_check_json_lets_through(body: bytes) -> None:
    check_json(body, max_depth=8, max_string=256)


@pytest.mark.parametrize("limit", [2, 3, 16, 256])
@pytest.mark.parametrize(
    ("shape", "inside"),
    [(b'"%s"', 0), (b'["%s"]', 0), (b'{"%s": 1}', 0), (b' "%s" ', 0), (b'["\\"%s"]', 2),
     (b'["%s", 1]', 0)],
    ids=["bare", "in-array", "key", "spaced", "escaped-quote", "then-more"],
)
def test_the_string_limit_is_exact(limit: int, shape: bytes, inside: int) -> None:
    """A string of exactly the limit (as encoded) passes and one byte more is refused, a bare
    JSON string too (its body is only two quotes longer than the limit)."""
    check_json(shape % (b"x" * (limit - inside)), max_depth=8, max_string=limit)
    with pytest.raises(StringTooLong):
        check_json(shape % (b"x" * (limit - inside + 1)), max_depth=8, max_string=limit)


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_check_json_on_arbitrary_bytes_accepts_or_refuses(body: bytes) -> None:
    with contextlib.suppress(NotUtf8, StringTooLong, TooDeep):
        check_json(body, max_depth=4, max_string=16)


def test_depth_limit_bounds_json_loads_recursion() -> None:
    with pytest.raises(ValueError, match="256"):
        Limits(depth=10_000)
    # At the ceiling the parser still has most of Python's recursion budget left.
    body = b'{"eventType": "Custom.Deep", "data": ' + b"[" * 255 + b"]" * 255 + b"}"
    check_json(body, max_depth=256, max_string=DEFAULT_MAX_STRING)
    assert parse_events(body)[0].type == "Deep"


def test_the_check_costs_little_next_to_parsing_a_typical_event() -> None:
    body = sample_bytes("ga", "ParticipantsUpdated")
    assert 1000 < len(body) < 2000

    def best_of(run: Any, rounds: int = 7, number: int = 300) -> float:
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(number):
                run()
            timings.append(time.perf_counter() - start)
        return min(timings)

    parse = best_of(lambda: parse_events(body))
    check = best_of(lambda: check_json(body, max_depth=32, max_string=65536))
    assert check < 0.2 * parse, (check, parse)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"body_bytes": 0}, {"events": -1}, {"depth": 0}, {"string_bytes": 0},
        {"read_timeout": 0.0}, {"read_timeout": float("nan")}, {"read_timeout": float("inf")},
    ],
)  # fmt: skip
def test_limits_refuse_values_that_would_disable_or_break_them(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Limits(**kwargs)


def test_limits_take_their_smallest_and_largest_values() -> None:
    Limits(body_bytes=1, events=1, depth=1, string_bytes=1, read_timeout=0.001)
    assert Limits(depth=MAX_DEPTH_CEILING).depth == 256
    refusals = [
        ({"depth": MAX_DEPTH_CEILING + 1}, "the nesting depth limit may be at most 256"),
        ({"events": 0}, "request limits must be positive"),
        ({"read_timeout": -1.0}, "the read timeout must be a positive number of seconds"),
    ]
    for kwargs, message in refusals:
        with pytest.raises(ValueError) as caught:
            Limits(**kwargs)  # type: ignore[arg-type]
        assert str(caught.value) == message


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ('{"a": 1}'.encode("utf-16-le"), NotUtf8, "body must be JSON encoded as UTF-8"),
        (b'["' + b"x" * 9 + b'"]', StringTooLong, "a string in the body is longer than 8 bytes"),
        (b"[" * 5 + b"]" * 5, TooDeep, "arrays and objects nest deeper than 4 levels"),
        (b"[{},{},{}]", TooManyEvents, "a request may carry at most 2 events"),
    ],
)
def test_each_refusal_says_which_limit(
    body: bytes, error: type[BodyRejected], message: str
) -> None:
    with pytest.raises(error) as caught:
        check_json(body, max_depth=4, max_string=8, max_events=2)
    assert caught.value.message == str(caught.value) == message


def test_a_nul_byte_after_the_first_four_is_not_called_an_encoding_problem() -> None:
    """UTF-16 and UTF-32 show in the first four bytes; a NUL later is the parser's to refuse."""
    check_json(b'[10,\x00]', max_depth=4, max_string=8)
    with pytest.raises(NotUtf8):
        check_json(b'[1,\x00]', max_depth=4, max_string=8)
