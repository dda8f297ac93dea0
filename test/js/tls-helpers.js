'use strict';
// Throwaway TLS material for the Node tests, made at test time by
// test/make-tls.sh (the openssl command) in a fresh temporary directory;
// the C tests use the same script (test/c/util_tls.c). No key is committed.
//
//   const tls = makeTlsMaterial();
//   MockCluster.start({ tls: { cert: tls.serverCert, key: tls.serverKey, ca: tls.ca } });
//   // a client: { ca: tls.ca, cert: tls.clientCert, key: tls.clientKey }
//   tls.cleanup();
//
// PEM strings: ca / caKey (the CA everyone trusts), serverCert / serverKey
// (SANs IP 127.0.0.1 and DNS localhost), clientCert / clientKey, otherCa /
// otherCaKey (another CA), otherClientCert / otherClientKey (a client
// certificate the other CA signed), wrongHostCert / wrongHostKey (signed by
// ca for DNS wrong-host.invalid only). `paths` has the same keys, as files.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SCRIPT = path.join(__dirname, '..', 'make-tls.sh');

const FILES = {
  ca: 'ca.pem',
  caKey: 'ca.key',
  serverCert: 'server.pem',
  serverKey: 'server.key',
  clientCert: 'client.pem',
  clientKey: 'client.key',
  otherCa: 'other-ca.pem',
  otherCaKey: 'other-ca.key',
  otherClientCert: 'other-client.pem',
  otherClientKey: 'other-client.key',
  wrongHostCert: 'wrong-host.pem',
  wrongHostKey: 'wrong-host.key',
};

function makeTlsMaterial() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tikv-tls-'));
  try {
    execFileSync('sh', [SCRIPT, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${SCRIPT} failed (is openssl installed?): ${e.stderr || e.message}`);
  }
  const out = { dir, paths: {} };
  for (const [k, f] of Object.entries(FILES)) {
    out.paths[k] = path.join(dir, f);
    out[k] = fs.readFileSync(out.paths[k], 'utf8');
  }
  out.cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

module.exports = { makeTlsMaterial };
