'use strict';
// The chaos run: bank transfers between ACCOUNTS accounts by WORKERS
// concurrent workers — optimistic, pessimistic, async-commit and 1PC
// transactions — while a fault driver, on a seeded schedule, injects region
// errors, splits regions, moves leaders, loses replies of KvPrewrite /
// KvCommit / KvPessimisticLock, kills a store and brings it back, and kills
// the PD leader (the mock elects another). Every operation runs with the
// client-wide default deadline (20 s), which outlasts every fault here: PD
// elects in PD_ELECTION_MS, a region in RAFT_ELECTION_MS.
//
// What a correct client guarantees, and so what is asserted:
// - every audit (a snapshot read of every account) sees the total: a
//   snapshot is consistent, whatever is in flight;
// - no transfer fails, except UNDETERMINED (a commit whose reply was lost
//   may have happened): every other error is one that retrying within the
//   deadline would have got past, or a bug;
// - every acknowledged transfer is in the final state; an undetermined one
//   is there entirely or not at all; a failed one is not there. Each transfer
//   inserts its own key (`xfer/<id>`) in the same transaction, so the final
//   state says which transfers happened, and the balances must be exactly
//   the initial ones moved by those transfers. The key is inserted, not put:
//   a transfer applied twice (a commit that happened, run again) fails with
//   ALREADY_EXIST instead of moving the money twice unseen.
//
// One line of counts is printed (transfers ok / undetermined / failed by
// code, audits, faults injected by kind). CHAOS_SEED=<n> replays a schedule
// (the seed is printed); CHAOS_FAULTS=<kind,...> narrows the fault kinds
// (FAULT_KINDS below), to tell which fault a failure comes from.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { TransactionClient, MockCluster, encodeKey, sleep } = require('./helpers');
const { REGION_ERROR_KINDS } = require('../../lib/mock');

const ACCOUNTS = 200;
const INITIAL = 1000;
const WORKERS = 8;
const CHAOS_MS = 40000;
const AUDIT_EVERY_MS = 2000;
const DEADLINE_MS = 20000; // the client's default, which the test relies on (no timeoutMs given)
const PD_ELECTION_MS = 3000; // PD's leader lease, the mock's default
const RAFT_ELECTION_MS = 3000;
const SEED = process.env.CHAOS_SEED === undefined ? 0x5eedc4a0 : Number(process.env.CHAOS_SEED) >>> 0;

const FAULT_KINDS = [
  'region-error', 'split', 'leader-move', 'lost-prewrite', 'lost-commit', 'lost-lock', 'pd-transfer', 'store-down', 'pd-kill',
];
const ENABLED = new Set(process.env.CHAOS_FAULTS ? process.env.CHAOS_FAULTS.split(',') : FAULT_KINDS);
for (const k of ENABLED) if (!FAULT_KINDS.includes(k)) throw new RangeError(`CHAOS_FAULTS: unknown kind ${k} (${FAULT_KINDS.join(', ')})`);

// the transaction kinds, as begin() options
const MODES = {
  optimistic: {},
  pessimistic: { pessimistic: true },
  asyncCommit: { asyncCommit: true },
  onePc: { tryOnePc: true },
  pessimisticAsync: { pessimistic: true, asyncCommit: true },
};
const MODE_NAMES = Object.keys(MODES);

// mulberry32: small, seedable, the same sequence everywhere
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)); // [lo, hi]
  next.pick = (xs) => xs[Math.floor(next() * xs.length)];
  return next;
}

const account = (i) => `acct/${String(i).padStart(4, '0')}`;
const ACCOUNT_KEYS = Array.from({ length: ACCOUNTS }, (_, i) => account(i));
const XFER_PREFIX = 'xfer/';

const count = (map, k, n = 1) => map.set(k, (map.get(k) || 0) + n);
const plain = (map) => Object.fromEntries([...map].sort());

/** Balances of every account from a batchGet's pairs; a missing account is an error. */
function balances(pairs) {
  const by = new Map(pairs.map((p) => [p.key.toString(), Number(p.value.toString())]));
  return ACCOUNT_KEYS.map((k) => {
    assert.ok(by.has(k), `account ${k} is missing`);
    return by.get(k);
  });
}

/**
 * One transfer of amt from account `from` to `to`, in one transaction of the
 * given mode: read both (locking them when pessimistic, in key order so two
 * transfers never deadlock), write both, insert the transfer's own key.
 */
function transferBody(t, pessimistic) {
  return async (txn) => {
    t.runs++;
    const keys = [account(t.from), account(t.to)].sort();
    const pairs = pessimistic ? await txn.batchGetForUpdate(keys) : await txn.batchGet(keys);
    const by = new Map(pairs.map((p) => [p.key.toString(), Number(p.value.toString())]));
    const a = by.get(account(t.from));
    const b = by.get(account(t.to));
    if (a === undefined || b === undefined) throw new Error(`transfer ${t.id}: an account is missing`);
    await txn.put(account(t.from), String(a - t.amt));
    await txn.put(account(t.to), String(b + t.amt));
    await txn.insert(XFER_PREFIX + t.id, `${t.from},${t.to},${t.amt}`);
  };
}

/** The fault driver: a seeded schedule of faults, light ones all along, heavy ones at set times. */
class FaultDriver {
  constructor(mock, rand) {
    this.mock = mock;
    this.rand = rand;
    this.injected = new Map(); // kind -> count
    this.refused = new Map(); // kind -> count the mock refused (e.g. a split at an existing boundary)
    this.log = [];
    this.downStores = new Set();
    this.downMembers = new Set();
    // heavy faults, at seeded times (ms from the start): each undone a few seconds later
    const r = rand;
    this.heavy = [];
    if (ENABLED.has('store-down')) {
      // the store leading a region (picked when the fault hits), back within
      // or after the election: it keeps or loses its leaderships
      this.heavy.push({ at: r.int(5000, 8000), kind: 'store-down', forMs: r.int(1500, 6000) });
      this.heavy.push({ at: r.int(24000, 27000), kind: 'store-down', forMs: r.int(1500, 6000) });
    }
    if (ENABLED.has('pd-kill')) {
      this.heavy.push({ at: r.int(14000, 17000), kind: 'pd-kill', forMs: r.int(4000, 7000) });
      this.heavy.push({ at: r.int(30000, 32000), kind: 'pd-kill', forMs: r.int(3000, 5000) });
    }
    this.heavy.sort((x, y) => x.at - y.at);
    this.light = FAULT_KINDS.filter((k) => ENABLED.has(k) && k !== 'store-down' && k !== 'pd-kill');
  }

  note(kind, what) {
    count(this.injected, kind);
    this.log.push(`${Date.now() - this.t0}ms ${kind} ${what}`);
  }

  refuse(kind) {
    count(this.refused, kind);
  }

  lightFault() {
    const m = this.mock;
    const r = this.rand;
    const kind = r.pick(this.light);
    try {
      switch (kind) {
        case 'region-error': {
          const method = r.pick(['KvGet', 'KvBatchGet', 'KvPrewrite', 'KvCommit', 'KvPessimisticLock']);
          const k = r.pick(REGION_ERROR_KINDS);
          m.injectRegionError(method, k, { count: r.int(1, 3) });
          this.note(kind, `${method} ${k}`);
          break;
        }
        case 'split': {
          const at = r.int(1, ACCOUNTS - 1);
          m.splitRegion(encodeKey(account(at)));
          this.note(kind, account(at));
          break;
        }
        case 'leader-move': {
          const regions = m.regions();
          const reg = r.pick(regions);
          const store = r.int(1, 3);
          if (this.downStores.has(store) || reg.leaderStore === BigInt(store)) return this.refuse(kind);
          m.transferLeader(reg.id, store);
          this.note(kind, `region ${reg.id} -> store ${store}`);
          break;
        }
        case 'lost-prewrite':
        case 'lost-commit':
        case 'lost-lock': {
          const method = { 'lost-prewrite': 'KvPrewrite', 'lost-commit': 'KvCommit', 'lost-lock': 'KvPessimisticLock' }[kind];
          m.injectLostReply(method, { storeId: r.int(0, 3), count: r.int(1, 2) });
          this.note(kind, method);
          break;
        }
        case 'pd-transfer': {
          const to = r.int(1, 3);
          if (this.downMembers.has(to) || m.pdLeader === null || m.pdLeader === to) return this.refuse(kind);
          m.transferPdLeader(to);
          this.note(kind, `-> member ${to}`);
          break;
        }
        default:
          throw new Error(kind);
      }
    } catch (e) {
      if (!(e instanceof RangeError) && !/cannot split/.test(e.message)) throw e;
      this.refuse(kind);
    }
  }

  heavyFault(h) {
    const m = this.mock;
    if (h.kind === 'store-down') {
      h.store = Number(this.rand.pick(m.regions()).leaderStore);
      m.setStoreDown(h.store, true);
      this.downStores.add(h.store);
      this.note('store-down', `store ${h.store} for ${h.forMs} ms`);
      return sleep(h.forMs).then(() => {
        m.setStoreDown(h.store, false);
        this.downStores.delete(h.store);
      });
    }
    const member = m.pdLeader;
    if (member === null) return this.refuse('pd-kill');
    m.setPdMemberDown(member, true);
    this.downMembers.add(member);
    this.note('pd-kill', `member ${member}, back as a follower after ${h.forMs} ms`);
    return sleep(h.forMs).then(() => {
      m.setPdMemberDown(member, false);
      this.downMembers.delete(member);
    });
  }

  /** Runs until `end` (ms since t0), then heals whatever is still broken. */
  async run(t0, end) {
    this.t0 = t0;
    const undo = [];
    const heavy = [...this.heavy];
    while (Date.now() - t0 < end - 2000) {
      const now = Date.now() - t0;
      while (heavy.length && heavy[0].at <= now) undo.push(this.heavyFault(heavy.shift()));
      if (this.light.length) this.lightFault();
      await sleep(this.rand.int(200, 700));
    }
    await Promise.all(undo);
    for (const s of this.downStores) this.mock.setStoreDown(s, false);
    for (const p of this.downMembers) this.mock.setPdMemberDown(p, false);
    this.mock.clearFaults();
  }
}

describe('chaos', { timeout: 150000 }, () => {
  it('bank transfers keep the total, and every acknowledged one, through region errors, splits, leader moves, lost replies, a store and the PD leader lost', async () => {
    const mock = await MockCluster.start({
      stores: 3,
      regions: 1,
      pdMembers: 3,
      pdElectionMs: PD_ELECTION_MS,
      raftElectionMs: RAFT_ELECTION_MS,
    });
    let client = null;
    try {
      client = await TransactionClient.connect(mock.pdEndpoints); // the default deadline (20 s)
      await client.transaction(async (txn) => {
        for (const k of ACCOUNT_KEYS) await txn.put(k, String(INITIAL));
      });
      const total = ACCOUNTS * INITIAL;

      const rand = rng(SEED);
      const faults = new FaultDriver(mock, rng(rand.int(0, 0xffffffff)));
      const transfers = []; // {id, from, to, amt, mode, outcome: 'ok' | 'undetermined' | 'failed', code, ms}
      const failures = new Map(); // code -> count (transfers and audits)
      const early = new Map(); // retryable code -> failures that came before their deadline
      const firstFailures = new Map(); // code -> the first such failure's description
      const audits = { ok: 0, badSums: [] };

      const failed = (what, e, ms) => {
        const code = e && e.code ? e.code : `${e && e.name}`;
        count(failures, code);
        if (e && e.retryable && ms < DEADLINE_MS) count(early, code);
        if (!firstFailures.has(code)) firstFailures.set(code, `${what} after ${ms} ms: ${e && e.message}`);
      };

      const t0 = Date.now();
      const running = () => Date.now() - t0 < CHAOS_MS;

      async function worker(w, r) {
        for (let seq = 0; running(); seq++) {
          const from = r.int(0, ACCOUNTS - 1);
          let to = r.int(0, ACCOUNTS - 2);
          if (to >= from) to++;
          const t = { id: `${w}-${seq}`, from, to, amt: r.int(1, 100), mode: r.pick(MODE_NAMES), runs: 0 };
          transfers.push(t);
          const start = Date.now();
          try {
            await client.transaction(transferBody(t, MODES[t.mode].pessimistic === true), MODES[t.mode]);
            t.outcome = 'ok';
          } catch (e) {
            t.ms = Date.now() - start;
            t.code = e && e.code;
            t.outcome = t.code === 'UNDETERMINED' ? 'undetermined' : 'failed';
            if (t.outcome === 'failed') failed(`transfer ${t.id} (${t.mode})`, e, t.ms);
            else count(failures, 'UNDETERMINED');
          }
        }
      }

      async function auditor() {
        while (running()) {
          await sleep(AUDIT_EVERY_MS);
          const start = Date.now();
          try {
            const snap = await client.snapshot();
            const sum = balances(await snap.batchGet(ACCOUNT_KEYS)).reduce((x, y) => x + y, 0);
            if (sum === total) audits.ok++;
            else audits.badSums.push({ at: start - t0, ts: snap.timestamp, sum });
          } catch (e) {
            if (!(e && e.code)) throw e; // an assertion (a missing account)
            failed('audit', e, Date.now() - start);
          }
        }
      }

      await Promise.all([
        faults.run(t0, CHAOS_MS),
        auditor(),
        ...Array.from({ length: WORKERS }, (_, w) => worker(w, rng(rand.int(0, 0xffffffff)))),
      ]);

      // the final state, through a fresh client (the data is judged, not the
      // chaos client's state): the accounts and every transfer's key
      const judge = await TransactionClient.connect(mock.pdEndpoints);
      let final, present;
      try {
        const snap = await judge.snapshot();
        final = balances(await snap.batchGet(ACCOUNT_KEYS));
        present = new Map();
        for await (const p of snap.iterate(XFER_PREFIX, 'xfer0')) present.set(p.key.toString().slice(XFER_PREFIX.length), p.value.toString());
      } finally {
        await judge.close();
      }

      const by = (o) => transfers.filter((t) => t.outcome === o);
      const expected = ACCOUNT_KEYS.map(() => INITIAL);
      const lostAcked = [];
      const appliedFailed = [];
      let undeterminedApplied = 0;
      for (const t of transfers) {
        const there = present.get(t.id);
        if (there !== undefined) {
          assert.equal(there, `${t.from},${t.to},${t.amt}`, `transfer ${t.id}'s key`);
          expected[t.from] -= t.amt;
          expected[t.to] += t.amt;
          present.delete(t.id);
        }
        if (t.outcome === 'ok' && there === undefined) lostAcked.push(t.id);
        if (t.outcome === 'failed' && there !== undefined) appliedFailed.push(`${t.id} (${t.code})`);
        if (t.outcome === 'undetermined' && there !== undefined) undeterminedApplied++;
      }

      const summary = {
        seed: SEED,
        transfers: transfers.length,
        ok: by('ok').length,
        undetermined: by('undetermined').length,
        undeterminedApplied,
        failed: by('failed').length,
        reruns: transfers.reduce((n, t) => n + Math.max(0, t.runs - 1), 0),
        failuresByCode: plain(failures),
        retryableBeforeDeadline: plain(early),
        audits: audits.ok,
        badAudits: audits.badSums.length,
        lostAcked: lostAcked.length,
        appliedFailed: appliedFailed.length,
        modes: plain(transfers.reduce((m, t) => count(m, `${t.mode}:${t.outcome}`), new Map())),
        faults: plain(faults.injected),
        faultsRefused: plain(faults.refused),
      };
      console.log(`chaos: ${JSON.stringify(summary)}`);
      if (firstFailures.size) console.log(`chaos: first failure of each code: ${JSON.stringify(plain(firstFailures))}`);
      if (firstFailures.size || audits.badSums.length || lostAcked.length || appliedFailed.length)
        console.log(`chaos: the faults, in order: ${faults.log.join('; ')}`);

      // the schedule really ran (a fault kind that never got in tests nothing)
      for (const k of ENABLED) assert.ok(faults.injected.get(k) > 0, `no ${k} fault was injected`);
      assert.ok(by('ok').length >= WORKERS, `only ${by('ok').length} transfers went through`);
      assert.ok(audits.ok + audits.badSums.length > 0, 'no audit completed');

      assert.deepEqual(audits.badSums, [], 'audits whose snapshot did not sum to the total');
      assert.deepEqual([...present.keys()], [], 'transfer keys of no transfer');
      assert.deepEqual(lostAcked.slice(0, 20), [], `${lostAcked.length} acknowledged transfers are not in the final state`);
      assert.deepEqual(appliedFailed.slice(0, 20), [], `${appliedFailed.length} failed transfers were applied`);
      assert.deepEqual(final, expected, 'final balances against the transfers that happened');
      assert.equal(final.reduce((x, y) => x + y, 0), total);
      const notUndetermined = plain(failures);
      delete notUndetermined.UNDETERMINED;
      assert.deepEqual(notUndetermined, {}, `operations failed (first of each: ${JSON.stringify(plain(firstFailures))})`);
    } finally {
      if (client) await client.close();
      await mock.stop();
    }
  });
});
