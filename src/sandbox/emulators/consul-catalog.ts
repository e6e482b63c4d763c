// The Consul catalog's records as the cluster emulator stores them (wire-shaped, as
// Consul's API names them). A module of its own so that cluster.ts and the agents
// (consul-agents.ts) share them without importing each other.

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface ConsulService {
  ID: string;
  Service: string;
  Tags: string[];
  Meta: Record<string, string>;
  Port: number;
  Address: string;
  Node: string;
  EnableTagOverride: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface ConsulCheck {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  Definition: Record<string, unknown>;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface ConsulNode {
  ID: string;
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
}

/** What an agent or catalog registration carries once decoded (consul.ts decodes the wire). */
export interface ServiceRegistration {
  ID: string;
  Name: string;
  Tags: string[];
  Meta: Record<string, string>;
  Port: number;
  Address: string;
  EnableTagOverride?: boolean;
  Checks: { CheckID: string; Name: string; Status: CheckStatus; Type: string; Definition: Record<string, unknown>; Notes?: string }[];
}
