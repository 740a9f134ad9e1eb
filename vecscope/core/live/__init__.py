"""The Live mode: polls of the server's statistics, their rates, recordings."""
