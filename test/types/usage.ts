// Compiled with `tsc --noEmit -p test/types`: the typings accept what the
// library accepts and reject what it rejects (@ts-expect-error lines).
import { RawClient, TransactionClient, Transaction, Snapshot, TikvError, ErrorCodes, CODES, MAX_SCAN_LIMIT, version } from 'tikv-client';
import type { KvPair, TikvErrorCode, CasResult, BeginOptions, TransactionState, RawChecksum, ClientEvent, ClientStats } from 'tikv-client';
import { MockCluster, REGION_ERROR_KINDS } from 'tikv-client/mock';

async function main(): Promise<void> {
  const mock = await MockCluster.start({ stores: 3, regions: 4, enableTtl: true });
  const client = await RawClient.connect([...mock.pdEndpoints], { timeoutMs: 5000, columnFamily: 'default', atomic: true });
  // TLS (PEM strings or Buffers, or files) and API v2 keyspaces
  await RawClient.connect(['https://x:1'], { tls: { ca: 'pem', cert: Buffer.from('pem'), key: 'pem' }, apiVersion: 2, keyspace: 'ks' });
  await TransactionClient.connect(['x:1'], { tls: { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'c.key' }, timeoutMs: 5 });
  await TransactionClient.connect(['x:1'], { tls: { ca: new Uint8Array(1) }, apiVersion: 2 });
  await RawClient.connect(['x:1'], { apiVersion: 1 });
  await TransactionClient.connect(['x:1'], { idleSpinUs: 0, batchCommands: false });
  // @ts-expect-error: a number of microseconds
  await RawClient.connect(['x:1'], { idleSpinUs: '250' });
  const shape: boolean = client.options.tls;
  const apiVersion: 1 | 2 = client.options.apiVersion;
  const keyspace: string | undefined = client.options.keyspace;
  void [shape, apiVersion, keyspace];

  const v: Buffer | null = await client.get('key');
  const v2: Buffer | null = await client.get(new Uint8Array([0, 1, 2]));
  await client.put(Buffer.from('k'), 'v', { ttl: 10 });
  await client.put('k', 'v', { ttl: 10n });
  await client.batchPut([['a', 'b'], [Buffer.from('c'), new Uint8Array(1)]]);
  await client.batchPut([{ key: 'a', value: 'b' }]);
  await client.batchPut(new Map([['a', 'b']]));
  const kvs: KvPair[] = await client.batchGet(['a', 'b']);
  const first: Buffer = kvs[0].key;
  const values: Array<Buffer | null> = await client.batchGetValues(['a', Buffer.from('b')], { timeoutMs: 100 });
  await client.delete('a');
  await client.batchDelete(['a', Buffer.from('b')]);
  await client.deleteRange('a', 'z');
  await client.deleteRange('a');
  const s: KvPair[] = await client.scan('a', null, { limit: MAX_SCAN_LIMIT, keyOnly: true, reverse: true });
  await client.scan('a');
  await client.batchScan([['a', 'b'], ['c', null], ['d']], { eachLimit: 10, keyOnly: false });
  const ttl: number | null = await client.getKeyTtl('k');
  const cas: CasResult = await client.compareAndSwap('k', null, 'v');
  const prev: Buffer | null = cas.previous;
  for await (const kv of client.iterate('a', 'z', { batchSize: 100, reverse: false })) {
    const k: Buffer = kv.key;
    void k;
  }
  const sum: RawChecksum = await client.checksum('a', 'z');
  const sums: bigint = sum.crc64Xor ^ sum.totalKvs ^ (await client.checksum('a', null)).totalBytes;
  await client.checksum(Buffer.from('a'));
  // @ts-expect-error: a checksum's fields are bigints
  const sumCount: number = sum.totalKvs;
  const id: bigint = client.clusterId;
  // events and counters
  const onLeader = (e: ClientEvent): void => {
    const r: bigint = e.regionId;
    const m: string = e.message;
    void r, m;
  };
  client.on('pdLeaderChange', onLeader).on('regionError', (e) => void e.storeId);
  client.off('pdLeaderChange', onLeader);
  // @ts-expect-error: no such event
  client.on('leaderChanged', () => {});
  const st: ClientStats = client.stats();
  const changes: number = st.pdLeaderChanges + st.regionErrors.notLeader + st.backoffMs + st.ioWakeups + st.ioReplySpinsMissed;
  const spin: number = client.options.idleSpinUs;
  void spin;
  void changes;
  await client.close();

  try {
    await client.get('x');
  } catch (e) {
    if (e instanceof TikvError) {
      const code: TikvErrorCode = e.code;
      const n: number = e.errno;
      const r: boolean = e.retryable;
      const ts: bigint = e.details.startTs;
      const key: Buffer | null = e.details.key;
      if (e.code === 'CLOSED' || e.code === 'WRITE_CONFLICT') void [code, n, r, ts, key];
    }
  }
  const wc: 15 = ErrorCodes.WRITE_CONFLICT;
  const names: string[] = CODES.map((c) => c.name);

  mock.injectRegionError('RawGet', 'not_leader', { count: 2, regionId: 0 });
  mock.injectGrpcError('*', 14);
  mock.setLatency('RawPut', 10);
  const rid: bigint = mock.splitRegion('m');
  mock.transferLeader(rid, 2);
  mock.pausePd(true);
  mock.pausePd(false);
  mock.setStoreDown(1n, true);
  const calls: number = mock.callCount('RawGet');
  const tsoBatches: number = mock.pdCallCount('Tso');
  const regions = mock.regions();
  const leader: bigint = regions[0].leaderStore;
  const bound: Buffer = regions[0].end;
  const cid: bigint = mock.clusterId;
  mock.clearFaults();
  await mock.stop();

  // @ts-expect-error: keys are bytes or strings
  await client.get(42);
  // @ts-expect-error: unknown column family
  await RawClient.connect(['x:1'], { columnFamily: 'nope' });
  // @ts-expect-error: not a region error kind
  mock.injectRegionError('RawGet', 'bogus');
  // @ts-expect-error: not an error code
  const bad: TikvErrorCode = 'NOT_A_CODE';
  // @ts-expect-error: constructor is private
  new RawClient();
  // unknown option keys: refused by tsc here, by a TypeError at run time
  // @ts-expect-error: unknown connect option (a typo of timeoutMs)
  await RawClient.connect(['x:1'], { timeOutMs: 5 });
  // @ts-expect-error: a client certificate needs its key
  await RawClient.connect(['x:1'], { tls: { ca: 'pem', cert: 'pem' } });
  // @ts-expect-error: PEM texts and files do not mix
  await RawClient.connect(['x:1'], { tls: { caFile: 'ca.pem', cert: 'pem', key: 'pem' } });
  // @ts-expect-error: the CA is required
  await TransactionClient.connect(['x:1'], { tls: { cert: 'pem', key: 'pem' } });
  // @ts-expect-error: a keyspace needs API v2
  await RawClient.connect(['x:1'], { keyspace: 'ks' });
  // @ts-expect-error: API versions are 1 and 2
  await TransactionClient.connect(['x:1'], { apiVersion: 3 });
  // @ts-expect-error: unknown tls option
  await RawClient.connect(['x:1'], { tls: { ca: 'pem', servername: 'h' } });
  // @ts-expect-error: unknown put option
  await client.put('k', 'v', { ttl: 1, timeout: 5 });
  // @ts-expect-error: unknown batchPut option
  await client.batchPut([['k', 'v']], { tll: 1 });
  // @ts-expect-error: unknown compareAndSwap option
  await client.compareAndSwap('k', null, 'v', { previousNotExist: true });
  // @ts-expect-error: unknown scan option
  await client.scan('a', 'b', { limt: 5 });
  // @ts-expect-error: batchScan's limit is eachLimit
  await client.batchScan([['a', 'b']], { limit: 5 });
  // @ts-expect-error: iterate's page size is batchSize
  client.iterate('a', 'b', { limit: 5 });
  // per-call options: a column family, a deadline, a signal
  await client.get('k', { columnFamily: 'lock' });
  await client.deleteRange('a', 'b', { columnFamily: 'lock', timeoutMs: 100 });
  await client.compareAndSwap('k', null, 'v', { signal: new AbortController().signal, ttl: 5 });
  for await (const kv of client.iterate('a', 'b', { columnFamily: 'write', signal: new AbortController().signal })) void kv;
  // @ts-expect-error: not a column family
  await client.get('k', { columnFamily: 'locks' });
  // @ts-expect-error: checksum reads the default column family only
  await client.checksum('a', 'b', { columnFamily: 'lock' });

  void [v, v2, first, s, ttl, prev, id, wc, names, calls, leader, bound, cid, bad, version, REGION_ERROR_KINDS];
}

async function transactions(pd: readonly string[]): Promise<void> {
  const tc = await TransactionClient.connect(pd, { timeoutMs: 5000 });
  tc.once('storeDown', (e: ClientEvent) => void e.storeId);
  const tcLocks: number = tc.stats().locksResolved;
  void tcLocks;
  const opts: BeginOptions = { pessimistic: true, lockWaitTimeoutMs: 0 };
  const txn: Transaction = await tc.begin(opts);
  const start: bigint = txn.startTimestamp;
  const state: TransactionState = txn.state;
  const done: boolean = txn.finished;
  const v: Buffer | null = await txn.get('k');
  const kvs: KvPair[] = await txn.batchGet(['a', Buffer.from('b')]);
  const exists: boolean = await txn.keyExists(new Uint8Array([1]));
  const scanned: KvPair[] = await txn.scan('a', null, { limit: 10, keyOnly: true, reverse: true });
  await txn.scan('a');
  await txn.put('k', 'v');
  await txn.insert(Buffer.from('k2'), new Uint8Array(2));
  await txn.delete('k3');
  await txn.lockKeys(['k4', 'k5']);
  const fu: Buffer | null = await txn.getForUpdate('k');
  const bfu: KvPair[] = await txn.batchGetForUpdate(['k', 'k2']);
  const commitTs: bigint = await txn.commit();
  await (await tc.begin()).rollback();
  await tc.begin({ asyncCommit: true, tryOnePc: true });

  const snap: Snapshot = await tc.snapshot();
  const at: Snapshot = await tc.snapshot(commitTs);
  const ts: bigint = snap.timestamp;
  const sv: Buffer | null = await at.get('k');
  const sk: KvPair[] = await at.batchGet(['k']);
  const se: boolean = await at.keyExists('k');
  const ss: KvPair[] = await at.scan('', null, { reverse: true });

  const now: bigint = await tc.currentTimestamp();
  const moved: boolean = await tc.gc(now - 1000n);
  const destroyed: void = await tc.unsafeDestroyRange('t_', Buffer.from('t`'));
  // @ts-expect-error: both bounds are needed
  await tc.unsafeDestroyRange('t_');
  const n: number = await tc.transaction(async (t) => {
    await t.put('x', 'y');
    return 42;
  }, { retries: 3, pessimistic: true });
  const str: string = await tc.transaction((t) => 'sync result');
  await tc.close();
  const closed: boolean = tc.closed;

  // @ts-expect-error: keys are bytes or strings
  await txn.get(1);
  // @ts-expect-error: snapshots are read-only
  await snap.put('k', 'v');
  // @ts-expect-error: timestamps are bigints or numbers
  await tc.snapshot('now');
  // @ts-expect-error: unknown begin option
  await tc.begin({ optimistic: true });
  // @ts-expect-error: unknown connect option
  await TransactionClient.connect(pd, { timeoutMs: 5, tls: {} });
  // @ts-expect-error: unknown transaction() option
  await tc.transaction(() => 1, { retry: 3 });
  // @ts-expect-error: unknown scan option
  await txn.scan('a', 'b', { keysOnly: true });
  // per-call deadlines and cancellation
  const ac = new AbortController();
  await txn.get('k', { timeoutMs: 5, signal: ac.signal });
  await txn.commit({ signal: ac.signal });
  await tc.transaction(() => 1, { retries: 2, timeoutMs: 100, signal: ac.signal });
  // @ts-expect-error: a transaction has no column family
  await txn.get('k', { columnFamily: 'write' });
  // @ts-expect-error: signal is an AbortSignal
  await txn.get('k', { signal: true });
  // @ts-expect-error: constructor is private
  new Transaction();

  void [start, state, done, v, kvs, exists, scanned, fu, bfu, ts, sv, sk, se, ss, moved, n, str, closed];
}
void transactions;

void main;

// transactional iterate: a range of any size
async function iterateTxn(db: TransactionClient): Promise<number> {
  let n = 0;
  const txn = await db.begin();
  for await (const kv of txn.iterate('a', null, { batchSize: 500, reverse: true, keyOnly: true })) n += kv.key.length;
  const s = await db.snapshot();
  for await (const kv of s.iterate('a', 'z')) n += kv.value.length;
  // @ts-expect-error: iterate's page size is batchSize
  s.iterate('a', 'b', { limit: 5 });
  return n;
}
void iterateTxn;
