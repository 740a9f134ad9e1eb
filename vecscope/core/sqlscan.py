"""A small PostgreSQL structure scanner for the plan doctor (the lexer is :mod:`.sqllex`).

The plan doctor runs the user's own query under EXPLAIN, so it must refuse statements that
write before adding ANALYZE, find the nearest-neighbour orderings (pgvector distance
operators in ORDER BY) and rewrite them as fixes, byte for byte around the change. A regular
expression over the whole query breaks on strings, comments and dollar quoting, and a full
parser is far more than this needs: so, PostgreSQL's lexical rules, then brackets and a few
keywords.
"""

from __future__ import annotations

from dataclasses import dataclass

from vecscope.core.errors import BadInputError
from vecscope.core.sqllex import Token, TokenKind, tokenize

__all__ = [
    "VECTOR_OPERATORS",
    "KnnOrdering",
    "StatementInfo",
    "Token",
    "TokenKind",
    "classify",
    "has_distance_operator",
    "knn_orderings",
    "limit_value",
    "rewrite_ordering",
    "strip_explain",
    "tokenize",
]

#: pgvector's distance operators: L2, cosine, negative inner product, L1, Hamming, Jaccard.
VECTOR_OPERATORS: tuple[str, ...] = ("<->", "<=>", "<#>", "<+>", "<~>", "<%>")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_READS = _words("SELECT WITH VALUES TABLE")
_DML = _words("INSERT UPDATE DELETE MERGE")
#: Words that start a PostgreSQL statement: text starting with anything else is not SQL.
_STATEMENTS = (
    _READS
    | _DML
    | _words(
        "ABORT ALTER ANALYZE ANALYSE BEGIN CALL CHECKPOINT CLOSE CLUSTER COMMENT COMMIT COPY CREATE"
        " DEALLOCATE DECLARE DISCARD DO DROP END EXECUTE EXPLAIN FETCH GRANT IMPORT LISTEN LOAD"
        " LOCK MOVE NOTIFY PREPARE REASSIGN REFRESH REINDEX RELEASE RESET REVOKE ROLLBACK SAVEPOINT"
        " SECURITY SET SHOW START TRUNCATE UNLISTEN VACUUM"
    )
)
#: Keywords that are never a function name, an operand or an alias (so "BY (" is no call).
_KEYWORDS = _words(
    "ALL AND AS ASC BETWEEN BY CASE DESC DISTINCT ELSE END EXCEPT FETCH FILTER FIRST FOR FROM"
    " GROUP HAVING ILIKE IN INTERSECT INTO IS JOIN LAST LATERAL LIKE LIMIT NOT NULL NULLS"
    " OFFSET ON OR ORDER OVER RETURNING SELECT SET TABLE THEN UNION USING VALUES WHEN WHERE"
    " WINDOW WITH"
)
_ORDER_END = _words(
    "LIMIT OFFSET FETCH FOR UNION INTERSECT EXCEPT WINDOW ROWS RANGE GROUPS ON RETURNING INTO"
)
_SELECT_END = _words(
    "FROM INTO WHERE GROUP HAVING WINDOW ORDER LIMIT OFFSET FETCH FOR UNION INTERSECT EXCEPT"
)
_LOCKS = ("UPDATE", "NO KEY UPDATE", "SHARE", "KEY SHARE")
_CLOSER = {")": "(", "]": "["}


@dataclass(frozen=True, slots=True)
class StatementInfo:
    """What :func:`classify` learnt about one statement."""

    keyword: str
    read_only: bool
    writes: tuple[str, ...]
    params: int


@dataclass(frozen=True, slots=True)
class KnnOrdering:
    """One ORDER BY item that sorts by a vector distance; offsets index the scanned text."""

    start: int
    end: int
    expression: str
    column: str
    operator: str
    argument: str
    descending: bool
    bare: bool
    alias: str | None
    limit: int | None
    limit_is_param: bool
    depth: int


# --- structure ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scan:
    """Significant tokens, their bracket depth (a bracket sits at the depth outside it) and
    each bracket's partner."""

    sql: str
    toks: list[Token]
    depth: list[int]
    match: dict[int, int]


def _significant(sql: str) -> list[Token]:
    return [t for t in tokenize(sql) if t.kind not in ("space", "comment")]


def _scan(sql: str) -> _Scan:
    toks = _significant(sql)
    depth: list[int] = []
    match: dict[int, int] = {}
    stack: list[int] = []
    for i, t in enumerate(toks):
        if t.kind == "punct" and t.text in _CLOSER:
            if not stack or toks[stack[-1]].text != _CLOSER[t.text]:
                raise BadInputError(f"unbalanced brackets: {t.text!r} at offset {t.start}")
            match[i] = stack.pop()
            match[match[i]] = i
        depth.append(len(stack))
        if t.kind == "punct" and t.text in "([":
            stack.append(i)
    if stack:
        t = toks[stack[-1]]
        raise BadInputError(f"unbalanced brackets: {t.text!r} at offset {t.start} is not closed")
    return _Scan(sql, toks, depth, match)


def _kw(t: Token, *words: str) -> bool:
    return t.kind == "word" and t.text.upper() in words


def _is(t: Token, text: str) -> bool:
    return t.kind in ("punct", "op") and t.text == text


def _is_name(t: Token) -> bool:
    return t.kind == "ident" or (t.kind == "word" and t.text.upper() not in _KEYWORDS)


def _name_key(t: Token) -> str:
    """Names as PostgreSQL compares them: bare words fold to lower case, quoted ones do not."""
    if t.kind == "ident" and t.text.startswith('"'):
        return t.text[1:-1].replace('""', '"')
    return t.text.lower() if t.kind == "word" else t.text


def _path_end(sc: _Scan, k: int, hi: int) -> int:
    """Last token of the dotted name ``a.b."C"`` starting at ``k``."""
    while k + 2 <= hi and _is(sc.toks[k + 1], ".") and _is_name(sc.toks[k + 2]):
        k += 2
    return k


def _operand_start(sc: _Scan, k: int, lo: int) -> int | None:
    """First token of the primary expression (casts included) that ends at ``k``."""
    toks = sc.toks
    while True:
        t = toks[k]
        if t.kind == "punct" and t.text in _CLOSER:
            start = sc.match[k]
            before = toks[start - 1] if start - 1 >= lo else None
            if before is not None and (
                _is_name(before) or (t.text == "]" and before.text in _CLOSER)
            ):
                k = start - 1  # a call f(x), a type halfvec(384) or a subscript a[1]
                continue
        elif _is_name(t):
            start = k
            while start - 2 >= lo and _is(toks[start - 1], ".") and _is_name(toks[start - 2]):
                start -= 2
        elif t.kind in ("string", "number", "param"):
            start = k
        else:
            return None
        if start - 2 < lo or not _is(toks[start - 1], "::"):
            return start
        k = start - 2


def _operand_end(sc: _Scan, k: int, hi: int) -> int | None:
    """Last token of the primary expression (casts included) that starts at ``k``."""
    toks = sc.toks
    if _is(toks[k], "("):
        k = sc.match[k]
    elif _is_name(toks[k]):
        k = _path_end(sc, k, hi)
        if k + 1 <= hi and (_is(toks[k + 1], "(") or _is(toks[k + 1], "[")):
            k = sc.match[k + 1]  # a call f(x) or ARRAY[...]
        elif k + 1 <= hi and toks[k + 1].kind == "string" and toks[k].kind == "word":
            k += 1  # a typed literal: vector '[1,2,3]'
    elif toks[k].kind not in ("string", "number", "param"):
        return None
    while True:
        if k + 1 <= hi and _is(toks[k + 1], "["):
            k = sc.match[k + 1]
        elif k + 2 <= hi and _is(toks[k + 1], "::") and _is_name(toks[k + 2]):
            k = _path_end(sc, k + 2, hi)
            if k + 1 <= hi and _is(toks[k + 1], "("):
                k = sc.match[k + 1]
        else:
            return k


def _distance(sc: _Scan, a: int, b: int) -> tuple[int, int, int] | None:
    """(left operand start, operator, right operand end) of the shallowest distance
    operator in tokens a..b."""
    ops = [k for k in range(a, b + 1) if sc.toks[k].kind == "op"]
    ops = [k for k in ops if sc.toks[k].text in VECTOR_OPERATORS]
    if not ops:
        return None
    op = min(ops, key=lambda k: sc.depth[k])
    lo, hi = op, op  # the bracket group holding the operator bounds both operands
    while lo - 1 >= a and sc.depth[lo - 1] >= sc.depth[op]:
        lo -= 1
    while hi + 1 <= b and sc.depth[hi + 1] >= sc.depth[op]:
        hi += 1
    if lo == op or hi == op:
        return None
    left, right = _operand_start(sc, op - 1, lo), _operand_end(sc, op + 1, hi)
    return (lo if left is None else left), op, (hi if right is None else right)


def _split(sc: _Scan, k: int, d: int, stops: frozenset[str]) -> tuple[list[tuple[int, int]], int]:
    """Comma-separated token ranges at depth ``d`` from ``k`` to a stop word or the end of
    the level, and where they ended."""
    items: list[tuple[int, int]] = []
    a = k
    while k < len(sc.toks) and sc.depth[k] >= d:
        t = sc.toks[k]
        if sc.depth[k] == d and (_is(t, ";") or (t.kind == "word" and t.text.upper() in stops)):
            break
        if sc.depth[k] == d and _is(t, ","):
            items.append((a, k - 1))
            a = k + 1
        k += 1
    items.append((a, k - 1))
    return [(x, y) for x, y in items if x <= y], k


def _limit_after(sc: _Scan, k: int, d: int) -> tuple[int | None, bool]:
    """The LIMIT or FETCH FIRST literal at depth ``d`` from ``k`` on, and whether it is $n."""
    toks, n = sc.toks, len(sc.toks)
    while k < n and sc.depth[k] >= d and not (sc.depth[k] == d and _is(toks[k], ";")):
        if sc.depth[k] == d and _kw(toks[k], "LIMIT", "FETCH"):
            v = k + 1
            if _kw(toks[k], "FETCH"):
                v += 1 if v < n and _kw(toks[v], "FIRST", "NEXT") else 0
                if v < n and _kw(toks[v], "ROW", "ROWS"):
                    return 1, False  # FETCH FIRST ROW ONLY
            if v < n and toks[v].kind == "param":
                return None, True
            after = toks[v + 1] if v + 1 < n else None
            if after is not None and after.kind == "op" and after.text != "::":
                return None, False  # an expression such as LIMIT 5 * 2
            text = toks[v].text.replace("_", "") if v < n and toks[v].kind == "number" else ""
            return (int(text) if text.isdigit() else None), False
        k += 1
    return None, False


def _select_list(sc: _Scan, order: int) -> list[tuple[int, int]]:
    """Select-list items of the query level whose ORDER BY is at token ``order``."""
    d, toks = sc.depth[order], sc.toks
    select = None
    k = order - 1
    while k >= 0 and sc.depth[k] >= d and not (sc.depth[k] == d and _is(toks[k], ";")):
        if sc.depth[k] == d and _kw(toks[k], "SELECT"):
            select = k  # keep going: the first branch of a UNION names the columns
        k -= 1
    if select is None:
        return []
    k = select + 1
    if k < len(toks) and _kw(toks[k], "ALL", "DISTINCT"):
        k += 1
        if k + 1 < len(toks) and _kw(toks[k], "ON") and _is(toks[k + 1], "("):
            k = sc.match[k + 1] + 1
    return _split(sc, k, d, _SELECT_END)[0]


def _output_column(sc: _Scan, a: int, b: int) -> tuple[int, int, str | None]:
    """A select item's expression range and output name (its alias or bare column)."""
    toks = sc.toks
    if b - a >= 2 and _kw(toks[b - 1], "AS") and toks[b].kind in ("word", "ident"):
        return a, b - 2, _name_key(toks[b])
    if b > a and _is_name(toks[b]):
        prev = toks[b - 1]
        if prev.kind in ("string", "number", "param") or _is_name(prev) or prev.text in _CLOSER:
            return a, b - 1, _name_key(toks[b])  # an alias without AS
    if _is_name(toks[b]) and _path_end(sc, a, b) == b:
        return a, b, _name_key(toks[b])
    return a, b, None


def _resolve(sc: _Scan, order: int, item: Token) -> tuple[int, int] | None:
    """The select-list expression an ORDER BY alias or output column number stands for."""
    items = [_output_column(sc, a, b) for a, b in _select_list(sc, order)]
    if item.kind == "number":
        position = int(item.text) if item.text.isdigit() else 0
        return items[position - 1][:2] if 1 <= position <= len(items) else None
    key = _name_key(item)
    return next(((a, b) for a, b, name in items if name == key), None)


def _order_by(sc: _Scan, order: int) -> list[KnnOrdering]:
    toks, sql, d = sc.toks, sc.sql, sc.depth[order]
    items, end = _split(sc, order + 2, d, _ORDER_END)
    limit, limit_is_param = _limit_after(sc, end, d)
    found: list[KnnOrdering] = []
    for a, b in items:
        e = a  # the expression is a..e-1, ASC/DESC/NULLS/USING options e..b
        while e <= b and not (sc.depth[e] == d and _kw(toks[e], "ASC", "DESC", "NULLS", "USING")):
            e += 1
        if e == a:
            continue
        descending = any(
            _kw(toks[k], "DESC") or (_kw(toks[k], "USING") and k < b and toks[k + 1].text == ">")
            for k in range(e, b + 1)
        )
        ea, eb, alias = a, e - 1, None
        hit = _distance(sc, ea, eb)
        if hit is None and ea == eb and toks[a].kind in ("word", "ident", "number"):
            span = _resolve(sc, order, toks[a])
            if span is not None:
                (ea, eb), alias = span, toks[a].text
                hit = _distance(sc, ea, eb)
        if hit is None:
            continue
        left, op, right = hit
        ba, bb = ea, eb  # bare: the operands are the whole expression, maybe in parentheses
        while _is(toks[ba], "(") and sc.match[ba] == bb:
            ba, bb = ba + 1, bb - 1
        found.append(
            KnnOrdering(
                start=toks[a].start,
                end=toks[b].end,
                expression=sql[toks[ea].start : toks[eb].end],
                column=sql[toks[left].start : toks[op - 1].end],
                operator=toks[op].text,
                argument=sql[toks[op + 1].start : toks[right].end],
                descending=descending,
                bare=(ba, bb) == (left, right),
                alias=alias,
                limit=limit,
                limit_is_param=limit_is_param,
                depth=d,
            )
        )
    return found


# --- public API --------------------------------------------------------------------------


def classify(sql: str) -> StatementInfo:
    """Say what one statement is and whether running it under EXPLAIN ANALYZE would write.

    Args:
        sql: One SQL statement, optionally followed by a single ``;``.

    Returns:
        The first keyword, whether the statement is read-only (and if not, why not), and
        the highest ``$n`` parameter it uses.

    Raises:
        BadInputError: Empty input, text that is not SQL, more than one statement, or a
            statement the plan doctor cannot explain.
    """
    toks = [t for t in _significant(sql) if not _is(t, ";")]
    if not toks:
        raise BadInputError("empty query")
    head = next((t for t in toks if not _is(t, "(")), toks[0])
    keyword = head.text.upper()
    if head.kind != "word" or keyword not in _STATEMENTS:
        shown = head.text if len(head.text) <= 30 else head.text[:27] + "..."
        raise BadInputError(f"not a SQL query: it starts with {shown!r}")
    sc = _scan(sql)
    statements = sum(
        1 for k, t in enumerate(sc.toks) if not _is(t, ";") and (k == 0 or _is(sc.toks[k - 1], ";"))
    )
    if statements > 1:
        raise BadInputError(f"one statement at a time: found {statements}")
    if keyword not in _READS | _DML:
        article = "an" if keyword[0] in "AEIOU" else "a"
        after = [t.text.upper() for t in toks[1:4] if t.kind == "word"]
        create_as = "MATERIALIZED" in after or (
            "TABLE" in after
            and any(_kw(t, "AS") and d == 0 for t, d in zip(sc.toks, sc.depth, strict=True))
        )
        if keyword in ("EXECUTE", "DECLARE") or (keyword == "CREATE" and create_as):
            what = f"{article} {keyword} statement around it"
            raise BadInputError(f"the plan doctor takes the query itself, not {what}")
        raise BadInputError(f"EXPLAIN cannot explain {article} {keyword} statement")
    writes: list[str] = [keyword] if keyword in _DML else []
    for i, t in enumerate(toks):
        word = t.text.upper() if t.kind == "word" else ""
        prev = toks[i - 1].text.upper() if i and toks[i - 1].kind == "word" else ""
        if keyword == "WITH" and word in _DML and prev not in ("FOR", "KEY", "DO"):
            writes.append(word)  # a data-modifying CTE, or the statement after the CTE list
        elif word == "INTO" and keyword in _READS and prev not in ("INSERT", "MERGE"):
            writes.append("SELECT INTO")
        elif word == "FOR":
            after = [x.text.upper() if x.kind == "word" else "?" for x in toks[i + 1 : i + 4]]
            text = " ".join(after) + " "
            writes += [f"FOR {lock}" for lock in _LOCKS if text.startswith(lock + " ")]
    params = max((int(t.text[1:]) for t in toks if t.kind == "param"), default=0)
    unique = tuple(dict.fromkeys(writes))
    return StatementInfo(keyword, not unique, unique, params)


def strip_explain(sql: str) -> tuple[str, bool]:
    """Remove a leading EXPLAIN and its options, as users paste them.

    Args:
        sql: SQL text, perhaps starting with ``EXPLAIN [ANALYZE] [VERBOSE]`` or
            ``EXPLAIN (option [value], ...)``.

    Returns:
        The statement after EXPLAIN (``sql`` unchanged when there is no EXPLAIN) and
        whether ANALYZE was asked for.
    """
    toks = _significant(sql)
    if not toks or not _kw(toks[0], "EXPLAIN"):
        return sql, False
    k, analyze = 1, False
    if len(toks) > 2 and _is(toks[1], "(") and not _kw(toks[2], *_READS):
        sc = _scan(sql)
        for a, b in _split(sc, 2, 1, frozenset())[0]:
            if _kw(toks[a], "ANALYZE", "ANALYSE"):
                analyze = a == b or toks[b].text.strip("'").upper() not in ("FALSE", "OFF", "0")
        k = sc.match[1] + 1
    while k < len(toks) and _kw(toks[k], "ANALYZE", "ANALYSE", "VERBOSE"):
        analyze = analyze or _kw(toks[k], "ANALYZE", "ANALYSE")
        k += 1
    return (sql[toks[k].start :] if k < len(toks) else ""), analyze


def knn_orderings(sql: str) -> list[KnnOrdering]:
    """Find every ORDER BY item that sorts by a pgvector distance, at any nesting level.

    Args:
        sql: The query text; offsets in the results index into it.

    Returns:
        One record per ORDER BY item (window and aggregate ORDER BY included) whose
        expression, or the select-list entry it names by alias or position, holds a
        distance operator; in order of appearance.

    Raises:
        BadInputError: The text does not lex or its brackets do not balance.
    """
    sc = _scan(sql)
    found: list[KnnOrdering] = []
    for k in range(len(sc.toks) - 1):
        if _kw(sc.toks[k], "ORDER") and _kw(sc.toks[k + 1], "BY"):
            found += _order_by(sc, k)
    return found


def has_distance_operator(sql: str) -> bool:
    """Whether any pgvector distance operator appears outside strings and comments.

    Args:
        sql: Any SQL text.

    Returns:
        True when one of :data:`VECTOR_OPERATORS` is an operator token of ``sql``.
    """
    return any(t.kind == "op" and t.text in VECTOR_OPERATORS for t in tokenize(sql))


def rewrite_ordering(
    sql: str,
    ordering: KnnOrdering,
    *,
    operator: str | None = None,
    column: str | None = None,
    argument: str | None = None,
) -> str:
    """Replace one ORDER BY item with the bare ascending form ``column operator argument``.

    Args:
        sql: The text ``ordering`` was found in.
        ordering: One result of :func:`knn_orderings` on ``sql``.
        operator: A distance operator to use instead of the ordering's own.
        column: A left operand to use instead (e.g. with a cast).
        argument: A right operand to use instead (e.g. with a cast).

    Returns:
        ``sql`` with only that item's text replaced; for an alias, the ORDER BY item, not
        the select list.

    Raises:
        BadInputError: The ordering was not found in this text, the operator is not a
            distance operator, or an operand is blank.
    """
    op = ordering.operator if operator is None else operator
    if op not in VECTOR_OPERATORS:
        raise BadInputError(f"not a vector distance operator: {op!r}")
    left = ordering.column if column is None else column
    right = ordering.argument if argument is None else argument
    if not left.strip() or not right.strip():
        raise BadInputError("a distance ordering needs both operands")
    if ordering not in knn_orderings(sql):
        raise BadInputError("that ORDER BY item is not in this query")
    return f"{sql[: ordering.start]}{left} {op} {right}{sql[ordering.end :]}"


def limit_value(sql: str) -> int | None:
    """The literal LIMIT (or FETCH FIRST n ROWS) of the top-level query.

    Args:
        sql: One query.

    Returns:
        The row count, or None when there is no literal limit at depth 0 (none, ALL, $n).
    """
    return _limit_after(_scan(sql), 0, 0)[0]
