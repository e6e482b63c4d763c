-- Up Migration
-- Ordering of desired state without the local clock (issue 10, item 4).
-- pr_updated_at now holds only GitHub's own pull_request.updated_at; previewd's own
-- decisions (admin, CLI and GC teardowns) are marked desired_by = 'previewd' and
-- ordered by desired_generation instead of a made-up timestamp. pr_closed keeps the
-- last GitHub fact about the PR's state, so a close wins a same-second tie.

ALTER TABLE environments
  ADD COLUMN desired_by text NOT NULL DEFAULT 'github' CHECK (desired_by IN ('github', 'previewd')),
  ADD COLUMN pr_closed boolean NOT NULL DEFAULT false;

-- Rows whose desired state previewd decided itself carry a timestamp previewd made
-- up from its own clock (possibly hours ahead). Give them back the newest timestamp
-- GitHub sent, from the event history, so a real reopen is not dropped.
UPDATE environments e SET
  desired_by = 'previewd',
  pr_updated_at = COALESCE(
    (SELECT max((ev.data->>'prUpdatedAt')::timestamptz) FROM environment_events ev
      WHERE ev.repo = e.repo AND ev.pr = e.pr AND ev.type = 'desired' AND ev.message LIKE 'pull\_request.%'),
    e.pr_updated_at)
WHERE e.desired_reason ~ '^(admin|cli|gc): ';

UPDATE environments SET pr_closed = true
WHERE desired_by = 'github' AND desired_reason ~ '^pull_request\.[a-z_]+: closed: ';

-- Down Migration
ALTER TABLE environments DROP COLUMN pr_closed, DROP COLUMN desired_by;
