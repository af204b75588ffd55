"""Numbers in Gemma 4 call values (issue 21): read by one walk, linear in the scalar.

A bare scalar in a call body (``amount:900``, ``zip:02134``) is server text up to the body's
32 KB cap. It was matched with two regular expressions, one with alternatives of unbounded
digit runs; :func:`~livekit_plugins_hosted.gemma4.values.number` walks it once instead. Work is
the characters it examined, never the wall clock.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

import pytest

from livekit_plugins_hosted.gemma4 import Gemma4Parser
from livekit_plugins_hosted.gemma4.values import DECIMAL, INTEGER, NOT_NUMBER, number

# The grammar the walk implements, written as the patterns it replaced: a test oracle over
# short strings only.
_INT = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


def _oracle(text: str) -> int:
    if _INT.fullmatch(text):
        return INTEGER
    return DECIMAL if _DECIMAL.fullmatch(text) else NOT_NUMBER


FIXED = (
    "", "-", "0", "-12", "02134", "1.", ".5", "-.5", ".", "1.e5", "1e", "1e+", "1.5e-3", "e5",
    ".e5", "1x", "--1", "1-", "١٢", "²", "1e5.0", "+1", " 1", "1 ", "NaN", "inf",
)  # fmt: skip


@pytest.mark.parametrize("text", FIXED)
def test_a_number_is_what_json_and_python_read_as_one(text: str) -> None:
    """``02134`` an integer, ``1.5e-3`` a decimal, ``1e`` or ``+1`` text: a tool's argument
    keeps the type it had (the grammar of the patterns it replaced)."""
    assert number(text)[0] == _oracle(text)


def test_random_scalars_read_as_the_grammar_says() -> None:
    """3,000 random short scalars from the characters numbers are made of: the walk agrees
    with the grammar on each (a fixed seed)."""
    rng = random.Random(21)
    alphabet = "-+.eE0123456789١x "
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        assert number(text)[0] == _oracle(text), text


SHAPES: dict[str, Callable[[int], str]] = {
    "digits_then_junk": lambda n: "1" * n + "x",
    "signed_digits_then_dot_junk": lambda n: "-" + "1" * n + ".x",
    "fraction_then_bad_exponent": lambda n: "1" * n + "." + "1" * n + "e",
    "exponent_digits_then_junk": lambda n: "1e" + "1" * n + "x",
    "arabic_digits_then_junk": lambda n: "١" * n + "x",
    "all_digits": lambda n: "9" * n,
    "dots": lambda n: "1." * n,
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_reading_a_number_costs_linear_work(shape: str) -> None:
    """Each character of a scalar is examined once at most, and four times the scalar costs
    about four times the work."""
    small, big = SHAPES[shape](2000), SHAPES[shape](8000)
    (_, work_small), (_, work_big) = number(small), number(big)
    assert work_big <= len(big)
    assert work_big / work_small <= 4.6 * len(big) / (4 * len(small))


def test_a_long_number_in_a_call_is_typed_without_a_pattern() -> None:
    """A 20,000-digit bare value (past Python's int limit) stays its text, and a 1,000-digit
    one is the integer: the call runs either way with the value the model wrote."""
    for digits, want in (("7" * 20000, "7" * 20000), ("7" * 1000, int("7" * 1000))):
        parser = Gemma4Parser(schemas={"f": {}})
        _, calls = parser.feed(f"<|tool_call>call:f{{n:{digits}}}<tool_call|>")
        calls += parser.finish()[1]
        assert [json.loads(c.arguments) for c in calls] == [{"n": want}]
