// Compiled with `tsc --noEmit -p test/types`: the typings accept what the
// library accepts and reject what it rejects (@ts-expect-error lines).
import { RawClient, TikvError, ErrorCodes, CODES, MAX_SCAN_LIMIT, version } from 'tikv-client';
import type { KvPair, TikvErrorCode, CasResult } from 'tikv-client';
import { MockCluster, REGION_ERROR_KINDS } from 'tikv-client/mock';

async function main(): Promise<void> {
  const mock = await MockCluster.start({ stores: 3, regions: 4, enableTtl: true });
  const client = await RawClient.connect([...mock.pdEndpoints], { timeoutMs: 5000, columnFamily: 'default', atomic: true });

  const v: Buffer | null = await client.get('key');
  const v2: Buffer | null = await client.get(new Uint8Array([0, 1, 2]));
  await client.put(Buffer.from('k'), 'v', { ttl: 10 });
  await client.put('k', 'v', { ttl: 10n });
  await client.batchPut([['a', 'b'], [Buffer.from('c'), new Uint8Array(1)]]);
  await client.batchPut([{ key: 'a', value: 'b' }]);
  await client.batchPut(new Map([['a', 'b']]));
  const kvs: KvPair[] = await client.batchGet(['a', 'b']);
  const first: Buffer = kvs[0].key;
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
  const id: bigint = client.clusterId;
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

  void [v, v2, first, s, ttl, prev, id, wc, names, calls, leader, bound, cid, bad, version, REGION_ERROR_KINDS];
}

void main;
