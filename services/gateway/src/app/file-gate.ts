import { compileFancyRegex } from '#shared/mirrord-config/index.js';
import type { Enforcement } from '#shared/policy/index.js';
import { daemonMessage, encode, type ClientMessage } from '#shared/protocol/index.js';
import { OrderedAnswers } from '../domain/ordered-answers.js';

type FileRequest = Extract<ClientMessage, { $: 'FileRequest' }>['v'];

/** ENOENT, as the agent answers an open of a file that does not exist. */
const NOT_FOUND = encode(daemonMessage, {
  $: 'File',
  v: { $: 'Open', v: { $: 'Err', v: { $: 'RemoteIO', v: { raw_os_error: 2, kind: { $: 'NotFound', v: null } } } } },
});
/** The protocol's "open it on your side" answer: the layer then opens the local file. */
const OPEN_LOCAL = encode(daemonMessage, {
  $: 'File',
  v: { $: 'Open', v: { $: 'Err', v: { $: 'OpenLocal', v: null } } },
});

/**
 * The policies' `fs` rules on the wire, for one client connection. An open of a path in
 * `local` is answered "open it locally", in `notFound` "no such file", in `readOnly` "no such
 * file" when it asks to write (the seed's wording: as if the file could not be found); the
 * precedence is local, notFound, readOnly, as `policy explain` states. Everything else goes
 * to the agent.
 * File responses carry no request id: answers made here keep the request order (OrderedAnswers).
 */
export class FileGate {
  readonly #local: RegExp[];
  readonly #notFound: RegExp[];
  readonly #readOnly: RegExp[];
  readonly #order = new OrderedAnswers();

  constructor(fs: Enforcement['fs']) {
    const compile = (xs: string[]) => xs.map((x) => compileFancyRegex(x));
    this.#local = compile(fs.local);
    this.#notFound = compile(fs.not_found);
    this.#readOnly = compile(fs.read_only);
  }

  get active(): boolean {
    return this.#local.length + this.#notFound.length + this.#readOnly.length > 0;
  }

  /** The rule this request falls under, if the gateway answers it. */
  verdict(r: FileRequest): 'local' | 'not_found' | 'read_only' | undefined {
    if (r.$ !== 'Open' && r.$ !== 'OpenRelative') return undefined;
    const path = r.v.path;
    // A relative open's directory is the agent's; only absolute paths can be judged here.
    if (r.$ === 'OpenRelative' && !path.startsWith('/')) return undefined;
    const hit = (res: RegExp[]) => res.some((re) => re.test(path));
    if (hit(this.#local)) return 'local';
    if (hit(this.#notFound)) return 'not_found';
    const o = r.v.open_options;
    if ((o.write || o.append || o.truncate || o.create || o.create_new) && hit(this.#readOnly)) return 'read_only';
    return undefined;
  }

  /** The answer the gateway sends for a verdict; returns the frames to send to the client now. */
  answer(verdict: 'local' | 'not_found' | 'read_only'): Uint8Array[] {
    return this.#order.answer([verdict === 'local' ? OPEN_LOCAL : NOT_FOUND]);
  }

  /** A request forwarded to the agent: its answer takes the next place (Close and CloseDir get none). */
  forwarded(r: FileRequest): void {
    if (r.$ !== 'Close' && r.$ !== 'CloseDir') this.#order.forwarded();
  }

  /** The agent answered a file request: that answer, then the gateway's answers queued behind it. */
  agentAnswered(frame: Uint8Array): Uint8Array[] {
    return this.#order.agentAnswered(frame);
  }
}
