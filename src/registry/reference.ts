// An image reference as a registry client needs it: which registry host, which
// repository on it, which tag. Docker's conventions (distribution/reference
// normalize.go, "ParseNormalizedNamed"): a first path part without a "." or ":" and
// not "localhost" is not a host, so the image is on Docker Hub; Docker Hub's single
// names live under "library/"; docker.io and index.docker.io are names of Docker Hub,
// whose API answers at registry-1.docker.io.

export interface ImageReference {
  /** The registry host as credentials are keyed ("ghcr.io", "docker.io", "127.0.0.1:5000"). */
  registry: string;
  /** The repository on that registry ("acme/shop-api", "library/redis"). */
  repository: string;
  tag: string;
}

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API answers. */
export const DOCKER_HUB_API = 'https://registry-1.docker.io';
/** The other names Docker Hub goes by, as registry hosts and as config.json keys. */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

// distribution/reference regexp.go: path components are lower-case alphanumerics
// joined by ".", "_", "__" or "-" runs; tags are [\w][\w.-]{0,127}.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d{1,5})?$/;

/** The canonical host of a registry name: Docker Hub's aliases are one registry. */
export function canonicalRegistry(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

/** Parses "<name>:<tag>" (no digest); null when it is not a valid reference. */
export function parseImageReference(image: string): ImageReference | null {
  if (image.length > 255 + 129 || image.includes('@')) return null;
  const colon = image.lastIndexOf(':');
  const slash = image.lastIndexOf('/');
  if (colon <= slash) return null; // no tag
  const name = image.slice(0, colon);
  const tag = image.slice(colon + 1);
  if (!TAG.test(tag)) return null;
  const parts = name.split('/');
  const first = parts[0]!;
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasHost ? canonicalRegistry(first) : DOCKER_HUB;
  if (hasHost && !HOST.test(first)) return null;
  const path = hasHost ? parts.slice(1) : parts;
  if (path.length === 0 || !path.every((p) => COMPONENT.test(p))) return null;
  const repository = registry === DOCKER_HUB && path.length === 1 ? `library/${path[0]!}` : path.join('/');
  if (repository.length > 255) return null;
  return { registry, repository, tag };
}

export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}:${ref.tag}`;
}

/** The registry API's base URL: the configured endpoint, else https://<host> (Docker Hub's API host for Docker Hub). */
export function registryBaseUrl(registry: string, endpoints: Record<string, string>): string {
  const configured = endpoints[registry] ?? Object.entries(endpoints).find(([host]) => canonicalRegistry(host) === registry)?.[1];
  if (configured) return configured.replace(/\/+$/, '');
  return registry === DOCKER_HUB ? DOCKER_HUB_API : `https://${registry}`;
}
