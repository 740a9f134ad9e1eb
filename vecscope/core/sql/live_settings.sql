-- The settings that change vector query plans and results. 'server' is this session's
-- value (it follows configuration reloads; vecscope never SETs these); the rest are
-- ALTER DATABASE / ALTER ROLE ... SET entries, which apply to new sessions only.
SELECT 'server' AS scope, name, current_setting(name, true) AS value
  FROM unnest(%(names)s::text[]) AS name
UNION ALL
SELECT CASE
         WHEN s.setrole = 0 THEN 'database ' || quote_ident(d.datname)
         WHEN s.setdatabase = 0 THEN 'role ' || quote_ident(r.rolname)
         ELSE 'role ' || quote_ident(r.rolname) || ' in database ' || quote_ident(d.datname)
       END AS scope,
       split_part(cfg, '=', 1) AS name,
       substr(cfg, length(split_part(cfg, '=', 1)) + 2) AS value
  FROM pg_db_role_setting s
  LEFT JOIN pg_database d ON d.oid = s.setdatabase
  LEFT JOIN pg_roles r ON r.oid = s.setrole
  CROSS JOIN LATERAL unnest(s.setconfig) AS cfg
 WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
