-- Of the functions and operators a statement calls, those that run a VOLATILE function
-- (EXPLAIN ANALYZE executes the statement: a volatile function may have side effects).
-- %(schemas)s / %(names)s name the functions called (schema NULL: found through
-- search_path, so any overload in a schema of the path counts); %(operators)s the
-- operators used (any schema: the function behind each runs too); %(allowed)s the few
-- harmless volatile functions of pg_catalog. An aggregate is declared IMMUTABLE whatever
-- its support functions are, so those are looked at too. One row a function called, its
-- name qualified where search_path does not find it.
WITH called AS (
    SELECT p.oid
    FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS f (schema, name)
    JOIN pg_proc AS p ON p.proname = f.name
    JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE n.nspname = f.schema OR (f.schema IS NULL AND n.nspname = ANY (current_schemas(true)))
    UNION
    SELECT o.oprcode::oid
    FROM pg_operator AS o
    WHERE o.oprname = ANY (%(operators)s::text[])
),
runs AS (
    SELECT c.oid, c.oid AS runs FROM called AS c
    UNION
    SELECT c.oid, s.fn
    FROM called AS c
    JOIN pg_aggregate AS a ON a.aggfnoid = c.oid
    CROSS JOIN LATERAL (
        VALUES (a.aggtransfn::oid), (a.aggfinalfn::oid), (a.aggcombinefn::oid),
            (a.aggserialfn::oid), (a.aggdeserialfn::oid), (a.aggmtransfn::oid),
            (a.aggminvtransfn::oid), (a.aggmfinalfn::oid)
    ) AS s (fn)
)
SELECT DISTINCT
    CASE
        WHEN c.pronamespace = 'pg_catalog'::regnamespace OR pg_function_is_visible(c.oid)
            THEN quote_ident(c.proname)
        ELSE quote_ident(n.nspname) || '.' || quote_ident(c.proname)
    END AS function
FROM runs AS r
JOIN pg_proc AS c ON c.oid = r.oid
JOIN pg_namespace AS n ON n.oid = c.pronamespace
JOIN pg_proc AS p ON p.oid = r.runs
WHERE p.provolatile = 'v'
    AND NOT (p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY (%(allowed)s::text[]))
ORDER BY 1
