import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KnownSessionIds } from '../../services/ledger/src/app/known-ids.js';
import { newSessionId } from '#shared/ids/index.js';

describe('known session ids (Bloom filter)', () => {
  it('never forgets an id it was given, and rarely claims one it was not', () => {
    const k = new KnownSessionIds(20, 7);
    const added = Array.from({ length: 50_000 }, () => newSessionId());
    for (const id of added) k.add(id);
    assert.ok(
      added.every((id) => k.mightContain(id)),
      'no false negatives',
    );
    const others = Array.from({ length: 20_000 }, () => newSessionId());
    const fp = others.filter((id) => k.mightContain(id)).length / others.length;
    assert.ok(fp < 0.05, `false-positive rate ${fp}`);
  });
});
