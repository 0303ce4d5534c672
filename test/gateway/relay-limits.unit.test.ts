import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LogThrottle } from '../../services/gateway/src/domain/log-throttle.js';
import { SessionRates } from '../../services/gateway/src/domain/session-rates.js';

describe('a repeated refusal is logged at most once an interval, with a count', () => {
  it('given 1,000 refusals within a second, then one line now and the next line a second later says 999 were left out', () => {
    const t = new LogThrottle(1000);
    assert.equal(t.take(0), 0, 'the first is logged at once');
    for (let i = 1; i < 1000; i++) assert.equal(t.take(i / 2), undefined);
    assert.equal(t.take(1000), 999);
    assert.equal(t.take(1001), undefined);
    assert.equal(t.flush(), 1, 'what is left is told when the socket goes');
    assert.equal(t.flush(), 0);
  });
});

describe("a session's sockets share one message budget", () => {
  it('given two sockets of one session and a rate of 3, then 3 subscriptions pass in all, not 3 each', () => {
    const rates = new SessionRates(3);
    const a = rates.acquire('s1', 0);
    const b = rates.acquire('s1', 0);
    assert.equal(a, b);
    assert.deepEqual([a.take(0), b.take(0), a.take(0), b.take(0)], [true, true, true, false]);
    assert.equal(rates.acquire('s2', 0).take(0), true, 'another session has its own');
  });
  it('given the last socket closes and one reopens at once, then the bucket is not refilled; a second later it is gone', () => {
    const rates = new SessionRates(2);
    const a = rates.acquire('s1', 0);
    a.take(0);
    a.take(0);
    rates.release('s1', 10);
    assert.equal(rates.acquire('s1', 20).take(20), false, 'reopening does not refill it');
    rates.release('s1', 30);
    rates.acquire('other', 1100);
    assert.equal(rates.size, 1, 'an idle session refilled by time is dropped');
  });
});
