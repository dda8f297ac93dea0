/* Integration tests of transactions against the mock cluster: snapshot
 * isolation, conflicts, lock resolution after a client died mid-commit,
 * pessimistic locks, async commit and 1PC, scans merged with own writes, a
 * bank of concurrent transfers. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"
#include "kvrpcpb.pb-c.h"
#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

static tikv_mock_cluster_t *mock;
static tikv_client_t *client;

#define K(s) (const uint8_t *)(s), strlen(s)

static void setup(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 3;
  o.regions = 8;
  char err[256];
  mock = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(mock != NULL, "mock: %s", err);
  tikv_config_t *cfg = tikv_config_new();
  tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(mock));
  tikv_config_set_timeout_ms(cfg, 10000);
  client = tikv_client_new(cfg, NULL);
  tikv_config_free(cfg);
  tikv_future_t *f = tikv_client_connect(client);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
}

static void teardown(void) {
  tikv_client_free(client);
  tikv_mock_cluster_stop(mock);
}

static int wait_code(tikv_future_t *f) {
  int code = tikv_future_wait(f);
  if (code != TIKV_ERR_OK)
    fprintf(stderr, "  (%s: %s)\n", tikv_err_name(code), tikv_error_message(tikv_future_get_error(f)));
  return code;
}

static void ok(tikv_future_t *f) {
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
}

static int expect(tikv_future_t *f, int code) {
  int got = tikv_future_wait(f);
  tikv_future_destroy(f);
  return got == code;
}

static tikv_txn_t *begin_opts(const tikv_txn_options_t *o) {
  tikv_txn_t *t = tikv_txn_new(client, o, NULL);
  ck_assert_ptr_nonnull(t);
  ok(tikv_txn_begin(t, NULL));
  ck_assert_uint_ne(tikv_txn_start_ts(t), 0);
  return t;
}

static tikv_txn_t *begin(void) { return begin_opts(NULL); }

static tikv_txn_t *begin_pessimistic(int64_t wait_ms) {
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.pessimistic = 1;
  o.lock_wait_timeout_ms = wait_ms;
  return begin_opts(&o);
}

static uint64_t commit(tikv_txn_t *t) {
  tikv_future_t *f = tikv_txn_commit(t, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  uint64_t ts = 0;
  tikv_future_get_u64(f, &ts);
  tikv_future_destroy(f);
  return ts;
}

/* 1 found with the value, 0 absent */
static int tget(tikv_txn_t *t, const char *key, const char *want) {
  tikv_future_t *f = tikv_txn_get(t, K(key), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const uint8_t *v;
  size_t n;
  int found = tikv_future_get_value(f, &v, &n);
  if (found == 1 && want) {
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_mem_eq(v, want, n);
  }
  tikv_future_destroy(f);
  return found;
}

static void write_one(const char *key, const char *value) {
  tikv_txn_t *t = begin();
  ok(tikv_txn_put(t, K(key), K(value), NULL));
  ck_assert_uint_gt(commit(t), tikv_txn_start_ts(t));
  tikv_txn_free(t);
}

static int read_one(const char *key, const char *want) {
  tikv_txn_t *t = begin();
  int r = tget(t, key, want);
  ok(tikv_txn_rollback(t, NULL));
  tikv_txn_free(t);
  return r;
}

START_TEST(put_commit_get) {
  write_one("alpha", "1");
  ck_assert_int_eq(read_one("alpha", "1"), 1);
  ck_assert_int_eq(read_one("nothing", NULL), 0);
  tikv_txn_t *t = begin();
  ok(tikv_txn_put(t, K("alpha"), K("2"), NULL));
  ck_assert_int_eq(tget(t, "alpha", "2"), 1); /* own write */
  ok(tikv_txn_delete(t, K("beta"), NULL));
  ck_assert_int_eq(tget(t, "beta", NULL), 0);
  commit(t);
  tikv_txn_free(t);
  ck_assert_int_eq(read_one("alpha", "2"), 1);
  t = begin();
  ok(tikv_txn_delete(t, K("alpha"), NULL));
  commit(t);
  /* a finished transaction refuses more work */
  ck_assert(expect(tikv_txn_get(t, K("alpha"), NULL), TIKV_ERR_TXN_FINISHED));
  ck_assert(expect(tikv_txn_commit(t, NULL), TIKV_ERR_TXN_FINISHED));
  tikv_txn_free(t);
  ck_assert_int_eq(read_one("alpha", NULL), 0);
  /* an empty transaction commits at ts 0 */
  t = begin();
  ck_assert_uint_eq(commit(t), 0);
  tikv_txn_free(t);
  /* operations before begin are refused */
  t = tikv_txn_new(client, NULL, NULL);
  ck_assert(expect(tikv_txn_get(t, K("a"), NULL), TIKV_ERR_INVALID_ARGUMENT));
  tikv_txn_free(t);
}
END_TEST

START_TEST(buffered_writes_acknowledged_at_once) {
  tikv_txn_t *t = begin();
  /* an optimistic write needs no network: acknowledged before the call returns */
  tikv_future_t *p = tikv_txn_put(t, K("ack"), K("1"), NULL);
  ck_assert_int_eq(tikv_future_is_ready(p), 1);
  ck_assert_int_eq(tikv_future_get_error_code(p), TIKV_ERR_OK);
  tikv_future_destroy(p);
  ok(tikv_txn_delete(t, K("ack-gone"), NULL));
  ck_assert_int_eq(tget(t, "ack", "1"), 1); /* applied before the read that follows it */
  tikv_future_t *c = tikv_txn_commit(t, NULL);
  /* a write after commit was asked for is refused, never dropped */
  ck_assert(expect(tikv_txn_put(t, K("ack"), K("late"), NULL), TIKV_ERR_TXN_FINISHED));
  ck_assert_int_eq(wait_code(c), TIKV_ERR_OK);
  tikv_future_destroy(c);
  tikv_txn_free(t);
  ck_assert_int_eq(read_one("ack", "1"), 1);
  /* before begin completed: the slow path refuses it */
  t = tikv_txn_new(client, NULL, NULL);
  ck_assert(expect(tikv_txn_put(t, K("ack"), K("x"), NULL), TIKV_ERR_INVALID_ARGUMENT));
  tikv_txn_free(t);
}
END_TEST

START_TEST(free_while_busy) {
  /* freed while its begin is on the way: the begin still completes */
  for (int i = 0; i < 50; i++) {
    tikv_txn_t *t = tikv_txn_new(client, NULL, NULL);
    tikv_future_t *f = tikv_txn_begin(t, NULL);
    tikv_txn_free(t);
    ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
    tikv_future_destroy(f);
  }
  /* freed with a read in flight and a pessimistic lock held: the lock is
   * released in the background */
  tikv_txn_t *t = begin_pessimistic(1000);
  ok(tikv_txn_put(t, K("busy"), K("v"), NULL));
  tikv_future_t *g = tikv_txn_get(t, K("busy"), NULL);
  tikv_txn_free(t);
  ck_assert_int_eq(tikv_future_wait(g), TIKV_ERR_OK);
  tikv_future_destroy(g);
  tikv_txn_t *u = begin_pessimistic(5000);
  ok(tikv_txn_put(u, K("busy"), K("u"), NULL)); /* gets the lock once t's is rolled back */
  commit(u);
  tikv_txn_free(u);
  ck_assert_int_eq(read_one("busy", "u"), 1);
}
END_TEST

START_TEST(batch_get_across_regions_and_binary_keys) {
  tikv_txn_t *t = begin();
  const char *keys[] = {"0zero", "Bee", "Jay", "Sea", "a", "dee", "mm", "tee", "zz"};
  tikv_slice_t ks[10];
  for (int i = 0; i < 9; i++) {
    ok(tikv_txn_put(t, K(keys[i]), K(keys[i]), NULL));
    ks[i] = (tikv_slice_t){K(keys[i])};
  }
  const uint8_t bin[] = {0, 0xff, 0, 1};
  ok(tikv_txn_put(t, bin, sizeof(bin), bin, sizeof(bin), NULL));
  commit(t);
  tikv_txn_free(t);
  ks[9] = (tikv_slice_t){(const uint8_t *)"absent", 6};
  t = begin();
  tikv_future_t *f = tikv_txn_batch_get(t, ks, 10, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const tikv_kv_t *kvs;
  size_t n;
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 9);
  ck_assert_mem_eq(kvs[0].key, "0zero", 5);
  ck_assert_mem_eq(kvs[8].value, "zz", 2);
  tikv_future_destroy(f);
  f = tikv_txn_get(t, bin, sizeof(bin), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const uint8_t *v;
  size_t vl;
  ck_assert_int_eq(tikv_future_get_value(f, &v, &vl), 1);
  ck_assert_uint_eq(vl, 4);
  ck_assert_mem_eq(v, bin, 4);
  tikv_future_destroy(f);
  tikv_txn_free(t);
  /* transactional keys never show up in raw space */
  f = tikv_raw_get(client, K("Jay"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_value(f, NULL, NULL), 0);
  tikv_future_destroy(f);
}
END_TEST

START_TEST(snapshot_isolation) {
  write_one("si", "old");
  tikv_txn_t *reader = begin();
  uint64_t old_ts = tikv_txn_start_ts(reader);
  write_one("si", "new");
  ck_assert_int_eq(tget(reader, "si", "old"), 1); /* no later commit is seen */
  tikv_txn_free(reader);
  /* a snapshot at the old ts reads the old version */
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.read_only = 1;
  o.start_ts = old_ts;
  tikv_txn_t *snap = begin_opts(&o);
  ck_assert_int_eq(tget(snap, "si", "old"), 1);
  ck_assert(expect(tikv_txn_put(snap, K("si"), K("x"), NULL), TIKV_ERR_UNSUPPORTED));
  tikv_txn_free(snap);
  ck_assert_int_eq(read_one("si", "new"), 1);
  /* current timestamp moves forward */
  tikv_future_t *f = tikv_client_current_timestamp(client, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  uint64_t now;
  tikv_future_get_u64(f, &now);
  ck_assert_uint_gt(now, old_ts);
  tikv_future_destroy(f);
}
END_TEST

START_TEST(write_conflict_and_rollback) {
  write_one("wc", "0");
  tikv_txn_t *a = begin(), *b = begin();
  ok(tikv_txn_put(a, K("wc"), K("a"), NULL));
  ok(tikv_txn_put(b, K("wc"), K("b"), NULL));
  commit(a);
  tikv_future_t *f = tikv_txn_commit(b, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_WRITE_CONFLICT);
  const tikv_error_t *e = tikv_future_get_error(f);
  size_t kl;
  const uint8_t *k = tikv_error_key(e, &kl);
  ck_assert_uint_eq(kl, 2);
  ck_assert_mem_eq(k, "wc", 2);
  ck_assert_int_eq(tikv_error_retryable(e), 1);
  tikv_future_destroy(f);
  tikv_txn_free(a);
  tikv_txn_free(b);
  ck_assert_int_eq(read_one("wc", "a"), 1);
  /* rollback leaves nothing */
  tikv_txn_t *r = begin();
  ok(tikv_txn_put(r, K("rb"), K("x"), NULL));
  ok(tikv_txn_rollback(r, NULL));
  ck_assert(expect(tikv_txn_commit(r, NULL), TIKV_ERR_TXN_FINISHED));
  tikv_txn_free(r);
  ck_assert_int_eq(read_one("rb", NULL), 0);
  /* a newer delete conflicts as much as a newer put */
  write_one("wc-del", "0");
  tikv_txn_t *x = begin(), *y = begin();
  ck_assert_int_eq(tget(y, "wc-del", "0"), 1);
  ok(tikv_txn_delete(x, K("wc-del"), NULL));
  uint64_t dts = commit(x);
  ok(tikv_txn_put(y, K("wc-del"), K("1"), NULL));
  f = tikv_txn_commit(y, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_WRITE_CONFLICT);
  ck_assert_uint_eq(tikv_error_conflict_ts(tikv_future_get_error(f)), dts);
  tikv_future_destroy(f);
  tikv_txn_free(x);
  tikv_txn_free(y);
  ck_assert_int_eq(read_one("wc-del", NULL), 0);
}
END_TEST

START_TEST(write_skew_is_allowed) {
  /* SI permits write skew: disjoint write sets both commit */
  write_one("ws-a", "1");
  write_one("ws-b", "1");
  tikv_txn_t *a = begin(), *b = begin();
  ck_assert_int_eq(tget(a, "ws-a", "1"), 1);
  ck_assert_int_eq(tget(a, "ws-b", "1"), 1);
  ck_assert_int_eq(tget(b, "ws-a", "1"), 1);
  ck_assert_int_eq(tget(b, "ws-b", "1"), 1);
  ok(tikv_txn_put(a, K("ws-a"), K("0"), NULL));
  ok(tikv_txn_put(b, K("ws-b"), K("0"), NULL));
  commit(a);
  commit(b);
  tikv_txn_free(a);
  tikv_txn_free(b);
  ck_assert_int_eq(read_one("ws-a", "0"), 1);
  ck_assert_int_eq(read_one("ws-b", "0"), 1);
}
END_TEST

START_TEST(insert_and_lock_keys) {
  write_one("ins", "v");
  tikv_txn_t *t = begin();
  ok(tikv_txn_insert(t, K("ins"), K("w"), NULL));
  tikv_future_t *f = tikv_txn_commit(t, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_ALREADY_EXIST);
  size_t kl;
  tikv_error_key(tikv_future_get_error(f), &kl);
  ck_assert_uint_eq(kl, 3);
  tikv_future_destroy(f);
  tikv_txn_free(t);
  t = begin();
  ok(tikv_txn_insert(t, K("ins-new"), K("w"), NULL));
  ck_assert(expect(tikv_txn_insert(t, K("ins-new"), K("w"), NULL), TIKV_ERR_ALREADY_EXIST));
  commit(t);
  tikv_txn_free(t);
  ck_assert_int_eq(read_one("ins-new", "w"), 1);
  /* optimistic lock_keys: a concurrent write to a locked key aborts us */
  write_one("lk", "0");
  tikv_txn_t *a = begin();
  tikv_slice_t k = {K("lk")};
  ok(tikv_txn_lock_keys(a, &k, 1, NULL));
  ok(tikv_txn_put(a, K("other"), K("x"), NULL));
  write_one("lk", "1");
  ck_assert(expect(tikv_txn_commit(a, NULL), TIKV_ERR_WRITE_CONFLICT));
  tikv_txn_free(a);
}
END_TEST

static size_t scan_n(tikv_txn_t *t, const char *s, const char *e, uint32_t limit, int reverse,
                     const tikv_kv_t **out, tikv_future_t **keep) {
  tikv_future_t *f = tikv_txn_scan(t, K(s), (const uint8_t *)e, e ? strlen(e) : 0, limit, 0, reverse, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  size_t n;
  tikv_future_get_kvs(f, out, &n);
  *keep = f;
  return n;
}

static void await_unlocked(const char *key);

START_TEST(scans_with_own_writes) {
  tikv_txn_t *t = begin();
  const char *keys[] = {"b1", "b2", "c1", "c2", "k1", "k2", "s1", "t1"};
  for (int i = 0; i < 8; i++) ok(tikv_txn_put(t, K(keys[i]), K(keys[i]), NULL));
  commit(t);
  tikv_txn_free(t);
  /* the secondaries are committed in the background: a scan meeting one of
   * their locks would resolve it and ask its region again */
  for (int i = 0; i < 8; i++) await_unlocked(keys[i]);
  t = begin();
  ok(tikv_txn_delete(t, K("c1"), NULL));
  ok(tikv_txn_put(t, K("c15"), K("mine"), NULL));
  const tikv_kv_t *kv;
  tikv_future_t *f;
  size_t n = scan_n(t, "b", "t", 100, 0, &kv, &f);
  ck_assert_uint_eq(n, 7); /* b1 b2 c15 c2 k1 k2 s1 */
  ck_assert_mem_eq(kv[2].key, "c15", 3);
  ck_assert_mem_eq(kv[2].value, "mine", 4);
  ck_assert_mem_eq(kv[6].key, "s1", 2);
  tikv_future_destroy(f);
  /* a limit ends the walk in the region that fills it: b1 b2 from ["V", "c"),
   * c1 c2 from ["c", "k") fill 3 + 1 (the buffered delete of c1 may hide a
   * pair); no region after it is asked */
  uint64_t scans = tikv_mock_call_count(mock, "KvScan");
  n = scan_n(t, "b", "t", 3, 0, &kv, &f);
  ck_assert_uint_eq(n, 3);
  ck_assert_mem_eq(kv[2].key, "c15", 3);
  tikv_future_destroy(f);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvScan"), scans + 2);
  scans = tikv_mock_call_count(mock, "KvScan");
  n = scan_n(t, "a", NULL, 4, 1, &kv, &f); /* reverse from the end */
  ck_assert_uint_eq(n, 4);
  ck_assert_mem_eq(kv[0].key, "t1", 2);
  ck_assert_mem_eq(kv[3].key, "k1", 2);
  tikv_future_destroy(f);
  /* t1 s1, k2 k1, c2: 4 + 1 in three regions */
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvScan"), scans + 3);
  n = scan_n(t, "c", "k2", 100, 1, &kv, &f);
  ck_assert_uint_eq(n, 3); /* k1 c2 c15 */
  ck_assert_mem_eq(kv[0].key, "k1", 2);
  ck_assert_mem_eq(kv[2].key, "c15", 3);
  tikv_future_destroy(f);
  tikv_txn_free(t);
}
END_TEST

/* ---- a client that died mid-commit, simulated over raw gRPC ---- */
/* A request's way to the leader of a (user) key's region, as a client
 * would send it. */
typedef struct {
  Kvrpcpb__Context ctx;
  Metapb__RegionEpoch ep;
  Metapb__Peer peer;
  const char *addr;
} route_t;

static Kvrpcpb__Context *route_to(route_t *r, const char *key) {
  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
  Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
  Metapb__Peer peer = METAPB__PEER__INIT;
  r->ctx = ctx;
  r->ep = ep;
  r->peer = peer;
  uint8_t *enc;
  size_t el;
  tikv__codec_encode_bytes((const uint8_t *)key, strlen(key), &enc, &el);
  uint64_t rid = tikv_mock_region_for_key(mock, enc, el);
  free(enc);
  uint64_t store = tikv_mock_region_leader_store(mock, rid);
  tikv_mock_region_epoch(mock, rid, &r->ep.conf_ver, &r->ep.version);
  r->peer.id = tikv_mock_region_peer_on_store(mock, rid, store);
  r->peer.store_id = store;
  r->ctx.region_id = rid;
  r->ctx.region_epoch = &r->ep;
  r->ctx.peer = &r->peer;
  r->addr = tikv_mock_store_address(mock, store);
  return &r->ctx;
}

/* Sends req (whose context is r's) over raw gRPC: a client that never
 * resolves anything, or one about to die. Returns the reply, which has no
 * region error; free it with FREE. */
static void *send_raw(const route_t *r, const char *method, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *d) {
  char path[96];
  snprintf(path, sizeof(path), "/tikvpb.Tikv/%s", method);
  ProtobufCMessage *resp = NULL;
  ck_assert_int_eq(mc_unary(r->addr, path, req, d, &resp, 5000, NULL, 0), 0);
  const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(d, "region_error");
  ck_assert_ptr_null(*(void **)((char *)resp + fd->offset));
  return resp;
}
#define FREE(p) protobuf_c_message_free_unpacked((ProtobufCMessage *)(p), NULL)

static uint64_t now_ts(void) {
  tikv_future_t *f = tikv_client_current_timestamp(client, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  uint64_t ts;
  tikv_future_get_u64(f, &ts);
  tikv_future_destroy(f);
  return ts;
}

/* A prewrite of one key by a client that then dies; returns the lock's
 * min_commit_ts TiKV answered (0 unless async). secondaries: the async-commit
 * primary's list. */
static uint64_t dead_prewrite_async(const char *key, const char *value, const char *primary,
                                    uint64_t start_ts, uint64_t ttl, bool async,
                                    const char *const *secondaries, size_t n_secondaries,
                                    uint64_t min_commit_ts) {
  route_t rt;
  Kvrpcpb__Mutation m = KVRPCPB__MUTATION__INIT;
  Kvrpcpb__Mutation *mp = &m;
  m.op = KVRPCPB__OP__Put;
  m.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
  m.value = (ProtobufCBinaryData){strlen(value), (uint8_t *)value};
  Kvrpcpb__PrewriteRequest q = KVRPCPB__PREWRITE_REQUEST__INIT;
  q.context = route_to(&rt, key);
  q.n_mutations = 1;
  q.mutations = &mp;
  q.primary_lock = (ProtobufCBinaryData){strlen(primary), (uint8_t *)primary};
  q.start_version = start_ts;
  q.lock_ttl = ttl;
  q.txn_size = 2;
  ProtobufCBinaryData secs[8];
  ck_assert_uint_le(n_secondaries, 8);
  for (size_t i = 0; i < n_secondaries; i++)
    secs[i] = (ProtobufCBinaryData){strlen(secondaries[i]), (uint8_t *)secondaries[i]};
  q.use_async_commit = async;
  q.n_secondaries = n_secondaries;
  q.secondaries = secs;
  q.min_commit_ts = min_commit_ts;
  Kvrpcpb__PrewriteResponse *r =
      send_raw(&rt, "KvPrewrite", &q.base, &kvrpcpb__prewrite_response__descriptor);
  ck_assert_uint_eq(r->n_errors, 0);
  uint64_t min = r->min_commit_ts;
  FREE(r);
  return min;
}

static void dead_prewrite(const char *key, const char *value, const char *primary,
                          uint64_t start_ts, uint64_t ttl) {
  dead_prewrite_async(key, value, primary, start_ts, ttl, false, NULL, 0, 0);
}

static void dead_rollback(const char *key, uint64_t start_ts);

/* ---- what the mock holds, seen over raw gRPC (never resolving anything) ---- */

/* The lock on key (ScanLock over that one key, at any version): NULL when
 * there is none; free the response with free_scan. */
static Kvrpcpb__ScanLockResponse *scan_lock_of(const char *key, const Kvrpcpb__LockInfo **lock) {
  route_t rt;
  char end[64];
  size_t kl = strlen(key);
  ck_assert_uint_lt(kl, sizeof(end));
  memcpy(end, key, kl);
  end[kl] = 0; /* key + "\0": the next key */
  Kvrpcpb__ScanLockRequest q = KVRPCPB__SCAN_LOCK_REQUEST__INIT;
  q.context = route_to(&rt, key);
  q.max_version = UINT64_MAX;
  q.start_key = (ProtobufCBinaryData){kl, (uint8_t *)key};
  q.end_key = (ProtobufCBinaryData){kl + 1, (uint8_t *)end};
  q.limit = 10;
  Kvrpcpb__ScanLockResponse *r =
      send_raw(&rt, "KvScanLock", &q.base, &kvrpcpb__scan_lock_response__descriptor);
  ck_assert_ptr_null(r->error);
  ck_assert_uint_le(r->n_locks, 1);
  *lock = r->n_locks ? r->locks[0] : NULL;
  if (*lock) {
    ck_assert_uint_eq((*lock)->key.len, kl);
    ck_assert_mem_eq((*lock)->key.data, key, kl);
  }
  return r;
}

static bool locked(const char *key) {
  const Kvrpcpb__LockInfo *l;
  Kvrpcpb__ScanLockResponse *r = scan_lock_of(key, &l);
  bool yes = l != NULL;
  FREE(r);
  return yes;
}

/* Waits (bounded) until key has no lock: for what a client finishes in the
 * background after its operation completed. */
static void await_unlocked(const char *key) {
  for (int i = 0; i < 2000 && locked(key); i++) usleep(5000);
  ck_assert_msg(!locked(key), "%s is still locked", key);
}

/* CheckTxnStatus of a txn by its primary, asked by nobody (caller 0, current
 * 0): pushes nothing, rolls nothing back. Returns its commit ts (0: not
 * committed); *ttl is the primary lock's TTL (0: no lock). */
static uint64_t txn_commit_ts(const char *primary, uint64_t start_ts, uint64_t *ttl) {
  route_t rt;
  Kvrpcpb__CheckTxnStatusRequest q = KVRPCPB__CHECK_TXN_STATUS_REQUEST__INIT;
  q.context = route_to(&rt, primary);
  q.primary_key = (ProtobufCBinaryData){strlen(primary), (uint8_t *)primary};
  q.lock_ts = start_ts;
  Kvrpcpb__CheckTxnStatusResponse *r = send_raw(&rt, "KvCheckTxnStatus", &q.base,
                                                &kvrpcpb__check_txn_status_response__descriptor);
  /* no lock, no record: never committed (a rollback record may be collapsed) */
  ck_assert(r->error == NULL || r->error->txn_not_found != NULL);
  uint64_t cts = r->commit_version;
  if (ttl) *ttl = r->lock_ttl;
  FREE(r);
  return cts;
}

/* Waits (bounded) until the mock has counted `n` calls of method (see
 * mc_await_count: a counted lock request is waiting before any call sent
 * after this). */
static void await_calls(const char *method, uint64_t n) {
  ck_assert_uint_ge(mc_await_count(tikv_mock_call_count, mock, method, n, 10000), n);
}

/* A snapshot read at ts: 1 found with the value, 0 absent. */
static int read_at(uint64_t ts, const char *key, const char *want) {
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.read_only = 1;
  o.start_ts = ts;
  tikv_txn_t *t = begin_opts(&o);
  int r = tget(t, key, want);
  tikv_txn_free(t);
  return r;
}

/* The dead client's KvCommit: true when TiKV refused it (a KeyError). */
static bool dead_commit_refused(const char *key, uint64_t start_ts, uint64_t commit_ts) {
  route_t rt;
  ProtobufCBinaryData k = {strlen(key), (uint8_t *)key};
  Kvrpcpb__CommitRequest q = KVRPCPB__COMMIT_REQUEST__INIT;
  q.context = route_to(&rt, key);
  q.start_version = start_ts;
  q.n_keys = 1;
  q.keys = &k;
  q.commit_version = commit_ts;
  Kvrpcpb__CommitResponse *r = send_raw(&rt, "KvCommit", &q.base, &kvrpcpb__commit_response__descriptor);
  bool refused = r->error != NULL;
  FREE(r);
  return refused;
}

static void dead_commit(const char *key, uint64_t start_ts, uint64_t commit_ts) {
  ck_assert(!dead_commit_refused(key, start_ts, commit_ts));
}

START_TEST(resolve_rolls_back_uncommitted) {
  write_one("dead-b", "before");
  uint64_t ts = now_ts();
  dead_prewrite("dead-b", "after", "dead-b", ts, 600); /* primary, in region "V".."c" */
  dead_prewrite("dead-m", "after", "dead-b", ts, 600);
  /* the reader waits out the TTL, then rolls the dead txn back */
  ck_assert_int_eq(read_one("dead-m", NULL), 0);
  ck_assert_int_eq(read_one("dead-b", "before"), 1);
  /* and the dead client can no longer commit */
  ck_assert(dead_commit_refused("dead-b", ts, now_ts()));
  /* a writer over the dead lock also gets through */
  write_one("dead-m", "writer");
  ck_assert_int_eq(read_one("dead-m", "writer"), 1);
}
END_TEST

START_TEST(resolve_rolls_forward_committed_primary) {
  uint64_t ts = now_ts();
  dead_prewrite("live-b", "v1", "live-b", ts, 60000); /* a long TTL: no waiting allowed */
  dead_prewrite("live-m", "v2", "live-b", ts, 60000);
  uint64_t cts = now_ts();
  dead_commit("live-b", ts, cts); /* only the primary */
  ck_assert_int_eq(read_one("live-m", "v2"), 1); /* the reader commits the secondary */
  ck_assert_int_eq(read_one("live-b", "v1"), 1);
  /* scans resolve too */
  ts = now_ts();
  dead_prewrite("scan-b", "s1", "scan-b", ts, 60000);
  dead_prewrite("scan-m", "s2", "scan-b", ts, 60000);
  dead_commit("scan-b", ts, now_ts());
  tikv_txn_t *t = begin();
  const tikv_kv_t *kv;
  tikv_future_t *f;
  size_t n = scan_n(t, "scan-", "scan-z", 10, 0, &kv, &f);
  ck_assert_uint_eq(n, 2);
  tikv_future_destroy(f);
  tikv_txn_free(t);
}
END_TEST

/* A client died after prewriting with async commit: its fate is decided by
 * its keys alone. Every key prewritten: committed, at the largest
 * min_commit_ts of its keys; one never prewritten: rolled back. Keys in
 * three regions; the TTL is 1 ms, so the reader needs no wait. */
START_TEST(async_commit_recovery_from_a_reader) {
  const char *secs[] = {"0acr/s1", "zacr/s2"};
  uint64_t ts = now_ts();
  uint64_t m0 = dead_prewrite_async("Nacr/p", "vp", "Nacr/p", ts, 1, true, secs, 2, ts + 10);
  uint64_t m1 = dead_prewrite_async("0acr/s1", "v1", "Nacr/p", ts, 1, true, NULL, 0, ts + 30);
  uint64_t m2 = dead_prewrite_async("zacr/s2", "v2", "Nacr/p", ts, 1, true, NULL, 0, ts + 20);
  ck_assert_uint_ne(m0, 0);
  ck_assert_uint_ne(m1, 0);
  ck_assert_uint_ne(m2, 0);
  uint64_t want = m0 > m1 ? m0 : m1;
  if (m2 > want) want = m2;
  ck_assert_uint_gt(want, m0); /* the primary's own min_commit_ts is not enough */
  /* a reader of one secondary decides for the whole transaction */
  ck_assert_int_eq(read_one("zacr/s2", "v2"), 1);
  uint64_t ttl;
  ck_assert_uint_eq(txn_commit_ts("Nacr/p", ts, &ttl), want);
  for (int i = 0; i < 2; i++) await_unlocked(secs[i]);
  await_unlocked("Nacr/p");
  ck_assert_int_eq(read_at(want, "Nacr/p", "vp"), 1);
  ck_assert_int_eq(read_at(want, "0acr/s1", "v1"), 1);
  ck_assert_int_eq(read_at(want - 1, "0acr/s1", NULL), 0); /* not before its commit ts */

  /* partial: "zacr/t2" was never prewritten */
  const char *secs2[] = {"0acr/t1", "zacr/t2"};
  ts = now_ts();
  ck_assert_uint_ne(dead_prewrite_async("Nacr/q", "vq", "Nacr/q", ts, 1, true, secs2, 2, ts + 1), 0);
  ck_assert_uint_ne(dead_prewrite_async("0acr/t1", "v1", "Nacr/q", ts, 1, true, NULL, 0, ts + 1), 0);
  ck_assert_int_eq(read_one("0acr/t1", NULL), 0);
  ck_assert_uint_eq(txn_commit_ts("Nacr/q", ts, &ttl), 0);
  ck_assert_uint_eq(ttl, 0);
  await_unlocked("0acr/t1");
  await_unlocked("Nacr/q");
  ck_assert_int_eq(read_one("Nacr/q", NULL), 0);
  /* the missing key was fenced: the dead client's late prewrite cannot land */
  route_t rt;
  Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT, *mp = &mu;
  mu.op = KVRPCPB__OP__Put;
  mu.key = (ProtobufCBinaryData){7, (uint8_t *)"zacr/t2"};
  mu.value = (ProtobufCBinaryData){2, (uint8_t *)"v2"};
  Kvrpcpb__PrewriteRequest q = KVRPCPB__PREWRITE_REQUEST__INIT;
  q.context = route_to(&rt, "zacr/t2");
  q.n_mutations = 1;
  q.mutations = &mp;
  q.primary_lock = (ProtobufCBinaryData){6, (uint8_t *)"Nacr/q"};
  q.start_version = ts;
  q.lock_ttl = 1;
  q.use_async_commit = 1;
  q.min_commit_ts = ts + 1;
  Kvrpcpb__PrewriteResponse *pr =
      send_raw(&rt, "KvPrewrite", &q.base, &kvrpcpb__prewrite_response__descriptor);
  ck_assert_uint_eq(pr->n_errors, 1);
  ck_assert_ptr_nonnull(pr->errors[0]->conflict);
  FREE(pr);
  ck_assert(!locked("zacr/t2"));
}
END_TEST

/* The primary's lock rolled back (by a resolver) before the commit reaches
 * it: the commit fails, the txn is not reported committed, nothing is
 * visible. The KvCommit is held by latency; the rollback, sent once the
 * store has it, runs first. */
START_TEST(commit_after_primary_rolled_back_fails) {
  tikv_txn_t *t = begin();
  ok(tikv_txn_put(t, K("rbc/p"), K("v"), NULL));
  ok(tikv_txn_put(t, K("zrbc/s"), K("v"), NULL));
  ck_assert_int_eq(tikv_mock_set_latency(mock, "KvCommit", 1000), 0);
  uint64_t commits = tikv_mock_call_count(mock, "KvCommit");
  tikv_future_t *f = tikv_txn_commit(t, NULL);
  await_calls("KvCommit", commits + 1); /* the primary's commit, held */
  dead_rollback("rbc/p", tikv_txn_start_ts(t));
  int code = tikv_future_wait(f);
  /* certainly not committed: retryable, so transaction() runs it again */
  ck_assert_msg(code == TIKV_ERR_TXN_RETRYABLE, "commit: %s", tikv_err_name(code));
  tikv_future_destroy(f);
  tikv_mock_clear_faults(mock);
  tikv_txn_free(t);
  ck_assert_int_eq(read_one("rbc/p", NULL), 0);
  ck_assert_int_eq(read_one("zrbc/s", NULL), 0);
}
END_TEST

/* A live lock whose min_commit_ts the reader may push does not block it: the
 * reader reads the versions before the lock at once, long before the lock's
 * 60 s TTL (and the client's 10 s deadline), and the lock stays. The push
 * moves only the primary's min_commit_ts: the secondary's lock still blocks
 * a read unless the reader names the txn in Context.resolved_locks, and the
 * push is remembered for the txn, so its second lock needs no second
 * CheckTxnStatus. */
START_TEST(reader_pushes_a_live_lock) {
  write_one("push/k1", "old1");
  write_one("push/k2", "old2");
  uint64_t ts = now_ts();
  dead_prewrite_async("push/k1", "new", "push/k1", ts, 60000, false, NULL, 0, ts + 1);
  dead_prewrite_async("push/k2", "new", "push/k1", ts, 60000, false, NULL, 0, ts + 1);
  uint64_t checks = tikv_mock_call_count(mock, "KvCheckTxnStatus");
  tikv_txn_t *t = begin();
  tikv_slice_t keys[2] = {{K("push/k1")}, {K("push/k2")}};
  tikv_future_t *f = tikv_txn_batch_get(t, keys, 2, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const tikv_kv_t *kvs;
  size_t n;
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 2);
  ck_assert_mem_eq(kvs[0].value, "old1", 4);
  ck_assert_mem_eq(kvs[1].value, "old2", 4);
  tikv_future_destroy(f);
  tikv_txn_free(t);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvCheckTxnStatus"), checks + 1);
  ck_assert_int_eq(read_one("push/k2", "old2"), 1); /* a later reader pushes again */
  ck_assert(locked("push/k1")); /* pushed, not rolled back */
  ck_assert(locked("push/k2"));
  uint64_t ttl;
  ck_assert_uint_eq(txn_commit_ts("push/k1", ts, &ttl), 0);
  ck_assert_uint_eq(ttl, 60000);
}
END_TEST

/* A read remembers every transaction it pushed, for the rest of its walk:
 * txn A has live secondaries in ["F", "N") and ["V", "c"), txn B one in
 * ["V", "c"). A scan meets A in the first region it reads, then, where A's
 * lock is passed by Context.resolved_locks, only B: one CheckTxnStatus per
 * txn, whichever way it walks. Forgetting A (or sending only the latest
 * push) makes its lock block again, which no push can then lift. */
START_TEST(reads_remember_pushed_txns_across_regions) {
  const char *keys[] = {"Gpush/a", "Wpush/a", "Wpush/b"};
  for (int i = 0; i < 3; i++) write_one(keys[i], "old");
  uint64_t ta = now_ts();
  dead_prewrite_async("Apush/p", "new", "Apush/p", ta, 60000, false, NULL, 0, ta + 1);
  dead_prewrite_async("Gpush/a", "new", "Apush/p", ta, 60000, false, NULL, 0, ta + 1);
  dead_prewrite_async("Wpush/a", "new", "Apush/p", ta, 60000, false, NULL, 0, ta + 1);
  uint64_t tb = now_ts();
  dead_prewrite_async("Bpush/p", "new", "Bpush/p", tb, 60000, false, NULL, 0, tb + 1);
  dead_prewrite_async("Wpush/b", "new", "Bpush/p", tb, 60000, false, NULL, 0, tb + 1);
  for (int reverse = 0; reverse <= 1; reverse++) {
    uint64_t checks = tikv_mock_call_count(mock, "KvCheckTxnStatus");
    tikv_txn_t *t = begin();
    const tikv_kv_t *kv;
    tikv_future_t *f;
    ck_assert_uint_eq(scan_n(t, "G", "X", 10, reverse, &kv, &f), 3);
    for (int i = 0; i < 3; i++) {
      ck_assert_mem_eq(kv[i].key, keys[reverse ? 2 - i : i], 7);
      ck_assert_uint_eq(kv[i].value_len, 3);
      ck_assert_mem_eq(kv[i].value, "old", 3);
    }
    tikv_future_destroy(f);
    tikv_txn_free(t);
    ck_assert_msg(tikv_mock_call_count(mock, "KvCheckTxnStatus") == checks + 2,
                  "%s scan: %llu CheckTxnStatus for 2 txns", reverse ? "reverse" : "forward",
                  (unsigned long long)(tikv_mock_call_count(mock, "KvCheckTxnStatus") - checks));
  }
  /* a batch get over the same keys: its parts (in parallel) read past both */
  tikv_txn_t *t = begin();
  tikv_slice_t sl[3] = {{K(keys[0])}, {K(keys[1])}, {K(keys[2])}};
  tikv_future_t *f = tikv_txn_batch_get(t, sl, 3, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const tikv_kv_t *kv;
  size_t n;
  tikv_future_get_kvs(f, &kv, &n);
  ck_assert_uint_eq(n, 3);
  for (size_t i = 0; i < n; i++) ck_assert_mem_eq(kv[i].value, "old", 3);
  tikv_future_destroy(f);
  tikv_txn_free(t);
  /* pushed, never rolled back */
  for (int i = 0; i < 3; i++) ck_assert(locked(keys[i]));
  ck_assert_uint_eq(txn_commit_ts("Apush/p", ta, NULL), 0);
  ck_assert_uint_eq(txn_commit_ts("Bpush/p", tb, NULL), 0);
}
END_TEST

/* The heartbeat of a txn holding locks: KvTxnHeartBeat every half managed
 * TTL (10 s), raising the primary lock's TTL so it outlives its first one. */
START_TEST(heartbeat_extends_the_primary_lock) {
  tikv_txn_t *t = begin_pessimistic(1000);
  ok(tikv_txn_put(t, K("hb/p"), K("v"), NULL));
  const Kvrpcpb__LockInfo *l;
  Kvrpcpb__ScanLockResponse *r = scan_lock_of("hb/p", &l);
  ck_assert_ptr_nonnull(l);
  uint64_t ttl0 = l->lock_ttl;
  ck_assert_uint_ge(ttl0, 20000);
  FREE(r);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvTxnHeartBeat"), 0);
  for (int i = 0; i < 500 && tikv_mock_call_count(mock, "KvTxnHeartBeat") == 0; i++)
    usleep(50 * 1000); /* the first beat is due 10 s after the lock */
  ck_assert_uint_ge(tikv_mock_call_count(mock, "KvTxnHeartBeat"), 1);
  r = scan_lock_of("hb/p", &l);
  ck_assert_ptr_nonnull(l);
  ck_assert_uint_ge(l->lock_ttl, ttl0 + 9000); /* elapsed (>= 10 s) + 20 s */
  FREE(r);
  commit(t);
  tikv_txn_free(t);
  ck_assert_int_eq(read_one("hb/p", "v"), 1);
  ck_assert(!locked("hb/p"));
}
END_TEST

START_TEST(pessimistic_locks) {
  write_one("p1", "0");
  tikv_txn_t *a = begin_pessimistic(20000);
  tikv_future_t *f = tikv_txn_get_for_update(a, K("p1"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_value(f, NULL, NULL), 1);
  tikv_future_destroy(f);
  /* no-wait: fails at once while a holds the lock */
  tikv_txn_t *b = begin_pessimistic(0);
  ck_assert(expect(tikv_txn_put(b, K("p1"), K("b"), NULL), TIKV_ERR_LOCK_WAIT_TIMEOUT));
  ok(tikv_txn_rollback(b, NULL));
  tikv_txn_free(b);
  /* a short wait times out */
  b = begin_pessimistic(300);
  ck_assert(expect(tikv_txn_put(b, K("p1"), K("b"), NULL), TIKV_ERR_LOCK_WAIT_TIMEOUT));
  ok(tikv_txn_rollback(b, NULL));
  tikv_txn_free(b);
  /* a waiter is woken by the holder's commit and sees its write */
  tikv_txn_t *w = begin_pessimistic(10000);
  uint64_t lock_calls = tikv_mock_call_count(mock, "KvPessimisticLock");
  tikv_future_t *wf = tikv_txn_get_for_update(w, K("p1"), NULL);
  await_calls("KvPessimisticLock", lock_calls + 1); /* w waits on a's lock now */
  ck_assert_int_eq(tikv_future_is_ready(wf), 0);
  ok(tikv_txn_put(a, K("p1"), K("a"), NULL));
  commit(a);
  tikv_txn_free(a);
  ck_assert_int_eq(wait_code(wf), TIKV_ERR_OK);
  const uint8_t *v;
  size_t vl;
  ck_assert_int_eq(tikv_future_get_value(wf, &v, &vl), 1);
  ck_assert_mem_eq(v, "a", 1); /* the latest value, not the snapshot's */
  tikv_future_destroy(wf);
  ok(tikv_txn_put(w, K("p1"), K("w"), NULL));
  commit(w);
  tikv_txn_free(w);
  ck_assert_int_eq(read_one("p1", "w"), 1);
  /* rollback releases: another txn locks at once afterwards */
  tikv_txn_t *r = begin_pessimistic(20000);
  tikv_slice_t k = {K("p2")};
  ok(tikv_txn_lock_keys(r, &k, 1, NULL));
  ok(tikv_txn_rollback(r, NULL));
  tikv_txn_free(r);
  b = begin_pessimistic(0);
  ok(tikv_txn_lock_keys(b, &k, 1, NULL));
  commit(b); /* lock-only commit */
  tikv_txn_free(b);
  ck_assert_int_eq(read_one("p2", NULL), 0);
}
END_TEST

/* lock_wait_timeout_ms 0 is "no wait": TiKV answers Locked at once and never
 * queues the request, so a holder letting go right after the request
 * arrived does not hand it the lock. */
START_TEST(no_wait_lock_is_never_queued) {
  tikv_txn_t *h = begin_pessimistic(1000);
  ok(tikv_txn_put(h, K("nowait"), K("h"), NULL));
  tikv_txn_t *t = begin_pessimistic(0);
  uint64_t lock_calls = tikv_mock_call_count(mock, "KvPessimisticLock");
  tikv_future_t *f = tikv_txn_put(t, K("nowait"), K("t"), NULL);
  await_calls("KvPessimisticLock", lock_calls + 1);
  ok(tikv_txn_rollback(h, NULL)); /* the lock goes, after the request was answered */
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_LOCK_WAIT_TIMEOUT);
  tikv_future_destroy(f);
  ok(tikv_txn_rollback(t, NULL));
  tikv_txn_free(t);
  tikv_txn_free(h);
}
END_TEST

typedef struct {
  tikv_txn_t *t;
  const char *key;
  atomic_int code;
} lock_arg;

static void *lock_thread(void *p) {
  lock_arg *a = p;
  tikv_future_t *f = tikv_txn_put(a->t, K(a->key), K("x"), NULL);
  atomic_store(&a->code, tikv_future_wait(f));
  tikv_future_destroy(f);
  return NULL;
}

START_TEST(deadlock_detected) {
  tikv_txn_t *a = begin_pessimistic(10000), *b = begin_pessimistic(10000);
  ok(tikv_txn_put(a, K("dl1"), K("a"), NULL));
  ok(tikv_txn_put(b, K("dl2"), K("b"), NULL));
  pthread_t th;
  lock_arg la = {a, "dl2", -1};
  uint64_t lock_calls = tikv_mock_call_count(mock, "KvPessimisticLock");
  pthread_create(&th, NULL, lock_thread, &la);
  await_calls("KvPessimisticLock", lock_calls + 1); /* a waits for b */
  /* b waits for a: b closes the cycle, so b is the one told (as TiKV's
   * detector tells the waiter whose edge would close it) */
  tikv_future_t *f = tikv_txn_put(b, K("dl1"), K("b"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_DEADLOCK);
  const tikv_error_t *e = tikv_future_get_error(f);
  ck_assert_int_eq(tikv_error_retryable(e), 1);
  tikv_future_destroy(f);
  ck_assert_int_eq(atomic_load(&la.code), -1); /* a still waits */
  ok(tikv_txn_rollback(b, NULL)); /* b's locks go; a proceeds */
  pthread_join(th, NULL);
  ck_assert_int_eq(atomic_load(&la.code), TIKV_ERR_OK);
  commit(a);
  tikv_txn_free(a);
  tikv_txn_free(b);
  ck_assert_int_eq(read_one("dl1", "a"), 1);
  ck_assert_int_eq(read_one("dl2", "x"), 1);
}
END_TEST

/* The commit ts a commit reports is the one its writes are visible at. */
static void visible_from(uint64_t cts, const char *key, const char *value) {
  ck_assert_int_eq(read_at(cts - 1, key, NULL), 0);
  ck_assert_int_eq(read_at(cts, key, value), 1);
}

/* 2PC, async commit and 1PC, each proven by what reaches TiKV, not only by
 * the values read back. Keys in three regions ("0", "N", "z"); the 1PC keys
 * in one. */
START_TEST(two_phase_async_commit_and_one_pc) {
  const char *keys[] = {"0ac/1", "Nac/2", "zac/3"};
  /* 2PC: the primary's KvCommit, then the secondaries' in the background */
  uint64_t commits = tikv_mock_call_count(mock, "KvCommit");
  tikv_txn_t *t = begin();
  for (int i = 0; i < 3; i++) ok(tikv_txn_put(t, K(keys[i]), K("2pc"), NULL));
  uint64_t cts = commit(t);
  ck_assert_uint_gt(cts, tikv_txn_start_ts(t));
  tikv_txn_free(t);
  for (int i = 0; i < 3; i++) await_unlocked(keys[i]);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvCommit"), commits + 3); /* one per region */
  for (int i = 0; i < 3; i++) visible_from(cts, keys[i], "2pc");

  /* 1PC: one request, no KvCommit, no lock ever left */
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.try_one_pc = 1;
  t = begin_opts(&o);
  ok(tikv_txn_put(t, K("pc-1"), K("a"), NULL));
  ok(tikv_txn_put(t, K("pc-2"), K("b"), NULL));
  commits = tikv_mock_call_count(mock, "KvCommit");
  uint64_t prewrites = tikv_mock_call_count(mock, "KvPrewrite");
  cts = commit(t);
  ck_assert_uint_gt(cts, tikv_txn_start_ts(t));
  ck_assert(!locked("pc-1"));
  ck_assert(!locked("pc-2"));
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvPrewrite"), prewrites + 1);
  tikv_txn_free(t);
  visible_from(cts, "pc-1", "a");
  visible_from(cts, "pc-2", "b");
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvCommit"), commits); /* no second phase */
  /* async commit is decided at prewrite: with every KvCommit failing the
   * commit still succeeds, leaving async-commit locks at most at its ts
   * (last: its KvCommits go on being retried in the background) */
  ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "KvCommit", 14, 1000000), 0);
  const char *akeys[] = {"0ac/a1", "Nac/a2", "zac/a3"};
  tikv_txn_options_init(&o);
  o.async_commit = 1;
  t = begin_opts(&o);
  for (int i = 0; i < 3; i++) ok(tikv_txn_put(t, K(akeys[i]), K("async"), NULL));
  cts = commit(t);
  ck_assert_uint_gt(cts, tikv_txn_start_ts(t));
  uint64_t max_min = 0;
  for (int i = 0; i < 3; i++) {
    const Kvrpcpb__LockInfo *l;
    Kvrpcpb__ScanLockResponse *r = scan_lock_of(akeys[i], &l);
    ck_assert_msg(l != NULL, "%s: no lock left by the failed KvCommit", akeys[i]);
    ck_assert(l->use_async_commit);
    ck_assert_uint_eq(l->lock_version, tikv_txn_start_ts(t));
    ck_assert_uint_gt(l->min_commit_ts, tikv_txn_start_ts(t));
    if (l->min_commit_ts > max_min) max_min = l->min_commit_ts;
    if (i == 0) ck_assert_uint_eq(l->n_secondaries, 2); /* the primary lists the others */
    FREE(r);
  }
  ck_assert_uint_eq(max_min, cts); /* committed at the largest min_commit_ts */
  tikv_txn_free(t);
  tikv_mock_clear_faults(mock);
  /* a reader (or the client's own retries) commits them at that ts */
  for (int i = 0; i < 3; i++) visible_from(cts, akeys[i], "async");
  for (int i = 0; i < 3; i++) await_unlocked(akeys[i]);

}
END_TEST

/* ---- a bank: concurrent transfers, the total never changes ---- */
#define ACCOUNTS 10
#define TRANSFERS_PER_THREAD 20
#define THREADS 8
static atomic_int acked;

static void *bank_worker(void *p) {
  unsigned seed = (unsigned)(uintptr_t)p;
  for (int i = 0; i < TRANSFERS_PER_THREAD; i++) {
    int from = rand_r(&seed) % ACCOUNTS, to = (from + 1 + rand_r(&seed) % (ACCOUNTS - 1)) % ACCOUNTS;
    for (int attempt = 0; attempt < 50; attempt++) {
      tikv_txn_t *t = tikv_txn_new(client, NULL, NULL);
      tikv_future_t *f = tikv_txn_begin(t, NULL);
      int code = tikv_future_wait(f);
      tikv_future_destroy(f);
      char kf[16], kt[16];
      snprintf(kf, sizeof(kf), "acct%02d", from);
      snprintf(kt, sizeof(kt), "acct%02d", to);
      tikv_slice_t keys[2] = {{K(kf)}, {K(kt)}};
      f = tikv_txn_batch_get(t, keys, 2, NULL);
      code = code ? code : tikv_future_wait(f);
      long bf = 0, bt = 0;
      if (!code) {
        const tikv_kv_t *kvs;
        size_t n;
        tikv_future_get_kvs(f, &kvs, &n);
        for (size_t j = 0; j < n; j++) {
          long v = strtol((const char *)kvs[j].value, NULL, 10);
          if (!memcmp(kvs[j].key, kf, strlen(kf))) bf = v; else bt = v;
        }
      }
      tikv_future_destroy(f);
      if (!code) {
        char vf[32], vt[32];
        snprintf(vf, sizeof(vf), "%ld", bf - 7);
        snprintf(vt, sizeof(vt), "%ld", bt + 7);
        tikv_future_destroy(tikv_txn_put(t, K(kf), K(vf), NULL));
        tikv_future_destroy(tikv_txn_put(t, K(kt), K(vt), NULL));
        f = tikv_txn_commit(t, NULL);
        code = tikv_future_wait(f);
        tikv_future_destroy(f);
      }
      tikv_txn_free(t);
      if (code == TIKV_ERR_OK) {
        atomic_fetch_add(&acked, 1);
        break;
      }
      ck_assert_msg(tikv_err_retryable(code), "transfer failed: %s", tikv_err_name(code));
    }
  }
  return NULL;
}

static long audit(void) {
  tikv_txn_t *t = begin();
  const tikv_kv_t *kv;
  tikv_future_t *f;
  size_t n = scan_n(t, "acct", "acct~", 100, 0, &kv, &f);
  ck_assert_uint_eq(n, ACCOUNTS);
  long total = 0;
  for (size_t i = 0; i < n; i++) total += strtol((const char *)kv[i].value, NULL, 10);
  tikv_future_destroy(f);
  tikv_txn_free(t);
  return total;
}

START_TEST(bank_transfers_keep_the_total) {
  tikv_txn_t *t = begin();
  for (int i = 0; i < ACCOUNTS; i++) {
    char k[16];
    snprintf(k, sizeof(k), "acct%02d", i);
    ok(tikv_txn_put(t, K(k), K("1000"), NULL));
  }
  commit(t);
  tikv_txn_free(t);
  atomic_store(&acked, 0);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, bank_worker, (void *)(uintptr_t)(i + 1));
  for (int k = 0; k < 5; k++) {
    ck_assert_int_eq(audit(), 1000 * ACCOUNTS);
    usleep(50 * 1000);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  ck_assert_int_eq(atomic_load(&acked), THREADS * TRANSFERS_PER_THREAD);
  ck_assert_int_eq(audit(), 1000 * ACCOUNTS);
}
END_TEST

static void dead_rollback(const char *key, uint64_t start_ts) {
  route_t rt;
  ProtobufCBinaryData k = {strlen(key), (uint8_t *)key};
  Kvrpcpb__BatchRollbackRequest q = KVRPCPB__BATCH_ROLLBACK_REQUEST__INIT;
  q.context = route_to(&rt, key);
  q.start_version = start_ts;
  q.n_keys = 1;
  q.keys = &k;
  Kvrpcpb__BatchRollbackResponse *r =
      send_raw(&rt, "KvBatchRollback", &q.base, &kvrpcpb__batch_rollback_response__descriptor);
  ck_assert_ptr_null(r->error);
  FREE(r);
}

/* GC resolves every lock below the safe point, whatever its TTL, as its
 * transaction's fate says (nobody reads the keys before GC looks at the
 * locks), leaves the locks above it alone, then moves PD's safe point. */
START_TEST(gc_resolves_locks_and_moves_safe_point) {
  /* committed primary: the secondary is rolled forward */
  uint64_t t1 = now_ts();
  dead_prewrite("0gc/p1", "v1", "0gc/p1", t1, 60000);
  dead_prewrite("zgc/s1", "v1", "0gc/p1", t1, 60000);
  uint64_t c1 = now_ts();
  dead_commit("0gc/p1", t1, c1);
  /* rolled-back primary: the secondary is rolled back */
  uint64_t t2 = now_ts();
  dead_prewrite("0gc/p2", "v2", "0gc/p2", t2, 60000);
  dead_prewrite("zgc/s2", "v2", "0gc/p2", t2, 60000);
  dead_rollback("0gc/p2", t2);
  /* expired: rolled back */
  uint64_t t3 = now_ts();
  dead_prewrite("Ngc/p3", "v3", "Ngc/p3", t3, 1);
  uint64_t sp = now_ts();
  /* above the safe point: not GC's business */
  uint64_t t4 = now_ts();
  dead_prewrite("Ngc/p4", "v4", "Ngc/p4", t4, 60000);
  uint64_t scans = tikv_mock_call_count(mock, "KvScanLock");
  tikv_future_t *f = tikv_client_gc(client, sp, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f), 1);
  tikv_future_destroy(f);
  /* every region once: its locks are all decided (none alive), so it needs
   * no second look */
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvScanLock"),
                    scans + (uint64_t)tikv_mock_region_count(mock));
  const char *gone[] = {"zgc/s1", "zgc/s2", "Ngc/p3", "0gc/p1", "0gc/p2"};
  for (int i = 0; i < 5; i++) ck_assert_msg(!locked(gone[i]), "%s still locked after gc", gone[i]);
  ck_assert(locked("Ngc/p4"));
  ck_assert_uint_eq(txn_commit_ts("Ngc/p3", t3, NULL), 0);
  /* rolled forward (read at sp: a read below the safe point is refused) */
  ck_assert_int_eq(read_at(sp, "zgc/s1", "v1"), 1);
  ck_assert_int_eq(read_at(sp, "zgc/s2", NULL), 0);
  ck_assert_int_eq(read_at(sp, "Ngc/p3", NULL), 0);
  /* PD's safe point moved to sp, and only forward */
  f = tikv_client_gc(client, sp - 1000, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f), 0);
  tikv_future_destroy(f);
  ck_assert(locked("Ngc/p4"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("txn");
  TCase *tc = tcase_create("txn");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, put_commit_get);
  tcase_add_test(tc, free_while_busy);
  tcase_add_test(tc, buffered_writes_acknowledged_at_once);
  tcase_add_test(tc, batch_get_across_regions_and_binary_keys);
  tcase_add_test(tc, snapshot_isolation);
  tcase_add_test(tc, write_conflict_and_rollback);
  tcase_add_test(tc, write_skew_is_allowed);
  tcase_add_test(tc, insert_and_lock_keys);
  tcase_add_test(tc, scans_with_own_writes);
  tcase_add_test(tc, resolve_rolls_back_uncommitted);
  tcase_add_test(tc, resolve_rolls_forward_committed_primary);
  tcase_add_test(tc, async_commit_recovery_from_a_reader);
  tcase_add_test(tc, reader_pushes_a_live_lock);
  tcase_add_test(tc, reads_remember_pushed_txns_across_regions);
  tcase_add_test(tc, commit_after_primary_rolled_back_fails);
  tcase_add_test(tc, pessimistic_locks);
  tcase_add_test(tc, deadlock_detected);
  tcase_add_test(tc, no_wait_lock_is_never_queued);
  tcase_add_test(tc, two_phase_async_commit_and_one_pc);
  tcase_add_test(tc, bank_transfers_keep_the_total);
  tcase_add_test(tc, gc_resolves_locks_and_moves_safe_point);
  suite_add_tcase(s, tc);
  /* a case of its own: it waits for the first heartbeat, 10 s away */
  TCase *hb = tcase_create("heartbeat");
  tcase_add_checked_fixture(hb, setup, teardown);
  tcase_set_timeout(hb, 60);
  tcase_add_test(hb, heartbeat_extends_the_primary_lock);
  suite_add_tcase(s, hb);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
