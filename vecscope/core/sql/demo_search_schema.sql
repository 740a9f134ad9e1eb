-- Demo schema of the table whose names need quoting.
CREATE SCHEMA search
