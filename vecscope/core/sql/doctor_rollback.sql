-- Ends the EXPLAIN's transaction: nothing it did is kept.
ROLLBACK
