'use strict';
// TransactionClient#transaction(): begin, run, commit, retry on retryable
// errors; and a bank-transfer workload with a concurrent audit.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startTxnCluster, rejectsWith, sleep, TikvError } = require('./helpers');

const str = (b) => (b === null ? null : b.toString());

describe('transaction() retries', { timeout: 120000 }, () => {
  let c;
  let client;
  before(async () => {
    c = await startTxnCluster({ stores: 3, regions: 4 });
    client = c.client;
  });
  after(() => c.stop());

  async function read(key) {
    return str(await (await client.snapshot()).get(key));
  }

  it('commits and resolves what the function returned', async () => {
    let runs = 0;
    const r = await client.transaction(async (txn) => {
      runs++;
      assert.equal(txn.state, 'active');
      await txn.put('tx/simple', 'v');
      return { ok: true };
    });
    assert.deepEqual(r, { ok: true });
    assert.equal(runs, 1);
    assert.equal(await read('tx/simple'), 'v');
    // a synchronous function works too
    assert.equal(await client.transaction(() => 7), 7);
  });

  it('retries a write conflict: the function runs again and its last result is returned', async () => {
    await client.transaction((t) => t.put('tx/counter', '0'));
    let runs = 0;
    const txns = [];
    const result = await client.transaction(async (txn) => {
      runs++;
      txns.push(txn);
      const v = Number(str(await txn.get('tx/counter')));
      if (runs === 1) {
        // somebody else updates the counter meanwhile
        await client.transaction((other) => other.put('tx/counter', '100'));
      }
      await txn.put('tx/counter', String(v + 1));
      return `run ${runs} read ${v}`;
    });
    assert.equal(runs, 2);
    assert.equal(result, 'run 2 read 100');
    assert.equal(await read('tx/counter'), '101');
    assert.equal(txns[0].state, 'commitFailed');
    assert.equal(txns[1].state, 'committed');
    assert.notEqual(txns[0].startTimestamp, txns[1].startTimestamp);
    assert.ok(txns[1].startTimestamp > txns[0].startTimestamp);
  });

  it('retries a retryable error thrown inside the function (pessimistic lock wait timeout)', async () => {
    const holder = await client.begin({ pessimistic: true });
    await holder.put('tx/locked', 'holder');
    let runs = 0;
    const p = client.transaction(
      async (txn) => {
        runs++;
        if (runs === 3) await holder.commit(); // the lock goes away before the third run
        await txn.put('tx/locked', `run ${runs}`);
      },
      { pessimistic: true, lockWaitTimeoutMs: 0 }
    );
    await p;
    assert.equal(runs, 3);
    assert.equal(await read('tx/locked'), 'run 3');
  });

  it('gives up after `retries` more runs and rejects with the last error', async () => {
    let runs = 0;
    const e = await rejectsWith(
      client.transaction(
        async (txn) => {
          runs++;
          await txn.get('tx/always');
          await client.transaction((other) => other.put('tx/always', String(runs)));
          await txn.put('tx/always', 'mine');
        },
        { retries: 2 }
      ),
      'WRITE_CONFLICT'
    );
    assert.equal(runs, 3);
    assert.equal(e.retryable, true);
    assert.equal(await read('tx/always'), '3');
    runs = 0;
    await rejectsWith(
      client.transaction(
        async (txn) => {
          runs++;
          await client.transaction((other) => other.put('tx/always', 'x'));
          await txn.put('tx/always', 'mine');
        },
        { retries: 0 }
      ),
      'WRITE_CONFLICT'
    );
    assert.equal(runs, 1);
  });

  it('a non-retryable error is not retried (ALREADY_EXIST)', async () => {
    await client.transaction((t) => t.put('tx/exists', 'v'));
    let runs = 0;
    await rejectsWith(
      client.transaction(async (txn) => {
        runs++;
        await txn.insert('tx/exists', 'again');
      }),
      'ALREADY_EXIST'
    );
    assert.equal(runs, 1);
  });

  it('an error thrown by the function rolls back and propagates as is', async () => {
    let runs = 0;
    let seen;
    const boom = new Error('boom');
    await assert.rejects(
      client.transaction(
        async (txn) => {
          runs++;
          seen = txn;
          await txn.put('tx/thrown', 'never');
          throw boom;
        },
        { pessimistic: true }
      ),
      (e) => e === boom
    );
    assert.equal(runs, 1);
    assert.equal(seen.state, 'rolledBack');
    assert.equal(await read('tx/thrown'), null);
    // its pessimistic lock is gone
    const t = await client.begin({ pessimistic: true, lockWaitTimeoutMs: 0 });
    await t.put('tx/thrown', 'free');
    await t.commit();
    // a TikvError the function makes up is retried only when retryable
    runs = 0;
    await assert.rejects(
      client.transaction(() => {
        runs++;
        throw TikvError.of('TXN_NOT_FOUND');
      }),
      (e) => e.code === 'TXN_NOT_FOUND'
    );
    assert.equal(runs, 1);
    runs = 0;
    const r = await client.transaction(() => {
      runs++;
      if (runs < 3) throw TikvError.of('TXN_RETRYABLE');
      return 'third time';
    });
    assert.equal(r, 'third time');
    assert.equal(runs, 3);
  });

  it('a function that commits or rolls back by itself is left alone', async () => {
    const ts = await client.transaction(async (txn) => {
      await txn.put('tx/self', 'committed by fn');
      return txn.commit();
    });
    assert.equal(typeof ts, 'bigint');
    assert.equal(await read('tx/self'), 'committed by fn');
    const r = await client.transaction(async (txn) => {
      await txn.put('tx/self', 'rolled back by fn');
      await txn.rollback();
      return 'rolled back';
    });
    assert.equal(r, 'rolled back');
    assert.equal(await read('tx/self'), 'committed by fn');
  });

  it('using the transaction after transaction() resolved rejects with TXN_FINISHED', async () => {
    let kept;
    await client.transaction(async (txn) => {
      kept = txn;
      await txn.put('tx/kept', 'v');
    });
    await rejectsWith(kept.put('tx/kept', 'late'), 'TXN_FINISHED');
    await rejectsWith(kept.get('tx/kept'), 'TXN_FINISHED');
  });

  it('passes begin options through', async () => {
    const seen = [];
    for (const opts of [{}, { pessimistic: true }, { asyncCommit: true }, { tryOnePc: true, lockWaitTimeoutMs: 5 }]) {
      await client.transaction(async (txn) => {
        seen.push(txn.options);
        await txn.put('tx/opts', JSON.stringify(opts));
      }, { retries: 1, ...opts });
    }
    assert.deepEqual(
      seen.map((o) => [o.pessimistic, o.asyncCommit, o.tryOnePc, o.lockWaitTimeoutMs]),
      [
        [false, false, false, undefined],
        [true, false, false, undefined],
        [false, true, false, undefined],
        [false, false, true, 5],
      ]
    );
  });
});

describe('bank transfers: 20 concurrent transaction() calls and a snapshot audit', { timeout: 180000 }, () => {
  let c;
  let client;
  before(async () => {
    c = await startTxnCluster({ stores: 3, regions: 8 });
    client = c.client;
  });
  after(() => c.stop());

  // accounts spread over the regions (first characters across "0-9A-Za-z")
  const ACCOUNTS = '05AGMSYekr'.split('').map((ch) => `${ch}/account`);
  const INITIAL = 1000;
  const TOTAL = ACCOUNTS.length * INITIAL;

  async function run(mode, workers, perWorker) {
    await client.transaction(async (t) => {
      for (const a of ACCOUNTS) await t.put(a, String(INITIAL));
    });
    let acknowledged = 0;
    let attempts = 0;
    const ledger = new Map(); // id -> [from, to, amount] of acknowledged transfers
    let stop = false;
    let audits = 0;
    const auditor = (async () => {
      while (!stop) {
        const s = await client.snapshot();
        const kvs = await s.batchGet(ACCOUNTS);
        assert.equal(kvs.length, ACCOUNTS.length);
        const sum = kvs.reduce((acc, kv) => acc + Number(kv.value.toString()), 0);
        assert.equal(sum, TOTAL, `the total is constant (audit ${audits} at ${s.timestamp})`);
        const entries = await s.scan(`${mode}/ledger/`, `${mode}/ledger0`, { limit: 10240 });
        assert.ok(entries.length <= workers * perWorker);
        audits++;
        await sleep(5);
      }
    })();
    const rnd = (n) => Math.floor(Math.random() * n);
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const opts = mode === 'mixed' ? { pessimistic: w % 2 === 0 } : { pessimistic: mode === 'pessimistic' };
        for (let i = 0; i < perWorker; i++) {
          const id = `${String(w).padStart(2, '0')}-${String(i).padStart(3, '0')}`;
          const from = rnd(ACCOUNTS.length);
          const to = (from + 1 + rnd(ACCOUNTS.length - 1)) % ACCOUNTS.length;
          const amount = 1 + rnd(50);
          const moved = await client.transaction(
            async (txn) => {
              attempts++;
              const read = opts.pessimistic ? (k) => txn.getForUpdate(k) : (k) => txn.get(k);
              const a = Number(str(await read(ACCOUNTS[from])));
              const b = Number(str(await read(ACCOUNTS[to])));
              const m = Math.min(a, amount); // never below zero
              await txn.put(ACCOUNTS[from], String(a - m));
              await txn.put(ACCOUNTS[to], String(b + m));
              await txn.put(`${mode}/ledger/${id}`, `${from},${to},${m}`);
              return m;
            },
            { retries: 1000, lockWaitTimeoutMs: 20000, ...opts }
          );
          ledger.set(id, [from, to, moved]);
          acknowledged++;
        }
      })
    );
    stop = true;
    await auditor;
    assert.ok(audits > 0);
    assert.equal(acknowledged, workers * perWorker);

    // every acknowledged transfer is in the ledger, and replaying it gives the balances
    const s = await client.snapshot();
    const entries = await s.scan(`${mode}/ledger/`, `${mode}/ledger0`, { limit: 10240 });
    assert.equal(entries.length, acknowledged);
    const expected = ACCOUNTS.map(() => INITIAL);
    for (const kv of entries) {
      const id = kv.key.toString().slice(`${mode}/ledger/`.length);
      const [from, to, m] = kv.value.toString().split(',').map(Number);
      assert.deepEqual(ledger.get(id), [from, to, m], `ledger entry ${id}`);
      expected[from] -= m;
      expected[to] += m;
    }
    const balances = (await s.batchGet(ACCOUNTS)).map((kv) => Number(kv.value.toString()));
    assert.deepEqual(balances, expected);
    assert.equal(balances.reduce((a, b) => a + b, 0), TOTAL);
    assert.ok(balances.every((b) => b >= 0));
    return { attempts, audits };
  }

  it('optimistic: 200 transfers, the total never changes, every transfer is recorded', async () => {
    const r = await run('optimistic', 20, 10);
    assert.ok(r.attempts >= 200);
  });

  it('mixed optimistic and pessimistic: 200 transfers', async () => {
    await run('mixed', 20, 10);
  });
});
