import type { HttpFilter as ConfigHttpFilter, InnerFilter } from '../mirrord-config/index.js';
import type { HttpFilterValue, SocketAddressValue, StealTypeValue } from './grammar/base.js';
import type { ClientMessage } from './grammar/messages.js';

/**
 * What the gateway reads in a client's message: port subscriptions go through policy and the
 * ledger first; everything else is relayed untouched.
 */
export type ClientIntent =
  | {
      kind: 'subscribe';
      mode: 'mirror' | 'steal';
      port: number;
      /** The filter as the mirrord config spells it (what policy evaluates). */
      filter?: ConfigHttpFilter;
      /** The filter as status tables and events show it. */
      rendered?: string;
      /** The steal request, for a refusal's `BlockedAction::Steal`. */
      steal?: StealTypeValue;
    }
  | { kind: 'unsubscribe'; mode: 'mirror' | 'steal'; port: number }
  | { kind: 'close' }
  | { kind: 'ping' }
  | { kind: 'version'; version: string }
  /** A file operation (policies' fs rules may answer it in the gateway). */
  | { kind: 'file'; request: Extract<ClientMessage, { $: 'FileRequest' }>['v'] }
  /** An outgoing TCP / UDP connect (policies' network.outgoing rules check it); `uid` from ConnectV2. */
  | { kind: 'connect'; protocol: 'TCP' | 'UDP'; address: SocketAddressValue; uid?: bigint }
  /** A name the client asks the agent to resolve (the answer tells which names an IP has). */
  | { kind: 'dns'; node: string }
  | { kind: 'relay' };

const methodName = (m: Extract<HttpFilterValue, { $: 'Method' }>['v']): string =>
  m.$ === 'Other' ? m.v : m.$.toUpperCase();

/** One filter in the seed's rendering: `header=<re>`, `method=GET`, `all_of(…)`, … */
export function renderProtocolFilter(f: HttpFilterValue): string {
  switch (f.$) {
    case 'Header':
      return `header=${f.v}`;
    case 'Path':
      return `path=${f.v}`;
    case 'Method':
      return `method=${methodName(f.v)}`;
    case 'HeaderJq':
      return `header_jq=${f.v}`;
    case 'Body':
      return `body=json(${f.v.v.query} matches ${f.v.v.matches})`;
    case 'Composite':
      return `${f.v.all ? 'all_of' : 'any_of'}(${f.v.filters.map(renderProtocolFilter).join(', ')})`;
    default: {
      const never: never = f;
      return never;
    }
  }
}

function inner(f: HttpFilterValue): InnerFilter | undefined {
  switch (f.$) {
    case 'Header':
      return { header: f.v };
    case 'Path':
      return { path: f.v };
    case 'Method':
      return { method: methodName(f.v) };
    case 'Body':
      return { body: 'json', query: f.v.v.query, matches: f.v.v.matches };
    default:
      return undefined;
  }
}

/**
 * The protocol filter as the mirrord config spells it, so one policy evaluation serves both.
 * Composites nest one level in the config; deeper ones keep the parts it can express (policy's
 * header rules then see only those, and refuse when they do not satisfy it).
 */
export function configFilterOf(f: HttpFilterValue): ConfigHttpFilter {
  switch (f.$) {
    case 'Header':
      return { header_filter: f.v };
    case 'Path':
      return { path_filter: f.v };
    case 'Method':
      return { method_filter: methodName(f.v) };
    case 'HeaderJq':
      return { header_filter_jq: f.v };
    case 'Body':
      return { body_filter: { body: 'json', query: f.v.v.query, matches: f.v.v.matches } };
    case 'Composite': {
      const parts = f.v.filters.map(inner).filter((x): x is InnerFilter => x !== undefined);
      return f.v.all ? { all_of: parts } : { any_of: parts };
    }
    default: {
      const never: never = f;
      return never;
    }
  }
}

function stealIntent(t: StealTypeValue): ClientIntent {
  if (t.$ === 'All') return { kind: 'subscribe', mode: 'steal', port: t.v, steal: t };
  const f: HttpFilterValue = t.$ === 'FilteredHttp' ? { $: 'Header', v: t.v[1] } : t.v[1];
  return {
    kind: 'subscribe',
    mode: 'steal',
    port: t.v[0],
    filter: configFilterOf(f),
    rendered: renderProtocolFilter(f),
    steal: t,
  };
}

/** Classifies a decoded client message. */
export function intentOf(m: ClientMessage): ClientIntent {
  switch (m.$) {
    case 'Close':
      return { kind: 'close' };
    case 'Ping':
      return { kind: 'ping' };
    case 'SwitchProtocolVersion':
      return { kind: 'version', version: m.v };
    case 'Tcp': {
      const t = m.v;
      if (t.$ === 'PortSubscribe') return { kind: 'subscribe', mode: 'mirror', port: t.v };
      if (t.$ === 'PortSubscribeFilteredHttp')
        return {
          kind: 'subscribe',
          mode: 'mirror',
          port: t.v[0],
          filter: configFilterOf(t.v[1]),
          rendered: renderProtocolFilter(t.v[1]),
        };
      if (t.$ === 'PortUnsubscribe') return { kind: 'unsubscribe', mode: 'mirror', port: t.v };
      return { kind: 'relay' };
    }
    case 'TcpSteal': {
      const t = m.v;
      if (t.$ === 'PortSubscribe') return stealIntent(t.v);
      if (t.$ === 'PortUnsubscribe') return { kind: 'unsubscribe', mode: 'steal', port: t.v };
      return { kind: 'relay' };
    }
    case 'FileRequest':
      return { kind: 'file', request: m.v };
    case 'TcpOutgoing':
    case 'UdpOutgoing': {
      const protocol = m.$ === 'TcpOutgoing' ? 'TCP' : 'UDP';
      const o = m.v;
      if (o.$ === 'Connect') return { kind: 'connect', protocol, address: o.v.remote_address };
      if (o.$ === 'ConnectV2') return { kind: 'connect', protocol, address: o.v.remote_address, uid: o.v.uid };
      return { kind: 'relay' };
    }
    case 'GetAddrInfoRequest':
    case 'GetAddrInfoRequestV2':
      return { kind: 'dns', node: m.v.node };
    default:
      return { kind: 'relay' };
  }
}
