"""How the migration linter reads SQL: statements split on their ``;`` (never inside a
string, comment or dollar quote), the index DDL in each, and the session's state
(transaction blocks, ``SET``/``SET LOCAL``/``RESET`` of the timeouts) as PostgreSQL would
follow it. The rules themselves are in :mod:`core.migrate.lint`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from vecscope.core.errors import BadInputError
from vecscope.core.sqlscan import Token, tokenize

#: pgvector's access methods: both default to an L2 operator class when none is named.
_VECTOR_METHODS = frozenset({"hnsw", "ivfflat"})


# --- statements --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScannedStatement:
    """One statement's significant tokens (no spaces, comments or final ``;``)."""

    sql: str
    toks: tuple[Token, ...]

    @property
    def text(self) -> str:
        return self.sql[self.toks[0].start : self.toks[-1].end]

    @property
    def words(self) -> list[str]:
        """Upper-cased bare words; anything else is ``""`` so positions line up."""
        return [_word(t) for t in self.toks]

    def source(self, a: int, b: int) -> str:
        """The text of tokens ``a..b`` inclusive."""
        return self.sql[self.toks[a].start : self.toks[b].end]


def _word(t: Token) -> str:
    return t.text.upper() if t.kind == "word" else ""


def _is(t: Token, text: str) -> bool:
    return t.kind in ("punct", "op") and t.text == text


def _folded(t: Token) -> str:
    """A name as PostgreSQL compares it: bare words fold to lower case, quoted ones do not."""
    if t.kind == "ident" and t.text.startswith('"'):
        return t.text[1:-1].replace('""', '"')
    return t.text.lower()


_META_COMMAND = re.compile(r"^[ \t]*\\[^\n]*", re.MULTILINE)


def _without_meta_commands(sql: str) -> str:
    """Blank out psql meta-commands (``\\d t``), which migration notes mix with SQL.

    A line starting with a backslash is a meta-command when the text before it lexes on
    its own; otherwise the line is inside a string, comment or dollar quote and stays.
    Offsets are kept, so statements still point into the text as written.
    """
    out = sql
    for m in _META_COMMAND.finditer(sql):
        try:
            tokenize(out[: m.start()])
        except BadInputError:
            continue
        out = out[: m.start()] + " " * (m.end() - m.start()) + out[m.end() :]
    return out


def split(sql: str) -> list[ScannedStatement]:
    """Statements of ``sql`` in order, split at ``;`` as psql does.

    Like psql, a ``;`` inside the ``BEGIN ATOMIC ... END`` body of a SQL-standard function
    does not end the ``CREATE FUNCTION``.
    """
    out: list[ScannedStatement] = []
    current: list[Token] = []
    atomic = 0
    for t in tokenize(_without_meta_commands(sql)):
        if t.kind in ("space", "comment"):
            continue
        word = _word(t)
        head = [_word(x) for x in current[:4]]
        if "FUNCTION" in head or "PROCEDURE" in head:
            if word == "BEGIN" or (word == "CASE" and atomic):
                atomic += 1
            elif word == "END" and atomic:
                atomic -= 1
        if _is(t, ";") and not atomic:
            if current:
                out.append(ScannedStatement(sql, tuple(current)))
            current = []
            continue
        current.append(t)
    if current:
        out.append(ScannedStatement(sql, tuple(current)))
    return out


def _close(toks: Sequence[Token], k: int) -> int:
    """Index of the bracket closing the one at ``k`` (the last token if it never closes)."""
    depth = 0
    for j in range(k, len(toks)):
        if _is(toks[j], "(") or _is(toks[j], "["):
            depth += 1
        elif _is(toks[j], ")") or _is(toks[j], "]"):
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _path_end(toks: Sequence[Token], k: int) -> int:
    """Last token of the dotted name ``a.b."C"`` starting at ``k``."""
    while k + 2 < len(toks) and _is(toks[k + 1], ".") and toks[k + 2].kind in ("word", "ident"):
        k += 2
    return k


# --- what a DDL statement does -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ddl:
    """The facts the rules need about one index or table DDL statement."""

    what: str  # CREATE INDEX, DROP INDEX, ALTER INDEX, REINDEX, ALTER TABLE
    concurrently: bool = False
    #: ``IF [NOT] EXISTS``.
    guarded: bool = False
    named: bool = True
    rename: bool = False
    table: str | None = None
    method: str | None = None
    #: Indexed columns or expressions that name no operator class, as written.
    bare_keys: tuple[str, ...] = field(default=())
    #: The index's name as PostgreSQL folds it, without its schema (the first one a DROP
    #: names).
    name: str | None = None
    #: ``CREATE INDEX ... ON ONLY``: a partitioned table's index, made without building.
    only: bool = False
    #: ``ALTER INDEX name ATTACH PARTITION``: ``name`` is a partitioned index.
    attach: bool = False


def ddl_of(st: ScannedStatement) -> Ddl | None:
    w = st.words + ["", "", "", ""]
    if w[0] == "CREATE" and "INDEX" in (w[1], w[2]) and w[1] in ("INDEX", "UNIQUE"):
        return _create_index(st, 3 if w[1] == "UNIQUE" else 2)
    if w[:2] == ["DROP", "INDEX"]:
        concurrently = w[2] == "CONCURRENTLY"
        k = 3 if concurrently else 2
        guarded = w[k : k + 2] == ["IF", "EXISTS"]
        name = _name_at(st, k + 2 if guarded else k)
        return Ddl("DROP INDEX", concurrently, guarded=guarded, name=name)
    if w[:2] == ["ALTER", "INDEX"]:
        guarded = w[2:4] == ["IF", "EXISTS"]
        attach = any(w[k : k + 2] == ["ATTACH", "PARTITION"] for k in range(len(w) - 1))
        return Ddl(
            "ALTER INDEX",
            guarded=guarded,
            rename="RENAME" in w,
            name=_name_at(st, 4 if guarded else 2),
            attach=attach,
        )
    if w[:2] == ["ALTER", "TABLE"]:
        return Ddl("ALTER TABLE")
    if w[0] == "REINDEX":
        return Ddl("REINDEX", _reindex_concurrently(st))
    return None


def _name_at(st: ScannedStatement, k: int) -> str | None:
    """The (last part of the) dotted name starting at token ``k``, folded."""
    if k >= len(st.toks) or st.toks[k].kind not in ("word", "ident"):
        return None
    return _folded(st.toks[_path_end(st.toks, k)])


def _reindex_concurrently(st: ScannedStatement) -> bool:
    """``REINDEX INDEX CONCURRENTLY x`` or, from PostgreSQL 14, ``REINDEX (CONCURRENTLY) ...``."""
    toks, w = st.toks, st.words
    for k in range(1, len(toks)):
        if w[k] == "CONCURRENTLY":
            after = toks[k + 1].text.strip("'").upper() if k + 1 < len(toks) else ""
            return after not in ("FALSE", "OFF", "0", "NO")
        if w[k] in ("INDEX", "TABLE", "SCHEMA", "DATABASE", "SYSTEM") and not _in_parens(toks, k):
            return k + 1 < len(toks) and w[k + 1] == "CONCURRENTLY"
    return False


def _in_parens(toks: Sequence[Token], k: int) -> bool:
    depth = sum(1 if _is(t, "(") else -1 if _is(t, ")") else 0 for t in toks[:k])
    return depth > 0


def _create_index(st: ScannedStatement, k: int) -> Ddl:
    toks, n = st.toks, len(st.toks)
    w = st.words + [""] * 4
    concurrently = w[k] == "CONCURRENTLY"
    k += concurrently
    guarded = w[k : k + 3] == ["IF", "NOT", "EXISTS"]
    k += 3 if guarded else 0
    named = w[k] != "ON"
    name = _name_at(st, k) if named else None
    k += 1 if named else 0
    k += 1  # ON
    only = w[k] == "ONLY"
    k += 1 if only else 0
    table = None
    if k < n:
        k = _path_end(toks, k)
        table = _folded(toks[k])
        k += 1
    method = None
    if w[k] == "USING" and k + 1 < n:
        method = _folded(toks[k + 1])
        k += 2
    bare: list[str] = []
    if method in _VECTOR_METHODS and k < n and _is(toks[k], "("):
        end = _close(toks, k)
        for a, b in _elements(toks, k + 1, end - 1):
            if not _has_opclass(toks, a, b):
                bare.append(st.source(a, b))
    return Ddl(
        "CREATE INDEX",
        concurrently,
        guarded,
        named,
        table=table,
        method=method,
        bare_keys=tuple(bare),
        name=name,
        only=only,
    )


def _elements(toks: Sequence[Token], a: int, b: int) -> list[tuple[int, int]]:
    """Comma-separated token ranges between ``a`` and ``b`` inclusive, at the top level."""
    out: list[tuple[int, int]] = []
    depth, start = 0, a
    for k in range(a, b + 1):
        if _is(toks[k], "(") or _is(toks[k], "["):
            depth += 1
        elif _is(toks[k], ")") or _is(toks[k], "]"):
            depth -= 1
        elif depth == 0 and _is(toks[k], ","):
            out.append((start, k - 1))
            start = k + 1
    out.append((start, b))
    return [(x, y) for x, y in out if x <= y]


def _has_opclass(toks: Sequence[Token], a: int, b: int) -> bool:
    """Whether an index element ``key [COLLATE c] [opclass] [ASC|DESC] [NULLS ...]`` names
    an operator class."""
    end = b
    while end > a:
        if _word(toks[end]) in ("ASC", "DESC"):
            end -= 1
        elif _word(toks[end]) in ("FIRST", "LAST") and _word(toks[end - 1]) == "NULLS":
            end -= 2
        else:
            break
    if _is(toks[a], "("):
        k = _close(toks, a)  # an expression
    else:
        k = _path_end(toks, a)
        if k + 1 <= end and _is(toks[k + 1], "("):
            k = _close(toks, k + 1)  # a function call
    if k + 1 <= end and _word(toks[k + 1]) == "COLLATE":
        k = _path_end(toks, k + 2) if k + 2 <= end else end
    return k < end


# --- the session the statements run in ---------------------------------------------------


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*[a-zA-Z]*\s*$")


def _value_kind(toks: Sequence[Token]) -> str:
    """``zero``, ``default`` or ``set`` for the value of a SET or set_config."""
    if len(toks) == 1 and _word(toks[0]) == "DEFAULT":
        return "default"
    if len(toks) == 1 and toks[0].kind in ("number", "string"):
        text = toks[0].text
        if toks[0].kind == "string":
            text = text[1:-1] if text.startswith("'") else ""
        m = _DURATION.match(text)
        if m is not None and float(m.group(1)) == 0:
            return "zero"
    return "set"


_WATCHED = ("lock_timeout", "statement_timeout")


def _assignments(st: ScannedStatement) -> list[tuple[str, bool, str]]:
    """What a statement does to the watched settings: (name, local?, value kind)."""
    toks, w = st.toks, st.words + ["", "", ""]
    if w[0] == "SET":
        k = 2 if w[1] in ("SESSION", "LOCAL") else 1
        if k < len(toks) and _folded(toks[k]) in _WATCHED:
            value = list(toks[k + 1 :])
            if value and (_is(value[0], "=") or _word(value[0]) == "TO"):
                value = value[1:]
            return [(_folded(toks[k]), w[1] == "LOCAL", _value_kind(value))]
        return []
    if (w[0] == "RESET" and len(toks) > 1) or w[:2] == ["DISCARD", "ALL"]:
        every = w[1] == "ALL"
        return [(name, False, "default") for name in _WATCHED if every or _folded(toks[1]) == name]
    out: list[tuple[str, bool, str]] = []
    for k in range(len(toks) - 1):
        if _folded(toks[k]) == "set_config" and _is(toks[k + 1], "("):
            end = _close(toks, k + 1)
            args = _elements(toks, k + 2, end - 1)
            if len(args) != 3 or args[0][0] != args[0][1] or toks[args[0][0]].kind != "string":
                continue
            name = toks[args[0][0]].text.strip("'").lower()
            local = _word(toks[args[2][0]]) == "TRUE" or toks[args[2][0]].text == "'t'"
            if name in _WATCHED:
                setting = toks[args[1][0] : args[1][1] + 1]
                out.append((name, local, _value_kind(setting)))
    return out


class Session:
    """What PostgreSQL would know about the session at each statement of the text."""

    __slots__ = ("block", "saved", "values", "local", "new_tables", "partitioned")

    def __init__(self) -> None:
        self.block = False
        #: Session-level values: lock_timeout is set (non-zero), statement_timeout is 0.
        self.values = {"lock_timeout": False, "statement_timeout": False}
        #: SET LOCAL values, which end with the transaction block.
        self.local: dict[str, bool] = {}
        #: Session values when the block began: a ROLLBACK undoes SETs made inside it.
        self.saved: dict[str, bool] = dict(self.values)
        #: Tables this text creates: nobody else can be using them yet.
        self.new_tables: set[str] = set()
        #: Partitioned indexes (folded names): made ON ONLY, attached to, or named by
        #: the caller. PostgreSQL drops them only without CONCURRENTLY.
        self.partitioned: set[str] = set()

    def has(self, name: str) -> bool:
        return self.local.get(name, self.values[name])

    def apply(self, st: ScannedStatement) -> None:
        w = st.words + ["", "", "", ""]
        if w[0] == "BEGIN" or w[:2] == ["START", "TRANSACTION"]:
            if not self.block:
                self.block, self.saved = True, dict(self.values)
        elif (w[0] in ("COMMIT", "END") and w[1] != "PREPARED") or w[:2] == [
            "PREPARE",
            "TRANSACTION",
        ]:
            self._end(commit=True, chain=_chains(w))
        elif w[0] in ("ROLLBACK", "ABORT") and "TO" not in w[1:3] and w[1] != "PREPARED":
            self._end(commit=False, chain=_chains(w))
        elif w[0] == "CREATE" and "TABLE" in w[1:4]:
            k = w.index("TABLE", 1) + 1
            if w[k : k + 3] != ["IF", "NOT", "EXISTS"] and k < len(st.toks):
                self.new_tables.add(_folded(st.toks[_path_end(st.toks, k)]))
        for name, local, kind in _assignments(st):
            on = kind != "default" and (kind == "zero") == (name == "statement_timeout")
            if not local:
                self.values[name] = on
                self.local.pop(name, None)
            elif self.block:
                self.local[name] = on
            # SET LOCAL outside a transaction block has no effect (PostgreSQL warns).

    def _end(self, *, commit: bool, chain: bool) -> None:
        self.local.clear()
        if self.block and not commit:
            self.values = dict(self.saved)
        self.block = self.block and chain
        self.saved = dict(self.values)


def _chains(w: Sequence[str]) -> bool:
    """``COMMIT AND CHAIN`` starts a new transaction block at once."""
    return "CHAIN" in w and w[w.index("CHAIN") - 1] != "NO"
