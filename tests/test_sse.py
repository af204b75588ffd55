"""The event-stream reader (``sse.SSEReader``) against the cases of the peers' own test suites.

Sources (facts carried over, not code): the web-platform-tests ``eventsource/format-*`` cases
(the WHATWG rules as browsers test them; each body there is ``message`` followed by
``newline``, ``"\\n\\n"`` unless ``newline=none``, then one more ``"\\n"``, as
``resources/message.php`` writes it), httpx-sse's ``tests/test_event_source.py`` and
openai-python's ``tests/test_streaming.py``.

Left out, and why:

* WPT ``format-field-id*``, ``format-field-retry*`` (``id``/``lastEventId``, reconnection
  delay): there is no reconnection here, so ``id`` and ``retry`` are not kept (their lines are
  read and ignored; see ``test_id_and_retry_lines_are_ignored``). Same for httpx-sse's
  ``test_iter_sse_id_null`` and ``test_iter_sse_id_retry``.
* WPT ``format-mime-*`` (a wrong ``Content-Type`` fails the connection): the stream answers a
  POST the plugin made itself; a wrong type shows as malformed events instead.
* openai-python's ``test_event_missing_data`` and ``test_multiple_events`` (an ``event:`` line
  and a blank line dispatch an event with empty data): the WHATWG rules dispatch nothing
  without a ``data`` line, and that is what the reader does (httpx-sse's
  ``test_iter_sse_id_retry`` likewise dispatches an event for a lone ``retry:`` line).
* openai-python's ``test_transport_error_mid_stream`` is an I/O case: its facts (a read
  timeout is a timeout, a peer that closed is a connection error) are in
  ``tests/test_hostile.py`` (``test_transport_errors_mapped_by_the_table``).

Every case is also fed in every two-piece split and byte by byte: a read boundary anywhere (in
a CRLF, in a multi-byte character, in the byte-order mark) must not change the events.
"""

from __future__ import annotations

import json

import pytest

from livekit_plugins_hosted import faults
from livekit_plugins_hosted.sse import SSEReader, StreamError, decode_event

WPT_TAIL = b"\n"
"""``resources/message.php`` ends every body with one more LF."""


def read_all(pieces: list[bytes], *, flush: bool = False) -> list[tuple[str, str]]:
    """The events of a stream read in ``pieces`` (``flush``: the lenient end of stream)."""
    reader = SSEReader()
    events = [ev for piece in pieces for ev in reader.feed(piece)]
    if flush and (last := reader.flush()) is not None:
        events.append(last)
    return events


def splits(body: bytes) -> list[list[bytes]]:
    """``body`` whole, in every two-piece split, and byte by byte."""
    ways = [[body], [body[i : i + 1] for i in range(len(body))]]
    ways += [[body[:i], body[i:]] for i in range(1, len(body))]
    return ways


def events_of(body: bytes) -> list[tuple[str, str]]:
    """The events of ``body``, the same however it is split into reads."""
    expected = read_all([body])
    for pieces in splits(body):
        assert read_all(pieces) == expected, pieces
    return expected


def messages(body: bytes) -> list[str]:
    """The data of each event; the event type as the WHATWG rules name it."""
    return [data for _event, data in events_of(body)]


# --- web-platform-tests eventsource/format-* --------------------------------------------------


def test_wpt_format_bom() -> None:
    """wpt format-bom.js: one leading BOM is dropped; a BOM later makes a field name that is not
    ``data`` (before, the first event was lost)."""
    body = "\ufeffdata:1\n\n\ufeffdata:2\n\ndata:3".encode() + b"\n\n" + WPT_TAIL
    assert messages(body) == ["1", "3"]


def test_wpt_format_bom_2() -> None:
    """wpt format-bom-2.any.js: only one BOM is dropped; the second spoils the first line."""
    body = "\ufeff\ufeffdata:1\n\ndata:2\n\ndata:3".encode() + b"\n\n" + WPT_TAIL
    assert messages(body) == ["2", "3"]


def test_wpt_format_comments() -> None:
    """wpt format-comments.js: comments (with NUL, long ones, CR/LF/CRLF ends) are skipped."""
    x = "x" * 2048
    body = f"data:1\r:\0\n:\r\ndata:2\n:{x}\rdata:3\n:data:fail\r:{x}\ndata:4\n".encode() + WPT_TAIL
    assert messages(body) == ["1\n2\n3\n4"]


def test_wpt_format_data_before_final_empty_line() -> None:
    """wpt format-data-before-final-empty-line.js: an event not closed by a blank line is not
    dispatched by the reader (only ``flush``, the stream's lenient end, returns it)."""
    body = b"retry:1000\ndata:test1\n\nid:test\ndata:test2" + WPT_TAIL
    assert messages(body) == ["test1"]
    assert read_all([body], flush=True) == [("", "test1"), ("", "test2")]


def test_wpt_format_field_data() -> None:
    """wpt format-field-data.js: ``data:`` alone is an empty line of data; ``data`` without a
    colon too."""
    body = b"data:\n\ndata\ndata\n\ndata:test" + b"\n\n" + WPT_TAIL
    assert messages(body) == ["", "\n", "test"]


def test_wpt_format_field_event() -> None:
    """wpt format-field-event.htm: ``event:`` names one event only."""
    body = b"event:test\ndata:x\n\ndata:x" + b"\n\n" + WPT_TAIL
    assert events_of(body) == [("test", "x"), ("", "x")]


def test_wpt_format_field_event_empty() -> None:
    """wpt format-field-event-empty.htm: an empty event name is the default ("message")."""
    body = b"event: \ndata:data" + b"\n\n" + WPT_TAIL
    assert events_of(body) == [("", "data")]


def test_wpt_format_field_parsing() -> None:
    """wpt format-field-parsing (any.js): field names are exact (``Data``, ``data\\0``,
    ``da-ta``, `` data`` are other fields); NUL is data; only one space is removed."""
    body = (
        b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\r"
        b"data:\r\n data:32\ndata:4\n" + WPT_TAIL
    )
    assert messages(body) == ["\0\n 2\n1\n3\n\n4"]


def test_wpt_format_leading_space() -> None:
    """wpt format-leading-space (any.js): one leading space goes, a tab stays; CR ends a line."""
    body = b"data:\ttest\rdata: \ndata:test" + b"\n\n" + WPT_TAIL
    assert messages(body) == ["\ttest\n\ntest"]


def test_wpt_format_newlines() -> None:
    """wpt format-newlines (any.js): CRLF, LF and CR all end lines, mixed in one stream."""
    body = b"data:test\r\ndata\ndata:test\r\n\r" + WPT_TAIL
    assert messages(body) == ["test\n\ntest"]


def test_wpt_format_null_character() -> None:
    """wpt format-null-character.html: NUL is data like any other character."""
    assert messages(b"data:\x00\n\n" + WPT_TAIL) == ["\x00"]


def test_wpt_format_unknown_fields() -> None:
    """wpt format-field-unknown (any.js): unknown fields and lines without a colon are skipped."""
    body = (
        b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test"
        + b"\n\n"
        + WPT_TAIL
    )
    assert messages(body) == ["test\n\ntest"]


def test_wpt_format_utf_8() -> None:
    """wpt format-utf-8.any.js: the stream is UTF-8 whatever charset the header claims (the
    reader never sees the header; the stream test checks a windows-1252 header end to end)."""
    assert messages(b"data:ok\xe2\x80\xa6" + b"\n\n" + WPT_TAIL) == ["ok…"]


# --- httpx-sse tests/test_event_source.py -----------------------------------------------------


def test_httpx_sse_whatwg_example1() -> None:
    """httpx-sse test_iter_sse_whatwg_example1: data lines join with LF."""
    assert messages(b"data: YH00\ndata: +2\ndata: 10\n\n") == ["YH00\n+2\n10"]


def test_httpx_sse_whatwg_example2() -> None:
    """httpx-sse test_iter_sse_whatwg_example2: a comment-only event dispatches nothing; two
    spaces keep one."""
    body = (
        b": test stream\n\ndata: first event\nid: 1\n\ndata: second event\nid\n\n"
        b"data:  third event\n\n"
    )
    assert messages(body) == ["first event", "second event", " third event"]


def test_httpx_sse_whatwg_example3() -> None:
    """httpx-sse test_iter_sse_whatwg_example3: empty data events; an unclosed last event is
    not dispatched."""
    assert messages(b"data\n\ndata\ndata\n\ndata:\n") == ["", "\n"]


def test_httpx_sse_whatwg_example4() -> None:
    """httpx-sse test_iter_sse_whatwg_example4: the space after the colon is optional."""
    assert messages(b"data:test\n\ndata: test\n\n") == ["test", "test"]


def test_httpx_sse_event() -> None:
    """httpx-sse test_iter_sse_event: the event name is kept."""
    assert events_of(b"event: logline\ndata: New user connected\n\n") == [
        ("logline", "New user connected")
    ]


def test_httpx_sse_unknown_field() -> None:
    """httpx-sse test_iter_sse_unknown_field: an unknown field alone dispatches nothing."""
    assert events_of(b"something: ignore\n\n") == []


def test_httpx_sse_unicode_line_separator_not_parsed_as_newline() -> None:
    """httpx-sse test_unicode_line_separator_not_parsed_as_newline (its issue #34): U+2028
    inside data is content (aiter_lines split there and killed the stream)."""
    body = b'event: message\ndata: {"text":"Hello\xe2\x80\xa8World"}\n\n'
    assert events_of(body) == [("message", '{"text":"Hello\u2028World"}')]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_only_cr_and_lf_end_lines(separator: str) -> None:
    """Every other character ``str.splitlines`` splits at stays inside the line."""
    body = f'data: {{"t":"a{separator}b"}}\n\n'.encode()
    assert messages(body) == [f'{{"t":"a{separator}b"}}']


# --- openai-python tests/test_streaming.py ----------------------------------------------------


def test_openai_basic() -> None:
    """openai-python test_basic / test_data_missing_event: an event with and without a name."""
    assert events_of(b'event: completion\ndata: {"foo":true}\n\n') == [
        ("completion", '{"foo":true}')
    ]
    assert events_of(b'data: {"foo":true}\n\n') == [("", '{"foo":true}')]


def test_openai_multiple_events_with_data() -> None:
    """openai-python test_multiple_events_with_data."""
    body = b'event: ping\ndata: {"foo":true}\n\nevent: completion\ndata: {"bar":false}\n\n'
    assert events_of(body) == [("ping", '{"foo":true}'), ("completion", '{"bar":false}')]


def test_openai_multiple_data_lines_with_empty_line() -> None:
    """openai-python test_multiple_data_lines_with_empty_line: empty data lines are kept."""
    body = b'event: ping\ndata: {\ndata: "foo":\ndata: \ndata:\ndata: true}\n\n\n'
    [(event, data)] = events_of(body)
    assert (event, data) == ("ping", '{\n"foo":\n\n\ntrue}')
    assert json.loads(data) == {"foo": True}


def test_openai_data_json_escaped_double_new_line() -> None:
    """openai-python test_data_json_escaped_double_new_line: escaped newlines are not ends."""
    body = b'event: ping\ndata: {"foo": "my long\\n\\ncontent"}\n\n'
    [(_, data)] = events_of(body)
    assert json.loads(data) == {"foo": "my long\n\ncontent"}


def test_openai_special_new_line_character() -> None:
    """openai-python test_special_new_line_character: U+2028 inside content."""
    body = (
        b'data: {"content":" culpa"}\n\n'
        b'data: {"content":" \xe2\x80\xa8"}\n\n'
        b'data: {"content":"foo"}\n\n'
    )
    assert [json.loads(d)["content"] for d in messages(body)] == [" culpa", " \u2028", "foo"]


def test_openai_multi_byte_character_multiple_chunks() -> None:
    """openai-python test_multi_byte_character_multiple_chunks: a character split over reads."""
    pieces = [
        b'data: {"content":"',
        b"\xd0",
        b"\xb8\xd0\xb7\xd0",
        b"\xb2\xd0\xb5\xd1\x81\xd1\x82\xd0\xbd\xd0\xb8",
        b'"}\n',
        b"\n",
    ]
    [(_, data)] = read_all(pieces)
    assert json.loads(data) == {"content": "известни"}


# --- the plugin's own rules -------------------------------------------------------------------


def test_cr_at_the_end_of_a_read_and_lf_at_the_start_of_the_next_are_one_line_end() -> None:
    """A CRLF split over two reads would end two lines (a blank line: an early dispatch)."""
    assert read_all([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [("", "a\nb")]


def test_lone_cr_before_a_read_boundary_then_data() -> None:
    """A CR that ends a read is a line end by itself when no LF follows."""
    assert read_all([b"data: a\r", b"data: b\r\r"]) == [("", "a\nb")]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    """Invalid bytes become U+FFFD, as the spec says, instead of failing the stream."""
    assert messages(b"data: a\xff\xfeb\n\n") == ["a\ufffd\ufffdb"]


def test_bom_alone_in_first_reads() -> None:
    """A BOM arriving a byte at a time is still dropped, once."""
    assert read_all([b"\xef", b"\xbb", b"\xbf", b"data: 1\n\n"]) == [("", "1")]
    assert read_all([b"\xef\xbb", b"\xbfdata: 1\n\n"]) == [("", "1")]
    assert read_all([b"", b"\xef\xbb\xbfdata: 1\n\n"]) == [("", "1")]


def test_id_and_retry_lines_are_ignored() -> None:
    """``id:`` / ``retry:`` lines (no reconnection here) would end up in the data."""
    assert messages(b"id: 7\nretry: 100\ndata: x\n\n") == ["x"]


def test_flush_returns_an_unclosed_last_line() -> None:
    """A stream ending ``data: [DONE]`` with no line end (some servers) still ends cleanly."""
    reader = SSEReader()
    assert reader.feed(b"data: [DONE]") == []
    assert reader.flush() == ("", "[DONE]")
    assert reader.flush() is None


def test_a_line_past_the_cap_fails_not_retryable() -> None:
    """An endless line would grow memory without bound; past the cap it is an error that a
    retry would only repeat."""
    reader = SSEReader(max_line=1000, max_event=10_000)
    reader.feed(b"data: " + b"x" * 900)
    with pytest.raises(StreamError, match="line of more than 1000 bytes") as info:
        reader.feed(b"x" * 200)
    assert info.value.retryable is False


def test_an_event_past_the_cap_fails_not_retryable() -> None:
    """``data:`` lines with no blank line would accumulate without bound."""
    reader = SSEReader(max_line=1000, max_event=5000)
    with pytest.raises(StreamError, match="event of more than 5000 bytes") as info:
        for _ in range(100):  # bounded: the cap is reached at the 31st
            reader.feed(b"data: " + b"x" * 99 + b"\n")
    assert info.value.retryable is False


def test_tiny_data_lines_count_their_cost() -> None:
    """A flood of one-byte ``data`` lines costs ~40 bytes of memory each: counted as such."""
    reader = SSEReader(max_event=64 * 1000)
    with pytest.raises(StreamError, match="event of more than"):
        reader.feed(b"data:\n" * 1001)


def test_lines_within_the_caps_pass() -> None:
    """The caps must not cut a big but legitimate event (many lines, one big line)."""
    reader = SSEReader(max_line=1000, max_event=50_000)
    assert reader.feed(b"data: " + b"x" * 990 + b"\n\n") == [("", "x" * 990)]
    assert reader.feed(b"data: y\n" * 500 + b"\n") == [("", "\n".join(["y"] * 500))]


# --- decode_event: error events are judged as statuses ---------------------------------------


def _error(code: object, **more: object) -> StreamError:
    with pytest.raises(StreamError) as info:
        decode_event("", json.dumps({"error": {"message": "m", "code": code, **more}}))
    return info.value


@pytest.mark.parametrize(
    "code, status",
    [
        (400, 400),
        ("400", 400),
        (" 503 ", 503),
        ("insufficient_quota", 429),
        ("rate_limit_exceeded", 429),
        ("server_error", 500),
        ("context_length_exceeded", 400),
        (True, None),
        (False, None),
        (42, None),
        ("4000", None),
        ("invalid_request", None),
        (None, None),
    ],
)
def test_error_codes_read_as_statuses(code: object, status: int | None) -> None:
    """A string code was never a status (retried as a connection error, no credits check);
    a boolean became a status code."""
    assert _error(code).status_code == status


def test_error_type_names_the_status_when_code_does_not() -> None:
    """``type`` (``rate_limit_error``...) names a status when ``code`` names none."""
    assert _error(None, type="rate_limit_error").status_code == 429


def test_error_naming_no_status_but_credits_is_a_429() -> None:
    """Exhausted credits said only in words are still terminal (through the 429 rule)."""
    assert _error(None, message="your credit balance is too low").status_code == 429


def test_deeply_nested_event_is_a_stream_error() -> None:
    """JSON nested past Python's depth raised RecursionError out of the stream."""
    with pytest.raises(StreamError, match="nested too deeply"):
        decode_event("", "[" * 100_000 + "]" * 100_000)


def test_error_body_nested_past_the_depth_is_kept_as_text() -> None:
    """An error body nested too deeply raised RecursionError out of the status handling."""
    body = faults.read_body(b"[" * 100_000 + b"]" * 100_000)
    assert isinstance(body, str) and body.startswith("[[[") and len(body) < 2000


def test_error_message_is_clipped() -> None:
    """A server's multi-megabyte message would be copied whole into the exception's text."""
    message = faults.server_message(500, {"error": {"message": "x" * 100_000}}, "")
    assert len(message) < faults.MESSAGE_LIMIT + 100
    assert "more characters" in message
