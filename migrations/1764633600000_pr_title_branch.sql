-- Up Migration
-- The PR's title and head branch, for the dashboard only: attacker-controlled text
-- (anyone can open a PR from a fork), displayed escaped and never used in a name,
-- a template or a statement. NULL for rows recorded before this migration.
ALTER TABLE environments ADD COLUMN IF NOT EXISTS pr_title text, ADD COLUMN IF NOT EXISTS head_ref text;

-- Down Migration
ALTER TABLE environments DROP COLUMN IF EXISTS head_ref, DROP COLUMN IF EXISTS pr_title;
