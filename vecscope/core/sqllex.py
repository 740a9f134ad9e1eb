"""PostgreSQL's lexical rules, for the plan doctor's scanner and the migration linter.

Strings (with every quoting PostgreSQL has, dollar quoting included), quoted identifiers,
nested block comments, parameters, numbers, words, operators (cut as the server cuts them)
and punctuation; whitespace and comments are tokens too, so the tokens give the text back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

from vecscope.core.errors import BadInputError

#: What a token is.
TokenKind = Literal["word", "ident", "string", "number", "param", "op", "punct", "comment", "space"]

_OP_SPECIAL = frozenset("~!@#%^&|`?")

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*)
  | (?P<string>[eE]'(?:[^'\\]|\\.|'')*'|(?:[bBxXnN]|[uU]&)?'(?:[^']|'')*')
  | (?P<ident>(?:[uU]&)?"(?:[^"]|"")*")
  | (?P<param>\$[0-9]+)
  | (?P<number>0[xXoObB]\w+|(?:[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)
  | (?P<word>[^\W\d][\w$]*)
  | (?P<op>::|[-+*/<>=~!@\#%^&|`?]+)
  | (?P<punct>[(),;\[\].:])
    """,
    re.VERBOSE | re.DOTALL,
)
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token; ``sql[start:end] == text``."""

    kind: TokenKind
    text: str
    start: int
    end: int


# --- lexing ------------------------------------------------------------------------------


def _block_comment_end(sql: str, i: int) -> int:
    """End of the block comment at ``i``: PostgreSQL's block comments nest."""
    level, j = 0, i
    while j < len(sql):
        pair = sql[j : j + 2]
        level += 1 if pair == "/*" else -1 if pair == "*/" else 0
        j += 2 if pair in ("/*", "*/") else 1
        if level == 0:
            return j
    raise BadInputError(f"unterminated comment starting at offset {i}")


def _operator_length(run: str) -> int:
    """PostgreSQL's rule: stop where a comment starts; drop trailing + and - unless the run
    holds one of ``~ ! @ # % ^ & | ` ?`` (so ``*-1`` is ``*`` then ``-``)."""
    cut = min((k for k in (run.find("--", 1), run.find("/*", 1)) if k > 0), default=len(run))
    run = run[:cut]
    if not _OP_SPECIAL.intersection(run):
        while len(run) > 1 and run[-1] in "+-":
            run = run[:-1]
    return len(run)


def tokenize(sql: str) -> list[Token]:
    """Split SQL into tokens by PostgreSQL's lexical rules, keeping whitespace and comments.

    Args:
        sql: Any SQL text.

    Returns:
        Tokens covering the whole text in order; joining their ``text`` gives ``sql`` back.

    Raises:
        BadInputError: An unterminated string, quoted identifier or comment, or a character
            SQL has no use for.
    """
    tokens: list[Token] = []
    i = 0
    while i < len(sql):
        if sql.startswith("/*", i):
            kind, j = "comment", _block_comment_end(sql, i)
        elif (tag := _DOLLAR_TAG.match(sql, i)) is not None:
            close = sql.find(tag.group(), tag.end())
            if close < 0:
                raise BadInputError(f"unterminated dollar-quoted string starting at offset {i}")
            kind, j = "string", close + len(tag.group())
        elif (m := _TOKEN.match(sql, i)) is not None and m.lastgroup is not None:
            kind, j = m.lastgroup, m.end()
            if kind == "op":
                j = i + _operator_length(m.group())
        elif sql[i] in "'\"":
            what = "string literal" if sql[i] == "'" else "quoted identifier"
            raise BadInputError(f"unterminated {what} starting at offset {i}")
        else:
            raise BadInputError(f"not a SQL query: unexpected character {sql[i]!r} at offset {i}")
        tokens.append(Token(cast(TokenKind, kind), sql[i:j], i, j))
        i = j
    return tokens
