'use strict';
// MockCluster: the in-process mock TiKV cluster (PD + stores on loopback,
// in-memory MVCC, fault injection) of include/tikv/mock.h. It runs on its own
// threads; nothing here blocks for long.
const A = require('./args');
const { REGION_ERROR_KINDS } = require('./mock-faults');

const TOKEN = Symbol('MockCluster');
const START_OPTIONS = [
  'stores', 'regions', 'enableTtl', 'pdMembers', 'pdElectionMs', 'raftElectionMs', 'tls', 'apiVersion', 'keyspaces',
];
const TLS_OPTIONS = ['cert', 'key', 'ca'];
const TLS_MODES = ['plaintext', 'tls', 'mutual'];
// keyspacepb.KeyspaceState, by number
const KEYSPACE_STATES = ['ENABLED', 'DISABLED', 'ARCHIVED', 'TOMBSTONE'];
const MAX_KEYSPACE_ID = 0xffffff;

/** A PEM text as Node's tls options take it (string or Buffer) -> string, or '' when absent. */
function pem(v, name) {
  if (v === undefined) return '';
  const text = typeof v === 'string' ? v : Buffer.from(A.bytes(v, name)).toString('utf8');
  if (text.includes('\0')) throw new RangeError(`${name} must not contain NUL characters`);
  if (!text.includes('-----BEGIN ')) throw new RangeError(`${name} is not PEM (no "-----BEGIN " line)`);
  return text;
}

/** options.tls -> [cert, key, ca] PEM texts ('' when none). */
function tlsArgs(v) {
  if (v === undefined) return ['', '', ''];
  const o = A.options(v, TLS_OPTIONS, 'options.tls');
  if (o.cert === undefined || o.key === undefined)
    throw new TypeError('options.tls needs both cert and key (PEM strings or Buffers); ca is optional');
  return [pem(o.cert, 'options.tls.cert'), pem(o.key, 'options.tls.key'), pem(o.ca, 'options.tls.ca')];
}

function keyspaceState(v, name) {
  if (v === undefined) return 0;
  const i = KEYSPACE_STATES.indexOf(v);
  if (i < 0) throw new RangeError(`${name} must be one of ${KEYSPACE_STATES.join(', ')}, got ${JSON.stringify(v)}`);
  return i;
}

/** One keyspace, as PD takes it: {name, id (-1: PD allocates), state}. */
function keyspaceSpec(v, name) {
  const o = typeof v === 'string' ? { name: v } : A.options(v, ['name', 'id', 'state'], name);
  A.string(o.name, `${name}.name`);
  if (!/^[-A-Za-z0-9_]{1,20}$/.test(o.name) || o.name === 'DEFAULT')
    throw new RangeError(`${name}.name must be 1 to 20 of [-A-Za-z0-9_] and not DEFAULT (PD's), got ${JSON.stringify(o.name)}`);
  return {
    name: o.name,
    id: A.integer(o.id, `${name}.id`, 1, MAX_KEYSPACE_ID, -1),
    state: keyspaceState(o.state, `${name}.state`),
  };
}

function keyspaceSpecs(v, apiVersion) {
  if (v === undefined) return [];
  A.array(v, 'options.keyspaces');
  if (apiVersion !== 2 && v.length > 0) throw new RangeError('options.keyspaces needs apiVersion: 2');
  const specs = v.map((k, i) => keyspaceSpec(k, `options.keyspaces[${i}]`));
  specs.forEach((k, i) => {
    if (specs.findIndex((o) => o.name === k.name) !== i) throw new RangeError(`keyspace ${k.name} is named twice`);
  });
  return specs;
}

function makeMockCluster(binding) {
  const { addon } = binding;

  function addKeyspace(h, k) {
    const id = addon.tikv_mock_add_keyspace(h, k.name, k.id);
    if (id < 0) throw new RangeError(`cannot add keyspace ${k.name}${k.id >= 0 ? ` with id ${k.id}` : ''}: the name or the id is taken`);
    if (k.state !== 0) addon.tikv_mock_set_keyspace_state(h, k.name, k.state);
    return id;
  }

  class MockCluster {
    #h;
    #stopped = false;

    #endpoints;

    constructor(token, handle) {
      if (token !== TOKEN) throw new TypeError('use MockCluster.start(options)');
      this.#h = handle;
      this.#learnEndpoints();
    }

    #learnEndpoints() {
      const n = addon.tikv_mock_pd_member_count(this.#h);
      const eps = [];
      for (let i = 1; i <= n; i++) eps.push(addon.tikv_mock_pd_member_address(this.#h, i));
      this.#endpoints = Object.freeze(eps);
    }

    /**
     * Starts a cluster: {stores = 3, regions = 1, enableTtl = false,
     * pdMembers = 1, pdElectionMs = 3000, raftElectionMs = 10000,
     * tls: {cert, key, ca?} (PEM strings or Buffers: every server serves TLS;
     * with ca, clients need a certificate it signed), apiVersion = 1,
     * keyspaces: [name | {name, id?, state?}] (apiVersion 2)}.
     */
    static start(options) {
      try {
        const o = A.options(options);
        for (const k of Object.keys(o))
          if (!START_OPTIONS.includes(k)) throw new RangeError(`unknown option ${JSON.stringify(k)}; known: ${START_OPTIONS.join(', ')}`);
        const stores = A.integer(o.stores, 'options.stores', 1, 64, 3);
        const regions = A.integer(o.regions, 'options.regions', 1, 4096, 1);
        const enableTtl = A.bool(o.enableTtl, 'options.enableTtl');
        const pdMembers = A.integer(o.pdMembers, 'options.pdMembers', 1, 16, 1);
        const pdElectionMs = A.integer(o.pdElectionMs, 'options.pdElectionMs', 1, 600000, 0);
        const raftElectionMs = A.integer(o.raftElectionMs, 'options.raftElectionMs', 1, 600000, 0);
        const [cert, key, ca] = tlsArgs(o.tls);
        const apiVersion = A.integer(o.apiVersion, 'options.apiVersion', 1, 2, 1);
        const keyspaces = keyspaceSpecs(o.keyspaces, apiVersion);
        const h = addon.tikvjs_mock_start(stores, regions, enableTtl ? 1 : 0, apiVersion, cert, key, ca);
        try {
          // before anyone knows the cluster: the members join, the delays are set, the
          // keyspaces made (as C's options make them: in order, after DEFAULT)
          addon.tikv_mock_set_pd_election_ms(h, pdElectionMs);
          addon.tikv_mock_set_raft_election_ms(h, raftElectionMs);
          for (let i = 1; i < pdMembers; i++)
            if (addon.tikv_mock_pd_add_member(h) < 0) throw new Error('cannot start a PD member');
          for (const k of keyspaces) addKeyspace(h, k);
        } catch (e) {
          addon.stopMock(h);
          throw e;
        }
        return Promise.resolve(new MockCluster(TOKEN, h));
      } catch (e) {
        return Promise.reject(e);
      }
    }

    /** "host:port" of every PD member, in member order: pass to RawClient.connect. */
    get pdEndpoints() {
      return this.#endpoints;
    }

    /** The PD members' client URLs as PD advertises them: https:// when the cluster serves TLS. */
    get pdUrls() {
      const scheme = this.tls === 'plaintext' ? 'http' : 'https';
      return Object.freeze(this.#endpoints.map((e) => `${scheme}://${e}`));
    }

    /** 'plaintext', 'tls', or 'mutual' (client certificates required). */
    get tls() {
      return TLS_MODES[addon.tikv_mock_tls(this.#handle())];
    }

    /** The stores' API version: 1 or 2. */
    get apiVersion() {
      return addon.tikv_mock_api_version(this.#handle());
    }

    /** PD's keyspaces in creation order (DEFAULT first; none in API v1): [{name, id, state}]. */
    keyspaces() {
      const h = this.#handle();
      const out = [];
      for (let i = 0, n = addon.tikv_mock_keyspace_count(h); i < n; i++) {
        const name = addon.tikv_mock_keyspace_name(h, i);
        out.push({
          name,
          id: addon.tikv_mock_keyspace_id(h, name),
          state: KEYSPACE_STATES[addon.tikv_mock_get_keyspace_state(h, name)],
        });
      }
      return out;
    }

    /**
     * Creates a keyspace as PD does (API v2), splitting the regions at its raw and
     * transactional ranges: {id (default: the next free), state = 'ENABLED'}. Returns its id.
     */
    addKeyspace(name, options) {
      const h = this.#handle();
      if (addon.tikv_mock_api_version(h) !== 2) throw new RangeError('keyspaces need apiVersion: 2');
      return addKeyspace(h, keyspaceSpec({ name, ...A.options(options, ['id', 'state']) }, 'keyspace'));
    }

    /** Sets a keyspace's state ('ENABLED', 'DISABLED', 'ARCHIVED', 'TOMBSTONE'), as LoadKeyspace reports it. */
    setKeyspaceState(name, state) {
      A.string(name, 'name');
      const st = keyspaceState(state, 'state');
      if (state === undefined) throw new TypeError('state is required');
      if (addon.tikv_mock_set_keyspace_state(this.#handle(), name, st) !== 0) throw new RangeError(`no keyspace ${name}`);
    }

    #handle() {
      if (this.#stopped) throw new Error('mock cluster is stopped');
      return this.#h;
    }

    get stopped() {
      return this.#stopped;
    }

    /** Stops the servers. Idempotent. */
    stop() {
      if (!this.#stopped) {
        this.#stopped = true;
        addon.stopMock(this.#h);
      }
      return Promise.resolve();
    }

    get storeCount() {
      return addon.tikv_mock_store_count(this.#handle());
    }

    /** "host:port" of store storeId (1..storeCount). */
    storeAddress(storeId) {
      const id = A.u64(storeId, 'storeId');
      const a = addon.tikv_mock_store_address(this.#handle(), id);
      if (a === null || a === undefined) throw new RangeError(`no store ${storeId}`);
      return a;
    }

    /** The cluster id PD reports (bigint). */
    get clusterId() {
      return addon.tikv_mock_cluster_id(this.#handle());
    }

    /**
     * The regions in key order: [{id, leaderStore, start, end, confVer,
     * version}]; start/end are the raw bytes PD reports (end empty: unbounded).
     */
    regions() {
      const h = this.#handle();
      const n = addon.tikv_mock_region_count(h);
      const out = [];
      for (let i = 0; i < n; i++) {
        const id = addon.tikv_mock_region_id_at(h, i);
        const info = addon.mockRegionInfo(h, id);
        const leaderStore = addon.tikv_mock_region_leader_store(h, id);
        out.push({ id, leaderStore, hasLeader: addon.tikv_mock_region_has_leader(h, id) === 1, ...info });
      }
      return out;
    }

    /** Clears every injected fault and latency. */
    clearFaults() {
      addon.tikv_mock_clear_faults(this.#handle());
    }

    /** Id of the region holding key (raw bytes as PD compares them), or null. */
    regionForKey(key) {
      const id = addon.tikv_mock_region_for_key(this.#handle(), A.bytes(key, 'key'));
      return id === 0n ? null : id;
    }

    /** Splits the region holding key at key; returns the new region's id. */
    splitRegion(key) {
      const id = addon.tikv_mock_split_region(this.#handle(), A.bytes(key, 'key'));
      if (id === 0n) throw new Error(`cannot split at ${JSON.stringify(Buffer.from(A.bytes(key, 'key')).toString('latin1'))}`);
      return id;
    }

    transferLeader(regionId, storeId) {
      const r = A.u64(regionId, 'regionId');
      const s = A.u64(storeId, 'storeId');
      if (addon.tikv_mock_transfer_leader(this.#handle(), r, s) !== 0)
        throw new RangeError(`cannot move the leader of region ${r} to store ${s}`);
    }

    /**
     * The next `count` calls of `method` (e.g. 'RawGet', '*' any) on regionId
     * (0: any) fail with the region error `kind` (e.g. 'not_leader').
     */
    injectRegionError(method, kind, options) {
      A.string(method, 'method');
      A.string(kind, 'kind');
      if (!REGION_ERROR_KINDS.includes(kind))
        throw new RangeError(`kind must be one of ${REGION_ERROR_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
      const o = A.options(options);
      const regionId = A.u64(o.regionId, 'options.regionId', 0n);
      const count = A.integer(o.count, 'options.count', 1, 0x7fffffff, 1);
      if (addon.tikv_mock_inject_region_error(this.#handle(), method, regionId, kind, count) !== 0)
        throw new RangeError(`cannot inject ${kind} into ${method}`);
    }

    /** The next `count` calls of `method` fail with gRPC status `status` (e.g. 14). */
    injectGrpcError(method, status, options) {
      A.string(method, 'method');
      const st = A.integer(status, 'status', 1, 16);
      const count = A.integer(A.options(options).count, 'options.count', 1, 0x7fffffff, 1);
      if (addon.tikv_mock_inject_grpc_error(this.#handle(), method, st, count) !== 0)
        throw new RangeError(`cannot inject gRPC status ${st} into ${method}`);
    }

    /** Delays every call of `method` ('*' any) by ms (0 removes). */
    setLatency(method, ms) {
      A.string(method, 'method');
      const d = A.integer(ms, 'ms', 0, 0xffffffff);
      if (addon.tikv_mock_set_latency(this.#handle(), method, d) !== 0) throw new RangeError(`cannot delay ${method}`);
    }

    /** While paused, PD accepts calls and never answers them. */
    pausePd(paused = true) {
      A.bool(paused, 'paused');
      if (addon.tikv_mock_pd_pause(this.#handle(), paused ? 1 : 0) !== 0) throw new Error('cannot pause PD');
    }

    /**
     * Stops (down) or restarts a store's server on the same port. The regions
     * it leads elect another leader after raftElectionMs (docs/mock-failures.md).
     */
    setStoreDown(storeId, down = true) {
      const s = A.u64(storeId, 'storeId');
      A.bool(down, 'down');
      if (addon.tikv_mock_store_set_down(this.#handle(), s, down ? 1 : 0) !== 0)
        throw new RangeError(`cannot set store ${s} ${down ? 'down' : 'up'}`);
    }

    // ---- PD failing as a cluster of members (docs/mock-failures.md) ----

    get pdMemberCount() {
      return addon.tikv_mock_pd_member_count(this.#handle());
    }

    /** The leading PD member's number (1..pdMemberCount), or null during an election. */
    get pdLeader() {
      const l = addon.tikv_mock_pd_leader(this.#handle());
      return l === 0 ? null : l;
    }

    #member(member) {
      const n = A.integer(member, 'member', 1, 0x7fffffff);
      if (n > addon.tikv_mock_pd_member_count(this.#handle())) throw new RangeError(`no PD member ${n}`);
      return n;
    }

    /** Kills the PD leader (its server stops); another is elected after pdElectionMs. Returns its number. */
    killPdLeader() {
      const l = this.pdLeader;
      if (l === null) throw new Error('no PD member leads now (an election is under way)');
      this.setPdMemberDown(l, true);
      return l;
    }

    /** Kills (down) or restarts (as a follower, same port) a PD member. */
    setPdMemberDown(member, down = true) {
      const n = this.#member(member);
      A.bool(down, 'down');
      if (addon.tikv_mock_pd_member_set_down(this.#handle(), n, down ? 1 : 0) !== 0)
        throw new Error(`cannot set PD member ${n} ${down ? 'down' : 'up'}`);
    }

    /** Pauses a PD member as SIGSTOP would (a paused leader loses its lease), or resumes it. */
    pausePdMember(member, paused = true) {
      const n = this.#member(member);
      A.bool(paused, 'paused');
      if (addon.tikv_mock_pd_member_pause(this.#handle(), n, paused ? 1 : 0) !== 0)
        throw new Error(`cannot ${paused ? 'pause' : 'resume'} PD member ${n}`);
    }

    /** Moves PD's leadership to a live member at once. */
    transferPdLeader(member) {
      const n = this.#member(member);
      if (addon.tikv_mock_pd_transfer_leader(this.#handle(), n) !== 0)
        throw new RangeError(`PD member ${n} cannot lead (down or paused)`);
    }

    /** How long PD stays without a leader after a kill or a pause (ms). */
    setPdElectionMs(ms) {
      addon.tikv_mock_set_pd_election_ms(this.#handle(), A.integer(ms, 'ms', 1, 600000));
    }

    /** How long a region stays without a leader after its leader's store goes down (ms). */
    setRaftElectionMs(ms) {
      addon.tikv_mock_set_raft_election_ms(this.#handle(), A.integer(ms, 'ms', 1, 600000));
    }

    /**
     * The next `count` calls of `method` ('*' any) on options.storeId (0 or
     * absent: any store) are applied and their replies replaced by gRPC
     * UNAVAILABLE, as when the connection drops after the write.
     */
    injectLostReply(method, options) {
      A.string(method, 'method');
      const o = A.options(options);
      const storeId = A.u64(o.storeId, 'options.storeId', 0n);
      const count = A.integer(o.count, 'options.count', 1, 0x7fffffff, 1);
      if (storeId > BigInt(addon.tikv_mock_store_count(this.#handle()))) throw new RangeError(`no store ${storeId}`);
      if (addon.tikv_mock_inject_lost_reply(this.#handle(), storeId, method, count) !== 0)
        throw new RangeError(`cannot lose the replies of ${method}`);
    }

    /**
     * The replies to the next `count` calls of `method` ('*' any; TiKV or PD
     * method names) are damaged after the request was served: mode
     * 'undecodable' (bytes no message decodes from), 'flip' (a few bits
     * flipped, sometimes cut short) or 'stray' (a field appended that decodes
     * into what was not asked).
     */
    injectCorruptReply(method, options) {
      A.string(method, 'method');
      const o = A.options(options, ['mode', 'count']);
      const modes = { undecodable: addon.TIKV_MOCK_CORRUPT_UNDECODABLE, flip: addon.TIKV_MOCK_CORRUPT_FLIP, stray: addon.TIKV_MOCK_CORRUPT_STRAY };
      const mode = o.mode === undefined ? 'flip' : o.mode;
      if (!Object.hasOwn(modes, mode)) throw new RangeError(`options.mode must be one of ${Object.keys(modes).join(', ')}`);
      const code = modes[mode];
      const count = A.integer(o.count, 'options.count', 1, 0x7fffffff, 1);
      if (addon.tikv_mock_inject_corrupt_reply(this.#handle(), method, code, count) !== 0)
        throw new RangeError(`cannot corrupt the replies of ${method}`);
    }

    /** Calls of `method` ('*' all) the stores have served. */
    callCount(method = '*') {
      A.string(method, 'method');
      return Number(addon.tikv_mock_call_count(this.#handle(), method));
    }

    /** Calls PD received for `method` ('*' all); for 'Tso', request messages (batches). */
    pdCallCount(method = '*') {
      A.string(method, 'method');
      return Number(addon.tikv_mock_pd_call_count(this.#handle(), method));
    }
  }

  return MockCluster;
}

module.exports = { makeMockCluster, REGION_ERROR_KINDS };
