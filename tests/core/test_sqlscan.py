"""The SQL lexer and scanner behind the plan doctor: no database, text in and text out."""

from __future__ import annotations

import pytest

from vecscope.core.errors import BadInputError
from vecscope.core.sqlscan import (
    KnnOrdering,
    StatementInfo,
    classify,
    has_distance_operator,
    knn_orderings,
    limit_value,
    rewrite_ordering,
    strip_explain,
    tokenize,
)


def _significant(sql: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(sql) if t.kind != "space"]


def _only(sql: str) -> KnnOrdering:
    found = knn_orderings(sql)
    assert len(found) == 1, found
    return found[0]


# --- tokenize ----------------------------------------------------------------------------

TRICKY = (
    "SELECT E'it\\'s', 'a''b', $q$ a ; b $q$, \"we\"\"ird\" /* a /* b */ c */ -- end\n"
    "FROM t WHERE 1-(e<=>q) < 0.5 AND x::int <> $2"
)


def test_tokens_cover_the_text_exactly() -> None:
    tokens = tokenize(TRICKY)
    assert "".join(t.text for t in tokens) == TRICKY
    assert all(TRICKY[t.start : t.end] == t.text for t in tokens)
    assert [t.start for t in tokens[1:]] == [t.end for t in tokens[:-1]]


def test_escaped_strings_quoted_identifiers_and_comments_are_one_token_each() -> None:
    assert _significant(TRICKY)[:12] == [
        ("word", "SELECT"),
        ("string", "E'it\\'s'"),
        ("punct", ","),
        ("string", "'a''b'"),
        ("punct", ","),
        ("string", "$q$ a ; b $q$"),
        ("punct", ","),
        ("ident", '"we""ird"'),
        ("comment", "/* a /* b */ c */"),
        ("comment", "-- end"),
        ("word", "FROM"),
        ("word", "t"),
    ]


def test_distance_inside_arithmetic() -> None:
    assert _significant("1-(e<=>q)") == [
        ("number", "1"),
        ("op", "-"),
        ("punct", "("),
        ("word", "e"),
        ("op", "<=>"),
        ("word", "q"),
        ("punct", ")"),
    ]


def test_operator_then_parameter() -> None:
    assert _significant("a<->$1") == [("word", "a"), ("op", "<->"), ("param", "$1")]


@pytest.mark.parametrize(
    "op",
    ["<->", "<=>", "<#>", "<+>", "<~>", "<%>", "::", "<=", ">=", "<>", "!=", "||", "->", "->>"],
)
def test_operator_is_the_longest_run(op: str) -> None:
    assert _significant(f"a{op}b") == [("word", "a"), ("op", op), ("word", "b")]


def test_trailing_minus_leaves_a_plain_operator_run() -> None:
    # PostgreSQL lexes "*-1" as "*" then "-": a run ending in - needs one of ~!@#%^&|`?.
    assert _significant("(x)*-1") == [
        ("punct", "("),
        ("word", "x"),
        ("punct", ")"),
        ("op", "*"),
        ("op", "-"),
        ("number", "1"),
    ]


def test_operator_run_stops_at_a_comment() -> None:
    assert _significant("a<=>--c\nb") == [
        ("word", "a"),
        ("op", "<=>"),
        ("comment", "--c"),
        ("word", "b"),
    ]


def test_prefixed_literals_numbers_and_casts() -> None:
    assert _significant("B'101' X'ff' $$x$$ 1.5e3 .5 1_000 embedding::halfvec(384)") == [
        ("string", "B'101'"),
        ("string", "X'ff'"),
        ("string", "$$x$$"),
        ("number", "1.5e3"),
        ("number", ".5"),
        ("number", "1_000"),
        ("word", "embedding"),
        ("op", "::"),
        ("word", "halfvec"),
        ("punct", "("),
        ("number", "384"),
        ("punct", ")"),
    ]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 'abc", "unterminated string literal starting at offset 7"),
        ('SELECT "abc', "unterminated quoted identifier starting at offset 7"),
        ("SELECT 1 /* a /* b */", "unterminated comment starting at offset 9"),
        ("SELECT $q$ abc $Q$", "unterminated dollar-quoted string starting at offset 7"),
        ("SELECT {1}", "not a SQL query: unexpected character '{' at offset 7"),
    ],
)
def test_unterminated_or_foreign_text_is_bad_input(sql: str, message: str) -> None:
    with pytest.raises(BadInputError) as err:
        tokenize(sql)
    assert err.value.message == message


def test_distance_operator_only_outside_strings_and_comments() -> None:
    assert has_distance_operator("SELECT 1 FROM t ORDER BY e <#> $1") is True
    assert has_distance_operator("SELECT 'e <=> q', $$a<->b$$ /* x <+> y */ -- e <~> f") is False


# --- classify ----------------------------------------------------------------------------


def test_select_is_read_only_and_counts_parameters() -> None:
    info = classify("SELECT id FROM items WHERE id > $2 ORDER BY embedding <=> $1 LIMIT 5")
    assert info == StatementInfo("SELECT", True, (), 2)


def test_with_select_is_read_only() -> None:
    sql = "with q as (select embedding from items where id = 1) select id from items, q"
    assert classify(sql) == StatementInfo("WITH", True, (), 0)


def test_data_modifying_cte_writes() -> None:
    sql = "WITH gone AS (DELETE FROM items WHERE id = $1 RETURNING id) SELECT count(*) FROM gone"
    assert classify(sql) == StatementInfo("WITH", False, ("DELETE",), 1)


def test_with_insert_upsert_counts_the_insert_only() -> None:
    sql = (
        "WITH src AS (SELECT 1 AS id) INSERT INTO t SELECT id FROM src "
        "ON CONFLICT (id) DO UPDATE SET n = t.n + 1"
    )
    assert classify(sql) == StatementInfo("WITH", False, ("INSERT",), 0)


def test_select_into_writes() -> None:
    assert classify("SELECT id INTO copy FROM items") == StatementInfo(
        "SELECT", False, ("SELECT INTO",), 0
    )


@pytest.mark.parametrize(
    ("clause", "why"),
    [
        ("FOR UPDATE", "FOR UPDATE"),
        ("FOR NO KEY UPDATE OF items", "FOR NO KEY UPDATE"),
        ("FOR SHARE NOWAIT", "FOR SHARE"),
        ("for key share skip locked", "FOR KEY SHARE"),
    ],
)
def test_locking_clauses_write(clause: str, why: str) -> None:
    assert classify(f"SELECT id FROM items {clause}") == StatementInfo("SELECT", False, (why,), 0)


@pytest.mark.parametrize(
    ("sql", "keyword"),
    [
        ("INSERT INTO items (id, embedding) VALUES ($1, $2)", "INSERT"),
        ("UPDATE items SET embedding = $2 WHERE id = $1", "UPDATE"),
        ("DELETE FROM items WHERE id = $2", "DELETE"),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE"),
    ],
)
def test_data_modifying_statements_write(sql: str, keyword: str) -> None:
    params = 2 if "$" in sql else 0
    assert classify(sql) == StatementInfo(keyword, False, (keyword,), params)


def test_keywords_in_strings_and_comments_do_not_write() -> None:
    sql = "WITH a AS (SELECT 'DELETE FROM t; INSERT INTO x' AS s) /* FOR UPDATE */ SELECT s FROM a"
    assert classify(sql) == StatementInfo("WITH", True, (), 0)


def test_parenthesised_union_and_trailing_semicolon() -> None:
    assert classify("(SELECT 1) UNION (SELECT 2);  -- done\n") == StatementInfo(
        "SELECT", True, (), 0
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)", "a CREATE statement"),
        ("ALTER TABLE items ADD COLUMN note text", "an ALTER statement"),
        ("VACUUM items", "a VACUUM statement"),
    ],
)
def test_statements_explain_cannot_explain(sql: str, message: str) -> None:
    with pytest.raises(BadInputError) as err:
        classify(sql)
    assert err.value.message == f"EXPLAIN cannot explain {message}"


def test_create_table_as_asks_for_the_query_itself() -> None:
    with pytest.raises(BadInputError) as err:
        classify("CREATE TABLE nearest AS SELECT id FROM items ORDER BY embedding <=> $1")
    assert err.value.message == (
        "the plan doctor takes the query itself, not a CREATE statement around it"
    )


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("SELECT 1; SELECT 2", 2),
        ("SELECT 1; DELETE FROM t;", 2),
        ("SELECT 1;;SELECT 2;SELECT 3", 3),
    ],
)
def test_one_statement_at_a_time(sql: str, found: int) -> None:
    with pytest.raises(BadInputError) as err:
        classify(sql)
    assert err.value.message == f"one statement at a time: found {found}"


def test_semicolon_inside_a_string_is_not_a_second_statement() -> None:
    assert classify("SELECT 'a;b', $$c;d$$;") == StatementInfo("SELECT", True, (), 0)


@pytest.mark.parametrize("sql", ["", "   \n\t", "-- only a comment", "/* a */ ; "])
def test_empty_input(sql: str) -> None:
    with pytest.raises(BadInputError) as err:
        classify(sql)
    assert err.value.message == "empty query"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("hello world", "not a SQL query: it starts with 'hello'"),
        ('{"query": "SELECT 1"}', "not a SQL query: unexpected character '{' at offset 0"),
        ("42", "not a SQL query: it starts with '42'"),
        ("[1, 2, 3]", "not a SQL query: it starts with '['"),
    ],
)
def test_not_sql(sql: str, message: str) -> None:
    with pytest.raises(BadInputError) as err:
        classify(sql)
    assert err.value.message == message


# --- strip_explain -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("EXPLAIN SELECT 1", ("SELECT 1", False)),
        ("EXPLAIN ANALYZE SELECT 1", ("SELECT 1", True)),
        ("explain analyse verbose\nselect 1;", ("select 1;", True)),
        ("EXPLAIN VERBOSE SELECT 1", ("SELECT 1", False)),
        ("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT 1", ("SELECT 1", True)),
        ("EXPLAIN (ANALYZE off, COSTS false) SELECT 1", ("SELECT 1", False)),
        (
            "EXPLAIN (FORMAT TEXT) WITH a AS (SELECT 1) SELECT * FROM a",
            (
                "WITH a AS (SELECT 1) SELECT * FROM a",
                False,
            ),
        ),
        ("/* pasted */ EXPLAIN ANALYZE -- note\n SELECT 1", ("SELECT 1", True)),
        ("EXPLAIN (SELECT 1)", ("(SELECT 1)", False)),
    ],
)
def test_strip_explain(sql: str, expected: tuple[str, bool]) -> None:
    assert strip_explain(sql) == expected


def test_strip_explain_leaves_other_text_alone() -> None:
    sql = "  SELECT 'EXPLAIN ANALYZE' "
    assert strip_explain(sql) == (sql, False)


# --- knn_orderings -----------------------------------------------------------------------


def test_plain_top_k() -> None:
    sql = "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10"
    assert knn_orderings(sql) == [
        KnnOrdering(
            30, 46, "embedding <=> $1", "embedding", "<=>", "$1", False, True, None, 10, False, 0
        )
    ]


def test_descending_literal_argument() -> None:
    sql = "SELECT id FROM items ORDER BY e <=> '[1,2,3]' DESC"
    assert knn_orderings(sql) == [
        KnnOrdering(
            30, 50, "e <=> '[1,2,3]'", "e", "<=>", "'[1,2,3]'", True, True, None, None, False, 0
        )
    ]


def test_similarity_expression_is_not_bare() -> None:
    o = _only("SELECT id FROM items ORDER BY 1 - (e <=> q) DESC")
    assert (o.expression, o.column, o.operator, o.argument) == ("1 - (e <=> q)", "e", "<=>", "q")
    assert (o.descending, o.bare, o.start, o.end) == (True, False, 30, 48)


def test_negated_inner_product_is_not_bare_but_parenthesised_distance_is() -> None:
    assert [
        (o.expression, o.bare)
        for o in knn_orderings("SELECT a FROM t ORDER BY (e <#> $1) * -1, (e <=> $1)")
    ] == [("(e <#> $1) * -1", False), ("(e <=> $1)", True)]


def test_select_list_alias() -> None:
    sql = "SELECT id, 1 - (e <=> $1) AS similarity FROM t ORDER BY similarity DESC LIMIT 5"
    assert knn_orderings(sql) == [
        KnnOrdering(
            56, 71, "1 - (e <=> $1)", "e", "<=>", "$1", True, False, "similarity", 5, False, 0
        )
    ]


def test_output_column_number() -> None:
    sql = "SELECT id, embedding <-> $1 FROM t ORDER BY 2 LIMIT 5"
    o = _only(sql)
    assert (o.alias, o.expression, o.column, o.argument, o.bare, o.limit) == (
        "2",
        "embedding <-> $1",
        "embedding",
        "$1",
        True,
        5,
    )
    assert sql[o.start : o.end] == "2"


def test_alias_without_as_and_quoted_alias() -> None:
    bare_alias = _only("SELECT id, e <=> $1 dist FROM t ORDER BY dist")
    quoted = _only('SELECT id, e <=> $1 AS "Dist" FROM t ORDER BY "Dist" DESC')
    assert (bare_alias.alias, bare_alias.expression) == ("dist", "e <=> $1")
    assert (quoted.alias, quoted.expression, quoted.descending) == ('"Dist"', "e <=> $1", True)


def test_union_output_names_come_from_the_first_branch() -> None:
    sql = "SELECT id, e <=> $1 AS d FROM a UNION ALL SELECT id, e <=> $2 FROM b ORDER BY d LIMIT 5"
    o = _only(sql)
    assert (o.alias, o.expression, o.argument, o.limit) == ("d", "e <=> $1", "$1", 5)


def test_alias_case_folds_like_postgres() -> None:
    assert _only("SELECT e <=> $1 AS Dist FROM t ORDER BY DIST").alias == "DIST"
    assert knn_orderings('SELECT e <=> $1 AS "Dist" FROM t ORDER BY dist') == []


def test_schema_qualified_quoted_column() -> None:
    sql = (
        'SELECT id FROM search."Product Embeddings" p '
        'ORDER BY search."Product Embeddings"."Embedding" <#> $1 LIMIT 3'
    )
    o = _only(sql)
    assert (o.column, o.operator, o.argument, o.bare, o.limit) == (
        'search."Product Embeddings"."Embedding"',
        "<#>",
        "$1",
        True,
        3,
    )


def test_lateral_top_k_inside_a_cte_query() -> None:
    sql = (
        "WITH q AS (SELECT embedding FROM items WHERE id = 1) "
        "SELECT s.id FROM q CROSS JOIN LATERAL "
        "(SELECT id FROM items i ORDER BY i.embedding <-> q.embedding LIMIT 3) s"
    )
    o = _only(sql)
    assert (o.column, o.operator, o.argument, o.depth, o.limit) == (
        "i.embedding",
        "<->",
        "q.embedding",
        1,
        3,
    )
    assert sql[o.start : o.end] == "i.embedding <-> q.embedding"


def test_subquery_argument() -> None:
    sql = "SELECT id FROM items ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1)"
    o = _only(sql + " LIMIT 5")
    assert (o.column, o.argument, o.bare, o.limit) == (
        "embedding",
        "(SELECT embedding FROM items WHERE id = 1)",
        True,
        5,
    )


def test_cast_operands() -> None:
    o = _only("SELECT id FROM items ORDER BY embedding::halfvec(384) <=> $1::halfvec(384) LIMIT 10")
    assert (o.column, o.argument, o.bare) == ("embedding::halfvec(384)", "$1::halfvec(384)", True)


def test_cast_literal_function_and_array_arguments() -> None:
    sql = (
        "SELECT id FROM t ORDER BY e <=> '[1,2]'::vector, e <-> embed('hi'), "
        "e <+> ARRAY[1,2]::vector(2)"
    )
    assert [o.argument for o in knn_orderings(sql)] == [
        "'[1,2]'::vector",
        "embed('hi')",
        "ARRAY[1,2]::vector(2)",
    ]


def test_fetch_first_is_the_limit() -> None:
    o = _only("SELECT id FROM items ORDER BY embedding <=> $1 FETCH FIRST 10 ROWS ONLY")
    assert (o.limit, o.limit_is_param) == (10, False)


def test_parameter_limit() -> None:
    o = _only("SELECT id FROM items ORDER BY embedding <=> $1 OFFSET 20 LIMIT $2")
    assert (o.limit, o.limit_is_param) == (None, True)


def test_operators_in_strings_and_comments_are_not_orderings() -> None:
    sql = "SELECT id FROM items WHERE note <> 'ORDER BY e <=> q' /* ORDER BY e <-> q */ ORDER BY id"
    assert knn_orderings(sql) == []


def test_items_without_distance_are_skipped_and_options_are_read() -> None:
    sql = "SELECT id FROM t ORDER BY id DESC, e <=> $1 ASC NULLS LAST, rank USING > LIMIT 4"
    o = _only(sql)
    assert (sql[o.start : o.end], o.expression, o.descending, o.limit) == (
        "e <=> $1 ASC NULLS LAST",
        "e <=> $1",
        False,
        4,
    )


def test_window_and_union_branches_in_order_of_appearance() -> None:
    sql = (
        "(SELECT id, rank() OVER (ORDER BY e <-> $1) FROM a ORDER BY e <=> $1 LIMIT 3) "
        "UNION ALL (SELECT id, 0 FROM b ORDER BY e <#> $1 LIMIT 4) ORDER BY 1"
    )
    assert [(o.operator, o.depth, o.limit) for o in knn_orderings(sql)] == [
        ("<->", 2, None),
        ("<=>", 1, 3),
        ("<#>", 1, 4),
    ]


def test_unbalanced_parentheses_are_bad_input() -> None:
    with pytest.raises(BadInputError) as err:
        knn_orderings("SELECT id FROM t ORDER BY (e <=> $1 LIMIT 5")
    assert err.value.message == "unbalanced brackets: '(' at offset 26 is not closed"


# --- rewrite_ordering --------------------------------------------------------------------


def test_rewrite_descending_to_ascending() -> None:
    sql = "SELECT id FROM items ORDER BY e <=> '[1,2,3]' DESC LIMIT 5"
    assert rewrite_ordering(sql, _only(sql)) == (
        "SELECT id FROM items ORDER BY e <=> '[1,2,3]' LIMIT 5"
    )


def test_rewrite_expression_to_bare_distance() -> None:
    sql = "SELECT id FROM items ORDER BY 1 - (e <=> $1) DESC, id LIMIT 5"
    assert rewrite_ordering(sql, _only(sql)) == (
        "SELECT id FROM items ORDER BY e <=> $1, id LIMIT 5"
    )


def test_rewrite_alias_item_keeps_the_select_list() -> None:
    sql = "SELECT id, 1 - (e <=> $1) AS similarity FROM t ORDER BY similarity DESC LIMIT 5"
    assert rewrite_ordering(sql, _only(sql)) == (
        "SELECT id, 1 - (e <=> $1) AS similarity FROM t ORDER BY e <=> $1 LIMIT 5"
    )


def test_rewrite_operator() -> None:
    sql = "SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10"
    assert rewrite_ordering(sql, _only(sql), operator="<=>") == (
        "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10"
    )


def test_rewrite_casts_and_keeps_everything_else_byte_for_byte() -> None:
    sql = "SELECT /* top */ id\nFROM items\nORDER BY embedding <=> $1 -- knn\nLIMIT 10;"
    rewritten = rewrite_ordering(
        sql, _only(sql), column="embedding::halfvec(384)", argument="$1::halfvec(384)"
    )
    assert rewritten == (
        "SELECT /* top */ id\nFROM items\n"
        "ORDER BY embedding::halfvec(384) <=> $1::halfvec(384) -- knn\nLIMIT 10;"
    )


def test_rewrite_inside_a_lateral_subquery() -> None:
    sql = "SELECT s.id FROM q, LATERAL (SELECT id FROM t ORDER BY t.e <-> q.e DESC LIMIT 3) s"
    assert rewrite_ordering(sql, _only(sql), operator="<=>") == (
        "SELECT s.id FROM q, LATERAL (SELECT id FROM t ORDER BY t.e <=> q.e LIMIT 3) s"
    )


def test_rewrite_refuses_other_operators_and_foreign_orderings() -> None:
    sql = "SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10"
    ordering = _only(sql)
    with pytest.raises(BadInputError) as err:
        rewrite_ordering(sql, ordering, operator="<")
    assert err.value.message == "not a vector distance operator: '<'"
    with pytest.raises(BadInputError) as err:
        rewrite_ordering("SELECT 1 " + sql, ordering)
    assert err.value.message == "that ORDER BY item is not in this query"


# --- limit_value -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "limit"),
    [
        ("SELECT id FROM t ORDER BY e <=> $1 LIMIT 10", 10),
        ("SELECT id FROM t ORDER BY e <=> $1 OFFSET 5 ROWS FETCH NEXT 7 ROWS ONLY", 7),
        ("SELECT id FROM t FETCH FIRST ROW ONLY", 1),
        ("SELECT id FROM t LIMIT $1", None),
        ("SELECT id FROM t LIMIT ALL", None),
        ("SELECT id FROM t LIMIT 5 * 2", None),
        ("SELECT id FROM (SELECT id FROM t LIMIT 3) s", None),
        ("SELECT id FROM t WHERE note = 'LIMIT 4'", None),
    ],
)
def test_limit_value(sql: str, limit: int | None) -> None:
    assert limit_value(sql) == limit
