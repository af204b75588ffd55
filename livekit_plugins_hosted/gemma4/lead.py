"""Lines that lead, as a block's header would: a call under one never runs.

    leader := condition-word … [":" | "{" | " then" | " do"]     (lowercase, at a line start)
            | header-word … (":" | "{")  |  … ";" condition-word … ":"
    region := leader-ending-in-"{" line* "}"  |  "if" … " then" line* ("end" | "fi" | "endif")
    body   := leader-word … (mark | word) NAME "("   a declared call on its leader's line
                                                    (mark: ``{ ) then do , :``), lost

A leader leads the lines indented deeper than it (:func:`under`), and, ending as a header
does, the next line too; a block a ``{`` or ``then`` opened goes on to its close, at any
indentation (:func:`region`). Indentation is counted as Python counts it (:func:`columns`).
"""

from __future__ import annotations

import bisect

from . import lexer as lx
from .header import AFTER, HEADER, KEYWORDS, compound, first_word
from .lexer import IDENT as _IDENT

__all__ = [
    "CONDITIONS",
    "CONTINUES",
    "NAME_MAX",
    "Columns",
    "braces_after",
    "columns",
    "condition_call",
    "condition_line",
    "deeper",
    "indentation",
    "leading_word",
    "leads",
    "mid_header",
    "plural",
    "region",
    "starts_condition",
    "starts_name",
    "then_blocks",
    "uncommented_end",
    "under",
    "watches",
]

Columns = tuple[int, int]


def columns(lead: str, start: Columns = (0, 0)) -> Columns:
    """The column the spaces and tabs ``lead`` reach (from ``start``), a tab counted as one
    column and as reaching the next multiple of 8: Python compares indentation both ways
    (and refuses a block where they disagree), so a line is deeper than another if either
    says so."""
    one, eight = start
    for c in lead:
        one += 1
        eight = eight + 1 if c == " " else (eight // 8 + 1) * 8
    return one, eight


def indentation(line: str, start: Columns = (0, 0)) -> tuple[Columns, int]:
    """The columns ``line``'s leading spaces and tabs reach (from ``start``; a CRLF line's
    ``\r`` is blank, and counts nothing), and where its words begin."""
    k = 0
    while k < len(line) and line[k] in " \t\r":
        k += 1
    return (columns(line[:k].replace("\r", ""), start) if k else start), k


def deeper(a: Columns, b: Columns) -> bool:
    """A line indented to ``a`` is deeper than one at ``b``, as either count says."""
    return a[0] > b[0] or a[1] > b[1]


def under(lead: Columns, top: Columns | None, *, next_line: bool) -> bool:
    """A line indented to ``lead`` is under a line at ``top`` that led it: deeper, or the
    very next line (``next_line``) at its indentation, or where the two counts disagree
    (a tab against spaces: Python refuses such a block; its calls never run)."""
    if top is None:
        return False
    return deeper(lead, top) or (next_line and not (lead[0] < top[0] and lead[1] < top[1]))


# the words of a condition: a line of prose starting so (``if raining then``, ``else if
# sunny:``) leads the lines indented under it, and, ending as a header does, the very next
# line too; what follows it on its own line is under it (``if it rains, print(…)``)
CONDITIONS = frozenset(
    ("if", "elif", "else", "except", "elseif", "elsif", "catch", "unless", "when")
)
# other languages' headers: they lead as Python's do (``function later() {``)
_PSEUDO = frozenset(("function", "func", "fn", "foreach", "switch", "loop"))
_PAREN_ONLY = frozenset(("when", "unless"))  # conditions' words only before ``(``
_LEAD_AFTER = AFTER + "{"  # what follows such a word (``else{``)
# how a condition's line ends that leads the next one too (``if it rains,`` and ``else`` as
# well: the next statement is its body; ``if (a ||``: the condition goes on there)
_OPENED = (":", "{", " then", " do", ",", " else", "||", "&&")
_GOES_ON = (" and", " or", "(")  # a condition's line that ends so may go on on the next
CONTINUES = (*_GOES_ON, "&&", "||")
_MID_TRIED = 3  # the header words nearest a line's end tried as a header's start
_WATCHED = CONDITIONS | _PSEUDO  # a line starting so: a call after its condition is its body
_BODY_MARKS = ("{", ")", " then ", " do ", ",", ":")  # what ends a condition before its body
_SENTENCE_BREAKS = (". ", "! ", "? ")  # a sentence ends, another follows


def leads(head: str, tail: str) -> int:
    """What a line of prose leads, as a block's header would (its lines' calls are under a
    condition: they never run): 0 nothing; 1 the lines indented more than it; 2 those and
    the next line at its own indentation. A line starting with a condition's word,
    lowercase, leads 1 (``if raining then``), and 2 if it ends as a header does (``:``,
    ``{``, ``then``, ``do``: ``if (raining) {``, ``else if sunny:``), or as a condition
    whose body is the next statement (``)``, ``,``, ``else``: ``if (x)``, ``if it
    rains,``), a comment after it aside; one starting with another header's word (or
    another language's: ``function``, ``switch``…) leads 1 if it ends in ``:`` or ``{``
    (``for each city:``; not
    ``with pleasure!``, nor ``while we wait:`` the next line); one ending in a condition
    Python reads after a ``;`` leads 2 (``Okay; if rain:``; not ``Let me try something
    else:``). ``head`` is its start past its indentation, ``tail`` its end (its last 128
    characters at most)."""
    end = tail.rstrip(lx.WS)
    bare = uncommented_end(end)  # (a comment after ``{`` or ``then`` aside)
    word = _condition_word(head, end, end.endswith("{") or bare.endswith("{"))
    if word in CONDITIONS:
        opened = end.endswith(_OPENED) or end == word or bare.endswith(("{", " then"))
        if not opened and end.endswith(_GOES_ON):
            # (``if (raining and``, ``if raining or``: the condition goes on on the next
            # line; not ``if you want it, I will look it up and``)
            opened = end.count("(") > end.count(")") or "," not in end
        if not opened and end.endswith(")"):
            opened = _parenthesized(end, head, word)
        return 2 if opened else 1
    if word in KEYWORDS or word in _PSEUDO:
        if end.endswith(CONTINUES) and end.count("(") > end.count(")"):
            return 2  # (``while (retries and``: its condition goes on on the next line)
        return 1 if end.endswith((":", "{")) or bare.endswith("{") else 0
    return 2 if mid_header(end) else 0


def _condition_word(head: str, end: str, opens: bool) -> str:
    """The word the line (``head`` its start, ``end`` its end) leads with
    (:func:`leading_word`), ``when``/``unless`` with no ``(`` read as ``unless`` where
    the line is a condition's (:func:`_bare_condition`: ``unless raining then``, ``when
    raining:``)."""
    word = leading_word(head, opens)
    return "unless" if not word and _bare_condition(head, end) else word


def _bare_condition(head: str, end: str) -> bool:
    """The line (``head`` its start, ``end`` its end) starts with ``when`` or ``unless``
    and no ``(`` (``unless raining do``, ``when "rain"``), and reads as a condition, not a
    sentence: no comma on it (``when I checked, it was this:``) and no sentence's end at
    its end."""
    k = _closing(head)
    word = first_word(head[k:])
    if word not in _PAREN_ONLY or head[k + len(word) : k + len(word) + 1] not in ("", " ", "\t"):
        return False
    return "," not in end and not end.endswith(_SENTENCE_ENDS)


def _parenthesized(end: str, head: str, word: str) -> bool:
    """The condition's line (``head`` its start, ``end`` its end, the whole line if it is
    short) is ``word (…)`` and no more: ``if (x)``, its body the next statement (not ``if
    you need anything (just ask)``, nor ``if (x) f(…)``)."""
    line = end.lstrip(lx.WS + "}")
    if not line.startswith(word) or not head.lstrip("} \t").startswith(line[:8]):
        return False
    rest = line[len(word) :].lstrip(lx.WS)
    depth = 0
    for k, c in enumerate(rest):
        depth += (c == "(") - (c == ")")
        if depth == 0:
            return k == len(rest) - 1 and k > 0
    return False


# a block that a line opened with ``{`` (``if (raining) {``, ``} else {``, ``try {``) or
# ``then`` (``if raining then``) goes on, its lines at any indentation, to the ``}`` or
# ``end`` (``fi``, ``endif``) that closes it: a call in it is under that line
_CLOSERS = frozenset(("end", "fi", "endif"))
_COMMENTS = ("//", " #", "\t#", " --")  # a comment after a line's ``{`` or ``then``
_SENTENCE_ENDS = (".", "!", "?")
_LOOPS = frozenset(("while", "for"))  # a loop's header: its body may run or not
_THEN_WORDS = frozenset(("if", "unless"))  # a line starting so and ending ``then`` opens one
_PLURALS = ("es)", "ies)")  # after a name's ``(``: a plural, no call (``(s)`` is a name)
_BRACE_WORDS = frozenset(("else", "try", "do", "finally"))  # a ``{`` after one opens a block


def region(
    braces: int,
    ends: int,
    head: str,
    end: str,
    kind: int,
    led: bool,
    code: str = "",
    whole: int = 0,
    cont: bool = False,
) -> Columns:
    """The blocks still open after a line, that lines ending in ``{`` and ``then`` opened:
    ``braces`` and ``ends`` before it, ``head`` its start past its indentation, ``end`` its
    end, ``kind`` what it leads (:func:`leads`), ``led`` whether it is under a line that
    led it (``    cold) {`` under ``if (raining &&``; a ``{`` alone under ``if (x)``).
    Each ``}`` a line starts with closes one, as ``end`` (``fi``, ``endif``) does one
    ``then`` opened, and a sentence (a line of prose ending in ``.``, ``!`` or ``?``) each
    ``then`` opened (prose writes no ``end``); a line ending in ``{`` (a comment after it
    aside) inside such a block, under a leader or leading as a header does opens one, as a
    line starting with ``if`` and ending in ``then`` does. A line read as ``code`` (its
    whole text) opens and closes one at each brace outside its strings and comments
    (``} else { f(…) }``); a line of prose shorter than ``whole`` (so ``end`` is all of
    it) at each ``}`` no ``{`` on it opened. The counts are numbers, whatever the nesting: never
    capped, so never wrong past a cap."""
    opens = bool(braces or ends or kind or led)
    bare = uncommented_end(end)
    if code:
        braces = braces_after(code, braces, opens)
    else:
        plain = _code_part(end)  # (its quotes blanked, a ``//`` comment cut)
        if len(end) < whole:  # (the whole line: each ``}`` no ``{`` on it matched)
            word = leading_word(head, opens=True)  # (``try { a = 1;``: a header's line)
            header = word in _WATCHED or word in KEYWORDS
            braces = _prose_closes(plain, braces, opens or header)
        else:  # (its start's ``}``)
            braces = max(braces - head.count("}", 0, _closing(head)), 0)
        # (a comment's line opens none; one whose comment is closed on it, ``/* b */ if
        # (b) {``, does)
        note = head.startswith(("//", "#", "--", "*")) or (
            head.startswith("/*") and "*/" not in head and "*/" not in end
        )
        brace = bare.endswith("{") or (end.endswith("{") and plain.endswith("{"))
        if not note and brace and (opens or braces):
            braces += 1
    return braces, then_blocks(ends, head, end, kind, bool(code), cont)


def then_blocks(ends: int, head: str, end: str, kind: int, code: bool, cont: bool = False) -> int:
    """``ends`` (the blocks ``then`` opened) after a line (:func:`region`; ``code``: read
    as code; ``cont``: the line goes on with a condition, ``if raining and`` then ``cold
    then``)."""
    word = first_word(head)
    if word in _CLOSERS and (len(head) == len(word) or head[len(word)] not in _IDENT):
        return max(ends - 1, 0)
    opening = (word in _THEN_WORDS and kind) or cont
    if opening and uncommented_end(end).endswith(" then") and "," not in end:
        return ends + 1  # (``if you need more, ask me then`` is prose)
    if (
        ends
        and not code
        and not kind
        and end.endswith(_SENTENCE_ENDS)
        and not head.startswith(("#", "--", "//"))
    ):
        return 0  # (``if it helps we can plan then`` was prose: it ends here)
    return ends


def _closing(head: str) -> int:
    """Where the ``}`` (and spaces) a line's start ``head`` closes blocks with end."""
    return len(head) - len(head.lstrip("} \t"))


def _prose_closes(line: str, braces: int, opens: bool) -> int:
    """``braces`` after the ``}`` of a line of prose ``line`` (whole) that no ``{`` before
    it on the line opened (``go(); }``, ``} else {``; not ``{ a }``): its ``{`` open
    nothing mid-line (``if you type a { by mistake``, ``let s = "{";``), only at its end,
    unless the line leads or is in a block (``opens``) and the ``{`` follows what ends a
    header (``if (raining) { x = 1;``, ``} else { a = 2;``, ``try { a = 1;``): each such
    one no ``}`` on the line closes opens a block (its line's last ``{`` is counted
    apart, :func:`region`)."""
    stack: list[bool] = []  # the line's ``{`` so far, not closed: whether each opens
    # (the ``{`` its end is: ``if (x) {``, ``if (x) { // wet``)
    end = line.rstrip(lx.WS)
    last = len(end if end.endswith("{") else uncommented_end(end).rstrip(lx.WS)) - 1
    for k, c in enumerate(line):
        if c == "{":
            stack.append(opens and k != last and _after_header(line, k))
        elif c == "}":
            if stack:
                stack.pop()
            else:
                braces = max(braces - 1, 0)
    return braces + sum(stack)


def _after_header(line: str, k: int) -> bool:
    """The ``{`` at ``line[k]`` follows a header's end: a ``)``, or ``else``, ``try``,
    ``do`` or ``finally`` (spaces between)."""
    j = k
    while j > 0 and line[j - 1] in " \t":
        j -= 1
    if j > 0 and line[j - 1] == ")":
        return True
    i = j
    while i > 0 and j - i < 8 and line[i - 1] in _IDENT:
        i -= 1
    return line[i:j] in _BRACE_WORDS and (i == 0 or line[i - 1] not in _IDENT)


def uncommented_end(end: str) -> str:
    """A line's end ``end`` without the comment after its code (``if (x) { // wet``)."""
    for mark in _COMMENTS:
        k = end.find(mark)
        if k >= 0:
            end = end[:k]
    return end.rstrip(lx.WS)


def braces_after(code: str, braces: int, opens: bool) -> int:
    """``braces`` after the lines of code ``code``: each ``}`` closes one, each ``{`` opens
    one (if ``opens``, or one is open); those in its strings (``<|"|>…<|"|>``, triple
    quotes and template literals over lines, quotes to their line's end) and comments
    (``#``, ``//``, to their line's end) are text."""
    if "{" not in code and "}" not in code:
        return braces
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c == "<" and code.startswith(lx.QUOTE_TOKEN, i):
            k = code.find(lx.QUOTE_TOKEN, i + len(lx.QUOTE_TOKEN))
            i = n if k < 0 else k + len(lx.QUOTE_TOKEN)
            continue
        if c in "\"'`":
            quote = code[i : i + 3] if code.startswith(c * 3, i) else c
            i += len(quote)
            while i < n and not code.startswith(quote, i):
                if code[i] == "\n" and len(quote) == 1 and c != "`":
                    break  # (a one-line string ends with its line)
                i += 2 if code[i] == "\\" else 1
            i += len(quote)
            continue
        if c == "#" or code.startswith("//", i):
            k = code.find("\n", i)
            i = n if k < 0 else k
            continue
        if c == "}":
            braces = max(braces - 1, 0)
        elif c == "{" and (opens or braces):
            braces += 1
        i += 1
    return braces


def leading_word(head: str, opens: bool = False) -> str:
    """The header's or condition's word ``head`` starts with, past the ``}`` that closes a
    block before a branch (``} else {``), as code goes on after it (``else{``, ``if(``);
    ``""`` if none. ``catch`` counts only after a ``}``, before ``(`` or on a line that
    ``opens`` a brace (``catch (e) {``; ``catch you later`` is a sentence); ``when`` and
    ``unless`` only before ``(``."""
    k = _closing(head)
    braced = "}" in head[:k]
    head = head[k:] if braced else head
    word = first_word(head)
    if word == "catch" and not (braced or opens or head.startswith(("catch (", "catch("))):
        return ""
    if word in _PAREN_ONLY and not head[len(word) :].lstrip(" \t").startswith("("):
        return ""  # (``when I checked, …`` is a sentence; ``when (x) {`` is not)
    return word if len(head) == len(word) or head[len(word)] in _LEAD_AFTER else ""


def watches(head: str, *, whole: bool) -> bool | None:
    """A line starting ``head`` (past its indentation; ``whole``: all of its start there is)
    starts with a condition's or a header's word (``if``, ``} else``, ``when (``,
    ``function``, ``while``): a declared tool's call later on it may be that header's body
    (:func:`condition_call`). None while its first word may still go on."""
    k = _closing(head)
    if k < len(head) and not ("a" <= head[k] <= "z"):
        return False  # (every such word is lowercase: ``The``, ``1.``, ``-`` start none)
    j = k
    while j < len(head) and head[j] in _IDENT:
        j += 1
    if not whole and (j == len(head) or (head[k:j] in _PAREN_ONLY and not head[j:].strip())):
        return None  # (``functio`` so far; ``when `` before its ``(`` or not)
    word = leading_word(head, opens=True) or first_word(head[k:])
    return word in _WATCHED or word in KEYWORDS


def condition_call(head: str, before: str) -> bool:
    """A declared tool's call written as code (no space before its ``(``) after ``before``,
    on a line that starts with ``head`` (:func:`watches`), is its condition's or header's
    code, as code writes one (``if search(…) {``, ``else wire_money(…)``, ``if the
    caller is in Paris, then get_weather(…)``, ``function go() { end_call() }``): right
    after a condition's word (and ``(`` or ``!``), or past what ends a condition (``{``,
    ``)``, ``then``, ``do``, ``,``, ``:``; after a header's word that is no condition's, a
    ``{``) with no sentence's end before it (``if you like, I can check. get_weather(…)``
    is a sentence, then a word; the quoted text in it aside: ``say("Sure. Paying.")``).
    ``before`` holds the line's end as far as it is kept; its start is in ``head``."""
    text = (head, before)
    word = _condition_word(head, before.rstrip(lx.WS), any("{" in part for part in text))
    if word not in _WATCHED and word not in KEYWORDS:
        return False
    line = before.lstrip("} \t")
    if (word in CONDITIONS or word == "while") and line.startswith(word):
        rest = line[len(word) :].lstrip(" \t")
        if word == "else" and rest.startswith("if") and rest[2:3] in " \t(":
            rest = rest[2:]  # (``} else if search(…) {``)
        if not rest.strip(" \t(!"):
            return True
    plain = [_unquoted(part) for part in text]
    marks = _BODY_MARKS if word in _WATCHED else ("{",)
    marked = any(mark in part for part in plain for mark in marks)
    return marked and not any(_breaks(part) for part in plain)


def plural(text: str, at: int) -> bool | None:
    """``text[at:]``, after a name's ``(``, makes it a plural (``search(es)``), a word;
    None while what came may still be one (``search(s)`` is a call: ``s`` is a name)."""
    rest = text[at : at + 4]
    if rest.startswith(_PLURALS):
        return True
    return None if len(rest) < 4 and any(p.startswith(rest) for p in _PLURALS) else False


NAME_MAX = 64  # the longest start of a declared tool's name held or walked back over


def starts_name(names: tuple[str, ...], word: str) -> bool:
    """``word`` begins one of the sorted ``names``."""
    k = bisect.bisect_left(names, word)
    return k < len(names) and names[k].startswith(word)


def _unquoted(text: str) -> str:
    """``text`` with what its quotes hold blanked, its length kept (``"…"``,
    ``<|"|>…<|"|>``, and ``'…'`` not after a letter: ``it's`` is no quote); a quote its
    text never closes stays."""
    if '"' not in text and "'" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        quote = lx.QUOTE_TOKEN if text.startswith(lx.QUOTE_TOKEN, i) else c
        word = c == "'" and i > 0 and text[i - 1] in _IDENT  # (an apostrophe: ``it's``)
        if quote == lx.QUOTE_TOKEN or c == '"' or (c == "'" and not word):
            k = text.find(quote, i + len(quote))
            if k >= 0:
                out.append(" " * (k + len(quote) - i))
                i = k + len(quote)
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _code_part(line: str) -> str:
    """A line's ``line`` code: what its quotes hold blanked, and a ``//`` comment after it
    cut off (``let s = "}";``, ``a = 1  // see {``; not ``http://``)."""
    plain = _unquoted(line)
    k = plain.find("//")
    while k > 0 and plain[k - 1] == ":":  # (``http://``: no comment)
        k = plain.find("//", k + 2)
    return (plain[:k] if k >= 0 else plain).rstrip(lx.WS)


def _breaks(text: str) -> bool:
    """A sentence ends in ``text`` and another follows (``. ``, ``! ``, ``? ``; not the
    ``?`` of a conditional expression, ``big ? 10 : 5``)."""
    for mark in _SENTENCE_BREAKS:
        k = text.find(mark)
        while k >= 0:
            if mark[0] != "?" or ":" not in text[k:]:
                return True
            k = text.find(mark, k + 1)
    return False


def condition_line(head: str, end: str) -> bool:
    """The line so far (``head`` its start, ``end`` its end) is a condition's or a loop's
    header with its body to come on it: ``when approved:`` (no ``(``, no comma), ``while
    waiting:`` or ``for x in y:`` as Python's parser reads a header (not ``for example:``,
    ``while you wait:``; nor ``try:`` or ``with …:``, whose bodies run whatever happens)."""
    if not end.endswith(":"):
        return False
    if _bare_condition(head, end):
        return True
    whole = end.startswith(head) or head.startswith(end)  # (the line is all in ``end``)
    return leading_word(head) in _LOOPS and whole and compound(end) == HEADER


def starts_condition(head: str) -> bool:
    """The line ``head`` starts (past its indentation) with a condition's word, lowercase
    (``if it rains, …``)."""
    return leading_word(head) in CONDITIONS


def mid_header(text: str) -> bool:
    """``text`` ends in ``:`` and, from a condition's word after a ``;`` (a statement's end,
    as code writes it), reads as a header: ``Okay; if rain:``."""
    if not text.endswith(":"):
        return False
    found = []
    for word in CONDITIONS:
        k = text.find(word)
        while k >= 0:
            end = k + len(word)
            if end < len(text) and text[end] in AFTER and _after_semicolon(text, k):
                found.append(k)
            k = text.find(word, end)
    found.sort()
    return any(compound(text[k:]) == HEADER for k in found[-_MID_TRIED:])


def _after_semicolon(text: str, k: int) -> bool:
    """``text[k]`` follows a ``;`` and spaces (up to 8)."""
    j = k - 1
    while j >= 0 and k - j <= 8 and text[j] in " \t":
        j -= 1
    return j >= 0 and text[j] == ";"
