-- Whether the access method has the operator class.
SELECT 1 AS found
  FROM pg_opclass c
  JOIN pg_am a ON a.oid = c.opcmethod
 WHERE c.opcname = %(opclass)s
   AND a.amname = %(method)s
