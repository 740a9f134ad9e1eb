-- The plan of the lab's query on a measuring session: which index serves it.
EXPLAIN (FORMAT JSON) {query}
