-- One contrib module in the demo database. {extension}: the extension (an identifier).
CREATE EXTENSION IF NOT EXISTS {extension}
