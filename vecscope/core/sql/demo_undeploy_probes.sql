-- Undo the demo workload's "deploy" setting. {database}: the demo database.
ALTER DATABASE {database} RESET ivfflat.probes
