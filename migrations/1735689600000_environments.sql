-- Up Migration
-- previewd's own state. Runs with search_path set to the configured schema, so
-- names are unqualified. One row per repo+PR (desired and observed together) and
-- an append-only event history.

CREATE TABLE environments (
  repo                 text        NOT NULL,
  pr                   integer     NOT NULL CHECK (pr > 0),
  -- Unique: two repos whose slugs collide must fail loudly, never share resources.
  env_id               text        NOT NULL UNIQUE,
  desired_present      boolean     NOT NULL,
  desired_sha          text,
  desired_reason       text        NOT NULL,
  desired_generation   bigint      NOT NULL DEFAULT 1,
  observed_generation  bigint      NOT NULL DEFAULT 0,
  pr_updated_at        timestamptz NOT NULL,
  labels               jsonb       NOT NULL DEFAULT '[]'::jsonb,
  status               text        NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'provisioning', 'ready', 'degraded', 'failed', 'tearing_down', 'removed')),
  observed_sha         text,
  last_error           text,
  components           jsonb       NOT NULL DEFAULT '{}'::jsonb,
  resources            jsonb       NOT NULL DEFAULT '{}'::jsonb,
  github_deployment_id bigint,
  github_comment_id    bigint,
  last_push_at         timestamptz NOT NULL DEFAULT now(),
  ready_at             timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo, pr),
  CHECK (NOT desired_present OR desired_sha IS NOT NULL)
);

CREATE INDEX environments_status_idx ON environments (status);

CREATE TABLE environment_events (
  id      bigserial   PRIMARY KEY,
  repo    text        NOT NULL,
  pr      integer     NOT NULL,
  -- clock_timestamp: several events of one transaction keep their real order in time.
  at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  type    text        NOT NULL,
  message text        NOT NULL,
  data    jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX environment_events_key_idx ON environment_events (repo, pr, id DESC);

-- Down Migration
DROP TABLE environment_events;
DROP TABLE environments;
