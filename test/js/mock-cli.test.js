'use strict';
// tikv-mock-server --control: the cluster's faults driven from another
// process, one command a line on stdin, one answer a line on stdout.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { RawClient } = require('../../lib');

const BIN = path.join(__dirname, '..', '..', 'build-c', 'tikv-mock-server');

function startServer(args) {
  const p = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'ignore'] });
  const lines = [];
  const waiting = [];
  readline.createInterface({ input: p.stdout }).on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else lines.push(l);
  });
  const next = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiting.push(r)));
  return {
    p,
    next,
    async send(cmd) {
      p.stdin.write(`${cmd}\n`);
      return next();
    },
    stop() {
      return new Promise((resolve) => {
        p.on('exit', (code) => resolve(code));
        p.kill('SIGTERM');
      });
    },
  };
}

describe('tikv-mock-server --control', () => {
  it('drives PD members, stores and faults', async () => {
    const s = startServer(['--pd', '3', '--stores', '3', '--control', '--pd-election-ms', '600000']);
    try {
      const pd = (await s.next()).split(' ');
      assert.equal(pd[0], 'PD');
      const endpoints = pd[1].split(',');
      assert.equal(endpoints.length, 3);
      assert.equal(await s.send('pd-leader'), 'ok 1');
      assert.equal(await s.send('pd-kill leader'), 'ok 1');
      assert.equal(await s.send('pd-leader'), 'ok 0');
      assert.equal(await s.send('pd-transfer 1'), 'error: pd-transfer failed'); /* down */
      assert.equal(await s.send('pd-restart 1'), 'ok 1');
      assert.equal(await s.send('pd-transfer 1'), 'ok 1');
      assert.equal(await s.send('pd-leader'), 'ok 1');
      assert.match(await s.send('pd-add'), /^ok 4 127\.0\.0\.1:\d+$/);
      assert.equal(await s.send('lost-reply 1 RawPut 1'), 'ok');
      assert.equal(await s.send('corrupt-reply RawGet stray 1'), 'ok');
      assert.equal(await s.send('corrupt-reply RawGet shred 1'), 'error: corrupt-reply failed');
      assert.equal(await s.send('region-error RawGet not_leader 2 0'), 'ok');
      assert.equal(await s.send('region-error RawGet no_such_kind 2 0'), 'error: region-error failed');
      assert.equal(await s.send('clear'), 'ok');
      assert.equal(await s.send('store-down 9'), 'error: store-down failed');
      assert.equal(await s.send('store-down 3'), 'ok');
      assert.equal(await s.send('store-up 3'), 'ok');
      assert.equal(await s.send('pd-kill'), 'error: usage: pd-kill MEMBER|leader');
      assert.equal(await s.send('bogus'), 'error: unknown command (try help)');
      assert.match(await s.send('help'), /^ok pd-leader; .*lost-reply STORE/);
      // the cluster still serves a client after all that
      const client = await RawClient.connect([endpoints[0]], { timeoutMs: 5000 });
      try {
        await client.put('k', 'v');
        assert.deepEqual(await client.get('k'), Buffer.from('v'));
      } finally {
        await client.close();
      }
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });
});
