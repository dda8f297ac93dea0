'use strict';
// MockCluster.start({ apiVersion: 2, keyspaces }) and tikv-mock-server
// --api-version 2 --keyspace: PD's keyspaces (LoadKeyspace over raw gRPC),
// regions split at the keyspaces' encoded boundaries, the stores refusing
// what TiKV's check_api_version refuses, and the options' argument errors.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { MockCluster, RawClient, TikvError, encodeKey } = require('./helpers');
const { grpcCall, encode, decode } = require('./raw-grpc');

const BIN = path.join(__dirname, '..', '..', 'build-c', 'tikv-mock-server');
const LOAD_KEYSPACE = '/keyspacepb.Keyspace/LoadKeyspace';

// mode + the 3-byte keyspace id (+ user key)
function prefix(mode, id, user = '') {
  return Buffer.concat([Buffer.from([mode.charCodeAt(0), (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff]), Buffer.from(user)]);
}

// LoadKeyspace(name) -> {status, error: {type, message} | null, keyspace: {id, name, state} | null}
async function loadKeyspace(mock, name) {
  const header = encode([[1, mock.clusterId]]);
  const r = await grpcCall(mock.pdEndpoints[0], LOAD_KEYSPACE, encode([[1, header], [2, name]]));
  if (r.status !== 0) return { status: r.status, message: r.message };
  const f = decode(r.body);
  const h = decode(f[1][0]);
  const err = h[2] ? decode(h[2][0]) : null;
  const ks = f[2] ? decode(f[2][0]) : null;
  return {
    status: 0,
    error: err && { type: Number(err[1][0]), message: String(err[2][0]) },
    keyspace: ks && { id: Number(ks[1][0]), name: String(ks[2][0]), state: Number((ks[3] || [0n])[0]) },
  };
}

describe('MockCluster in API v2', () => {
  it('has PD\'s DEFAULT keyspace and the options\' keyspaces, each served by LoadKeyspace', async () => {
    const mock = await MockCluster.start({
      apiVersion: 2,
      keyspaces: ['alpha', { name: 'beta', id: 42 }, { name: 'off', state: 'DISABLED' }],
    });
    try {
      assert.equal(mock.apiVersion, 2);
      assert.deepEqual(mock.keyspaces(), [
        { name: 'DEFAULT', id: 0, state: 'ENABLED' },
        { name: 'alpha', id: 1, state: 'ENABLED' },
        { name: 'beta', id: 42, state: 'ENABLED' },
        { name: 'off', id: 43, state: 'DISABLED' },
      ]);
      assert.deepEqual((await loadKeyspace(mock, 'beta')).keyspace, { id: 42, name: 'beta', state: 0 });
      assert.deepEqual((await loadKeyspace(mock, 'off')).keyspace, { id: 43, name: 'off', state: 1 });
      assert.deepEqual((await loadKeyspace(mock, 'DEFAULT')).keyspace, { id: 0, name: 'DEFAULT', state: 0 });
      const missing = await loadKeyspace(mock, 'gamma');
      assert.deepEqual(missing.error, { type: 9, message: '[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist' });
      assert.equal(missing.keyspace, null);
      // made later, and states changed, as tests need them
      assert.equal(mock.addKeyspace('gamma'), 44);
      assert.equal(mock.addKeyspace('delta', { id: 7, state: 'ARCHIVED' }), 7);
      mock.setKeyspaceState('alpha', 'TOMBSTONE');
      assert.deepEqual((await loadKeyspace(mock, 'alpha')).keyspace, { id: 1, name: 'alpha', state: 3 });
      assert.deepEqual((await loadKeyspace(mock, 'delta')).keyspace, { id: 7, name: 'delta', state: 2 });
    } finally {
      await mock.stop();
    }
  });

  it('splits the regions at every keyspace\'s raw and transactional ranges, encoded', async () => {
    const mock = await MockCluster.start({ apiVersion: 2, regions: 3, keyspaces: ['a'] });
    try {
      const starts = mock.regions().map((r) => r.start.toString('hex'));
      for (const mode of ['r', 'x'])
        for (const id of [0, 1, 2]) assert.ok(starts.includes(encodeKey(prefix(mode, id)).toString('hex')), `${mode}${id}`);
      // regions = 3: each keyspace range split again at "K" and "f" (the v1 layout's characters)
      for (const user of ['K', 'f']) assert.ok(starts.includes(encodeKey(prefix('x', 1, user)).toString('hex')), user);
      // the same layout whether the keyspace comes from the options or later
      const later = await MockCluster.start({ apiVersion: 2, regions: 3 });
      try {
        later.addKeyspace('a');
        assert.deepEqual(later.regions().map((r) => [r.start, r.end, r.leaderStore]), mock.regions().map((r) => [r.start, r.end, r.leaderStore]));
      } finally {
        await later.stop();
      }
    } finally {
      await mock.stop();
    }
  });

  it('refuses an API v1 client\'s raw requests as TiKV does', async () => {
    const mock = await MockCluster.start({ apiVersion: 2 });
    const raw = await RawClient.connect(mock.pdEndpoints, { timeoutMs: 5000 });
    try {
      await assert.rejects(raw.put('k', 'v'), (e) => {
        assert.ok(e instanceof TikvError, e.stack);
        assert.match(e.message, /Api version in request does not match with TiKV storage, cmd: raw_put, storage: V2, request: V1/);
        return true;
      });
    } finally {
      await raw.close();
      await mock.stop();
    }
  });

  it('stays API v1, without keyspaces, by default', async () => {
    const mock = await MockCluster.start();
    try {
      assert.equal(mock.apiVersion, 1);
      assert.deepEqual(mock.keyspaces(), []);
      assert.equal((await loadKeyspace(mock, 'DEFAULT')).error.type, 9);
      assert.throws(() => mock.addKeyspace('a'), RangeError);
    } finally {
      await mock.stop();
    }
  });

  it('refuses bad options with TypeError / RangeError', async () => {
    await assert.rejects(MockCluster.start({ apiVersion: 3 }), RangeError);
    await assert.rejects(MockCluster.start({ apiVersion: '2' }), TypeError);
    await assert.rejects(MockCluster.start({ keyspaces: ['a'] }), /needs apiVersion: 2/);
    await assert.rejects(MockCluster.start({ apiVersion: 2, keyspaces: 'a' }), TypeError);
    for (const [bad, why] of [
      ['', /name must be 1 to 20 of \[-A-Za-z0-9_\] and not DEFAULT/],
      ['a b', /name must be 1 to 20/],
      ['DEFAULT', /name must be 1 to 20/],
      ['x'.repeat(21), /name must be 1 to 20/],
      [{ name: 'a', id: 0 }, /id must be between 1 and 16777215/],
      [{ name: 'a', id: 0x1000000 }, /id must be between 1 and 16777215/],
      [{ name: 'a', state: 'ON' }, /state must be one of ENABLED, DISABLED, ARCHIVED, TOMBSTONE/],
    ])
      await assert.rejects(MockCluster.start({ apiVersion: 2, keyspaces: [bad] }), (e) => e instanceof RangeError && why.test(e.message), JSON.stringify(bad));
    await assert.rejects(MockCluster.start({ apiVersion: 2, keyspaces: [{ name: 'a', colour: 1 }] }), TypeError);
    await assert.rejects(MockCluster.start({ apiVersion: 2, keyspaces: ['a', 'a'] }), /named twice/);
    await assert.rejects(MockCluster.start({ apiVersion: 2, keyspaces: [{ name: 'a', id: 3 }, { name: 'b', id: 3 }] }), /taken/);
    const mock = await MockCluster.start({ apiVersion: 2, keyspaces: ['a'] });
    try {
      assert.throws(() => mock.addKeyspace('a'), /taken/);
      assert.throws(() => mock.addKeyspace('b', { id: 1 }), /taken/);
      assert.throws(() => mock.setKeyspaceState('nope', 'DISABLED'), RangeError);
      assert.throws(() => mock.setKeyspaceState('a', 'OFF'), RangeError);
      assert.throws(() => mock.setKeyspaceState('a'), TypeError);
    } finally {
      await mock.stop();
    }
  });
});

describe('tikv-mock-server --api-version 2 --keyspace', () => {
  it('makes the keyspaces, and --control adds them and changes their states', async () => {
    const p = spawn(BIN, ['--api-version', '2', '--keyspace', 'a', '--keyspace', 'b=7', '--control'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = readline.createInterface({ input: p.stdout })[Symbol.asyncIterator]();
    const next = async () => (await lines.next()).value;
    const stderr = [];
    p.stderr.on('data', (c) => stderr.push(c));
    try {
      assert.match(await next(), /^PD 127\.0\.0\.1:\d+$/);
      p.stdin.write('keyspace-add c\n');
      assert.equal(await next(), 'ok 8');
      p.stdin.write('keyspace-state b disabled\n');
      assert.equal(await next(), 'ok');
      p.stdin.write('keyspace-state b sleepy\n');
      assert.equal(await next(), 'error: keyspace-state failed');
      const err = Buffer.concat(stderr).toString();
      assert.match(err, /plaintext, API v2/);
      assert.match(err, /keyspace DEFAULT id 0\nkeyspace a id 1\nkeyspace b id 7\n/);
    } finally {
      p.stdin.end();
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
  });

  it('refuses keyspaces without API v2, and bad ids', async () => {
    for (const [args, want] of [
      [['--keyspace', 'a'], /keyspaces need API v2/],
      [['--api-version', '2', '--keyspace', 'a=0'], /bad keyspace id: 0/],
      [['--api-version', '3'], /bad --api-version: 3/],
    ]) {
      const p = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      const err = [];
      p.stderr.on('data', (c) => err.push(c));
      const code = await new Promise((r) => p.once('exit', r));
      assert.notEqual(code, 0);
      assert.match(Buffer.concat(err).toString(), want);
    }
  });
});
