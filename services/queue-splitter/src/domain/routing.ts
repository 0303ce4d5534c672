import { messageFilterRegex, type QueueMode } from '#shared/queues/index.js';
import type { Destination, Route, RoutedMessage } from './broker.js';

export type { QueueMode };

/** One session's share of a queue: where its messages go and which ones they are. */
export interface SessionSplit {
  output: string;
  /** Attribute/header name → regex; every one must match. Empty: matches nothing (queues.md). */
  message_filter: Readonly<Record<string, string>>;
  mode: QueueMode;
}

type Matcher = (attributes: RoutedMessage['attributes']) => boolean;

/**
 * A filter as a predicate: every named attribute present and matching its regex (unanchored, as
 * the CLI's regex crate searches). An empty filter matches nothing: a queue the session did not
 * name still gets a temporary queue of its own, so its local app steals nothing.
 */
export function compileFilter(filter: Readonly<Record<string, string>>): Matcher {
  const tests = Object.entries(filter).map(([name, re]) => [name, messageFilterRegex(re)] as const);
  if (tests.length === 0) return () => false;
  return (attributes) =>
    tests.every(([name, re]) => {
      const v = attributes[name];
      return v !== undefined && re.test(v);
    });
}

/**
 * The forwarder's decision for one queue: a message goes to one matching `steal` session (one
 * at random when several match, so no message reaches two of them), to every matching `mirror`
 * session, and to the fallback (the deployed workload) unless a `steal` session took it.
 * `pick(n)` returns an index below n (the caller's randomness; the domain has none).
 */
export function routerFor(sessions: readonly SessionSplit[], fallback: string, pick: (n: number) => number): Route {
  const compiled = sessions.map((s) => ({ s, match: compileFilter(s.message_filter) }));
  const toFallback: Destination = { name: fallback, kind: 'fallback' };
  return (message) => {
    const stealers: SessionSplit[] = [];
    const out: Destination[] = [];
    for (const { s, match } of compiled) {
      if (!match(message.attributes)) continue;
      if (s.mode === 'mirror') out.push({ name: s.output, kind: 'session' });
      else stealers.push(s);
    }
    if (stealers.length > 0) out.push({ name: stealers[pick(stealers.length)]!.output, kind: 'session' });
    else out.push(toFallback);
    return out;
  };
}
