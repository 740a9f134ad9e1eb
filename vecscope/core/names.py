"""One parser for the names the user types (``--table``, ``--index``, ``--column``): as in
SQL, unquoted parts are folded to lower case and double-quoted parts are taken as written
(``search."Product Embeddings".Embedding`` -> ``search``, ``Product Embeddings``,
``embedding``), read with the same tokenizer as the plan doctor's SQL.
"""

from __future__ import annotations

from vecscope.core import sqlscan
from vecscope.core.errors import BadInputError


def parse_name(text: str, parts: int, flag: str, shape: str) -> tuple[str | None, ...]:
    """Split a dotted SQL name into ``parts`` parts, leading ones ``None`` when left out
    (``idx`` -> ``(None, "idx")`` for two parts); at most ``parts``, at least the last.

    Raises:
        BadInputError: Not a dotted name of at most that many parts (``shape`` says which).
    """
    tokens = [t for t in sqlscan.tokenize(text) if t.kind not in ("space", "comment")]
    names: list[str] = []
    expect_name = True
    for t in tokens:
        if expect_name and t.kind == "ident":
            names.append(t.text[1:-1].replace('""', '"'))
        elif expect_name and t.kind == "word":
            names.append(t.text.lower())
        elif not expect_name and t.text == ".":
            pass
        else:
            raise BadInputError(f"{flag} {text!r}: give {shape} (quote names as in SQL)")
        expect_name = not expect_name
    if not names or expect_name or len(names) > parts:
        raise BadInputError(f"{flag} {text!r}: give {shape} (quote names as in SQL)")
    return (None,) * (parts - len(names)) + tuple(names)
