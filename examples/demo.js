'use strict';
// Quick start: raw key-value operations against the embedded mock cluster.
//   npm run demo        (or: node examples/demo.js)
// Against a real cluster, skip the mock and pass your PD endpoints instead:
//   const client = await RawClient.connect(['127.0.0.1:2379']);
const { RawClient, TikvError } = require('..');
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
  // == Transactions ==
  // The second part of the demo (TransactionClient: begin, get/put, commit,
  // conflicts and retries) goes here once the transactional API is bound.
  void mock;
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
