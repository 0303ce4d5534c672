/**
 * What the splitter needs of a broker (SQS, Kafka), so the split's use cases are written once.
 * Names are broker names (an SQS queue name, a Kafka topic), never URLs: a queue's URL is the
 * adapter's business, and resources, events and status show names.
 */

/** The part of a message a split filters on: SQS string message attributes, Kafka record headers. */
export interface RoutedMessage {
  attributes: Readonly<Record<string, string>>;
}

/**
 * Where one message goes: one or more destination names (a session's temporary queue/topic, the
 * workload's fallback), each with the label its metric counts it under. Never empty: a message
 * nobody wants goes to the fallback.
 */
export type Route = (message: RoutedMessage) => readonly Destination[];
export interface Destination {
  name: string;
  /** `session` (a session's temporary queue/topic) or `fallback` (the deployed workload's). */
  kind: 'session' | 'fallback';
}

export interface ForwardOptions {
  /** Kafka: the workload's own consumer group, so committed offsets continue where it stopped. */
  group?: string;
  /** Called once per message per destination after the send succeeded (before the delete/commit). */
  onRouted?: (destination: Destination, message: RoutedMessage) => void;
  /** Called when a message was sent again after a crash or retry (a duplicate the broker may hold). */
  onRetry?: (count: number) => void;
  /** A failure the forwarder survives (broker down, send refused): logged by the caller, retried. */
  onError?: (err: unknown) => void;
}

/** A running forwarder: `stop()` finishes the batch in hand (sent, then deleted/committed) and stops. */
export interface Forwarder {
  stop(): Promise<void>;
  /** Messages received and not yet deleted/committed, and the newest's age in ms (the lag). */
  lag(): { messages: number; oldestMs: number };
}

export interface QueueBroker {
  readonly type: 'SQS' | 'Kafka';
  /** Does `name` exist (the registry names a real queue/topic)? */
  exists(name: string): Promise<boolean>;
  /**
   * Creates `name` like `original`: SQS copies its attributes (FIFO, visibility timeout, …) and
   * tags; Kafka its partition count and topic configs. Idempotent: an existing `name` is kept.
   */
  createLike(original: string, name: string): Promise<void>;
  /** Deletes `name`; a missing one is not an error (cleanup runs again after a crash). */
  delete(name: string): Promise<void>;
  /** Messages waiting in `name` (SQS: visible and in flight; Kafka: the group's lag on it). */
  pending(name: string, group?: string): Promise<number>;
  /**
   * Consumes `source` and sends each message to where `route` says, then deletes (SQS) or
   * commits (Kafka) it: at least once, never lost — a crash between send and delete/commit
   * sends it again. Attributes/headers, body, key, FIFO group and deduplication ids are kept.
   */
  forward(source: string, route: Route, options?: ForwardOptions): Forwarder;
  /** Moves every waiting message from `from` to `to` (the same at-least-once order); returns how many. */
  moveAll(from: string, to: string, options?: { group?: string }): Promise<number>;
  close(): Promise<void>;
}
