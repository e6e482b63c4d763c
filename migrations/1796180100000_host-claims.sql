-- Up Migration
-- Which environment routes which host (issue 10, item 6). The primary key makes two
-- environments holding one host impossible, whatever the repos, patterns or replicas;
-- the reconciler claims an environment's hosts before it creates anything and refuses
-- (a failure on the PR) when another live environment holds one.

CREATE TABLE host_claims (
  host       text        PRIMARY KEY,
  repo       text        NOT NULL,
  pr         integer     NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (repo, pr) REFERENCES environments (repo, pr) ON DELETE CASCADE
);

CREATE INDEX host_claims_env_idx ON host_claims (repo, pr);

-- Down Migration
DROP TABLE host_claims;
