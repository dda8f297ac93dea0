'use strict';
const assert = require('node:assert/strict');
// Shared fixtures: every test starts its own mock cluster (never skipped).
const { RawClient, TransactionClient, TikvError } = require('../../lib');
const { MockCluster } = require('../../lib/mock');
const binding = require('../../lib/native');

async function startCluster(mockOptions = {}, clientOptions = {}) {
  const mock = await MockCluster.start(mockOptions);
  let client;
  try {
    client = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 10000, ...clientOptions });
  } catch (e) {
    await mock.stop();
    throw e;
  }
  return {
    mock,
    client,
    async stop() {
      await client.close();
      await mock.stop();
    },
  };
}

// A mock cluster and a TransactionClient on it.
async function startTxnCluster(mockOptions = {}, clientOptions = {}) {
  const mock = await MockCluster.start(mockOptions);
  let client;
  try {
    client = await TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 10000, ...clientOptions });
  } catch (e) {
    await mock.stop();
    throw e;
  }
  return {
    mock,
    client,
    async stop() {
      await client.close();
      await mock.stop();
    },
  };
}

// TiKV's memcomparable encoding of a transactional key (API v1): what PD's
// region boundaries are compared with. Groups of 8 bytes, zero-padded, each
// followed by 0xFF minus the padding.
function encodeKey(key) {
  const k = Buffer.from(key);
  const out = [];
  for (let i = 0; i <= k.length; i += 8) {
    const group = k.subarray(i, i + 8);
    const pad = 8 - group.length;
    out.push(group, Buffer.alloc(pad), Buffer.from([0xff - pad]));
  }
  return Buffer.concat(out);
}

// asserts that p rejects with a TikvError of `code`; returns the error
async function rejectsWith(p, code) {
  let err;
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof TikvError, `expected TikvError ${code}, got ${e && e.stack}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    err = e;
    return true;
  });
  return err;
}

function buf(s) {
  return Buffer.from(s);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

module.exports = {
  startCluster,
  startTxnCluster,
  encodeKey,
  rejectsWith,
  buf,
  sleep,
  RawClient,
  TransactionClient,
  TikvError,
  MockCluster,
  binding,
};
