// Every router previewd mounts is built here, so all of them match paths the same
// strict way. @koa/router matches case-insensitively and accepts a trailing slash by
// default; a path spelled differently from the route must not be routed at all,
// because guards that look at the path (and proxies in front that filter by path)
// would disagree with the router about what it means (issue 10: `/Admin/...`
// reached the admin handlers while the auth middleware only matched `/admin`).
import { Router } from '@koa/router';

export function strictRouter(options: { prefix?: string } = {}): Router {
  return new Router({ ...options, sensitive: true, strict: true });
}
