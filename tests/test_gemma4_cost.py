"""Hostile replies cost linear work (issue 21): 128 KB of any shape ends, 4x input is 4x work.

Work is :attr:`Gemma4Parser.work`, the characters the reader examined (held text it read
again, look-aheads, bodies read by the call reader), never the wall clock. Each shape is fed
whole, in 7-character deltas and one character at a time, since a held buffer re-read on every
delta is where quadratic cost hides.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from livekit_plugins_hosted.gemma4 import Gemma4Parser

Q = '<|"|>'
KB = 1024
TOOLS = {"f": {}, "get_weather": {}}

# name -> a reply of about n characters
SHAPES: dict[str, Callable[[int], str]] = {
    # the 1.2 KB event that blocked the event loop for seconds (XML-head backtracking)
    "tool_tag_then_spaces": lambda n: "<tool_call>" + " " * n + "!",
    "tool_tags_and_spaces": lambda n: ("<tool_call>" + " " * 100 + "!") * (n // 112),
    "call_tag_then_name_spaces": lambda n: ("<call>call : x" + " " * 50) * (n // 64),
    "unclosed_string_then_braces": lambda n: f"<|tool_call>call:f{{a:{Q}" + "}" * n,
    "unclosed_strings_braces_closers": lambda n: (
        (f"<|tool_call>call:f{{a:{Q}" + "}" * 200) * (n // 220)
    ),
    "call_call_run": lambda n: "Sure, call:" + "call:" * (n // 5),
    "call_call_runs": lambda n: ("hi call:" + "call:" * 30 + " ") * (n // 160),
    "tool_call_openers": lambda n: "<|tool_call>" * (n // 12),
    "lines_before_a_marker": lambda n: "a\n" * (n // 2) + "<",
    "code_lines": lambda n: "print()\n" * (n // 8),
    "cut_markers": lambda n: "<|tool_ca" * (n // 9),
    "quotes_in_a_body": lambda n: "<|tool_call>call:f{a:" + (Q + "x") * (n // 6) + "}",
    "commas_before_a_quote": lambda n: "<|tool_call>call:f{a:" + "x," * (n // 2) + Q + "}",
    "members_then_missing_opener": lambda n: "<|tool_call>call:f{" + "a:1," * (n // 4) + "z" + Q,
    "bare_calls_in_thought": lambda n: "<|channel>thought\n" + "call:x " * (n // 7),
    "open_fence": lambda n: "```tool_code\n" + 'f(a="b")\n' * (n // 9),
    "python_parens": lambda n: "call:f(" + "(" * n,
    "channel_labels": lambda n: ("<|channel>" + "r" * 20) * (n // 30),
    "less_thans": lambda n: "<" * n,
    "nested_arrays": lambda n: "<|tool_call>call:f{a:" + "[" * 60 + "1," * (n // 2),
    "json_string_escapes": lambda n: '<|tool_call>call:f{"a": "' + '\\"' * (n // 2),
    "python_string_escapes": lambda n: "call:f(a='" + "\\'" * (n // 2),
    # a marker after a bare value may be text of a string whose opener was lost: held, read
    # again once at most
    "lost_opener_markers": lambda n: "call:f{a:x <tool_call|> " * (n // 24),
    "lost_opener_then_prose": lambda n: "call:f{a:x <tool_call|> " + "word " * (n // 5),
    # every lost opener is a guess of its own: each closed, each found to open a later value
    "lost_openers_closed": lambda n: f"call:f{{a:x <tool_call|> y{Q}}} " * (n // 29),
    "lost_openers_wrong": lambda n: f"call:f{{a:x <tool_call|> call:f{{b:{Q}y{Q}}} " * (n // 41),
    "lost_opener_wrong_far": lambda n: "call:f{a:x <tool_call|> " * (n // 24) + f"call:f{{b:{Q}",
    # Python's triple-quoted strings: quotes in pairs inside, quotes cut at every delta's end
    "triple_quoted_pairs": lambda n: '```tool_code\nf(a="""' + '""x' * (n // 3),
    "python_quote_runs": lambda n: "call:f(a=" + '""\'' * (n // 3),
    # inline print( read as prose, its re-read meeting a lost opener's guess: re-reads nested
    # one level per unit (a RecursionError in one 16 KB delta, and the square of the work)
    "prose_print_lost_openers": lambda n: (
        "Say " + f"print('call:f{{a:hi <tool_call|> k:{Q} " * (n // 36)
    ),
    # a spoiled block is still read body by body, its strings sealed
    "spoiled_block_braces": lambda n: "<|tool_call>call:f{}" + "}" * n,
    # a quote never closed in each of many bodies: the reply's end re-reads one, not each
    "unclosed_quote_per_body": lambda n: "call:f{a:'x} " * (n // 13),
    # an apostrophe re-read as text, then a guess a later value proves wrong (review 21d)
    "reread_then_wrong_guess": lambda n: (f"call:f(a=b's <tool_call|>c:{Q}") * (n // 32),
    # code that turns out prose: read again from its first marker, once (review 21d)
    "print_apostrophe_markup": lambda n: "Try print(it's <tool_call|> call:x " * (n // 35),
    "print_apostrophe_line": lambda n: "a print(it's" + " call:x <|channel>" * (n // 18),
    "prose_print_lines": lambda n: "print() writes <|tool_call>call:x.\n" * (n // 35),
    # ``print(`` ending its line: the look-ahead past the break is bounded (review 21g)
    "print_break_lookahead": lambda n: "Say print(\n        get_weathe, then go on. " * (n // 43),
    "print_break_spaces": lambda n: "Hi print(\n" + " " * n + "!",
    "inline_call_lines_open": lambda n: "Hi print(get_weather(\n" + "a,\n" * (n // 3),
    "inline_gemma_strings": lambda n: f"Hi print(get_weather(city={Q}x{Q})) " * (n // 37),
    "inline_open_gemma_string": lambda n: (
        f"Hi print(get_weather(city={Q}" + "x <tool_call|> " * (n // 15)
    ),
    # a lost opener's string past its cap, closed later: the cap decides at one character
    "lost_opener_past_cap": lambda n: "call:f{a:x <tool_call|> " + "y " * (n // 2) + Q + "} ",
    "strings_between_block_calls": lambda n: (
        "<|tool_call>call:f{}, " + f"{Q}x<tool_call|>{Q} " * (n // 24) + "<tool_call|>"
    ),
    # spaces between a bare call's name and its brace: held as one, never re-scanned
    "bare_name_then_spaces": lambda n: "call:f" + " " * n + "!",
    "bare_names_spaces_prose": lambda n: "call:f   x " * (n // 11),
    "spoiled_block_strings": lambda n: (
        "<|tool_call>}" + f"call:f{{a:{Q}x<tool_call|>y{Q}}}" * (n // 32) + "<tool_call|>"
    ),
    # Python read by Python's own compiler at each line break, within bounds (review 21j)
    "unfinished_python_lines": lambda n: ("print(foo(\n" + "1,\n" * 20 + "\n") * (n // 72),
    "sentences_like_python": lambda n: "print(foo(1) is how\n" * (n // 20),
    "unfinished_python_blank_lines": lambda n: ("print(foo(" + "\n" * 16 + "))\n") * (n // 29),
    "unfinished_python_heavy_line": lambda n: "print(foo(" + "1," * 4000 + "\n" * (n // 2),
    "one_long_unfinished_line": lambda n: "print(foo(" + "1," * (n // 2) + "\nok",
    "fence_statements": lambda n: "```tool_code\n" + 'x = "a"\nf(a=x)\nf(a=y)\n' * (n // 20),
    "fence_open_literal": lambda n: "```tool_code\nx = [" + "1," * (n // 2),
    "declared_call_lines": lambda n: 'get_weather(city="x") and more\n' * (n // 31),
    "print_then_spaces": lambda n: ("Hi print(" + " " * 16 + "get_weather ") * (n // 37),
    # mid-line names (session 27): a declared name and spaces held at each delta's end, a
    # ``(`` looked back from over a long word, brackets after names that begin a tool's
    "name_then_spaces": lambda n: ("Hi get_weather" + " " * 15 + "x ") * (n // 31),
    "long_word_brackets": lambda n: ("a" * 200 + "(") * (n // 201),
    "head_brackets": lambda n: "get_weathe(get_weathe (" * (n // 23),
    "mid_line_calls": lambda n: 'Ok get_weather(city="x") (get_weather(city="y")) ' * (n // 50),
    "assign_lines": lambda n: 'result = get_weather(city="x")\nIt is nice.\n' * (n // 44),
    # review 27b: declared calls over many lines, broken ones read again after each cut
    "declared_over_lines": lambda n: ('get_weather(city="P",' + "\n" * (n // 8) + ")\n") * 8,
    "broken_calls": lambda n: 'get_weather(city="A"\n' * (n // 21),
    "nested_open_calls": lambda n: ("get_weather(\n" * 31 + "x y\n") * (n // 407),
    "string_over_lines": lambda n: ('save_note(text="a\n' + "b\n" * 40 + '")\n') * (n // 100),
    # session 28: a Python block's header outside a fence, each judged by Python's parser
    # once; a block held to its first line not indented; a sentence that starts as a header
    # does, held to its line's end or 256 characters
    "header_lines": lambda n: "if a:\n" * (n // 6),
    "header_prose_lines": lambda n: "if you like, say so.\n" * (n // 21),
    "blocks_of_calls": lambda n: "if x:\n    f(a=1)\n" * (n // 16),
    "block_lines": lambda n: "if x:\n" + " a\n" * (n // 3),
    "block_kin_lines": lambda n: "if x:\n f()\n" + "else:\n f()\n" * (n // 11),
    "print_then_headers": lambda n: "print(\nif x:\n" * (n // 13),
    "header_line_words": lambda n: "if " + "a " * (n // 2),
    "long_header_lines": lambda n: ("if " + "a" * 300 + "\n") * (n // 304),
    "block_prose_dedent": lambda n: "if so:\n  x y\nok\n" * (n // 15),
    "annotated_lines": lambda n: ("r: list[" + "a," * 100 + "] = f(a=1)\n") * (n // 219),
    "annotations_held": lambda n: ("r: list[" + "a," * 19 + "] = f(a=1)\n") * (n // 57),
    "await_lines": lambda n: "await f(a=1)\n" * (n // 13),
    # review 28a: one-line units that start as headers do, each a code of its own
    "header_bracket_lines": lambda n: "if a:\n b(\nc\n" * (n // 11),
    "empty_headers": lambda n: "if:\n" * (n // 4),
    "header_brackets": lambda n: "if(\n" * (n // 4),
    "kin_sentences": lambda n: "if x:\n f()\nexcept for y.\n" * (n // 25),
    "decorators": lambda n: "@a\n" * (n // 3),
    "joined_lines": lambda n: "if a \\\n" * (n // 7),
    # review 28b: annotation-like lines held while a name's annotation is read, a run of
    # ``p`` (each a start of ``print``)
    "annotation_like_lines": lambda n: (
        ("a" * 100 + ": " + "b" * 20 + "[" + "c" * 10 + "] | " + "d" * 10 + " x\n") * (n // 148)
    ),
    "print_starts": lambda n: "p" * n,
    "print_names": lambda n: ("x" * 30 + "print ") * (n // 36),
    "python_fences": lambda n: "```python\nf(a=1)\n```\n" * (n // 21),
    "python_fence_openers": lambda n: ("```py" + " " * 20 + "x\n") * (n // 27),
    # session 29: a line of prose that leads what follows as a header would, each judged by
    # Python's parser at its end (every one different); tab-indented block lines; the
    # header words nearest a long line's end, and ``print(`` after one
    "mid_line_headers": lambda n: "".join(f"ok; if a{k}:\n" for k in range(n // 12)),
    "header_words_line_ends": lambda n: ("a " * 40 + "if " * 20 + "for a in b:\n") * (n // 151),
    "led_prints": lambda n: "".join(f"Ok; if a{k}: print(f(a=1))\n" for k in range(n // 27)),
    "tab_block_lines": lambda n: "if x:\n" + "\t \ta\n" * (n // 5),
    "semicolon_headers": lambda n: ("x" + "; if a" * 20 + ":\n") * (n // 122),
    "led_lines_after_calls": lambda n: "if a then\n" + "  x print(f(a=1))\n" * (n // 18),
    "deep_indented_lines": lambda n: (" " * 60 + "get_weather(x)\n") * (n // 75),
    "one_run_of_spaces": lambda n: "Ok.\n" + " " * n + "get_weather(a=1)",
    "pseudo_headers": lambda n: "".join(f"if a{k} then\n    f(a=1)\n" for k in range(n // 24)),
    # session 30: blocks braces and ``then`` open, and lines under a leader judged alone
    "brace_blocks": lambda n: ("if (x) {\nr.save(a)\n} else {\nf(a=1)\n}\n") * (n // 39),
    "braces_never_closed": lambda n: "if (x) {\n" * (n // 9),
    "branch_lines": lambda n: "".join(f"}} else {{ f(a={k}) }}\n" for k in range(n // 20)),
    "then_blocks": lambda n: "".join(f"if a{k} then\nx.go()\nend\n" for k in range(n // 24)),
    "led_code_lines": lambda n: "if x:\n" + "".join(f"    r{k}.save()\n" for k in range(n // 16)),
    "led_long_lines": lambda n: "if (x) {\n" + ("a" * 70 + "(\n") * (n // 72),
    "condition_calls": lambda n: "".join(f"if (a{k}) {{ f(a=1) }}\n" for k in range(n // 22)),
    # session 31: a declared call later on a line a header's word starts, or on a line in a
    # block, looked for mid-line; a condition going on over lines; quotes blanked in lines
    "watched_lines": lambda n: "".join(f"function g{k}() {{ f(a=1) }}\n" for k in range(n // 28)),
    "long_watched_line": lambda n: "when (x) { " + "a<b " * (n // 4) + "f(a=1) }",
    "watched_name_starts": lambda n: "if (x) { " + "get_wea " * (n // 8),
    "block_mid_line_calls": lambda n: "if (x) {\n" + "a -> f(a=1)\n" * (n // 12),
    "continued_conditions": lambda n: "if (a and\n" * (n // 10),
    "quoted_block_lines": lambda n: "if (x) {\n" + 'say("a. b") x\n' * (n // 15),
    # review 31b: names' starts on a watched line, read again with each delta; prose there
    "watched_name_runs": lambda n: ("if you want " + "get_weathe " * n)[:n],
    "watched_prose": lambda n: ("if you want " + "Hello there, how are you. " * n)[:n],
}


# ``print(`` mid-line, up to 16 spaces and a declared tool's name: held until its ``(``
# decides, and read again with each one-character delta (a bound, not a growth: 0 spaces
# cost 48 characters each, 16 spaces 88)
# A declared name and up to 16 spaces mid-line, or a word that begins one before a ``(``,
# are held the same way (``name_then_spaces`` 98 at one-character deltas, ``head_brackets``
# 48; 20 and 14 at seven-character deltas)
# A line starting with a 70-character lowercase name is held to its end the same way
# (``led_long_lines``: 42 at one-character deltas, 41.5 before session 30 too; 10 whole)
# A declared tool's name begun at a delta's end on a watched line (``get_wea``) is held the
# same way (``watched_name_starts``: 40.5 at one-character deltas)
PER_CHARACTER = {
    "watched_name_starts": 60,
    "print_then_spaces": 100,
    "name_then_spaces": 100,
    "head_brackets": 60,
    "led_long_lines": 60,
}


def _work(text: str, size: int) -> tuple[int, bool]:
    """The work of reading ``text`` in ``size`` deltas, and whether the turn ended in speech,
    a call, or a silence the parser reports (which the stream layer turns into an error)."""
    parser = Gemma4Parser(schemas=TOOLS)
    said = False
    for i in range(0, len(text), size):
        speech, calls = parser.feed(text[i : i + size])
        said = said or bool(speech.strip() or calls)
    speech, calls = parser.finish()
    said = said or bool(speech.strip() or calls)
    return parser.work, said or parser.silent


@pytest.mark.parametrize("size", [1, 7, 1 << 30], ids=["1", "7", "whole"])
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_hostile_reply_costs_linear_work(shape: str, size: int) -> None:
    """128 KB of a hostile shape is read with a bounded work per character, and
    four times as much input costs about four times the work (never the square)."""
    make = SHAPES[shape]
    small, big = make(32 * KB), make(128 * KB)
    work_small, _ = _work(small, size)
    work_big, ended = _work(big, size)
    # one-character deltas re-read a held marker's beginning (at most 39 characters) with
    # each look-ahead: a constant factor, never one that grows with the reply
    bound = PER_CHARACTER.get(shape, 40)
    assert work_big <= bound * len(big), f"{work_big / len(big):.1f} characters of work each"
    ratio = work_big / work_small
    assert ratio <= 4.6 * len(big) / (4 * len(small)), f"4x input cost {ratio:.2f}x work"
    assert ended


def test_tool_tag_then_spaces_is_dropped_or_spoken_but_never_held() -> None:
    """After ``<tool_call>`` and 1,200 spaces the words that follow are spoken (no call
    syntax followed the tag) once the delta arrives, not held to the end."""
    parser = Gemma4Parser()
    assert parser.feed("<tool_call>" + " " * 1200) == ("", [])
    assert parser.feed("! Sure.") == ("! Sure.", [])


def test_markup_past_its_cap_is_never_spoken() -> None:
    """A ``call:call:…`` run longer than any head is held no further: it is dropped, and the
    speech around it goes on."""
    parser = Gemma4Parser()
    said = [parser.feed("Hi. call:" + "call:" * 2000)[0], parser.feed(" Bye.")[0]]
    said.append(parser.finish()[0])
    assert "".join(said).split() == ["Hi.", "Bye."]


def test_call_body_past_its_cap_is_never_run() -> None:
    """A call body over the cap is dropped (arguments that large are no voice tool's), the
    text after it is spoken, and nothing of the body is heard."""
    big = "x" * (40 * KB)
    speech, calls = [], []
    parser = Gemma4Parser(schemas=TOOLS)
    for piece in (f"<|tool_call>call:f{{a:{Q}{big}{Q}}}<tool_call|>", "Done."):
        text, got = parser.feed(piece)
        speech.append(text)
        calls += got
    speech.append(parser.finish()[0])
    assert "".join(speech) == "Done." and calls == []


def test_a_block_of_endless_calls_holds_no_growing_list() -> None:
    """A block with more calls than any turn makes is dropped whole once past the cap, so a
    server cannot grow the list of calls held until the block ends."""
    parser = Gemma4Parser()
    _, calls = parser.feed("<|tool_call>" + "call:f{}" * 10_000)
    assert calls == []
    assert parser.feed("<tool_call|>Done.") == ("Done.", [])


def _comma_keys_body(n: int, tail: str = "", spaces: bool = False) -> str:
    """One call body of about ``4 n`` characters: many values, each followed by a comma that
    no ``key:`` follows, and a ``<|"|>`` far away (the call reader looks ahead to it, and
    back over the spaces before it)."""
    return "call:f{k:x" + ",é:x" * n + ",z:1" + " " * (n if spaces else 0) + Q + tail + "}"


@pytest.mark.parametrize(
    ("tail", "spaces"),
    [("", False), (f",w:{Q}open}}<tool_call|>", False), ("", True)],
    ids=["whole", "repaired", "spaces"],
)
def test_one_long_call_body_costs_linear_work(tail: str, spaces: bool) -> None:
    """Inside one body (up to its 32 KB cap) four times the values cost about four times
    the work, read whole or through the repair of a string never closed: the call reader
    looked ahead to the same distant quote for every value (30 KB took 8 s of CPU, the event
    loop blocked), and ``work`` now counts its look-aheads."""
    small, big = _comma_keys_body(1500, tail, spaces), _comma_keys_body(6000, tail, spaces)
    work_small, _ = _work(small, 1 << 30)
    work_big, _ = _work(big, 1 << 30)
    assert work_big <= 40 * len(big), f"{work_big / len(big):.1f} characters of work each"
    assert work_big / work_small <= 4.6 * len(big) / (4 * len(small))
