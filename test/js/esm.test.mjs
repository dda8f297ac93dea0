import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, TransactionClient, Transaction, Snapshot, TikvError, ErrorCodes } from 'tikv-client';
import def from 'tikv-client';
import { MockCluster } from 'tikv-client/mock';

describe('ESM entries', { timeout: 30000 }, () => {
  it('import works for the package and ./mock', async () => {
    assert.equal(typeof RawClient.connect, 'function');
    assert.equal(def.RawClient, RawClient);
    assert.equal(ErrorCodes.CLOSED, 3);
    const mock = await MockCluster.start({ stores: 1 });
    try {
      const c = await RawClient.connect(mock.pdEndpoints);
      await c.put('esm', 'ok');
      assert.equal((await c.get('esm')).toString(), 'ok');
      await c.close();
      await assert.rejects(c.get('esm'), TikvError);
      const tc = await TransactionClient.connect(mock.pdEndpoints);
      assert.equal(def.TransactionClient, TransactionClient);
      const t = await tc.begin();
      assert.ok(t instanceof Transaction);
      await t.put('esm-txn', 'ok');
      await t.commit();
      const s = await tc.snapshot();
      assert.ok(s instanceof Snapshot);
      assert.equal((await s.get('esm-txn')).toString(), 'ok');
      await tc.close();
    } finally {
      await mock.stop();
    }
  });
});
