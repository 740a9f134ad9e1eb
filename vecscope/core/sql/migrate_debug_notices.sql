-- The build's DEBUG1 notices say when the graph stops fitting and how many workers ran.
SET client_min_messages = debug1
