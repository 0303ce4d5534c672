import { Counter, Registry } from 'prom-client';
import type { StartedSession } from '../../app/start-session.js';
import type { TrafficMeter } from '../../app/count-agent-message.js';

const LABELS = ['port', 'namespace', 'target', 'user_id'] as const;

/**
 * What this gateway's relay saw, as the real operator names it: stolen connections and HTTP
 * requests per port and target, and relayed bytes. Counted in-process (the relay is the only
 * one who sees traffic), served beside the ledger-derived metrics.
 */
export class TrafficMetrics implements TrafficMeter {
  readonly registry = new Registry();
  readonly #connections = new Counter({
    name: 'mirrord_stolen_connections_count',
    help: 'TCP connections stolen through this gateway',
    labelNames: LABELS,
    registers: [this.registry],
  });
  readonly #requests = new Counter({
    name: 'mirrord_stolen_requests_count',
    help: 'HTTP requests stolen through this gateway',
    labelNames: LABELS,
    registers: [this.registry],
  });
  readonly #bytes = new Counter({
    name: 'mirrord_teams_relayed_bytes_total',
    help: 'mirrord-protocol bytes relayed between clients and agents',
    labelNames: ['direction'],
    registers: [this.registry],
  });

  #labels(s: StartedSession, port: number) {
    return { port, namespace: s.target.namespace, target: s.target.path, user_id: s.client.user_id };
  }

  stolenConnection(s: StartedSession, port: number): void {
    this.#connections.inc(this.#labels(s, port));
  }

  stolenRequest(s: StartedSession, port: number): void {
    this.#requests.inc(this.#labels(s, port));
  }

  readonly bytes = (direction: 'client_to_agent' | 'agent_to_client', n: number): void => {
    this.#bytes.inc({ direction }, n);
  };
}
