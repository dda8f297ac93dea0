'use strict';
// RawClient and TransactionClient over TLS against MockCluster's TLS: the
// tls option (PEM strings, Buffers, files), https:// endpoints, what each
// failing handshake gives, the option's checks, and rotated files.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { RawClient, TransactionClient, TikvError } = require('../../lib');
const { MockCluster } = require('../../lib/mock');
const { makeTlsMaterial } = require('./tls-helpers');

let t;
before(() => {
  t = makeTlsMaterial();
});
after(() => t.cleanup());

const mutual = () => ({ cert: t.serverCert, key: t.serverKey, ca: t.ca });
const client = () => ({ ca: t.ca, cert: t.clientCert, key: t.clientKey });

async function withMock(options, fn) {
  const mock = await MockCluster.start(options);
  try {
    return await fn(mock);
  } finally {
    await mock.stop();
  }
}

async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof TikvError, `${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('TLS', { timeout: 120000 }, () => {
  it('raw and transactional operations over mutual TLS, across stores and regions, through region errors', async () => {
    await withMock({ stores: 3, regions: 8, tls: mutual() }, async (mock) => {
      const raw = await RawClient.connect(mock.pdUrls, { tls: client() });
      const db = await TransactionClient.connect(mock.pdUrls, {
        tls: { ca: Buffer.from(t.ca), cert: Buffer.from(t.clientCert), key: Buffer.from(t.clientKey) },
      });
      try {
        assert.equal(raw.options.tls, true);
        assert.equal(raw.clusterId, mock.clusterId);
        const keys = ['apple', 'kiwi', 'mango', 'zebra'];
        await raw.batchPut(keys.map((k) => [k, `v-${k}`]));
        mock.injectRegionError('RawGet', 'not_leader', { count: 2 });
        for (const k of keys) assert.deepEqual(await raw.get(k), Buffer.from(`v-${k}`));
        assert.deepEqual((await raw.scan('', null)).map((p) => String(p.key)), keys);
        mock.injectRegionError('KvPrewrite', 'epoch_not_match', { count: 1 });
        await db.transaction(async (txn) => {
          for (const k of keys) await txn.put(k, `t-${k}`);
        });
        const snap = await db.snapshot();
        assert.deepEqual((await snap.scan('', null)).map((p) => String(p.value)), keys.map((k) => `t-${k}`));
      } finally {
        await raw.close();
        await db.close();
      }
    });
  });

  it('takes PEM files too (read again when they change)', async () => {
    await withMock({ tls: mutual() }, async (mock) => {
      const raw = await RawClient.connect(mock.pdEndpoints, {
        tls: { caFile: t.paths.ca, certFile: t.paths.clientCert, keyFile: t.paths.clientKey },
      });
      try {
        await raw.put('k', 'v');
        assert.deepEqual(await raw.get('k'), Buffer.from('v'));
      } finally {
        await raw.close();
      }
    });
  });

  it('reads the files when it connects: a replaced CA file is taken by the next client', async () => {
    await withMock({ tls: mutual() }, async (mock) => {
      const dir = fs.mkdtempSync(path.join(t.dir, 'rotate-'));
      const caFile = path.join(dir, 'ca.pem');
      fs.writeFileSync(caFile, t.otherCa);
      const tls = { caFile, certFile: t.paths.clientCert, keyFile: t.paths.clientKey };
      await rejectsWith(RawClient.connect(mock.pdEndpoints, { tls, timeoutMs: 3000 }), 'TLS', /certificate verify failed/);
      fs.writeFileSync(caFile, t.ca);
      const raw = await RawClient.connect(mock.pdEndpoints, { tls, timeoutMs: 3000 });
      await raw.put('k', 'v');
      await raw.close();
    });
  });

  it('each failing handshake ends connect with its error, never a hang', async () => {
    await withMock({ tls: mutual() }, async (mock) => {
      const eps = mock.pdUrls;
      // the servers' certificate is not signed by the CA we trust: TLS at once
      await rejectsWith(
        RawClient.connect(eps, { tls: { ...client(), ca: t.otherCa } }),
        'TLS',
        /certificate verify failed/
      );
      // what the server refuses it refuses by closing: retried to the deadline
      await rejectsWith(
        RawClient.connect(eps, { tls: { ...client(), cert: t.otherClientCert, key: t.otherClientKey }, timeoutMs: 1500 }),
        'TIMEOUT',
        /Socket closed.*trust the client certificate/
      );
      await rejectsWith(RawClient.connect(eps, { tls: { ca: t.ca }, timeoutMs: 1500 }), 'TIMEOUT', /Socket closed/);
      await rejectsWith(
        TransactionClient.connect(mock.pdEndpoints, { timeoutMs: 1500 }),
        'TIMEOUT',
        /Socket closed.*require TLS/
      );
    });
    await withMock({}, async (mock) => {
      await rejectsWith(
        RawClient.connect(mock.pdEndpoints.map((e) => `https://${e}`), { tls: client() }),
        'TLS',
        /wrong version number/
      );
    });
    await withMock({ tls: { cert: t.wrongHostCert, key: t.wrongHostKey, ca: t.ca } }, async (mock) => {
      await rejectsWith(RawClient.connect(mock.pdUrls, { tls: client() }), 'TLS', /Hostname Verification/);
    });
  });

  it('the endpoints\' scheme must agree with tls', async () => {
    await withMock({}, async (mock) => {
      const ep = mock.pdEndpoints[0];
      await rejectsWith(RawClient.connect([`https://${ep}`]), 'INVALID_ARGUMENT', /https:\/\/ PD endpoint needs TLS/);
      await rejectsWith(
        TransactionClient.connect([`http://${ep}`], { tls: client() }),
        'INVALID_ARGUMENT',
        /http:\/\/ PD endpoint with TLS/
      );
      const raw = await RawClient.connect([`http://${ep}`]);
      await raw.close();
    });
  });

  it('material that does not parse or fit is refused at connect, saying which', async () => {
    const eps = ['127.0.0.1:1']; // never dialled: refused first
    await rejectsWith(
      RawClient.connect(eps, { tls: { ...client(), cert: t.otherClientCert } }),
      'INVALID_ARGUMENT',
      /tls: the TLS client key does not match the client certificate/
    );
    await rejectsWith(RawClient.connect(eps, { tls: { ca: 'not PEM' } }), 'INVALID_ARGUMENT', /the TLS CA holds no PEM certificate/);
    await rejectsWith(
      RawClient.connect(eps, { tls: { caFile: '/nonexistent/ca.pem' } }),
      'INVALID_ARGUMENT',
      /cannot read the TLS CA file \/nonexistent\/ca.pem/
    );
  });

  it('checks the option\'s shape before anything else', async () => {
    const eps = ['127.0.0.1:1'];
    const bad = [
      [{ tls: 'yes' }, TypeError, /options.tls must be an object/],
      [{ tls: {} }, TypeError, /options.tls.ca is required/],
      [{ tls: { ca: t.ca, cert: t.clientCert } }, TypeError, /options.tls.cert and options.tls.key go together/],
      [{ tls: { ca: 42 } }, TypeError, /options.tls.ca must be a PEM string or Buffer/],
      [{ tls: { ca: t.ca, certificate: 'x' } }, TypeError, /unknown option 'tls.certificate'/],
      [{ tls: { caFile: t.paths.ca, cert: t.clientCert } }, TypeError, /unknown option 'tls.cert'/],
      [{ tls: { ca: 'a\0b' } }, RangeError, /holds a NUL byte/],
      [{ tls: { caFile: '' } }, RangeError, /must be a file path/],
    ];
    for (const [options, type, pattern] of bad) {
      await assert.rejects(RawClient.connect(eps, options), (e) => e instanceof type && pattern.test(e.message), JSON.stringify(options));
      await assert.rejects(TransactionClient.connect(eps, options), (e) => e instanceof type && pattern.test(e.message));
    }
  });
});
