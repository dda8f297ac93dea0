// What a consumer of the packed tarball runs (scripts/check-pack.sh copies
// this into a fresh project that installed the tarball): RawClient,
// TransactionClient and MockCluster from the installed package, by its
// public entry points (ESM here; the CommonJS ones are checked beside it).
// Exits non-zero on the first wrong answer.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { RawClient, TransactionClient, version } from 'tikv-client';
import { MockCluster } from 'tikv-client/mock';

const require = createRequire(import.meta.url);
const cjs = require('tikv-client');
assert.equal(cjs.RawClient, RawClient, 'CommonJS and ESM entries share one implementation');
assert.equal(typeof require('tikv-client/mock').MockCluster.start, 'function');

const mock = await MockCluster.start({ stores: 3, regions: 4, enableTtl: true });
const raw = await RawClient.connect(mock.pdEndpoints);
await raw.put('consumer/a', 'raw value', { ttl: 60 });
assert.equal((await raw.get('consumer/a')).toString(), 'raw value');
await raw.batchPut([['consumer/b', '2'], ['consumer/c', '3']]);
const pairs = await raw.scan('consumer/', 'consumer0');
assert.deepEqual(pairs.map((p) => p.key.toString()), ['consumer/a', 'consumer/b', 'consumer/c']);

const db = await TransactionClient.connect(mock.pdEndpoints);
for (let i = 0; i < 3; i++) {
  await db.transaction(async (txn) => {
    const n = Number((await txn.get('counter')) ?? 0);
    await txn.put('counter', String(n + 1));
  });
}
const snap = await db.snapshot();
assert.equal((await snap.get('counter')).toString(), '3');
await assert.rejects(raw.get(42), TypeError);

await raw.close();
await db.close();
await mock.stop();
console.log(`consumer: tikv-client ${version} on Node ${process.version}: raw, transactions and the mock cluster work`);
