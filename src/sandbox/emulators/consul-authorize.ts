// POST /v1/internal/acl/authorize for the Consul emulator: the authorizer's answer to a
// list of (resource, segment, access) questions, changing nothing. From hashicorp/consul
// agent/acl_endpoint.go ACLAuthorize (401 "ACL support disabled" with ACLs off, at most
// 64 requests, an empty list answers []), agent/structs/acl.go
// CreateACLAuthorizationResponses (each request echoed with Allow), acl/enforce.go
// Enforce (the texts for an unknown resource or access level). Each refusal is a
// BadRequestError, which agent/http.go answers 400 "Bad request: <reason>".
import type { Authorizer, GlobalResource, SegmentResource } from './consul-acl.js';
import type { EmulatorResponse } from './harness.js';

const SEGMENTED = new Set(['agent', 'event', 'intention', 'key', 'node', 'query', 'service', 'session']);
const GLOBAL = new Set(['acl', 'keyring', 'mesh', 'operator', 'peering']);

export interface AuthorizeQuestion {
  Resource?: unknown;
  Segment?: unknown;
  Access?: unknown;
}

export function aclAuthorize(
  body: unknown,
  authz: Pick<Authorizer, 'allowed'>,
  status400: (text: string) => EmulatorResponse,
  ok: (body: unknown) => EmulatorResponse,
): EmulatorResponse {
  const badRequest = (reason: string) => status400(`Bad request: ${reason}`);
  if (!Array.isArray(body)) return badRequest('Failed to decode request body: json: cannot unmarshal object into Go value of type []structs.ACLAuthorizationRequest');
  if (body.length > 64) return badRequest('Refusing to process more than 64 authorizations at once');
  const answers: Record<string, unknown>[] = [];
  for (const q of body as AuthorizeQuestion[]) {
    const resource = String(q.Resource ?? '');
    const segment = String(q.Segment ?? '');
    const access = String(q.Access ?? '').toLowerCase();
    if (!SEGMENTED.has(resource) && !GLOBAL.has(resource)) return badRequest(`Invalid ACL resource requested: "${resource}"`);
    // acl/enforce.go: list exists only for key (keyring, acl... take read/write).
    const levels = resource === 'key' ? ['read', 'list', 'write'] : ['read', 'write'];
    if (!levels.includes(access)) return badRequest(`Invalid access level for ${resource} resource: ${String(q.Access ?? '')}`);
    answers.push({ Resource: resource, Segment: segment, Access: q.Access, Allow: authz.allowed(resource as SegmentResource | GlobalResource, segment, access as 'read' | 'list' | 'write') });
  }
  return ok(answers);
}
