-- Up Migration
-- The fork-trust notice (issue 13 §3) is durable state beside the approval it explains:
-- the latest thing previewd has to tell a fork PR about its trust (a label that approved
-- nothing, a new commit awaiting approval, an approval given or withdrawn), written in
-- the same statement that decides it, before the webhook is answered. The environment's
-- sticky comment renders it on every reconcile, so a crash after answering loses nothing.
-- A row may now hold a notice and no approval (sha NULL): withdrawing an approval, or a
-- label by a user without write access on a PR nobody approved.

ALTER TABLE fork_approvals
  ALTER COLUMN sha DROP NOT NULL,
  ALTER COLUMN approved_by DROP NOT NULL,
  ALTER COLUMN approved_at DROP NOT NULL,
  -- An approval sets its own time; a notice-only row has none.
  ALTER COLUMN approved_at DROP DEFAULT,
  ADD COLUMN notice text,
  ADD COLUMN notice_at timestamptz,
  ADD CONSTRAINT fork_approvals_approval_whole CHECK ((sha IS NULL) = (approved_by IS NULL) AND (sha IS NULL) = (approved_at IS NULL)),
  ADD CONSTRAINT fork_approvals_notice_whole CHECK ((notice IS NULL) = (notice_at IS NULL)),
  ADD CONSTRAINT fork_approvals_not_empty CHECK (sha IS NOT NULL OR notice IS NOT NULL);

-- Down Migration
DELETE FROM fork_approvals WHERE sha IS NULL;
ALTER TABLE fork_approvals
  DROP CONSTRAINT fork_approvals_not_empty,
  DROP CONSTRAINT fork_approvals_notice_whole,
  DROP CONSTRAINT fork_approvals_approval_whole,
  DROP COLUMN notice_at,
  DROP COLUMN notice,
  ALTER COLUMN approved_at SET DEFAULT now(),
  ALTER COLUMN approved_at SET NOT NULL,
  ALTER COLUMN approved_by SET NOT NULL,
  ALTER COLUMN sha SET NOT NULL;
