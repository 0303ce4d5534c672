import * as z from 'zod';
import { commandSubject, querySubject } from '../nats/subjects.js';
import { contract } from './contract.js';
import type { AgentConfig } from '../mirrord-config/agent.js';

const SERVICE = 'agent-manager';
const sessionId = z.string().regex(/^[0-9A-F]{16}$/, 'expected 16 upper-case hex digits');

/** The running pod a session attaches to, as the gateway resolved it. */
const pod = z.object({
  name: z.string(),
  node: z.string(),
  ip: z.string(),
  labels: z.record(z.string(), z.string()),
  container: z.string(),
  /** From the pod's containerStatuses (`containerd://<id>`): where a targeted agent attaches. */
  container_id: z.string().optional(),
  container_runtime: z.enum(['containerd', 'docker', 'cri-o']).optional(),
});

const strMap = z.record(z.string(), z.string());
/** `AgentConfig` after `parseAgentConfig`: the gateway sends it, agent-manager builds from it. */
const agentConfig = z.object({
  image: z.string().min(1),
  image_pull_policy: z.string(),
  image_pull_secrets: z.array(strMap),
  labels: strMap,
  annotations: strMap,
  ttl: z.number().int().min(0),
  tolerations: z.array(z.record(z.string(), z.unknown())),
  resources: z.record(z.string(), z.unknown()),
  node_selector: strMap,
  service_account: z.string().optional(),
  privileged: z.boolean(),
  startup_timeout: z.number().int().min(1),
  ephemeral: z.boolean(),
  disabled_capabilities: z.array(z.string()),
  namespace: z.string().optional(),
  log_level: z.string(),
  json_log: z.boolean(),
}) satisfies z.ZodType<AgentConfig>;

/**
 * A copy as the session asks for it. Through the CLI's `CopyTarget` resource: `name` connects
 * to that copy, `spec` is the resource's spec as the CLI sent it (listed back unchanged: the
 * CLI reuses a copy whose spec equals its own) and `idle_ttl` its seconds kept idle.
 */
const copyRequest = z.object({
  scale_down: z.boolean(),
  name: z.string().optional(),
  spec: z.record(z.string(), z.unknown()).optional(),
  idle_ttl: z.number().int().min(0).max(86_400).optional(),
});

/** Make what a session needs in the cluster (agent, copy, scale-down) before it starts. */
const prepare = contract(
  commandSubject(SERVICE, 'prepare'),
  z.object({
    session_id: sessionId,
    namespace: z.string().min(1, 'is required'),
    /** Canonical target path, e.g. `deployment/x`. */
    target: z.string().min(1, 'is required'),
    pod: pod.optional(),
    /** The config's `agent` section as the shared parser normalised it (defaults filled in). */
    agent: agentConfig,
    /** Present when the config asks for a copy (`feature.copy_target` enabled). */
    copy_target: copyRequest.optional(),
    client: z.record(z.string(), z.unknown()).default({}),
  }),
  z.object({
    agent: z.enum(['job', 'ephemeral', 'copy']),
    /** Where the operator reaches the agent. */
    address: z.string(),
    copy_pod: z.string().optional(),
    /** Present when the agent speaks TLS: the name its certificate carries. */
    tls_server_name: z.string().optional(),
  }),
);

/** Undo a session's objects (agent, copy, scale-down). */
const release = contract(
  commandSubject(SERVICE, 'release'),
  z.object({ session_id: sessionId }),
  z.object({ deleted: z.number().int(), restored: z.number().int() }),
  30_000,
);

const copyTarget = z.object({
  name: z.string(),
  namespace: z.string(),
  target: z.string(),
  scale_down: z.boolean(),
  creator_session: z.string(),
  phase: z.enum(['InProgress', 'Ready', 'Failed']),
  created_at: z.number(),
  idle_ttl: z.number(),
  idle_since: z.number().optional(),
  /** The `CopyTarget` spec the CLI created it with (absent for copies made by a session's config). */
  spec: z.record(z.string(), z.unknown()).optional(),
  /** The creator's `user_id` (the certificate's public key): the CLI reuses only its own copies. */
  user_id: z.string().optional(),
  /** The authenticated user the copy was made for: the gateway lets only them connect to it. */
  client_user: z.string().optional(),
});

/** The copy pods agent-manager keeps, per namespace or all. */
const copyTargets = contract(
  querySubject(SERVICE, 'copytargets'),
  z.object({ namespace: z.string().optional() }),
  z.object({ copy_targets: z.array(copyTarget) }),
  10_000,
);

/** The CLI's `POST …/copytargets`: the copy alone, for a session that connects to it next. */
const createCopy = contract(commandSubject(SERVICE, 'create-copy'), prepare.request, copyTarget, 120_000);

/** `DELETE …/copytargets/{name}`: an idle copy (or one whose session never started) goes, its deployment restored. */
const deleteCopy = contract(
  commandSubject(SERVICE, 'delete-copy'),
  z.object({ namespace: z.string().min(1, 'is required'), name: z.string().min(1, 'is required') }),
  z.object({ deleted: z.boolean() }),
  30_000,
);

/** agent-manager's wires. */
export const agentManagerContracts = Object.freeze({ prepare, release, copyTargets, createCopy, deleteCopy });
export type PrepareRequestBody = z.output<typeof prepare.request>;
export type PreparedAgentReply = z.output<typeof prepare.reply>;
/** The target pod of a prepare request (absent: targetless). */
export type TargetPod = z.output<typeof pod>;
/** A copy target as agent-manager lists and creates it. */
export type CopyTargetReply = z.output<typeof copyTarget>;
