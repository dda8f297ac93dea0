'use strict';
// Shared fixtures: every test starts its own mock cluster (never skipped).
const { RawClient } = require('../../lib');
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

function buf(s) {
  return Buffer.from(s);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

module.exports = { startCluster, buf, sleep, RawClient, MockCluster, binding };
