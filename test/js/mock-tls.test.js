'use strict';
// MockCluster.start({ tls }) and tikv-mock-server --tls-*: every PD member and
// store serves TLS (mutual with a CA), seen over raw gRPC from Node's http2
// with certificates made at test time (tls-helpers.js).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { MockCluster } = require('../../lib/mock');
const { makeTlsMaterial } = require('./tls-helpers');
const { grpcCall, decode } = require('./raw-grpc');

const BIN = path.join(__dirname, '..', '..', 'build-c', 'tikv-mock-server');
const GET_MEMBERS = '/pdpb.PD/GetMembers';
const RAW_GET = '/tikvpb.Tikv/RawGet';
const EMPTY = Buffer.alloc(0);

let t;
before(() => {
  t = makeTlsMaterial();
});
after(() => t.cleanup());

// GetMembersResponse.members (2) -> Member.client_urls (4)
function clientUrls(body) {
  return (decode(body)[2] || []).map((m) => decode(m)[4].map(String)).flat();
}

describe('MockCluster with TLS', () => {
  it('serves mutual TLS on every PD member and store; PD advertises https:// URLs', async () => {
    const mock = await MockCluster.start({
      stores: 2,
      pdMembers: 2,
      tls: { cert: t.serverCert, key: t.serverKey, ca: t.ca },
    });
    try {
      assert.equal(mock.tls, 'mutual');
      assert.deepEqual(mock.pdUrls, mock.pdEndpoints.map((e) => `https://${e}`));
      const client = { ca: t.ca, cert: t.clientCert, key: t.clientKey };
      for (const ep of mock.pdEndpoints) {
        const r = await grpcCall(ep, GET_MEMBERS, EMPTY, client);
        assert.equal(r.status, 0, r.message);
        assert.deepEqual(clientUrls(r.body), mock.pdUrls.slice());
      }
      for (let s = 1; s <= mock.storeCount; s++) {
        const addr = mock.storeAddress(s);
        assert.doesNotMatch(addr, /:\/\//); // host:port, as TiKV's
        const r = await grpcCall(addr, RAW_GET, EMPTY, { ...client, servername: 'localhost' });
        assert.equal(r.status, 0, r.message); // served (a RegionNotFound inside)
      }
    } finally {
      await mock.stop();
    }
  });

  it('refuses a client without a certificate, with another CA\'s, or in plaintext; a client of another CA refuses it', async () => {
    const mock = await MockCluster.start({ tls: { cert: t.serverCert, key: t.serverKey, ca: t.ca } });
    try {
      const pd = mock.pdEndpoints[0];
      const cases = [
        ['no client certificate', { ca: t.ca }],
        ['another CA\'s client certificate', { ca: t.ca, cert: t.otherClientCert, key: t.otherClientKey }],
        ['a client trusting another CA', { ca: t.otherCa, cert: t.clientCert, key: t.clientKey }],
        ['plaintext', undefined],
      ];
      for (const [what, tls] of cases) {
        let outcome;
        try {
          outcome = await grpcCall(pd, GET_MEMBERS, EMPTY, tls);
        } catch (e) {
          outcome = e;
        }
        assert.ok(outcome instanceof Error, `${what}: served (${JSON.stringify(outcome)})`);
        assert.doesNotMatch(outcome.message, /no answer/, `${what}: a hang, not a refusal`);
      }
    } finally {
      await mock.stop();
    }
  });

  it('takes Buffers as Node\'s tls does; server-only TLS needs no client certificate', async () => {
    const mock = await MockCluster.start({ tls: { cert: Buffer.from(t.serverCert), key: Buffer.from(t.serverKey) } });
    try {
      assert.equal(mock.tls, 'tls');
      const r = await grpcCall(mock.pdEndpoints[0], GET_MEMBERS, EMPTY, { ca: Buffer.from(t.ca) });
      assert.equal(r.status, 0, r.message);
      assert.match(clientUrls(r.body)[0], /^https:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await mock.stop();
    }
  });

  it('stays plaintext by default', async () => {
    const mock = await MockCluster.start();
    try {
      assert.equal(mock.tls, 'plaintext');
      assert.deepEqual(mock.pdUrls, mock.pdEndpoints.map((e) => `http://${e}`));
      const r = await grpcCall(mock.pdEndpoints[0], GET_MEMBERS, EMPTY);
      assert.equal(r.status, 0);
      assert.match(clientUrls(r.body)[0], /^http:\/\//);
    } finally {
      await mock.stop();
    }
  });

  it('refuses bad TLS options with TypeError / RangeError, and material gRPC refuses with an Error', async () => {
    const key = t.serverKey;
    const cert = t.serverCert;
    await assert.rejects(MockCluster.start({ tls: 'yes' }), TypeError);
    await assert.rejects(MockCluster.start({ tls: { cert } }), /needs both cert and key/);
    await assert.rejects(MockCluster.start({ tls: { cert, key, passphrase: 'x' } }), (e) => e instanceof TypeError && /passphrase/.test(e.message));
    await assert.rejects(MockCluster.start({ tls: { cert: 42, key } }), TypeError);
    await assert.rejects(MockCluster.start({ tls: { cert: 'not pem', key } }), (e) => e instanceof RangeError && /options\.tls\.cert is not PEM/.test(e.message));
    await assert.rejects(MockCluster.start({ tls: { cert: `${cert}\0`, key } }), RangeError);
    // a key that is not the certificate's: the C mock cannot listen with it
    await assert.rejects(MockCluster.start({ tls: { cert, key: t.clientKey } }), (e) => !(e instanceof TypeError) && /with TLS/.test(e.message));
  });
});

function startServer(args) {
  const p = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  p.stderr.on('data', (c) => stderr.push(c));
  const first = new Promise((resolve, reject) => {
    readline.createInterface({ input: p.stdout }).once('line', resolve);
    p.once('exit', (code) => reject(new Error(`exited ${code}: ${Buffer.concat(stderr)}`)));
  });
  return {
    first,
    stderr: () => Buffer.concat(stderr).toString(),
    stop: () =>
      new Promise((resolve) => {
        if (p.exitCode !== null) return resolve(p.exitCode);
        p.once('exit', resolve);
        p.kill('SIGTERM');
      }),
  };
}

describe('tikv-mock-server --tls-cert/--tls-key/--tls-ca', () => {
  it('serves mutual TLS from PEM files', async () => {
    const s = startServer(['--pd', '2', '--tls-cert', t.paths.serverCert, '--tls-key', t.paths.serverKey, '--tls-ca', t.paths.ca]);
    try {
      const [word, eps] = (await s.first).split(' ');
      assert.equal(word, 'PD');
      const client = { ca: t.ca, cert: t.clientCert, key: t.clientKey };
      const r = await grpcCall(eps.split(',')[1], GET_MEMBERS, EMPTY, client);
      assert.equal(r.status, 0, r.message);
      assert.deepEqual(clientUrls(r.body), eps.split(',').map((e) => `https://${e}`));
      await assert.rejects(grpcCall(eps.split(',')[0], GET_MEMBERS, EMPTY, { ca: t.ca }));
      assert.match(s.stderr(), /mutual TLS/);
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  it('fails to start, saying why, on unreadable or half material', async () => {
    for (const [args, want] of [
      [['--tls-cert', t.paths.serverCert], /TLS needs both a certificate and its key/],
      [['--tls-cert', '/nonexistent.pem', '--tls-key', t.paths.serverKey], /cannot read the TLS certificate file \/nonexistent\.pem/],
      [['--tls-ca', t.paths.ca], /a TLS CA needs the servers' certificate and key too/],
    ]) {
      const s = startServer(args);
      await assert.rejects(s.first, want);
      assert.equal(await s.stop(), 1);
    }
  });
});
