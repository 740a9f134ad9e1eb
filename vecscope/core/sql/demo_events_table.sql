-- Demo table: product events of a multi-tenant SaaS, partitioned by month. Ids are
-- handed out in time order, so each month is a range of ids (the primary key must hold
-- the partition key: the id alone, which the lab needs to tell rows apart).
CREATE TABLE public.events (
    id bigint PRIMARY KEY,
    tenant_id text NOT NULL,
    kind text NOT NULL,
    created_at timestamptz NOT NULL,
    body text NOT NULL,
    embedding vector(384)) PARTITION BY RANGE (id)
