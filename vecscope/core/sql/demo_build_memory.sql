-- A demo index-build session: build indexes the way a careful DBA would (this session only).
SET maintenance_work_mem = '512MB'
