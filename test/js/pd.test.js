'use strict';
// Timestamps from PD: concurrent requests share Tso round trips, come back
// unique and increasing.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { startTxnCluster } = require('./helpers');

test('concurrent currentTimestamp calls are batched into few Tso requests', { timeout: 30000 }, async () => {
  const { mock, client, stop } = await startTxnCluster();
  try {
    const before = mock.pdCallCount('Tso');
    const n = 2000;
    const ts = await Promise.all(Array.from({ length: n }, () => client.currentTimestamp()));
    const batches = mock.pdCallCount('Tso') - before;
    assert.ok(batches > 0 && batches < n / 4, `${batches} Tso requests for ${n} timestamps`);
    assert.equal(new Set(ts.map(String)).size, n);
    for (const t of ts) assert.equal(typeof t, 'bigint');
    // each later call sees a larger timestamp than every earlier result
    const later = await client.currentTimestamp();
    assert.ok(ts.every((t) => t < later));
  } finally {
    await stop();
  }
});
