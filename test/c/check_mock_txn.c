/* The mock's transactional service seen from the wire: raw gRPC calls (no
 * client library) checking the Percolator rules as TiKV applies them:
 * conflicts, already-exist, rollback records, commit rules, CheckTxnStatus
 * actions, async commit's min_commit_ts, 1PC, reads and resolved locks,
 * pessimistic lock waits, wake-ups and deadlocks.
 * Cluster: 3 stores, 4 regions split at the encoded "F", "V", "k"; the keys
 * here start with "t" (the last region) unless said otherwise. Timestamps
 * are made up: TS(ms) is a TSO with that physical part. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "kvrpcpb.pb-c.h"
#include "metapb.pb-c.h"
#include "tikv/mock.h"
#include "tikvpb.pb-c.h"
#include "util_mock_client.h"

#define TIMEOUT_MS 8000
#define TS(ms) ((uint64_t)(ms) << 18)
#define K(s) (const uint8_t *)(s), strlen(s)
#define FREE(p) protobuf_c_message_free_unpacked((ProtobufCMessage *)(p), NULL)
#define BIN(s) ((ProtobufCBinaryData){strlen(s), (uint8_t *)(s)})

static tikv_mock_cluster_t *m;

static void setup(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 3;
  o.regions = 4;
  char err[256];
  m = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(m != NULL, "start: %s", err);
}
static void teardown(void) {
  tikv_mock_cluster_stop(m);
  m = NULL;
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool bin_is(ProtobufCBinaryData b, const char *s) {
  return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

/* ---- routing ---- */
typedef struct kctx {
  Kvrpcpb__Context ctx;
  Metapb__RegionEpoch epoch;
  Metapb__Peer peer;
  uint64_t store;
} kctx_t;

static Kvrpcpb__Context *ctx_region(kctx_t *k, uint64_t r);

/* The context for the region of user key `key` (regions hold encoded keys). */
static Kvrpcpb__Context *tctx(kctx_t *k, const char *key) {
  uint8_t *e;
  size_t el;
  ck_assert_int_eq(tikv__codec_encode_bytes(K(key), &e, &el), 0);
  uint64_t r = tikv_mock_region_for_key(m, e, el);
  free(e);
  return ctx_region(k, r);
}

/* The same for a raw key (compared as is). */
static Kvrpcpb__Context *rctx(kctx_t *k, const char *key) {
  return ctx_region(k, tikv_mock_region_for_key(m, K(key)));
}

static Kvrpcpb__Context *ctx_region(kctx_t *k, uint64_t r) {
  uint64_t store = tikv_mock_region_leader_store(m, r);
  Kvrpcpb__Context c = KVRPCPB__CONTEXT__INIT;
  Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
  Metapb__Peer p = METAPB__PEER__INIT;
  k->ctx = c;
  k->epoch = ep;
  k->peer = p;
  tikv_mock_region_epoch(m, r, &k->epoch.conf_ver, &k->epoch.version);
  k->peer.store_id = store;
  k->peer.id = tikv_mock_region_peer_on_store(m, r, store);
  k->ctx.region_id = r;
  k->ctx.region_epoch = &k->epoch;
  k->ctx.peer = &k->peer;
  k->store = store;
  return &k->ctx;
}

static void *call(uint64_t store, const char *name, const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *d) {
  char method[128], details[256] = "";
  snprintf(method, sizeof(method), "/tikvpb.Tikv/%s", name);
  ProtobufCMessage *resp = NULL;
  int st = mc_unary(tikv_mock_store_address(m, store), method, req, d, &resp, TIMEOUT_MS, details,
                    sizeof(details));
  ck_assert_msg(st == 0, "%s: status %d (%s)", name, st, details);
  return resp;
}

/* ---- requests ---- */
typedef struct pw_opts {
  int op;                 /* Kvrpcpb__Op, default Put */
  uint64_t ttl;           /* default 3000 */
  uint64_t min_commit_ts, max_commit_ts, for_update_ts;
  bool async, one_pc, pessimistic_check;
  const char *const *secondaries;
  size_t nsecondaries;
} pw_opts;

/* Prewrites keys[0..n) (values "v-<key>") of txn start with primary. */
static Kvrpcpb__PrewriteResponse *prewrite_n(const char *const *keys, size_t n,
                                             const char *primary, uint64_t start,
                                             const pw_opts *o) {
  pw_opts def = {0};
  if (!o) o = &def;
  kctx_t k;
  Kvrpcpb__PrewriteRequest q = KVRPCPB__PREWRITE_REQUEST__INIT;
  q.context = tctx(&k, keys[0]);
  Kvrpcpb__Mutation mus[8], *mp[8];
  char vals[8][64];
  Kvrpcpb__PrewriteRequest__PessimisticAction acts[8];
  ck_assert_uint_le(n, 8);
  for (size_t i = 0; i < n; i++) {
    Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT;
    mus[i] = mu;
    mus[i].op = (Kvrpcpb__Op)o->op;
    mus[i].key = BIN(keys[i]);
    snprintf(vals[i], sizeof(vals[i]), "v-%s", keys[i]);
    mus[i].value = BIN(vals[i]);
    mp[i] = &mus[i];
    acts[i] = o->pessimistic_check ? KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__DO_PESSIMISTIC_CHECK
                                   : KVRPCPB__PREWRITE_REQUEST__PESSIMISTIC_ACTION__SKIP_PESSIMISTIC_CHECK;
  }
  q.n_mutations = n;
  q.mutations = mp;
  if (o->for_update_ts) {
    q.n_pessimistic_actions = n;
    q.pessimistic_actions = acts;
  }
  q.primary_lock = BIN(primary);
  q.start_version = start;
  q.lock_ttl = o->ttl ? o->ttl : 3000;
  q.txn_size = n;
  q.for_update_ts = o->for_update_ts;
  q.min_commit_ts = o->min_commit_ts;
  q.max_commit_ts = o->max_commit_ts;
  q.use_async_commit = o->async;
  q.try_one_pc = o->one_pc;
  ProtobufCBinaryData secs[8];
  for (size_t i = 0; i < o->nsecondaries; i++) secs[i] = BIN(o->secondaries[i]);
  q.n_secondaries = o->nsecondaries;
  q.secondaries = secs;
  return call(k.store, "KvPrewrite", &q.base, &kvrpcpb__prewrite_response__descriptor);
}

static Kvrpcpb__PrewriteResponse *prewrite1(const char *key, const char *primary, uint64_t start,
                                            const pw_opts *o) {
  return prewrite_n(&key, 1, primary, start, o);
}

static void prewrite_ok(const char *key, const char *primary, uint64_t start, const pw_opts *o) {
  Kvrpcpb__PrewriteResponse *r = prewrite1(key, primary, start, o);
  ck_assert_ptr_null(r->region_error);
  ck_assert_uint_eq(r->n_errors, 0);
  FREE(r);
}

static Kvrpcpb__CommitResponse *commit1(const char *key, uint64_t start, uint64_t commit) {
  kctx_t k;
  Kvrpcpb__CommitRequest q = KVRPCPB__COMMIT_REQUEST__INIT;
  q.context = tctx(&k, key);
  ProtobufCBinaryData kb = BIN(key);
  q.n_keys = 1;
  q.keys = &kb;
  q.start_version = start;
  q.commit_version = commit;
  return call(k.store, "KvCommit", &q.base, &kvrpcpb__commit_response__descriptor);
}

static void commit_ok(const char *key, uint64_t start, uint64_t commit) {
  Kvrpcpb__CommitResponse *r = commit1(key, start, commit);
  ck_assert_ptr_null(r->region_error);
  ck_assert_msg(r->error == NULL, "commit %s: %s", key,
                r->error && r->error->retryable ? r->error->retryable : "(error)");
  FREE(r);
}

static Kvrpcpb__BatchRollbackResponse *rollback1(const char *key, uint64_t start) {
  kctx_t k;
  Kvrpcpb__BatchRollbackRequest q = KVRPCPB__BATCH_ROLLBACK_REQUEST__INIT;
  q.context = tctx(&k, key);
  ProtobufCBinaryData kb = BIN(key);
  q.n_keys = 1;
  q.keys = &kb;
  q.start_version = start;
  return call(k.store, "KvBatchRollback", &q.base, &kvrpcpb__batch_rollback_response__descriptor);
}

static void write_kv(const char *key, uint64_t start, uint64_t commit) {
  prewrite_ok(key, key, start, NULL);
  commit_ok(key, start, commit);
}

static Kvrpcpb__GetResponse *get_at(const char *key, uint64_t ts, const uint64_t *resolved,
                                    size_t nres) {
  kctx_t k;
  Kvrpcpb__GetRequest q = KVRPCPB__GET_REQUEST__INIT;
  q.context = tctx(&k, key);
  q.context->n_resolved_locks = nres;
  q.context->resolved_locks = (uint64_t *)resolved;
  q.key = BIN(key);
  q.version = ts;
  return call(k.store, "KvGet", &q.base, &kvrpcpb__get_response__descriptor);
}

static Kvrpcpb__CheckTxnStatusResponse *check_status(const char *primary, uint64_t lock_ts,
                                                     uint64_t caller, uint64_t current,
                                                     bool rollback_if_not_exist) {
  kctx_t k;
  Kvrpcpb__CheckTxnStatusRequest q = KVRPCPB__CHECK_TXN_STATUS_REQUEST__INIT;
  q.context = tctx(&k, primary);
  q.primary_key = BIN(primary);
  q.lock_ts = lock_ts;
  q.caller_start_ts = caller;
  q.current_ts = current;
  q.rollback_if_not_exist = rollback_if_not_exist;
  return call(k.store, "KvCheckTxnStatus", &q.base, &kvrpcpb__check_txn_status_response__descriptor);
}

typedef struct lock_req {
  const char *key, *primary;
  uint64_t start, for_update;
  int64_t wait;
  bool first;
  Kvrpcpb__PessimisticLockResponse *resp;
  int64_t took_ms;
  atomic_int done; /* set once resp is there (by pess_lock_thread) */
} lock_req;

static Kvrpcpb__PessimisticLockResponse *pess_lock(lock_req *l) {
  kctx_t k;
  Kvrpcpb__PessimisticLockRequest q = KVRPCPB__PESSIMISTIC_LOCK_REQUEST__INIT;
  q.context = tctx(&k, l->key);
  Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT, *mp = &mu;
  mu.op = KVRPCPB__OP__PessimisticLock;
  mu.key = BIN(l->key);
  q.n_mutations = 1;
  q.mutations = &mp;
  q.primary_lock = BIN(l->primary);
  q.start_version = l->start;
  q.for_update_ts = l->for_update;
  q.lock_ttl = 20000;
  q.wait_timeout = l->wait;
  q.is_first_lock = l->first;
  q.return_values = true;
  int64_t t0 = now_ms();
  l->resp = call(k.store, "KvPessimisticLock", &q.base, &kvrpcpb__pessimistic_lock_response__descriptor);
  l->took_ms = now_ms() - t0;
  return l->resp;
}

static void *pess_lock_thread(void *p) {
  lock_req *l = p;
  pess_lock(l);
  atomic_store(&l->done, 1);
  return NULL;
}

/* Waits (bounded) until the mock has counted `n` calls of method (see
 * mc_await_count: a counted lock request is waiting before any call sent
 * after this). */
static void await_calls(const char *method, uint64_t n) {
  ck_assert_uint_ge(mc_await_count(tikv_mock_call_count, m, method, n, 10000), n);
}

/* ---- tests ---- */
START_TEST(write_conflict_already_exist_and_locked) {
  write_kv("t-a", TS(100), TS(101));
  /* a txn that started before that commit */
  Kvrpcpb__PrewriteResponse *r = prewrite1("t-a", "t-p", TS(90), NULL);
  ck_assert_uint_eq(r->n_errors, 1);
  Kvrpcpb__WriteConflict *wc = r->errors[0]->conflict;
  ck_assert_ptr_nonnull(wc);
  ck_assert_uint_eq(wc->start_ts, TS(90));
  ck_assert_uint_eq(wc->conflict_ts, TS(100));
  ck_assert_uint_eq(wc->conflict_commit_ts, TS(101));
  ck_assert(bin_is(wc->key, "t-a"));
  ck_assert(bin_is(wc->primary, "t-p"));
  ck_assert_int_eq(wc->reason, KVRPCPB__WRITE_CONFLICT__REASON__Optimistic);
  FREE(r);
  /* Insert over a live key */
  pw_opts ins = {.op = KVRPCPB__OP__Insert};
  r = prewrite1("t-a", "t-a", TS(200), &ins);
  ck_assert_uint_eq(r->n_errors, 1);
  ck_assert_ptr_nonnull(r->errors[0]->already_exist);
  ck_assert(bin_is(r->errors[0]->already_exist->key, "t-a"));
  FREE(r);
  /* ... but fine over a deleted key */
  pw_opts del = {.op = KVRPCPB__OP__Del};
  prewrite_ok("t-a", "t-a", TS(210), &del);
  commit_ok("t-a", TS(210), TS(211));
  prewrite_ok("t-a", "t-a", TS(220), &ins);
  /* a key locked by another txn: the full LockInfo; every locked key reported */
  const char *two[] = {"t-a", "t-b"};
  prewrite_ok("t-b", "t-a", TS(220), NULL);
  r = prewrite_n(two, 2, "t-x", TS(230), NULL);
  ck_assert_uint_eq(r->n_errors, 2);
  Kvrpcpb__LockInfo *li = r->errors[0]->locked;
  ck_assert_ptr_nonnull(li);
  ck_assert(bin_is(li->key, "t-a"));
  ck_assert(bin_is(li->primary_lock, "t-a"));
  ck_assert_uint_eq(li->lock_version, TS(220));
  ck_assert_uint_eq(li->lock_ttl, 3000);
  ck_assert_int_eq(li->lock_type, KVRPCPB__OP__Put);
  ck_assert_uint_eq(li->txn_size, 1);
  ck_assert_ptr_nonnull(r->errors[1]->locked);
  FREE(r);
  /* a retried prewrite of the same txn is a no-op */
  prewrite_ok("t-a", "t-a", TS(220), &ins);
}
END_TEST

/* TiKV's check_for_newer_version: any write committed after start_ts is a
 * conflict, whatever its kind: a Put, a Delete, a Lock record, or another
 * txn's rollback (its "commit ts" is its start ts). */
START_TEST(every_newer_write_is_a_conflict) {
  static const struct {
    const char *key;
    int op; /* the newer write; -1: a rollback record */
  } cases[] = {{"t-n-put", KVRPCPB__OP__Put},
               {"t-n-del", KVRPCPB__OP__Del},
               {"t-n-lock", KVRPCPB__OP__Lock},
               {"t-n-rb", -1}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *key = cases[i].key;
    write_kv(key, TS(100), TS(101)); /* an old version, below every start ts here */
    if (cases[i].op >= 0) {
      pw_opts o = {.op = cases[i].op};
      prewrite_ok(key, key, TS(200), &o);
      commit_ok(key, TS(200), TS(210));
    } else {
      Kvrpcpb__BatchRollbackResponse *rr = rollback1(key, TS(210));
      ck_assert_ptr_null(rr->error);
      FREE(rr);
    }
    Kvrpcpb__PrewriteResponse *r = prewrite1(key, key, TS(150), NULL);
    ck_assert_msg(r->n_errors == 1, "%s: no conflict", key);
    Kvrpcpb__WriteConflict *wc = r->errors[0]->conflict;
    ck_assert_msg(wc != NULL, "%s: not a write conflict", key);
    ck_assert_uint_eq(wc->start_ts, TS(150));
    ck_assert_uint_eq(wc->conflict_commit_ts, TS(210));
    ck_assert(bin_is(wc->key, key));
    FREE(r);
    /* nothing was written: still no lock, the value as before */
    Kvrpcpb__GetResponse *g = get_at(key, TS(300), NULL, 0);
    ck_assert_ptr_null(g->error);
    FREE(g);
    /* a txn that started after it is fine */
    prewrite_ok(key, key, TS(250), NULL);
  }
}
END_TEST

/* KvTxnHeartBeat raises the primary lock's TTL, never lowers it, and answers
 * TxnNotFound when the txn holds no lock there. */
START_TEST(txn_heart_beat) {
  pw_opts o = {.ttl = 3000};
  prewrite_ok("t-hb", "t-hb", TS(100), &o);
  kctx_t k;
  Kvrpcpb__TxnHeartBeatRequest q = KVRPCPB__TXN_HEART_BEAT_REQUEST__INIT;
  q.context = tctx(&k, "t-hb");
  q.primary_lock = BIN("t-hb");
  q.start_version = TS(100);
  q.advise_lock_ttl = 9000;
  Kvrpcpb__TxnHeartBeatResponse *r =
      call(k.store, "KvTxnHeartBeat", &q.base, &kvrpcpb__txn_heart_beat_response__descriptor);
  ck_assert_ptr_null(r->error);
  ck_assert_uint_eq(r->lock_ttl, 9000);
  FREE(r);
  q.advise_lock_ttl = 5000;
  r = call(k.store, "KvTxnHeartBeat", &q.base, &kvrpcpb__txn_heart_beat_response__descriptor);
  ck_assert_uint_eq(r->lock_ttl, 9000);
  FREE(r);
  Kvrpcpb__CheckTxnStatusResponse *s = check_status("t-hb", TS(100), 0, 0, false);
  ck_assert_uint_eq(s->lock_ttl, 9000);
  FREE(s);
  q.start_version = TS(99);
  r = call(k.store, "KvTxnHeartBeat", &q.base, &kvrpcpb__txn_heart_beat_response__descriptor);
  ck_assert_ptr_nonnull(r->error);
  ck_assert_ptr_nonnull(r->error->txn_not_found);
  FREE(r);
}
END_TEST

/* ScanLock: the locks of the range at or below max_version, up to limit. */
START_TEST(scan_lock_max_version_and_limit) {
  prewrite_ok("t-sl1", "t-sl1", TS(100), NULL);
  prewrite_ok("t-sl2", "t-sl2", TS(300), NULL);
  prewrite_ok("t-sl3", "t-sl3", TS(120), NULL);
  kctx_t k;
  Kvrpcpb__ScanLockRequest q = KVRPCPB__SCAN_LOCK_REQUEST__INIT;
  q.context = tctx(&k, "t-sl1");
  q.start_key = BIN("t-sl");
  q.end_key = BIN("t-sm");
  q.max_version = TS(200);
  Kvrpcpb__ScanLockResponse *r = call(k.store, "KvScanLock", &q.base, &kvrpcpb__scan_lock_response__descriptor);
  ck_assert_ptr_null(r->error);
  ck_assert_uint_eq(r->n_locks, 2);
  ck_assert(bin_is(r->locks[0]->key, "t-sl1"));
  ck_assert_uint_eq(r->locks[0]->lock_version, TS(100));
  ck_assert(bin_is(r->locks[1]->key, "t-sl3"));
  FREE(r);
  q.limit = 1;
  r = call(k.store, "KvScanLock", &q.base, &kvrpcpb__scan_lock_response__descriptor);
  ck_assert_uint_eq(r->n_locks, 1);
  ck_assert(bin_is(r->locks[0]->key, "t-sl1"));
  FREE(r);
  q.limit = 0;
  q.max_version = TS(300);
  r = call(k.store, "KvScanLock", &q.base, &kvrpcpb__scan_lock_response__descriptor);
  ck_assert_uint_eq(r->n_locks, 3);
  FREE(r);
}
END_TEST

START_TEST(commit_rules) {
  /* nothing prewritten: TiKV's TxnLockNotFound, in `retryable` */
  Kvrpcpb__CommitResponse *c = commit1("t-c", TS(10), TS(11));
  ck_assert_ptr_nonnull(c->error);
  ck_assert_ptr_nonnull(strstr(c->error->retryable, "TxnLockNotFound"));
  FREE(c);
  write_kv("t-c", TS(20), TS(21));
  commit_ok("t-c", TS(20), TS(21)); /* committed already: success */
  /* commit_ts below the lock's min_commit_ts */
  pw_opts o = {.min_commit_ts = TS(40)};
  prewrite_ok("t-c", "t-c", TS(30), &o);
  c = commit1("t-c", TS(30), TS(35));
  ck_assert_ptr_nonnull(c->error);
  ck_assert_ptr_nonnull(c->error->commit_ts_expired);
  ck_assert_uint_eq(c->error->commit_ts_expired->min_commit_ts, TS(40));
  ck_assert_uint_eq(c->error->commit_ts_expired->attempted_commit_ts, TS(35));
  FREE(c);
  /* rolled back: the commit fails, and so does a late prewrite */
  Kvrpcpb__BatchRollbackResponse *rr = rollback1("t-c", TS(30));
  ck_assert_ptr_null(rr->error);
  FREE(rr);
  c = commit1("t-c", TS(30), TS(45));
  ck_assert_ptr_nonnull(c->error);
  ck_assert_ptr_nonnull(strstr(c->error->retryable, "TxnLockNotFound"));
  FREE(c);
  Kvrpcpb__PrewriteResponse *p = prewrite1("t-c", "t-c", TS(30), NULL);
  ck_assert_uint_eq(p->n_errors, 1);
  ck_assert_ptr_nonnull(p->errors[0]->conflict);
  ck_assert_int_eq(p->errors[0]->conflict->reason, KVRPCPB__WRITE_CONFLICT__REASON__SelfRolledBack);
  FREE(p);
  /* rolling back a committed txn is refused */
  rr = rollback1("t-c", TS(20));
  ck_assert_ptr_nonnull(rr->error);
  ck_assert_ptr_nonnull(strstr(rr->error->abort, "Committed"));
  FREE(rr);
  /* the value is the committed one */
  Kvrpcpb__GetResponse *g = get_at("t-c", TS(100), NULL, 0);
  ck_assert(bin_is(g->value, "v-t-c"));
  FREE(g);
}
END_TEST

START_TEST(check_txn_status_actions) {
  /* alive, not pushable (min_commit_ts 0) */
  pw_opts o = {.ttl = 100};
  prewrite_ok("t-s1", "t-s1", TS(1000), &o);
  Kvrpcpb__CheckTxnStatusResponse *s = check_status("t-s1", TS(1000), TS(1050), TS(1050), true);
  ck_assert_ptr_null(s->error);
  ck_assert_uint_eq(s->lock_ttl, 100);
  ck_assert_int_eq(s->action, KVRPCPB__ACTION__NoAction);
  ck_assert_ptr_nonnull(s->lock_info);
  FREE(s);
  /* pushable: caller_start_ts >= min_commit_ts pushes it past the caller */
  pw_opts p = {.ttl = 100, .min_commit_ts = TS(2000) + 1};
  prewrite_ok("t-s2", "t-s2", TS(2000), &p);
  s = check_status("t-s2", TS(2000), TS(2050), TS(2040), true);
  ck_assert_int_eq(s->action, KVRPCPB__ACTION__MinCommitTSPushed);
  ck_assert_uint_eq(s->lock_info->min_commit_ts, TS(2050) + 1);
  FREE(s);
  /* a reader at 2050 is no longer blocked by that lock */
  Kvrpcpb__GetResponse *g = get_at("t-s2", TS(2050), NULL, 0);
  ck_assert_ptr_null(g->error);
  ck_assert(g->not_found);
  FREE(g);
  /* expired: rolled back */
  s = check_status("t-s1", TS(1000), TS(1200), TS(1200), true);
  ck_assert_int_eq(s->action, KVRPCPB__ACTION__TTLExpireRollback);
  ck_assert_uint_eq(s->lock_ttl, 0);
  FREE(s);
  s = check_status("t-s1", TS(1000), TS(1300), TS(1300), true);
  ck_assert_int_eq(s->action, KVRPCPB__ACTION__NoAction); /* rolled back before */
  ck_assert_uint_eq(s->lock_ttl, 0);
  ck_assert_uint_eq(s->commit_version, 0);
  FREE(s);
  /* no lock, no record */
  s = check_status("t-s3", TS(3000), TS(3100), TS(3100), false);
  ck_assert_ptr_nonnull(s->error);
  ck_assert_ptr_nonnull(s->error->txn_not_found);
  ck_assert_uint_eq(s->error->txn_not_found->start_ts, TS(3000));
  FREE(s);
  s = check_status("t-s3", TS(3000), TS(3100), TS(3100), true);
  ck_assert_int_eq(s->action, KVRPCPB__ACTION__LockNotExistRollback);
  FREE(s);
  Kvrpcpb__PrewriteResponse *pr = prewrite1("t-s3", "t-s3", TS(3000), NULL); /* too late */
  ck_assert_uint_eq(pr->n_errors, 1);
  ck_assert_ptr_nonnull(pr->errors[0]->conflict);
  FREE(pr);
  /* committed */
  write_kv("t-s4", TS(4000), TS(4001));
  s = check_status("t-s4", TS(4000), TS(4100), TS(4100), true);
  ck_assert_uint_eq(s->commit_version, TS(4001));
  FREE(s);
  /* async commit: never rolled back here, even expired */
  pw_opts a = {.ttl = 10, .async = true};
  prewrite_ok("t-s5", "t-s5", TS(5000), &a);
  s = check_status("t-s5", TS(5000), TS(9000), TS(9000), true);
  ck_assert_int_eq(s->action, KVRPCPB__ACTION__NoAction);
  ck_assert_ptr_nonnull(s->lock_info);
  ck_assert(s->lock_info->use_async_commit);
  FREE(s);
}
END_TEST

START_TEST(async_commit_min_commit_ts) {
  /* a read at 5000 raises max_ts: a later async prewrite must commit after */
  Kvrpcpb__GetResponse *g = get_at("t-x", TS(5000), NULL, 0);
  FREE(g);
  const char *secs[] = {"t-as2"};
  pw_opts a = {.async = true, .secondaries = secs, .nsecondaries = 1, .min_commit_ts = TS(4000) + 1};
  Kvrpcpb__PrewriteResponse *r = prewrite1("t-as1", "t-as1", TS(4000), &a);
  ck_assert_uint_eq(r->n_errors, 0);
  ck_assert_uint_eq(r->min_commit_ts, TS(5000) + 1);
  uint64_t min1 = r->min_commit_ts;
  FREE(r);
  r = prewrite1("t-as2", "t-as1", TS(4000), &a);
  ck_assert_uint_gt(r->min_commit_ts, TS(5000));
  FREE(r);
  /* the primary's lock lists the secondaries */
  Kvrpcpb__CheckTxnStatusResponse *s = check_status("t-as1", TS(4000), TS(6000), TS(6000), true);
  ck_assert(s->lock_info->use_async_commit);
  ck_assert_uint_eq(s->lock_info->n_secondaries, 1);
  ck_assert(bin_is(s->lock_info->secondaries[0], "t-as2"));
  ck_assert_uint_eq(s->lock_info->min_commit_ts, min1);
  FREE(s);
  /* CheckSecondaryLocks: locked, then committed */
  kctx_t k;
  Kvrpcpb__CheckSecondaryLocksRequest q = KVRPCPB__CHECK_SECONDARY_LOCKS_REQUEST__INIT;
  q.context = tctx(&k, "t-as2");
  ProtobufCBinaryData kb = BIN("t-as2");
  q.n_keys = 1;
  q.keys = &kb;
  q.start_version = TS(4000);
  Kvrpcpb__CheckSecondaryLocksResponse *c =
      call(k.store, "KvCheckSecondaryLocks", &q.base, &kvrpcpb__check_secondary_locks_response__descriptor);
  ck_assert_uint_eq(c->n_locks, 1);
  ck_assert_uint_eq(c->commit_ts, 0);
  FREE(c);
  commit_ok("t-as2", TS(4000), TS(6000));
  c = call(k.store, "KvCheckSecondaryLocks", &q.base, &kvrpcpb__check_secondary_locks_response__descriptor);
  ck_assert_uint_eq(c->n_locks, 0);
  ck_assert_uint_eq(c->commit_ts, TS(6000));
  FREE(c);
  /* max_commit_ts below what is needed: plain 2PC (min_commit_ts 0) */
  pw_opts low = {.async = true, .max_commit_ts = TS(5000)};
  r = prewrite1("t-as3", "t-as3", TS(4500), &low);
  ck_assert_uint_eq(r->n_errors, 0);
  ck_assert_uint_eq(r->min_commit_ts, 0);
  FREE(r);
}
END_TEST

START_TEST(one_pc_commits_at_once) {
  const char *keys[] = {"t-1a", "t-1b"};
  pw_opts o = {.one_pc = true};
  Kvrpcpb__PrewriteResponse *r = prewrite_n(keys, 2, "t-1a", TS(700), &o);
  ck_assert_uint_eq(r->n_errors, 0);
  uint64_t cts = r->one_pc_commit_ts;
  ck_assert_uint_gt(cts, TS(700));
  ck_assert_uint_eq(r->min_commit_ts, 0); /* not async commit */
  FREE(r);
  Kvrpcpb__GetResponse *g = get_at("t-1b", cts, NULL, 0);
  ck_assert_ptr_null(g->error);
  ck_assert(bin_is(g->value, "v-t-1b"));
  FREE(g);
  g = get_at("t-1b", cts - 1, NULL, 0); /* before the commit */
  ck_assert(g->not_found);
  FREE(g);
  Kvrpcpb__CheckTxnStatusResponse *s = check_status("t-1a", TS(700), TS(800), TS(800), true);
  ck_assert_uint_eq(s->commit_version, cts);
  FREE(s);
}
END_TEST

START_TEST(reads_locks_and_resolved_locks) {
  write_kv("t-r", TS(100), TS(101));
  prewrite_ok("t-r", "t-r", TS(200), NULL);
  Kvrpcpb__GetResponse *g = get_at("t-r", TS(300), NULL, 0);
  ck_assert_ptr_nonnull(g->error);
  ck_assert_ptr_nonnull(g->error->locked);
  ck_assert_uint_eq(g->error->locked->lock_version, TS(200));
  FREE(g);
  g = get_at("t-r", TS(150), NULL, 0); /* below the lock: not blocked */
  ck_assert_ptr_null(g->error);
  ck_assert(bin_is(g->value, "v-t-r"));
  FREE(g);
  uint64_t resolved = TS(200);
  g = get_at("t-r", TS(300), &resolved, 1); /* the client knows its primary was pushed */
  ck_assert_ptr_null(g->error);
  ck_assert(bin_is(g->value, "v-t-r"));
  FREE(g);
  /* Lock-type and pessimistic locks never block reads */
  pw_opts lk = {.op = KVRPCPB__OP__Lock};
  prewrite_ok("t-r2", "t-r2", TS(200), &lk);
  g = get_at("t-r2", TS(300), NULL, 0);
  ck_assert_ptr_null(g->error);
  FREE(g);
  /* a scan reports the locked key in its pair */
  kctx_t k;
  Kvrpcpb__ScanRequest q = KVRPCPB__SCAN_REQUEST__INIT;
  q.context = tctx(&k, "t-");
  q.start_key = BIN("t-");
  q.end_key = BIN("t-z");
  q.limit = 10;
  q.version = TS(300);
  Kvrpcpb__ScanResponse *sr = call(k.store, "KvScan", &q.base, &kvrpcpb__scan_response__descriptor);
  ck_assert_uint_eq(sr->n_pairs, 1);
  ck_assert_ptr_nonnull(sr->pairs[0]->error);
  ck_assert_ptr_nonnull(sr->pairs[0]->error->locked);
  FREE(sr);
  /* a forward scan whose end passes the region end is refused, as TiKV does */
  q.context = tctx(&k, "V1");
  q.start_key = BIN("V1");
  q.end_key = BIN("z");
  sr = call(k.store, "KvScan", &q.base, &kvrpcpb__scan_response__descriptor);
  ck_assert_ptr_nonnull(sr->error);
  ck_assert_ptr_nonnull(strstr(sr->error->abort, "InvalidReqRange"));
  FREE(sr);
  /* transactional keys are not raw keys */
  Kvrpcpb__RawGetRequest rg = KVRPCPB__RAW_GET_REQUEST__INIT;
  kctx_t rk;
  rg.context = rctx(&rk, "t-r");
  rg.key = BIN("t-r");
  Kvrpcpb__RawGetResponse *raw =
      call(rk.store, "RawGet", &rg.base, &kvrpcpb__raw_get_response__descriptor);
  ck_assert_ptr_null(raw->region_error);
  ck_assert(raw->not_found);
  FREE(raw);
}
END_TEST

START_TEST(pessimistic_wait_wake_and_deadlock) {
  write_kv("t-k1", TS(10), TS(11));
  lock_req a1 = {"t-k1", "t-k1", TS(100), TS(100), -1, true, NULL, 0};
  lock_req b2 = {"t-k2", "t-k2", TS(200), TS(200), -1, true, NULL, 0};
  ck_assert_uint_eq(pess_lock(&a1)->n_errors, 0);
  ck_assert_uint_eq(a1.resp->n_not_founds, 1);
  ck_assert(!a1.resp->not_founds[0]);
  ck_assert(bin_is(a1.resp->values[0], "v-t-k1"));
  FREE(a1.resp);
  ck_assert_uint_eq(pess_lock(&b2)->n_errors, 0);
  FREE(b2.resp);
  /* no wait: locked at once */
  lock_req nw = {"t-k1", "t-k1", TS(300), TS(300), -1, true, NULL, 0};
  ck_assert_uint_eq(pess_lock(&nw)->n_errors, 1);
  ck_assert_ptr_nonnull(nw.resp->errors[0]->locked);
  ck_assert_uint_lt(nw.took_ms, 900); /* not TiKV's default 1 s wait */
  FREE(nw.resp);
  /* a short wait times out with the lock */
  lock_req sw = {"t-k1", "t-k1", TS(300), TS(300), 300, true, NULL, 0};
  ck_assert_uint_eq(pess_lock(&sw)->n_errors, 1);
  ck_assert_ptr_nonnull(sw.resp->errors[0]->locked);
  ck_assert_int_ge(sw.took_ms, 280);
  FREE(sw.resp);
  /* B waits for A's k1 ... */
  lock_req bw = {"t-k1", "t-k2", TS(200), TS(200), 5000, false, NULL, 0};
  pthread_t th;
  uint64_t locks = tikv_mock_call_count(m, "KvPessimisticLock");
  pthread_create(&th, NULL, pess_lock_thread, &bw);
  await_calls("KvPessimisticLock", locks + 1);
  /* ... A asks for B's k2: a cycle */
  lock_req aw = {"t-k2", "t-k1", TS(100), TS(100), 5000, false, NULL, 0};
  ck_assert_uint_eq(pess_lock(&aw)->n_errors, 1);
  Kvrpcpb__Deadlock *d = aw.resp->errors[0]->deadlock;
  ck_assert_ptr_nonnull(d);
  ck_assert_uint_eq(d->lock_ts, TS(200));
  ck_assert(bin_is(d->lock_key, "t-k2"));
  ck_assert_uint_ne(d->deadlock_key_hash, 0);
  ck_assert_uint_lt(aw.took_ms, 900); /* told at once, not after the 1 s wait cap */
  FREE(aw.resp);
  /* A commits k1: B wakes with a write conflict (TiKV's legacy wake-up) */
  pw_opts po = {.for_update_ts = TS(100), .pessimistic_check = true};
  prewrite_ok("t-k1", "t-k1", TS(100), &po);
  commit_ok("t-k1", TS(100), TS(150));
  pthread_join(th, NULL);
  ck_assert_uint_lt(bw.took_ms, 4000); /* woken (a timeout would answer Locked, not a conflict) */
  ck_assert_uint_eq(bw.resp->n_errors, 1);
  Kvrpcpb__WriteConflict *wc = bw.resp->errors[0]->conflict;
  ck_assert_ptr_nonnull(wc);
  ck_assert_uint_eq(wc->start_ts, TS(200));
  ck_assert_uint_eq(wc->conflict_ts, TS(100));
  ck_assert_uint_eq(wc->conflict_commit_ts, TS(150));
  ck_assert_int_eq(wc->reason, KVRPCPB__WRITE_CONFLICT__REASON__PessimisticRetry);
  FREE(bw.resp);
  /* B retries with a newer for_update_ts and gets it, with A's value */
  lock_req b3 = {"t-k1", "t-k2", TS(200), TS(160), -1, false, NULL, 0};
  ck_assert_uint_eq(pess_lock(&b3)->n_errors, 0);
  ck_assert(bin_is(b3.resp->values[0], "v-t-k1"));
  FREE(b3.resp);
  /* with a stale for_update_ts it would have been a conflict */
  lock_req stale = {"t-k3", "t-k3", TS(400), TS(400), -1, true, NULL, 0};
  write_kv("t-k3", TS(450), TS(460));
  ck_assert_uint_eq(pess_lock(&stale)->n_errors, 1);
  ck_assert_ptr_nonnull(stale.resp->errors[0]->conflict);
  FREE(stale.resp);
  /* waits are capped at TiKV's default wait-for-lock timeout (1 s) */
  lock_req longw = {"t-k2", "t-k9", TS(500), TS(500), 60000, true, NULL, 0};
  ck_assert_uint_eq(pess_lock(&longw)->n_errors, 1);
  ck_assert_ptr_nonnull(longw.resp->errors[0]->locked);
  ck_assert_int_ge(longw.took_ms, 900);
  ck_assert_int_lt(longw.took_ms, 10000); /* capped: not the 60 s asked */
  FREE(longw.resp);
}
END_TEST

START_TEST(pessimistic_prewrite_and_rollback) {
  lock_req a = {"t-p1", "t-p1", TS(100), TS(100), -1, true, NULL, 0};
  ck_assert_uint_eq(pess_lock(&a)->n_errors, 0);
  FREE(a.resp);
  /* another txn's pessimistic lock does not block readers */
  Kvrpcpb__GetResponse *g = get_at("t-p1", TS(200), NULL, 0);
  ck_assert_ptr_null(g->error);
  FREE(g);
  /* a pessimistic prewrite needs its lock */
  pw_opts po = {.for_update_ts = TS(100), .pessimistic_check = true};
  Kvrpcpb__PrewriteResponse *r = prewrite1("t-p1", "t-p1", TS(90), &po);
  ck_assert_uint_eq(r->n_errors, 1);
  ck_assert_ptr_nonnull(strstr(r->errors[0]->abort, "PessimisticLockNotFound"));
  FREE(r);
  /* pessimistic rollback releases; a waiter is woken at once: before a
   * waiter that started earlier on another lock, and is not released, times
   * out (waits are capped at 1 s, so only this order tells a wake-up from a
   * wait that merely ended) */
  lock_req other = {"t-p9", "t-p9", TS(310), TS(310), -1, true, NULL, 0};
  ck_assert_uint_eq(pess_lock(&other)->n_errors, 0);
  FREE(other.resp);
  lock_req v = {"t-p9", "t-p9", TS(320), TS(320), 5000, true, NULL, 0};
  lock_req w = {"t-p1", "t-p1", TS(300), TS(300), 5000, true, NULL, 0};
  pthread_t tv, th;
  uint64_t locks = tikv_mock_call_count(m, "KvPessimisticLock");
  pthread_create(&tv, NULL, pess_lock_thread, &v);
  await_calls("KvPessimisticLock", locks + 1); /* v waits */
  pthread_create(&th, NULL, pess_lock_thread, &w);
  await_calls("KvPessimisticLock", locks + 2); /* w waits */
  kctx_t k;
  Kvrpcpb__PessimisticRollbackRequest q = KVRPCPB__PESSIMISTIC_ROLLBACK_REQUEST__INIT;
  q.context = tctx(&k, "t-p1");
  ProtobufCBinaryData kb = BIN("t-p1");
  q.n_keys = 1;
  q.keys = &kb;
  q.start_version = TS(100);
  q.for_update_ts = TS(100);
  Kvrpcpb__PessimisticRollbackResponse *pr =
      call(k.store, "KVPessimisticRollback", &q.base, &kvrpcpb__pessimistic_rollback_response__descriptor);
  ck_assert_uint_eq(pr->n_errors, 0);
  FREE(pr);
  pthread_join(th, NULL);
  ck_assert_int_eq(atomic_load(&v.done), 0); /* w was woken, not timed out */
  ck_assert_ptr_nonnull(w.resp->errors[0]->conflict);
  ck_assert_uint_eq(w.resp->errors[0]->conflict->conflict_commit_ts, 0);
  FREE(w.resp);
  pthread_join(tv, NULL);
  ck_assert_ptr_nonnull(v.resp->errors[0]->locked); /* v timed out */
  FREE(v.resp);
}
END_TEST

START_TEST(batch_commands_lock_wait) {
  /* a waiting lock request inside BatchCommands does not hold up the others */
  lock_req a = {"t-q", "t-q", TS(100), TS(100), -1, true, NULL, 0};
  ck_assert_uint_eq(pess_lock(&a)->n_errors, 0);
  FREE(a.resp);
  kctx_t k;
  Kvrpcpb__PessimisticLockRequest lq = KVRPCPB__PESSIMISTIC_LOCK_REQUEST__INIT;
  lq.context = tctx(&k, "t-q");
  Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT, *mp = &mu;
  mu.op = KVRPCPB__OP__PessimisticLock;
  mu.key = BIN("t-q");
  lq.n_mutations = 1;
  lq.mutations = &mp;
  lq.primary_lock = BIN("t-q");
  lq.start_version = TS(200);
  lq.for_update_ts = TS(200);
  lq.lock_ttl = 1000;
  lq.wait_timeout = 400;
  Kvrpcpb__GetRequest gq = KVRPCPB__GET_REQUEST__INIT;
  gq.context = &k.ctx;
  gq.key = BIN("t-q");
  gq.version = TS(300);
  Tikvpb__BatchCommandsRequest__Request r1 = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__INIT;
  r1.cmd_case = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_PESSIMISTIC_LOCK;
  r1.pessimisticlock = &lq;
  Tikvpb__BatchCommandsRequest__Request r2 = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__INIT;
  r2.cmd_case = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_GET;
  r2.get = &gq;
  Tikvpb__BatchCommandsRequest__Request *rs[2] = {&r1, &r2};
  uint64_t ids[2] = {7, 8};
  Tikvpb__BatchCommandsRequest b = TIKVPB__BATCH_COMMANDS_REQUEST__INIT;
  b.n_requests = 2;
  b.requests = rs;
  b.n_request_ids = 2;
  b.request_ids = ids;
  mc_stream_t *s = mc_stream_open(tikv_mock_store_address(m, k.store), "/tikvpb.Tikv/BatchCommands",
                                  TIMEOUT_MS);
  ck_assert_ptr_nonnull(s);
  ProtobufCMessage *resp = NULL;
  int64_t t0 = now_ms();
  ck_assert_int_eq(mc_stream_roundtrip(s, &b.base, &tikvpb__batch_commands_response__descriptor, &resp), 0);
  Tikvpb__BatchCommandsResponse *br = (Tikvpb__BatchCommandsResponse *)resp;
  ck_assert_uint_eq(br->n_responses, 1); /* the get, at once */
  ck_assert_uint_eq(br->request_ids[0], 8);
  FREE(resp);
  /* then the lock request's answer, after its wait */
  ck_assert_int_eq(mc_stream_recv(s, &tikvpb__batch_commands_response__descriptor, &resp), 0);
  br = (Tikvpb__BatchCommandsResponse *)resp;
  ck_assert_uint_eq(br->n_responses, 1);
  ck_assert_uint_eq(br->request_ids[0], 7);
  ck_assert_int_eq(br->responses[0]->cmd_case, TIKVPB__BATCH_COMMANDS_RESPONSE__RESPONSE__CMD_PESSIMISTIC_LOCK);
  ck_assert_ptr_nonnull(br->responses[0]->pessimisticlock->errors[0]->locked);
  ck_assert_int_ge(now_ms() - t0, 380);
  FREE(resp);
  ck_assert_int_eq(mc_stream_close(s, NULL, 0), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("mock_txn");
  TCase *tc = tcase_create("percolator");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, write_conflict_already_exist_and_locked);
  tcase_add_test(tc, every_newer_write_is_a_conflict);
  tcase_add_test(tc, txn_heart_beat);
  tcase_add_test(tc, scan_lock_max_version_and_limit);
  tcase_add_test(tc, commit_rules);
  tcase_add_test(tc, check_txn_status_actions);
  tcase_add_test(tc, async_commit_min_commit_ts);
  tcase_add_test(tc, one_pc_commits_at_once);
  tcase_add_test(tc, reads_locks_and_resolved_locks);
  tcase_add_test(tc, pessimistic_wait_wake_and_deadlock);
  tcase_add_test(tc, pessimistic_prewrite_and_rollback);
  tcase_add_test(tc, batch_commands_lock_wait);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
