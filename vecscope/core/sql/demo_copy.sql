-- Load one demo table in binary. {table}: the qualified table; {columns}: its column list.
COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)
