-- The demo workload's "deploy": a database-level setting, shown to the user before it is
-- made and reset when the workload ends. {database}: the demo database.
ALTER DATABASE {database} SET ivfflat.probes = 10
