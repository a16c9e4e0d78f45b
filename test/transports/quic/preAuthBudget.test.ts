import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PreAuthBudget } from '../../../server/transports/quic/preAuthBudget.ts';

test('the budget caps unauthenticated connections overall and per address, and frees them once', () => {
  const budget = new PreAuthBudget<string>({ total: 3, perAddress: 2 });
  assert.ok(budget.admit('10.0.0.1'));
  budget.add('a', '10.0.0.1');
  budget.add('b', '10.0.0.1');
  assert.equal(budget.admit('10.0.0.1'), false, 'per address');
  assert.ok(budget.admit('10.0.0.2'));
  budget.add('c', '10.0.0.2');
  assert.equal(budget.admit('10.0.0.3'), false, 'overall');
  assert.equal(budget.refused, 2);
  budget.end('a');
  budget.end('a');
  assert.equal(budget.size, 2, 'end is idempotent');
  assert.ok(budget.admit('10.0.0.1'));
  assert.ok(!budget.has('a'));
  assert.ok(budget.has('b'));
});
