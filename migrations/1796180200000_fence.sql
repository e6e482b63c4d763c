-- Up Migration
-- The fencing token of the newest per-PR lock holder that wrote this environment's
-- observed state (issue 12, item 7). A reconcile's writes set it to their token and
-- are refused when it is higher: a holder that lost its lock (stalled, partitioned)
-- can no longer overwrite what the newer holder recorded. 0: no holder wrote yet.
-- It is also the floor for the next token: Redis's counter may be reset (flushed, or
-- expired with its key), and a token at or below it would be refused forever.

ALTER TABLE environments ADD COLUMN fence bigint NOT NULL DEFAULT 0 CHECK (fence >= 0);

-- Down Migration
ALTER TABLE environments DROP COLUMN fence;
