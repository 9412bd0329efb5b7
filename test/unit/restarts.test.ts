/** The client's restart policy for a crashed server: bounded, and said each time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RestartPolicy } from '../../client/src/restarts';

test('a crashed server is restarted 3 times within 3 minutes, then left stopped with a way back', () => {
  let now = 0;
  const p = new RestartPolicy(3, 180_000, () => now);
  const seen = [1, 2, 3, 4].map(() => ((now += 1000), p.onClosed()));
  assert.deepEqual(seen.map((d) => d.restart), [true, true, true, false]);
  assert.match(seen[0].message, /stopped unexpectedly; restarting it \(1 of 3 restarts within 3 minutes\)/);
  assert.match(seen[3].message, /stopped 4 times within 3 minutes; it is not restarted again.*Livepatch: Restart Server/);
  // crashes older than the window no longer count
  now += 181_000;
  assert.equal(p.onClosed().restart, true);
  // the user's restart starts the count again
  p.onClosed();
  p.onClosed();
  assert.equal(p.onClosed().restart, false);
  p.reset();
  assert.equal(p.onClosed().restart, true);
});
