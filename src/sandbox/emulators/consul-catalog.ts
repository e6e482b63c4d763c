// The Consul catalog's records as the cluster emulator stores them (wire-shaped, as
// Consul's API names them). A module of its own so that cluster.ts and the agents
// (consul-agents.ts) share them without importing each other. Each is a subset of the
// hashicorp/consul struct named beside it; consul.ts builds the wire answers from them.

// api/health.go: HealthPassing, HealthWarning, HealthCritical. Its fourth status,
// HealthMaint ("maintenance"), is never stored: a maintenance check (_node_maintenance,
// _service_maintenance:<id>) is critical. A catalog register may store any other string
// (state/catalog.go ensureCheckTxn validates none), which only a cast puts in this type.
export type CheckStatus = 'passing' | 'warning' | 'critical';

/**
 * agent/structs/structs.go NodeService (ID, Service, Tags, Meta, Port, Address,
 * EnableTagOverride, RaftIndex) with the Node it sits on; not kept: Kind, TaggedAddresses,
 * Weights (consul.ts answers Passing 1, Warning 1, NodeService's default), Proxy, Connect.
 */
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

/**
 * api/health.go HealthCheck (= agent/structs HealthCheck on the wire): Node, CheckID, Name,
 * Status, Notes, Output, ServiceID, ServiceName, ServiceTags, Type, Definition
 * (HealthCheckDefinition: HTTP, TCP, … as registered), CreateIndex, ModifyIndex; not kept:
 * ExposedPort, Namespace, Partition, PeerName.
 */
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

/** agent/structs/structs.go Node: ID, Node, Address, Datacenter, TaggedAddresses, Meta, RaftIndex. */
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

/**
 * What an agent (agent/structs ServiceDefinition) or catalog (structs.RegisterRequest's
 * Service and Checks) registration carries once decoded; consul.ts decodes the wire and
 * validates it as each endpoint does.
 */
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
