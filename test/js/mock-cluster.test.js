'use strict';
// The mock cluster's own JS surface: the fault kinds generated from the C
// table, and the cluster-failure faults (PD members, store loss, lost
// replies) as a test drives them.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { MockCluster, REGION_ERROR_KINDS } = require('../../lib/mock');
const { addon } = require('../../lib/native');

describe('mock cluster surface', () => {
  it('REGION_ERROR_KINDS is the C table, in its order', async () => {
    assert.ok(Object.isFrozen(REGION_ERROR_KINDS));
    assert.ok(REGION_ERROR_KINDS.length >= 9);
    REGION_ERROR_KINDS.forEach((k, i) => assert.equal(addon.tikv_mock_region_error_name(i), k));
    assert.equal(addon.tikv_mock_region_error_name(REGION_ERROR_KINDS.length), null);
    const mock = await MockCluster.start({ stores: 1 });
    try {
      for (const k of REGION_ERROR_KINDS) mock.injectRegionError('RawGet', k);
      assert.throws(() => mock.injectRegionError('RawGet', 'no_such_kind'), RangeError);
    } finally {
      await mock.stop();
    }
  });
});
