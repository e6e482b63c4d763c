// The one name under which an instance keeps its Redis keys (queue, delivery dedupe,
// per-PR locks and fences): the daemon and the CLI must agree on it, or the CLI's lock
// would not exclude the daemon's workers.
export function redisPrefix(instance: string): string {
  return `previewd:${instance}`;
}
