// zod schemas of the Nomad wire fields previewd reads (nothing more), named after the type.
import { z } from 'zod';

const stringMap = z.record(z.string(), z.string()).nullish().transform((m) => m ?? {});

export const NomadJobStubWire = z.object({
  ID: z.string(),
  Status: z.string(),
  Stop: z.boolean().nullish().transform((v) => v ?? false),
  Meta: stringMap,
  JobModifyIndex: z.number(),
});

export const NomadJobWire = NomadJobStubWire.extend({ Version: z.number() });

/** GET /v1/job/:id/versions (command/agent/job_endpoint.go jobVersions): newest first. */
export const NomadJobVersionsWire = z.object({
  Versions: z.array(
    z.object({ Version: z.number(), JobModifyIndex: z.number(), Stable: z.boolean().nullish().transform((v) => v ?? false), Meta: stringMap }),
  ),
});

export const NomadRegisterResponseWire = z.object({
  EvalID: z.string(),
  JobModifyIndex: z.number(),
  Warnings: z.string().nullish().transform((w) => w ?? ''),
});

export const NomadDeploymentWire = z.object({
  ID: z.string(),
  JobID: z.string(),
  JobVersion: z.number(),
  Status: z.string(),
  StatusDescription: z.string(),
  ModifyIndex: z.number(),
});

const TaskEventWire = z.object({
  Type: z.string(),
  DisplayMessage: z.string().nullish().transform((v) => v ?? ''),
  Time: z.number(),
  ExitCode: z.number().nullish().transform((v) => v ?? 0),
});

const countMap = z.record(z.string(), z.number()).nullish().transform((m) => m ?? {});

/** nomad/structs/structs.go AllocMetric: the fields a placement failure is explained by. */
const AllocMetricWire = z.object({
  NodesEvaluated: z.number().nullish().transform((v) => v ?? 0),
  NodesFiltered: z.number().nullish().transform((v) => v ?? 0),
  NodesExhausted: z.number().nullish().transform((v) => v ?? 0),
  ConstraintFiltered: countMap,
  ClassFiltered: countMap,
  DimensionExhausted: countMap,
  ClassExhausted: countMap,
  QuotaExhausted: z.array(z.string()).nullish().transform((v) => v ?? []),
  CoalescedFailures: z.number().nullish().transform((v) => v ?? 0),
});

export const NomadEvaluationWire = z.object({
  ID: z.string(),
  Status: z.string(),
  StatusDescription: z.string().nullish().transform((v) => v ?? ''),
  BlockedEval: z.string().nullish().transform((v) => v ?? ''),
  FailedTGAllocs: z.record(z.string(), AllocMetricWire).nullish().transform((m) => m ?? {}),
});

export const NomadAllocationWire = z.object({
  ID: z.string(),
  TaskGroup: z.string(),
  JobVersion: z.number(),
  ClientStatus: z.string(),
  DesiredStatus: z.string(),
  DeploymentStatus: z.object({ Healthy: z.boolean().nullable() }).nullish(),
  TaskStates: z
    .record(z.string(), z.object({ State: z.string(), Failed: z.boolean(), Events: z.array(TaskEventWire).nullish() }))
    .nullish(),
});
