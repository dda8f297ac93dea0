'use strict';
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { TikvError, ErrorCodes, CODES, version, MAX_SCAN_LIMIT } = require('../../lib');
const { binding } = require('./helpers');

describe('errors and the code table', { timeout: 30000 }, () => {
  it('the generated code list matches the linked C table', () => {
    const { addon } = binding;
    for (const c of CODES) {
      assert.equal(addon.tikv_err_name(c.errno), c.name);
      assert.equal(addon.tikv_strerror(c.errno), c.description);
      assert.equal(addon.tikv_err_retryable(c.errno) !== 0, c.retryable, c.name);
    }
    assert.equal(addon.tikv_err_name(CODES.length), null, 'no code beyond the table');
    assert.equal(ErrorCodes.OK, 0);
    assert.equal(ErrorCodes.WRITE_CONFLICT, 15);
    assert.equal(ErrorCodes.CLOSED, 3);
  });

  it('TikvError carries code, errno, retryable and details', () => {
    const e = TikvError.of('WRITE_CONFLICT');
    assert.ok(e instanceof Error);
    assert.ok(e instanceof TikvError);
    assert.equal(e.name, 'TikvError');
    assert.equal(e.code, 'WRITE_CONFLICT');
    assert.equal(e.errno, 15);
    assert.equal(e.retryable, true);
    assert.equal(e.message, 'write conflict');
    assert.deepEqual(e.details, {
      kind: '',
      key: null,
      primary: null,
      startTs: 0n,
      conflictTs: 0n,
      lockTtl: 0n,
      regionId: 0n,
      grpcStatus: 0,
    });
    const n = TikvError.fromNative({
      code: 'KEY_LOCKED',
      errno: 14,
      message: 'locked',
      retryable: true,
      details: { kind: 'locked', key: Buffer.from('k'), startTs: 5n },
    });
    assert.equal(n.code, 'KEY_LOCKED');
    assert.deepEqual(n.details.key, Buffer.from('k'));
    assert.equal(n.details.startTs, 5n);
    assert.equal(n.details.regionId, 0n);
  });

  it('version and constants match the C headers', () => {
    const { addon } = binding;
    assert.match(version, /^\d+\.\d+\.\d+/);
    assert.equal(version, `${addon.TIKV_VERSION_MAJOR}.${addon.TIKV_VERSION_MINOR}.${addon.TIKV_VERSION_PATCH}`);
    assert.equal(addon.tikv_version(), addon.TIKV_VERSION_HEX);
    assert.equal(MAX_SCAN_LIMIT, addon.TIKV_RAW_MAX_SCAN_LIMIT);
  });
});
