'use strict';
// Quick start: raw key-value operations and transactions against the embedded
// mock cluster.
//   npm run demo        (or: node examples/demo.js)
// Against a real cluster, skip the mock and pass your PD endpoints instead:
//   const client = await RawClient.connect(['127.0.0.1:2379']);
//   const txns = await TransactionClient.connect(['127.0.0.1:2379']);
const { RawClient, TransactionClient, TikvError } = require('..');
const { MockCluster } = require('../lib/mock');

const show = (b) => (b === null ? 'null' : JSON.stringify(b.toString()));
const pairs = (kvs) => kvs.map((kv) => `${kv.key}=${kv.value}`).join(', ');

async function rawDemo(mock) {
  console.log('\n== Raw KV ==');
  const client = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 5000 });
  console.log(`connected to cluster ${client.clusterId} via PD ${mock.pdEndpoints[0]}`);

  await client.put('fruit/apple', 'red');
  console.log(`put fruit/apple=red; get -> ${show(await client.get('fruit/apple'))}`);
  console.log(`get fruit/none -> ${show(await client.get('fruit/none'))}`);

  await client.batchPut([
    ['fruit/banana', 'yellow'],
    ['fruit/cherry', 'dark red'],
    ['veg/kale', 'green'],
    ['veg/zucchini', 'green'],
  ]);
  console.log(`batchPut 4 keys; batchGet -> ${pairs(await client.batchGet(['fruit/banana', 'veg/kale', 'nope']))}`);

  // the keys live in different regions: scans cross region boundaries transparently
  const regions = mock.regions().length;
  console.log(`scan [fruit/, fruit0) across ${regions} regions -> ${pairs(await client.scan('fruit/', 'fruit0'))}`);
  console.log(`scan everything, reversed, limit 3 -> ${pairs(await client.scan('', null, { reverse: true, limit: 3 }))}`);

  process.stdout.write('iterate veg/ in pages of 1 ->');
  for await (const kv of client.iterate('veg/', 'veg0', { batchSize: 1 })) process.stdout.write(` ${kv.key}`);
  process.stdout.write('\n');

  await client.put('session/42', 'token', { ttl: 60 });
  console.log(`put session/42 with ttl 60s; getKeyTtl -> ${await client.getKeyTtl('session/42')}s`);

  await client.delete('fruit/apple');
  await client.deleteRange('veg/', 'veg0');
  console.log(`delete fruit/apple, deleteRange veg/ -> left: ${pairs(await client.scan('', null))}`);

  // binary keys and values are bytes: zero bytes included
  const key = Buffer.from([0x00, 0x01, 0x00]);
  await client.put(key, Buffer.from([0xff, 0x00]));
  console.log(`binary key ${key.toString('hex')} -> ${(await client.get(key)).toString('hex')}`);

  // compare-and-swap needs a client in atomic mode
  const atomic = await RawClient.connect(mock.pdEndpoints, { atomic: true });
  const first = await atomic.compareAndSwap('lock/owner', null, 'me');
  const second = await atomic.compareAndSwap('lock/owner', null, 'you');
  console.log(`CAS lock/owner (absent -> me): swapped=${first.swapped}; (absent -> you): swapped=${second.swapped}, current=${show(second.previous)}`);
  await atomic.close();

  // region errors are retried for you
  mock.injectRegionError('RawGet', 'not_leader', { count: 2 });
  const before = mock.callCount('RawGet');
  const v = await client.get('fruit/banana');
  console.log(`after 2 injected NotLeader errors: get -> ${show(v)} (${mock.callCount('RawGet') - before} RawGet calls)`);

  await client.close();
  try {
    await client.get('fruit/banana');
  } catch (e) {
    if (!(e instanceof TikvError)) throw e;
    console.log(`after close: ${e.code} (${e.message})`);
  }
}

async function txnDemo(mock) {
  console.log('\n== Transactions ==');
  const client = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 5000 });
  console.log(`current timestamp: ${await client.currentTimestamp()}`);

  // begin / put / commit: the writes become visible atomically at the commit timestamp
  const t = await client.begin();
  await t.put('account/alice', '100');
  await t.put('account/bob', '50');
  console.log(`txn ${t.startTimestamp}: put alice=100, bob=50; reads its own write: alice=${show(await t.get('account/alice'))}`);
  const committedAt = await t.commit();
  console.log(`committed at ${committedAt}`);

  // a snapshot reads a consistent view at one timestamp, now or in the past
  const snap = await client.snapshot();
  console.log(`snapshot at ${snap.timestamp}: ${pairs(await snap.scan('account/', 'account0'))}`);

  // two transactions write the same key: the second to commit gets WRITE_CONFLICT
  const a = await client.begin();
  const b = await client.begin();
  await a.put('account/bob', '60');
  await b.put('account/bob', '70');
  await a.commit();
  try {
    await b.commit();
  } catch (e) {
    if (!(e instanceof TikvError)) throw e;
    console.log(`second writer of account/bob: ${e.code} on key ${e.details.key} (retryable: ${e.retryable})`);
  }

  // transaction() retries a conflict for you: here the first run is disturbed
  let runs = 0;
  const paid = await client.transaction(async (txn) => {
    runs++;
    const alice = Number(await txn.get('account/alice'));
    const bob = Number(await txn.get('account/bob'));
    if (runs === 1) {
      // somebody else pays alice meanwhile: this run will conflict at commit
      await client.transaction((other) => other.put('account/alice', String(alice + 5)));
    }
    await txn.put('account/alice', String(alice - 30));
    await txn.put('account/bob', String(bob + 30));
    return `alice ${alice} -> ${alice - 30}`;
  });
  const after = await client.snapshot();
  console.log(`transfer of 30 took ${runs} runs (${paid}); now ${pairs(await after.batchGet(['account/alice', 'account/bob']))}`);
  console.log(`the snapshot taken before still reads ${pairs(await snap.batchGet(['account/alice', 'account/bob']))}`);

  // pessimistic: getForUpdate locks the key; a second locker that will not wait fails at once
  const p = await client.begin({ pessimistic: true });
  const bob = Number(await p.getForUpdate('account/bob'));
  console.log(`pessimistic txn locked account/bob (read ${bob})`);
  const q = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 0 });
  try {
    await q.put('account/bob', '0');
  } catch (e) {
    if (!(e instanceof TikvError)) throw e;
    console.log(`another pessimistic txn (lockWaitTimeoutMs 0): ${e.code}`);
  }
  await q.rollback();
  // a waiter is woken when the lock holder commits
  const w = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 5000 });
  const waiting = w.getForUpdate('account/bob');
  await p.put('account/bob', String(bob + 1));
  await p.commit();
  console.log(`after the holder committed, the waiter got the lock and reads bob=${show(await waiting)}`);
  await w.rollback();

  // insert refuses to overwrite
  const ins = await client.begin();
  await ins.insert('account/alice', '0');
  try {
    await ins.commit();
  } catch (e) {
    if (!(e instanceof TikvError)) throw e;
    console.log(`insert of an existing key: ${e.code}`);
  }

  // 1PC: a small transaction within one region commits in one round trip
  const before = mock.callCount('KvCommit');
  const one = await client.begin({ tryOnePc: true });
  await one.put('account/carol', '10');
  await one.commit();
  console.log(`1PC commit of account/carol: ${mock.callCount('KvCommit') - before} KvCommit calls`);

  await client.close();
  try {
    await client.begin();
  } catch (e) {
    if (!(e instanceof TikvError)) throw e;
    console.log(`after close: ${e.code}`);
  }
}

async function main() {
  console.log('starting an in-process mock cluster: 3 stores, 4 regions');
  const mock = await MockCluster.start({ stores: 3, regions: 4, enableTtl: true });
  try {
    await rawDemo(mock);
    await txnDemo(mock);
  } finally {
    await mock.stop();
  }
  console.log('\ndone');
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
