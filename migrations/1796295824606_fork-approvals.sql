-- Up Migration
-- Fork trust pinned to a commit (issue 13 §3). Under `forks: label` a fork PR is
-- deployed only at the head SHA a user with write access approved (the opt-in label
-- applied by them, or their `/preview approve` comment): a later push to the fork
-- stays undeployed until approved again. One row per PR, replaced by each approval and
-- deleted when the opt-in label is removed. Not tied to environments rows: a fork PR
-- may be approved before previewd recorded anything for it.

CREATE TABLE fork_approvals (
  repo        text        NOT NULL,
  pr          integer     NOT NULL CHECK (pr > 0),
  sha         text        NOT NULL CHECK (sha ~ '^[0-9a-f]{40}$'),
  -- Display and audit only: the login GitHub named as the approver.
  approved_by text        NOT NULL,
  approved_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo, pr)
);

-- Down Migration
DROP TABLE fork_approvals;
