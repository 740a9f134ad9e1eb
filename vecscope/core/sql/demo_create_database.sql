-- The (empty) demo database the seed fills. {database}: its name.
CREATE DATABASE {database}
