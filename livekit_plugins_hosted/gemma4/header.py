"""What a line of code starts with, to Python: a block's header, its kin, a decorator.

    header := ("if" | "for" | "while" | "with" | "try" | "def" | "class" | "async" | "match"
              | "elif" | "else" | "except" | "finally" | "await" | "elseif" | "elsif") after
            | "@" name | "}" … header | "catch" ["("|"{"]          after: `` :(\"'``

:func:`opens_block` says whether a line starts so (read as code, then judged);
:func:`compound` asks Python's parser (never running anything) what the statement is.
"""

from __future__ import annotations

import ast
import functools

from . import lexer as lx
from .codeend import parsed
from .lexer import IDENT as _IDENT
from .values import Schemas

__all__ = [
    "AFTER",
    "BEFORE",
    "DECORATOR",
    "GO_ON",
    "HEADER",
    "KEYWORDS",
    "WHOLE",
    "compound",
    "first_word",
    "opens_block",
]

# what a line of code starts with: a block's header, its kin, ``await``
_HEADERS = (
    "if", "for", "while", "with", "try", "def", "class", "async", "match", "await", "elif",
    "else", "except", "finally", "elseif", "elsif",
)  # fmt: skip
AFTER = " \t:([\"'"  # what follows one of them in code (``if(x)``, ``if"a"in s``)
GO_ON = ("elif", "else", "except", "finally")
BEFORE = {"elif": "if 1: pass\n", "else": "if 1: pass\n", "except": "try: pass\n"}
BEFORE["finally"] = BEFORE["except"]
KEYWORDS = frozenset(
    ("if", "for", "while", "with", "try", "def", "class", "async", "match", *GO_ON)
)
_COMPOUND = (
    ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef,
    ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith, ast.Match,
)  # fmt: skip
HEADER, WHOLE, DECORATOR = 1, 2, 3


_BY_FIRST: dict[str, tuple[str, ...]] = {}  # the header words by their first letter
for _word in _HEADERS:
    _BY_FIRST[_word[0]] = (*_BY_FIRST.get(_word[0], ()), _word)


def opens_block(data: str, at: int, schemas: Schemas | None, *, final: bool) -> bool | None:
    """``data[at:]``, at a line's start, begins as a block's header does (``if x:``,
    ``try:``, ``for(``), or with ``await`` or a decorator (``@retry``): its line is read as
    code, which Python's parser then judges; None while undecided. Only with tools
    declared: a block's calls are what it would hide."""
    if not schemas or at >= len(data):
        return False if final or at < len(data) else None
    if data[at] == "@":
        if at + 1 >= len(data):
            return False if final else None
        return data[at + 1] in _IDENT and not data[at + 1].isdigit()
    if data[at] == "}":  # a branch after a block's brace: ``} else {``, ``} catch (e) {``
        k = at
        while k < len(data) and k - at < 16 and data[k] in "} \t":
            k += 1
        if k >= len(data):
            return False if final else None
        return data[k] not in "}@ \t" and opens_block(data, k, schemas, final=final)
    if data.startswith("ca", at) or (not final and data[at:] == "c"):
        return _opens_catch(data, at, final)
    for word in _BY_FIRST.get(data[at], ()):
        end = at + len(word)
        if data.startswith(word, at) and end < len(data):
            if data[end] in AFTER:
                return True
        elif not final and word.startswith(data[at : at + len(word)]) and end >= len(data):
            return None
    return False


def _opens_catch(data: str, at: int, final: bool) -> bool | None:
    """``data[at:]`` begins as a ``catch`` clause does, before its ``(`` or ``{`` (``catch
    you later`` is a sentence); None while undecided."""
    end = at + len("catch")
    if not data.startswith("catch", at):
        return None if not final and "catch".startswith(data[at:]) else False
    k = end
    while k < len(data) and k - end < 4 and data[k] in " \t":
        k += 1
    if k >= len(data):
        return False if final else None
    return data[k] in "({"


@functools.lru_cache(maxsize=16)  # (a line read again as code is judged once)
def compound(code: str) -> int:
    """What the statement ``code`` is to Python's parser (parsed, never run): a block's
    header (:data:`HEADER`: ``if x:``, a comment after it, its condition over lines), a whole
    compound statement on its line (:data:`WHOLE`: ``if x: f()``, ``else: g()``), a
    decorator (:data:`DECORATOR`), or none (0: ``if you like, I can…``, ``match = 1``)."""
    s = code.strip(lx.WS)
    if s.startswith("@"):
        return DECORATOR if parsed(s + "\ndef f(): pass") is not None else 0
    word = first_word(s)
    if word not in KEYWORDS or ":" not in s:
        return 0  # (no parser needed: every compound statement has its ``:``)
    before = BEFORE.get(word, "")
    after = "\nfinally: pass" if word == "try" else ""
    body = "\n case _:\n  pass" if word == "match" else "\n pass" + after
    colon = s.endswith(":")
    if (colon or "#" in s) and _compound(before + s + body):
        return HEADER
    if (not colon or "#" in s) and _compound(before + s + after):
        return WHOLE
    return 0


def first_word(s: str) -> str:
    """The name ``s`` starts with, as far as a header's word goes (8 characters)."""
    j = 0
    while j < len(s) and j < 8 and s[j] in _IDENT:
        j += 1
    return s[:j]


def _compound(code: str) -> bool:
    tree = parsed(code)
    return tree is not None and isinstance(tree.body[-1] if tree.body else None, _COMPOUND)
