-- Up Migration
-- The end-to-end test gate (issue 16): the one test run of each PR, at most one at a
-- time. A newer SHA or a rerun replaces the row (attempt + 1); the history is in the
-- commit statuses and check runs on GitHub. Writes compare-and-set on (attempt, state),
-- so two replicas' runners cannot both start, finish or tell GitHub the same run twice.

CREATE TABLE e2e_runs (
  repo text NOT NULL,
  pr integer NOT NULL CHECK (pr > 0),
  sha text NOT NULL CHECK (sha ~ '^[0-9a-f]{40}$'),
  state text NOT NULL CHECK (state IN ('queued', 'running', 'passed', 'failed', 'cancelled')),
  attempt integer NOT NULL DEFAULT 1 CHECK (attempt > 0),
  job_id text,
  eval_id text,
  reason text,
  output text,
  queued_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  check_run_id bigint,
  reported text,
  job_purged boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo, pr)
);

-- The runner's pass: what is running (the concurrency bound) and what still needs work.
CREATE INDEX e2e_runs_open ON e2e_runs (state) WHERE state IN ('queued', 'running') OR NOT job_purged;

-- Down Migration
DROP TABLE e2e_runs;
