-- Every EXPLAIN runs in a transaction that is rolled back (doctor_rollback).
BEGIN
