import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { daemonMessage, decodeExact } from '#shared/protocol/index.js';
import { openOptions, openRequest as open } from '../support/file-requests.js';
import { FileGate } from '../../services/gateway/src/app/file-gate.js';

const answerOf = (frame: Uint8Array) => {
  const m = decodeExact(daemonMessage, frame);
  return m.$ === 'File' && m.v.$ === 'Open' && m.v.v.$ === 'Err' ? m.v.v.v.$ : m.$;
};
const gate = () =>
  new FileGate({ local: ['^/app/local\\.conf$'], not_found: ['^/etc/secret/'], read_only: ['.+\\.json'] });

describe('the relay answers policy fs rules itself, in request order', () => {
  it('given the three lists, when paths are opened, then local wins over notFound over readOnly, and readOnly only refuses writes', () => {
    const g = new FileGate({ local: ['^/x'], not_found: ['^/x', '^/y'], read_only: ['^/x', '^/y', '\\.json$'] });
    assert.equal(g.verdict(open('/x/a')), 'local');
    assert.equal(g.verdict(open('/y/a', true)), 'not_found');
    assert.equal(g.verdict(open('/app/c.json', true)), 'read_only');
    assert.equal(g.verdict(open('/app/c.json')), undefined);
    assert.equal(
      g.verdict({
        $: 'OpenRelative',
        v: { relative_fd: 3n, path: 'c.json', open_options: openOptions(true) },
      }),
      undefined,
    );
  });

  it('given nothing pending at the agent, when an open is refused, then the answer goes out at once', () => {
    const out = gate().answer('not_found');
    assert.deepEqual(out.map(answerOf), ['RemoteIO']);
  });

  it("given a forwarded read still unanswered, when an open is refused, then its answer follows the agent's", () => {
    const g = gate();
    g.forwarded({ $: 'Read', v: { remote_fd: 3n, buffer_size: 10n } });
    assert.deepEqual(g.answer('local'), [], 'held back');
    const agentFrame = Uint8Array.of(7); // any agent answer
    const out = g.agentAnswered(agentFrame);
    assert.equal(out[0], agentFrame);
    assert.deepEqual(out.slice(1).map(answerOf), ['OpenLocal']);
  });

  it('given Close (no answer from the agent), when an open is refused after it, then nothing waits', () => {
    const g = gate();
    g.forwarded({ $: 'Close', v: { fd: 3n } });
    assert.equal(g.answer('not_found').length, 1);
  });

  it('given a request other than an open, then the gate leaves it to the agent', () => {
    assert.equal(gate().verdict({ $: 'Read', v: { remote_fd: 3n, buffer_size: 10n } }), undefined);
  });
});
