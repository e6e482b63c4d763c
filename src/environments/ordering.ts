// Pure: does a fact from GitHub (a webhook, or GitHub's answer to GC) replace the
// desired state we hold? Only GitHub's own clock and GitHub's own facts decide;
// previewd's local clock never enters, so a skewed host cannot drop real events.
//
// pull_request.updated_at has one-second resolution, so two events of one PR often
// share it (a push and a close, a push and an unlabel). Ties are broken by what the
// events say, never by arrival order alone:
// - a close wins every tie (fail closed: a PR that may be closed loses its preview);
// - a push wins a tie only when it continues the push chain (its `before` is the head
//   we hold), so an older head SHA never overwrites a newer one;
// - an event that changes other facts (labels, draft, base) wins a tie only when it
//   is about the head we hold; a different head at the same second is not provably newer.
// previewd's own decisions (admin, CLI and GC teardowns) carry no GitHub timestamp;
// they are ordered by the per-PR desired generation instead (see recordTeardown), and
// any strictly newer GitHub fact supersedes them, except a fact read from a listing
// (resync) about the very head previewd removed: a listing says how the PR is, not that
// anyone asked for it again, and updated_at moves for comments and reviews too.

/** What a GitHub event changed, for breaking ties of equal updated_at. */
export type GitHubChange = 'head' | 'close' | 'facts';

/** Who decided the desired state we hold. */
export type DesiredBy = 'github' | 'previewd';

export interface HeldOrder {
  /** The newest pull_request.updated_at accepted from GitHub (never a local time). */
  prUpdatedAt: Date;
  desiredSha: string | null;
  desiredBy: DesiredBy;
  desiredPresent: boolean;
  /** The last accepted GitHub fact said the PR is closed. */
  prClosed: boolean;
}

export interface IncomingFact {
  prUpdatedAt: Date;
  sha: string | null;
  beforeSha?: string | null;
  change: GitHubChange;
  /** Read from the REST listing (resync) rather than sent as an event. */
  fromListing?: boolean;
}

export type OrderDecision = { accept: true; why: string } | { accept: false; why: string };

export function orderGitHubFact(held: HeldOrder | null, incoming: IncomingFact): OrderDecision {
  if (held === null) return { accept: true, why: 'first fact for this PR' };
  if (incoming.fromListing && held.desiredBy === 'previewd' && !held.desiredPresent && incoming.change !== 'close' && incoming.sha === held.desiredSha) {
    return { accept: false, why: 'previewd removed this head (GC or an operator); a listing does not bring it back' };
  }
  const incomingAt = incoming.prUpdatedAt.getTime();
  const heldAt = held.prUpdatedAt.getTime();
  if (incomingAt > heldAt) return { accept: true, why: 'newer than what is stored' };
  if (incomingAt < heldAt) return { accept: false, why: 'older than what is stored' };
  if (incoming.change === 'close') return { accept: true, why: 'a close wins a tie' };
  if (held.prClosed) return { accept: false, why: 'the PR was closed in the same second' };
  if (held.desiredBy === 'previewd') return { accept: false, why: 'not newer than the last GitHub fact previewd acted on' };
  if (incoming.change === 'head') {
    return incoming.beforeSha && incoming.beforeSha === held.desiredSha
      ? { accept: true, why: 'continues the push chain' }
      : { accept: false, why: 'a push in the same second that does not continue the chain' };
  }
  return incoming.sha !== null && incoming.sha === held.desiredSha
    ? { accept: true, why: 'same head, newer facts' }
    : { accept: false, why: 'another head in the same second' };
}
