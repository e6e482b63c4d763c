-- Up Migration
-- Issue 13 §1: a head SHA whose CI build is not done yet is not deployed; its
-- environment waits in status 'waiting_for_build' (the build poll looks at those
-- again). Build hints (check_run, status... webhooks) name a commit, not a PR: the
-- index finds the environments wanting that head SHA.

ALTER TABLE environments DROP CONSTRAINT environments_status_check;
ALTER TABLE environments ADD CONSTRAINT environments_status_check
  CHECK (status IN ('pending', 'waiting_for_build', 'provisioning', 'ready', 'degraded', 'failed', 'tearing_down', 'removed'));
CREATE INDEX environments_desired_sha_idx ON environments (repo, desired_sha) WHERE desired_present;

-- Down Migration
DROP INDEX environments_desired_sha_idx;
UPDATE environments SET status = 'pending' WHERE status = 'waiting_for_build';
ALTER TABLE environments DROP CONSTRAINT environments_status_check;
ALTER TABLE environments ADD CONSTRAINT environments_status_check
  CHECK (status IN ('pending', 'provisioning', 'ready', 'degraded', 'failed', 'tearing_down', 'removed'));
