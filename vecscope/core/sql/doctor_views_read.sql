-- The views a statement may read, and the views those read, with their definitions, for
-- the check before EXPLAIN ANALYZE: a plan shows a view's expressions, but not those of a
-- VALUES list or a LIMIT inside it, and the definition does. %(schemas)s / %(names)s are
-- the names the statement holds (schema NULL: resolved through search_path, as the parser
-- resolves it); most are not views, and only views are returned. Views a view reads are
-- found through pg_depend (views are never pinned, so their dependencies are recorded).
WITH RECURSIVE named AS (
    SELECT c.oid
    FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS r (schema, name)
    JOIN pg_class AS c ON c.relname = r.name AND c.relkind = 'v'
    WHERE CASE
        WHEN r.schema IS NULL THEN c.oid = to_regclass(quote_ident(r.name))
        ELSE c.relnamespace = (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = r.schema)
    END
),
views (oid) AS (
    SELECT oid FROM named
    UNION
    SELECT d.refobjid
    FROM views AS v
    JOIN pg_rewrite AS w ON w.ev_class = v.oid
    JOIN pg_depend AS d
        ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
        AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
    JOIN pg_class AS c ON c.oid = d.refobjid AND c.relkind = 'v'
)
SELECT oid::regclass::text AS view, pg_get_viewdef(oid) AS definition
FROM views
ORDER BY 1
