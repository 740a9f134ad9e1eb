-- One month of the demo's events. {partition}: its qualified name; {lo}, {hi}: its ids.
CREATE TABLE {partition} PARTITION OF public.events FOR VALUES FROM ({lo}) TO ({hi})
