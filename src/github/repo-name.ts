// The one spelling of a GitHub repository name accepted anywhere in previewd (config,
// webhooks, admin API, CLI, GitHub client, naming): owner and name of at most 100
// characters each from GitHub's own alphabet. A leaf module, so pure code may import it.
const SEGMENT_SOURCE = '[A-Za-z0-9_.-]{1,100}';

/** An owner or a repository name on its own. */
export const REPO_SEGMENT = new RegExp(`^${SEGMENT_SOURCE}$`);
/** "owner/name". */
export const REPO_NAME = new RegExp(`^${SEGMENT_SOURCE}/${SEGMENT_SOURCE}$`);
