"""``livekit-hosted models``: the catalogue, the model families, and which family an id matches."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Sequence
from typing import Any

from ..models import (
    FAMILIES,
    LOCAL_MODEL_ID,
    MATCHING_RULE,
    ModelInfo,
    ThinkingFormat,
    family_of,
    get_model,
)
from ..models import list_models as catalogue
from ..params import PARAMETER_NAMES, ModelParams

HELP = "list the model catalogue and the model families"
DESCRIPTION = (
    "The model catalogue (id, family, tool support, where it runs, the parameters sent for it), "
    "then the model families a self-hosted model id is recognised by. --match ID says which "
    "family an id belongs to."
)

MATCHING = (
    f"{MATCHING_RULE} Examples: google/gemma-4-31B-it, gemma4:31b and "
    "unsloth/gemma-4-31b-it-GGUF:Q4_K_M are all Gemma 4. The family decides which thinking "
    "markers are kept out of the reply; an id of no known family gets the generic ones, and "
    "the markers of every family are removed from any model's reply."
)
"""How an id is matched (see ``models.py``'s module docstring)."""


def configure(parser: argparse.ArgumentParser) -> None:
    """The ``models`` options."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--match",
        metavar="ID",
        help="print the family any model id matches (e.g. gemma4:31b) and its thinking markers",
    )


def _supported(info: ModelInfo) -> list[str]:
    # in the reference's order, which is the order users read in the README
    return [n for n in ModelParams.model_fields if n in PARAMETER_NAMES and not info.drops(n)]


def _where(info: ModelInfo) -> str:
    if info.hosted:
        return "hosted"
    return "local" if info.id == LOCAL_MODEL_ID else "self-hosted"


def _markers(thinking: ThinkingFormat | None) -> str:
    return ", ".join(f"{start} ... {end}" for start, end in thinking or ())


def _table(rows: Sequence[Sequence[str]]) -> None:
    """Aligned columns; the last one is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


def _family_rows() -> list[dict[str, Any]]:
    return [
        {"key": f.key, "name": f.name, "thinking": [list(pair) for pair in f.thinking]}
        for f in FAMILIES
    ]


def _match(model_id: str, as_json: bool) -> int:
    family = family_of(model_id)
    # the catalogue's entry if there is one, else what the family says: what LLM(model) uses
    thinking = get_model(model_id).thinking
    if as_json:
        match = next((f for f in _family_rows() if family and f["key"] == family.key), None)
        out = {"id": model_id, "family": match, "thinking": [list(p) for p in thinking or ()]}
        print(json.dumps(out, indent=2))
        return 0
    found = f"{family.name} ({family.key})" if family else "no known family (generic thinking)"
    print(f"{model_id}: {found}")
    print(f"thinking markers: {_markers(thinking)}")
    return 0


async def run(args: argparse.Namespace) -> int:
    """Print the catalogue and the families, or the family of ``--match``."""
    if args.match is not None:
        return _match(args.match, args.json)
    models = catalogue()
    if args.json:
        rows = [
            {
                "id": m.id,
                "family": m.family,
                "tools": m.supports_tools,
                "where": _where(m),
                "parameters": _supported(m),
            }
            for m in models
        ]
        print(json.dumps({"models": rows, "families": _family_rows()}, indent=2))
        return 0
    tools = {True: "yes", False: "no"}
    _table(
        [
            ("ID", "FAMILY", "TOOLS", "WHERE", "PARAMETERS"),
            *(
                (m.id, m.family, tools[m.supports_tools], _where(m), ", ".join(_supported(m)))
                for m in models
            ),
        ]
    )
    print()
    _table(
        [("FAMILY KEY", "NAME", "THINKING MARKERS")]
        + [(f.key, f.name, _markers(f.thinking)) for f in FAMILIES]
    )
    print()
    print(textwrap.fill(MATCHING, 100))
    print(f"Check an id with: {args.prog} models --match ID")
    return 0
