-- Set one embedded-server setting in postgresql.auto.conf (ALTER SYSTEM takes no query
-- parameters: both parts are composed). {setting}: the setting; {value}: a literal.
ALTER SYSTEM SET {setting} = {value}
