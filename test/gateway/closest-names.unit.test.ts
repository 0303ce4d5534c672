import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closestNames } from '../../services/gateway/src/domain/closest-names.js';

describe('closestNames: the "did you mean" of a missing target', () => {
  const names = ['ip-visit-counter', 'ip-visit-sqs-consumer', 'postgres', 'redis', 'shop'];
  it('given a dropped letter, when looked up, then the name it meant comes first', () => {
    assert.deepEqual(closestNames('ip-visit-countr', names), ['ip-visit-counter']);
  });
  it('given swapped letters or a prefix, when looked up, then they are found', () => {
    assert.deepEqual(closestNames('rdeis', names), ['redis']);
    assert.deepEqual(closestNames('ip-visit', names), ['ip-visit-counter', 'ip-visit-sqs-consumer']);
  });
  it('given a name close to nothing, when looked up, then nothing is guessed', () => {
    assert.deepEqual(closestNames('frontend', names), []);
  });
});
