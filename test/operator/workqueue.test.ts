import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from '../../operator/controller/workqueue.ts';

test('an earlier delayed add replaces a later pending one; a later one does not delay it', async () => {
  const queue = new WorkQueue();
  queue.addAfter('a', 3_600_000);
  queue.addAfter('a', 5);
  assert.equal(await queue.get(), 'a', 'the 5 ms add came through, not the hour');
  queue.done('a');
  queue.addAfter('b', 5);
  queue.addAfter('b', 3_600_000);
  assert.equal(await queue.get(), 'b');
  queue.shutdown();
});
