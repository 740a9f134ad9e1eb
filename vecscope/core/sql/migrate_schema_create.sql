-- Whether this role may create in a schema: CREATE INDEX needs CREATE on the table's
-- schema, even for the table's owner (a managed server's app role often lacks it).
SELECT has_schema_privilege(%(schema)s, 'CREATE') AS may_create,
       current_user::text AS role
