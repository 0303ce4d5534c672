import type { ClientFields, QueueSplitEndedData, WorkloadRestoredData } from '#shared/events/index.js';
import type * as z from 'zod';
import type { queueSplitterContracts } from '#shared/contracts/index.js';
import type { QueueBroker } from '../domain/broker.js';
import type { AskedSplit, QueueDecl, QueueType, WorkloadKind } from '../domain/registry.js';
import type { QueueMode } from '../domain/routing.js';
import type { EnvVar, PodTemplate } from '../domain/workload.js';

export interface Workload {
  namespace: string;
  kind: WorkloadKind;
  name: string;
}
export const workloadPath = (w: Workload): string => `${w.kind.toLowerCase()}/${w.name}`;

/** The cluster as the splitter reads and patches it. */
export interface ClusterPort {
  /** Queues declared for the workload (registries and topics consumers naming it). */
  declarations(w: Workload, container: string | undefined): Promise<QueueDecl[]>;
  template(w: Workload): Promise<PodTemplate>;
  /** Read-modify-write of the pod template (retried on a conflicting write). */
  updateTemplate(w: Workload, change: (t: PodTemplate) => PodTemplate): Promise<void>;
  /** Until the workload's pods all run the current template; false after `timeoutMs`. */
  waitRolledOut(w: Workload, timeoutMs: number): Promise<boolean>;
}

/** One session's share of a split queue, as every replica's forwarder routes it. */
export interface SessionShare {
  output: string;
  /** Kafka: the group its local app reads `output` with. */
  group?: string;
  message_filter: Record<string, string>;
  mode: QueueMode;
  client_user: string;
  /** When the share was made (ms): a share whose session never started is released after a while. */
  since: number;
}

/**
 * A split queue of one workload, shared by every replica (NATS KV): the fallback the deployed
 * workload reads while it is patched, what the patch replaced (so a restore after a crash puts
 * it back), and the sessions splitting it. `draining`: the last session ended, the workload is
 * emptying the fallback before it is restored; no forwarder runs.
 */
export interface SplitRecord {
  queue_type: QueueType;
  queue_id: string;
  workload: Workload;
  decl: QueueDecl;
  original: string;
  fallback: string;
  /** Kafka: the workload's own group (the forwarder's) and the one its patched pods use. */
  group?: { original: string; fallback: string };
  /** What the patch replaced, per location of `decl.names` then `decl.groups` (null: absent). */
  replaced?: (EnvVar | null)[];
  patched_by: string;
  phase: 'active' | 'draining';
  sessions: Record<string, SessionShare>;
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** Shared split state with optimistic concurrency (create fails on an existing key, update on a stale revision). */
export interface SplitStore {
  get(key: string): Promise<Versioned<SplitRecord> | undefined>;
  create(key: string, value: SplitRecord): Promise<number | undefined>;
  update(key: string, value: SplitRecord, revision: number): Promise<number | undefined>;
  remove(key: string, revision: number): Promise<boolean>;
  list(): Promise<[string, Versioned<SplitRecord>][]>;
}

/**
 * The lifecycle events the splitter records itself: a split's end and a workload's restore.
 * Queue Split Started and Workload Patched are recorded with Session Started (the gateway
 * passes the split's answer to the ledger), because a split is made before its session starts.
 */
export interface SplitLedger {
  /** The session's status in the ledger (`unknown`: it never started). */
  status(sessionId: string): Promise<'pending' | 'live' | 'ended' | 'unknown'>;
  splitEnded(b: Omit<QueueSplitEndedData, keyof ClientFields> & { session_id: string }): Promise<void>;
  workloadRestored(b: WorkloadRestoredData & { session_id: string }): Promise<void>;
}

/** A broker for a declared queue (SQS: the one configured; Kafka: its client config's). */
export interface Brokers {
  of(decl: Pick<QueueDecl, 'queue_type' | 'client_config'>): Promise<QueueBroker>;
}

export interface SplitRequest {
  session_id: string;
  workload: Workload;
  container?: string;
  client_user: string;
  splits: AskedSplit[];
}

/** The split's answer to the gateway, as its contract declares it (one definition, in shared/). */
export type SplitAnswer = z.output<(typeof queueSplitterContracts)['split']['reply']>;
/** A workload patch as Workload Patched records it. */
export type WorkloadPatch = SplitAnswer['patches'][number];

/** The objects kept per split for `kubectl get` and cleanup (MirrordSQSSession, MirrordKafkaEphemeralTopic). */
export interface SplitObjects {
  sqsSession(o: {
    workload: Workload;
    session_id: string;
    queue_id: string;
    message_filter: Record<string, string>;
    env: string;
    original: string;
    output: string;
  }): Promise<void>;
  removeSqsSession(o: { workload: Workload; session_id: string; queue_id: string }): Promise<void>;
  /** `session_id` absent: the workload's fallback topic. */
  ephemeralTopic(o: {
    workload: Workload;
    topic: string;
    client_config: string;
    queue_id: string;
    session_id?: string;
  }): Promise<void>;
  removeEphemeralTopic(topic: string): Promise<void>;
}
