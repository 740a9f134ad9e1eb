-- The data a dump of the table (heap and TOAST, without indexes) or of the whole
-- database will hold, to check the backup folder has the room before pg_dump starts.
SELECT pg_total_relation_size(%(table)s::regclass) - pg_indexes_size(%(table)s::regclass)
           AS table_bytes,
       pg_database_size(current_database()) AS database_bytes
