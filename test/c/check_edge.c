/* The edges TiKV's own clients behave on, against the mock cluster: empty
 * values and missing keys (raw keeps an empty value; transactions refuse to
 * write one and read a reply without a value as a missing key), replies
 * that arrive corrupted (reads sent again, every operation settling), the
 * GC safe point (reads below it refused), RawChecksum and
 * UnsafeDestroyRange. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kvrpcpb.pb-c.h"
#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

#define K(s) (const uint8_t *)(s), strlen(s)
#define BIN(s) ((ProtobufCBinaryData){strlen(s), (uint8_t *)(s)})

static tikv_mock_cluster_t *mock;
static tikv_client_t *raw, *db;

static tikv_client_t *connect_to(uint32_t timeout_ms, int atomic) {
  tikv_config_t *cfg = tikv_config_new();
  ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(mock)), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_config_set_timeout_ms(cfg, timeout_ms), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_config_set_atomic(cfg, atomic), TIKV_ERR_OK);
  return mc_client_connected(cfg);
}

static void setup(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 3;
  o.regions = 8;
  char err[256];
  mock = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(mock != NULL, "mock: %s", err);
  raw = connect_to(8000, 1);
  db = connect_to(8000, 0);
}

static void teardown(void) {
  tikv_client_free(raw);
  tikv_client_free(db);
  tikv_mock_cluster_stop(mock);
}

/* The future's code, its message printed when it is not want. */
static int code_of(tikv_future_t *f, int want) {
  int code = tikv_future_wait(f);
  if (code != want)
    fprintf(stderr, "  (%s: %s)\n", tikv_err_name(code), tikv_error_message(tikv_future_get_error(f)));
  return code;
}

static void ok(tikv_future_t *f) {
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  tikv_future_destroy(f);
}

/* 1 found (the value compared with want), 0 not found. */
static int found(tikv_future_t *f, const char *want) {
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  const uint8_t *v;
  size_t n;
  int r = tikv_future_get_value(f, &v, &n);
  if (r == 1 && want) {
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_mem_eq(v, want, n);
  }
  tikv_future_destroy(f);
  return r;
}

/* The keys of a kvs result, joined by ",". */
static void keys_of(tikv_future_t *f, char *out, size_t cap) {
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  const tikv_kv_t *kv;
  size_t n;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kv, &n), TIKV_ERR_OK);
  out[0] = 0;
  for (size_t i = 0; i < n; i++)
    snprintf(out + strlen(out), cap - strlen(out), "%s%.*s", i ? "," : "", (int)kv[i].key_len,
             (const char *)kv[i].key);
  tikv_future_destroy(f);
}

static uint64_t timestamp(void) {
  tikv_future_t *f = tikv_client_current_timestamp(db, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  uint64_t ts;
  ck_assert_int_eq(tikv_future_get_u64(f, &ts), 1);
  tikv_future_destroy(f);
  return ts;
}

/* ---- raw: an empty value is a value ---- */

START_TEST(raw_empty_value_is_a_value) {
  ok(tikv_raw_put(raw, K("e/empty"), (const uint8_t *)"", 0, 0, NULL));
  ck_assert_int_eq(found(tikv_raw_get(raw, K("e/empty"), NULL), ""), 1);
  ck_assert_int_eq(found(tikv_raw_get(raw, K("e/missing"), NULL), NULL), 0);
  tikv_slice_t keys[] = {{K("e/b1")}, {K("e/b2")}};
  tikv_slice_t values[] = {{(const uint8_t *)"", 0}, {K("x")}};
  ok(tikv_raw_batch_put(raw, keys, 2, values, 2, 0, NULL));
  tikv_slice_t asked[] = {{K("e/b1")}, {K("e/b2")}, {K("e/missing")}, {K("e/empty")}};
  tikv_future_t *f = tikv_raw_batch_get(raw, asked, 4, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  const tikv_kv_t *kv;
  size_t n;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kv, &n), TIKV_ERR_OK);
  ck_assert_uint_eq(n, 3); /* the missing key has no pair; the empty ones do */
  ck_assert_uint_eq(kv[0].value_len, 0); /* e/b1 */
  ck_assert_uint_eq(kv[1].value_len, 1); /* e/b2 */
  ck_assert_uint_eq(kv[2].value_len, 0); /* e/empty */
  tikv_future_destroy(f);
  char got[128];
  keys_of(tikv_raw_scan(raw, K("e/"), K("e0"), 10, 0, 0, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "e/b1,e/b2,e/empty");
  /* compare-and-swap writes and compares empty values too */
  f = tikv_raw_compare_and_swap(raw, K("e/empty"), (const uint8_t *)"", 0, 0, K("full"), 0, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f), 1);
  ck_assert_int_eq(tikv_future_get_value(f, NULL, &n), 1);
  ck_assert_uint_eq(n, 0); /* it existed, empty */
  tikv_future_destroy(f);
  f = tikv_raw_compare_and_swap(raw, K("e/new"), NULL, 0, 1, (const uint8_t *)"", 0, 0, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f), 1);
  tikv_future_destroy(f);
  ck_assert_int_eq(found(tikv_raw_get(raw, K("e/new"), NULL), ""), 1);
}
END_TEST

/* ---- transactions: no empty value is written; none is read ---- */

START_TEST(txn_refuses_empty_values) {
  tikv_txn_t *t = tikv_txn_new(db, NULL, NULL);
  ok(tikv_txn_begin(t, NULL));
  tikv_future_t *f = tikv_txn_put(t, K("e/t"), (const uint8_t *)"", 0, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_INVALID_ARGUMENT), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull(strstr(tikv_error_message(tikv_future_get_error(f)), "empty value"));
  tikv_future_destroy(f);
  f = tikv_txn_insert(t, K("e/t"), (const uint8_t *)"", 0, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_INVALID_ARGUMENT), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
  ok(tikv_txn_put(t, K("e/t"), K("v"), NULL));
  f = tikv_txn_commit(t, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  tikv_future_destroy(f);
  tikv_txn_free(t);
}
END_TEST

/* Prewrites key = value (a Put) of txn start straight to the mock, and
 * commits it at commit unless commit is 0. */
static void write_direct(const char *key, const char *value, uint64_t start, uint64_t commit) {
  uint8_t *e;
  size_t el;
  ck_assert_int_eq(tikv__codec_encode_bytes(K(key), &e, &el), 0);
  uint64_t r = tikv_mock_region_for_key(mock, e, el);
  free(e);
  uint64_t store = tikv_mock_region_leader_store(mock, r);
  Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
  tikv_mock_region_epoch(mock, r, &ep.conf_ver, &ep.version);
  Metapb__Peer peer = METAPB__PEER__INIT;
  peer.store_id = store;
  peer.id = tikv_mock_region_peer_on_store(mock, r, store);
  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
  ctx.region_id = r;
  ctx.region_epoch = &ep;
  ctx.peer = &peer;
  Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT, *mp = &mu;
  mu.op = KVRPCPB__OP__Put;
  mu.key = BIN(key);
  mu.value = BIN(value);
  Kvrpcpb__PrewriteRequest pw = KVRPCPB__PREWRITE_REQUEST__INIT;
  pw.context = &ctx;
  pw.n_mutations = 1;
  pw.mutations = &mp;
  pw.primary_lock = BIN(key);
  pw.start_version = start;
  pw.lock_ttl = 3000;
  ProtobufCMessage *resp = NULL;
  const char *addr = tikv_mock_store_address(mock, store);
  ck_assert_int_eq(mc_unary(addr, "/tikvpb.Tikv/KvPrewrite", &pw.base,
                            &kvrpcpb__prewrite_response__descriptor, &resp, 5000, NULL, 0), 0);
  ck_assert_uint_eq(((Kvrpcpb__PrewriteResponse *)resp)->n_errors, 0);
  protobuf_c_message_free_unpacked(resp, NULL);
  if (!commit) return;
  Kvrpcpb__CommitRequest cm = KVRPCPB__COMMIT_REQUEST__INIT;
  ProtobufCBinaryData kb = BIN(key);
  cm.context = &ctx;
  cm.n_keys = 1;
  cm.keys = &kb;
  cm.start_version = start;
  cm.commit_version = commit;
  ck_assert_int_eq(mc_unary(addr, "/tikvpb.Tikv/KvCommit", &cm.base,
                            &kvrpcpb__commit_response__descriptor, &resp, 5000, NULL, 0), 0);
  ck_assert_ptr_null(((Kvrpcpb__CommitResponse *)resp)->error);
  protobuf_c_message_free_unpacked(resp, NULL);
}

/* What another writer (TiDB's unistore, a raw gRPC client) can leave: a
 * committed Put of an empty value. */
static void write_empty(const char *key) {
  uint64_t start = timestamp();
  write_direct(key, "", start, timestamp());
}

/* A read-only snapshot at ts (0: a fresh one). */
static tikv_txn_t *snapshot_at(tikv_client_t *c, uint64_t ts) {
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.read_only = 1;
  o.start_ts = ts;
  tikv_txn_t *s = tikv_txn_new(c, &o, NULL);
  ok(tikv_txn_begin(s, NULL));
  return s;
}

static void txn_put(const char *const *keys, size_t n) {
  tikv_txn_t *t = tikv_txn_new(db, NULL, NULL);
  ok(tikv_txn_begin(t, NULL));
  for (size_t i = 0; i < n; i++) ok(tikv_txn_put(t, K(keys[i]), K("v"), NULL));
  ok(tikv_txn_commit(t, NULL));
  tikv_txn_free(t);
}

START_TEST(txn_reply_without_value_is_not_found) {
  /* TiKV (and the mock) answer not_found = false with an empty value */
  write_empty("n/empty");
  const char *full[] = {"n/a", "n/z"};
  txn_put(full, 2);
  tikv_txn_t *s = snapshot_at(db, 0);
  ck_assert_int_eq(found(tikv_txn_get(s, K("n/empty"), NULL), NULL), 0);
  ck_assert_int_eq(found(tikv_txn_get(s, K("n/a"), NULL), "v"), 1);
  char got[128];
  tikv_slice_t keys[] = {{K("n/a")}, {K("n/empty")}, {K("n/z")}};
  keys_of(tikv_txn_batch_get(s, keys, 3, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "n/a,n/z");
  keys_of(tikv_txn_scan(s, K("n/"), K("n0"), 10, 0, 0, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "n/a,n/z");
  keys_of(tikv_txn_scan(s, K("n/"), K("n0"), 10, 0, 1, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "n/z,n/a");
  /* a key-only scan asks for no value: it cannot tell, and keeps the key */
  keys_of(tikv_txn_scan(s, K("n/"), K("n0"), 10, 1, 0, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "n/a,n/empty,n/z");
  tikv_txn_free(s);
  /* and the values a pessimistic lock returns */
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.pessimistic = 1;
  tikv_txn_t *p = tikv_txn_new(db, &o, NULL);
  ok(tikv_txn_begin(p, NULL));
  ck_assert_int_eq(found(tikv_txn_get_for_update(p, K("n/empty"), NULL), NULL), 0);
  keys_of(tikv_txn_batch_get_for_update(p, keys, 3, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "n/a,n/z");
  ok(tikv_txn_rollback(p, NULL));
  tikv_txn_free(p);
}
END_TEST

/* A scan whose reply stopped at its limit with pairs left out reads on in
 * the same region for the rest. */
START_TEST(txn_scan_reads_past_values_left_out) {
  write_empty("p/1");
  write_empty("p/2");
  write_empty("p/3");
  const char *full[] = {"p/4", "p/5"};
  txn_put(full, 2);
  tikv_txn_t *s = snapshot_at(db, 0);
  char got[128];
  keys_of(tikv_txn_scan(s, K("p/"), K("p0"), 2, 0, 0, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "p/4,p/5");
  keys_of(tikv_txn_scan(s, K("p/"), K("p0"), 1, 0, 1, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "p/5");
  keys_of(tikv_txn_scan(s, K("p/"), K("p/4"), 2, 0, 1, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "");
  tikv_txn_free(s);
}
END_TEST

/* ---- corrupted replies ---- */

START_TEST(undecodable_reads_are_sent_again) {
  ok(tikv_raw_put(raw, K("c/k"), K("value"), 0, NULL));
  uint64_t before = tikv_mock_call_count(mock, "RawGet");
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "RawGet", TIKV_MOCK_CORRUPT_UNDECODABLE, 2), 0);
  ck_assert_int_eq(found(tikv_raw_get(raw, K("c/k"), NULL), "value"), 1);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawGet") - before, 3);
  /* PD's region lookups too: a fresh client locates the key again */
  tikv_client_t *c = connect_to(8000, 0);
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "GetRegion", TIKV_MOCK_CORRUPT_UNDECODABLE, 2), 0);
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "GetStore", TIKV_MOCK_CORRUPT_UNDECODABLE, 1), 0);
  ck_assert_int_eq(found(tikv_raw_get(c, K("c/k"), NULL), "value"), 1);
  tikv_client_free(c);
  /* a transactional read */
  const char *keys[] = {"c/t"};
  txn_put(keys, 1);
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "KvGet", TIKV_MOCK_CORRUPT_UNDECODABLE, 1), 0);
  tikv_txn_t *t = tikv_txn_new(db, NULL, NULL);
  ok(tikv_txn_begin(t, NULL));
  ck_assert_int_eq(found(tikv_txn_get(t, K("c/t"), NULL), "v"), 1);
  tikv_txn_free(t);
}
END_TEST

/* Replies that decode into what was not asked are refused by their check
 * and, being reads, sent again. */
START_TEST(replies_answering_what_was_not_asked_are_sent_again) {
  ok(tikv_raw_put(raw, K("c/k"), K("value"), 0, NULL));
  tikv_slice_t keys[] = {{K("c/k")}, {K("c/missing")}};
  uint64_t before = tikv_mock_call_count(mock, "RawBatchGet");
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "RawBatchGet", TIKV_MOCK_CORRUPT_STRAY, 1), 0);
  char got[64];
  keys_of(tikv_raw_batch_get(raw, keys, 2, NULL), got, sizeof(got)); /* not FFFFFF */
  ck_assert_str_eq(got, "c/k");
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawBatchGet") - before, 2);
  before = tikv_mock_call_count(mock, "RawScan");
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "RawScan", TIKV_MOCK_CORRUPT_STRAY, 1), 0);
  keys_of(tikv_raw_scan(raw, K("c/"), K("c0"), 10, 0, 0, NULL), got, sizeof(got));
  ck_assert_str_eq(got, "c/k");
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawScan") - before, 2);
  /* PD: a region that does not hold the key asked */
  tikv_client_t *c = connect_to(8000, 0);
  before = tikv_mock_pd_call_count(mock, "GetRegion");
  uint64_t gets = tikv_mock_call_count(mock, "RawGet");
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "GetRegion", TIKV_MOCK_CORRUPT_STRAY, 1), 0);
  ck_assert_int_eq(found(tikv_raw_get(c, K("c/k"), NULL), "value"), 1);
  ck_assert_uint_eq(tikv_mock_pd_call_count(mock, "GetRegion") - before, 2);
  /* and nothing went to the region it described (id 0, from FFFFFF) */
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawGet") - gets, 1);
  tikv_client_free(c);
}
END_TEST

START_TEST(undecodable_write_reply_is_protocol) {
  /* a write is not sent again: its outcome is unknown */
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "RawPut", TIKV_MOCK_CORRUPT_UNDECODABLE, 1), 0);
  uint64_t before = tikv_mock_call_count(mock, "RawPut");
  tikv_future_t *f = tikv_raw_put(raw, K("c/w"), K("v"), 0, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_PROTOCOL), TIKV_ERR_PROTOCOL);
  ck_assert_ptr_nonnull(strstr(tikv_error_message(tikv_future_get_error(f)), "RawPut"));
  tikv_future_destroy(f);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawPut") - before, 1);
  ck_assert_int_eq(found(tikv_raw_get(raw, K("c/w"), NULL), "v"), 1); /* it was applied */
  /* a primary's commit whose reply cannot be read: it may have committed */
  tikv_txn_t *t = tikv_txn_new(db, NULL, NULL);
  ok(tikv_txn_begin(t, NULL));
  ok(tikv_txn_put(t, K("c/p"), K("v"), NULL));
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "KvCommit", TIKV_MOCK_CORRUPT_UNDECODABLE, 1), 0);
  f = tikv_txn_commit(t, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_UNDETERMINED), TIKV_ERR_UNDETERMINED);
  tikv_future_destroy(f);
  tikv_txn_free(t);
  /* a corrupted Tso reply fails the timestamps it carried, cleanly */
  ck_assert_int_eq(tikv_mock_inject_corrupt_reply(mock, "Tso", TIKV_MOCK_CORRUPT_UNDECODABLE, 1), 0);
  f = tikv_client_current_timestamp(db, NULL);
  ck_assert_int_ne(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_uint_gt(timestamp(), 0); /* and the next one comes */
}
END_TEST

/* Rounds of operations of every kind with a quarter of the replies
 * corrupted (flipped bits, cut short, or undecodable): every operation
 * settles, with its result or an error. */
START_TEST(corrupted_replies_settle) {
  enum { ROUNDS = 6, OPS = 16 };
  tikv_client_t *c = connect_to(3000, 0);
  for (int r = 0; r < ROUNDS; r++) {
    tikv_mock_inject_corrupt_reply(mock, "*", r % 3, OPS / 4); /* each mode in turn */
    tikv_future_t *f[OPS];
    tikv_txn_t *t[OPS] = {0};
    for (int i = 0; i < OPS; i++) {
      char k[32];
      snprintf(k, sizeof(k), "%c/r%d-%d", "0AFNVcks"[i % 8], r, i);
      switch (i % 8) {
        case 0: f[i] = tikv_raw_put(c, K(k), K("v"), 0, NULL); break;
        case 1: f[i] = tikv_raw_get(c, K(k), NULL); break;
        case 2: f[i] = tikv_raw_scan(c, K("0"), K("z"), 50, 0, i % 3 == 0, NULL); break;
        case 3: {
          tikv_slice_t ks[] = {{K("A")}, {K(k)}, {K("z")}};
          f[i] = tikv_raw_batch_get(c, ks, 3, NULL);
          break;
        }
        case 4: f[i] = tikv_raw_delete_range(c, K("V/"), K("V0"), NULL); break;
        case 5: f[i] = tikv_client_current_timestamp(c, NULL); break;
        default:
          t[i] = tikv_txn_new(c, NULL, NULL);
          f[i] = tikv_txn_begin(t[i], NULL);
      }
    }
    for (int i = 0; i < OPS; i++) {
      tikv_future_wait(f[i]); /* returns: the operation settled */
      ck_assert_int_eq(tikv_future_is_ready(f[i]), 1);
      if (t[i] && tikv_future_get_error_code(f[i]) == TIKV_ERR_OK) {
        tikv_future_t *g = tikv_txn_get(t[i], K("s/x"), NULL);
        tikv_future_wait(g);
        tikv_future_destroy(g);
        g = tikv_txn_put(t[i], K("s/x"), K("v"), NULL);
        tikv_future_wait(g);
        tikv_future_destroy(g);
        g = tikv_txn_commit(t[i], NULL);
        tikv_future_wait(g);
        tikv_future_destroy(g);
      }
      tikv_future_destroy(f[i]);
      tikv_txn_free(t[i]);
    }
  }
  tikv_mock_clear_faults(mock);
  ok(tikv_raw_put(c, K("s/after"), K("v"), 0, NULL)); /* the client works on */
  tikv_client_free(c);
}
END_TEST

/* ---- the GC safe point ---- */


/* The read's error, which must be the safe point's. */
static void refused_below(tikv_future_t *f, uint64_t ts, uint64_t safe_point) {
  ck_assert_int_eq(code_of(f, TIKV_ERR_TXN_ABORTED), TIKV_ERR_TXN_ABORTED);
  const tikv_error_t *e = tikv_future_get_error(f);
  char want[96];
  snprintf(want, sizeof(want), "read at ts %llu is below the GC safe point %llu",
           (unsigned long long)ts, (unsigned long long)safe_point);
  ck_assert_msg(strstr(tikv_error_message(e), want), "%s", tikv_error_message(e));
  ck_assert_str_eq(tikv_error_detail_kind(e), "gc_safe_point");
  ck_assert_uint_eq(tikv_error_start_ts(e), ts);
  tikv_future_destroy(f);
}

START_TEST(reads_below_the_gc_safe_point_are_refused) {
  const char *keys[] = {"g/k"};
  txn_put(keys, 1);
  uint64_t old_ts = timestamp();
  uint64_t asked = tikv_mock_pd_call_count(mock, "GetGCSafePoint");
  tikv_txn_t *s = snapshot_at(db, old_ts);
  ck_assert_int_eq(found(tikv_txn_get(s, K("g/k"), NULL), "v"), 1);
  ck_assert_uint_eq(tikv_mock_pd_call_count(mock, "GetGCSafePoint"), asked + 1);
  ck_assert_int_eq(found(tikv_txn_get(s, K("g/k"), NULL), "v"), 1); /* the copy serves */
  ck_assert_uint_eq(tikv_mock_pd_call_count(mock, "GetGCSafePoint"), asked + 1);
  uint64_t sp = timestamp();
  tikv_future_t *f = tikv_client_gc(db, sp, NULL);
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f), 1);
  tikv_future_destroy(f);
  /* the client's own GC moved its copy at once */
  refused_below(tikv_txn_get(s, K("g/k"), NULL), old_ts, sp);
  tikv_slice_t ks[] = {{K("g/k")}};
  refused_below(tikv_txn_batch_get(s, ks, 1, NULL), old_ts, sp);
  refused_below(tikv_txn_scan(s, K("g/"), K("g0"), 10, 0, 0, NULL), old_ts, sp);
  tikv_txn_free(s);
  s = snapshot_at(db, sp); /* at the safe point: still readable */
  ck_assert_int_eq(found(tikv_txn_get(s, K("g/k"), NULL), "v"), 1);
  tikv_txn_free(s);
  /* a client that never read asks PD */
  tikv_client_t *c = connect_to(8000, 0);
  s = snapshot_at(c, old_ts);
  refused_below(tikv_txn_get(s, K("g/k"), NULL), old_ts, sp);
  tikv_txn_free(s);
  tikv_client_free(c);
}
END_TEST

/* ---- RawChecksum ---- */

static tikv_checksum_t checksum(const char *start, const char *end) {
  tikv_future_t *f = tikv_raw_checksum(raw, K(start), K(end), NULL);
  tikv_checksum_t c = {0};
  ck_assert_int_eq(code_of(f, TIKV_ERR_OK), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_checksum(f, &c), TIKV_ERR_OK);
  tikv_future_destroy(f);
  return c;
}

START_TEST(raw_checksum_as_tikv_computes_it) {
  /* one pair: the CRC-64 of key then value, crc64fast's check value for
   * "hello world!" */
  ok(tikv_raw_put(raw, K("hello "), K("world!"), 0, NULL));
  tikv_checksum_t one = checksum("hello ", "hello!");
  ck_assert_uint_eq(one.crc64_xor, 0x8483c0fa32607d61ull);
  ck_assert_uint_eq(one.total_kvs, 1);
  ck_assert_uint_eq(one.total_bytes, 12);
  /* across regions: the XOR of each pair's, the sums of their counts */
  const char *keys[] = {"0k", "Fk", "Nk", "Vk", "ck", "kk", "sk", "zk", "zz"};
  const char *values[] = {"a", "bb", "", "dddd", "e", "ff", "g", "hhh", "i"};
  tikv_checksum_t want = one; /* "hello " is among them */
  for (size_t i = 0; i < 9; i++) {
    ok(tikv_raw_put(raw, K(keys[i]), K(values[i]), 0, NULL));
    char end[8];
    snprintf(end, sizeof(end), "%s%c", keys[i], 0x01);
    tikv_checksum_t c = checksum(keys[i], end);
    ck_assert_uint_eq(c.total_kvs, 1); /* an empty value is a pair */
    ck_assert_uint_eq(c.total_bytes, strlen(keys[i]) + strlen(values[i]));
    want.crc64_xor ^= c.crc64_xor;
    want.total_kvs += c.total_kvs;
    want.total_bytes += c.total_bytes;
  }
  uint64_t calls = tikv_mock_call_count(mock, "RawChecksum");
  tikv_checksum_t all = checksum("0", "zzz");
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawChecksum") - calls, 8); /* every region */
  ck_assert_uint_eq(all.crc64_xor, want.crc64_xor);
  ck_assert_uint_eq(all.total_kvs, want.total_kvs);
  ck_assert_uint_eq(all.total_bytes, want.total_bytes);
  ck_assert_uint_eq(all.total_kvs, 10);
  /* an empty end: to the end of the key space */
  ok(tikv_raw_put(raw, K("zzzz"), K("last"), 0, NULL));
  tikv_checksum_t last = checksum("zzzz", "zzzz\x01");
  tikv_checksum_t rest = checksum("0", "");
  ck_assert_uint_eq(rest.total_kvs, want.total_kvs + 1);
  ck_assert_uint_eq(rest.crc64_xor, want.crc64_xor ^ last.crc64_xor);
  /* nothing in it: zeros, without a request */
  calls = tikv_mock_call_count(mock, "RawChecksum");
  tikv_checksum_t none = checksum("zzz", "zzz");
  ck_assert(none.crc64_xor == 0 && none.total_kvs == 0 && none.total_bytes == 0);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawChecksum"), calls);
  tikv_future_t *f = tikv_raw_checksum(raw, NULL, 3, NULL, 0, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
}
END_TEST

/* ---- UnsafeDestroyRange ---- */

static void destroy(const char *start, const char *end, int want) {
  tikv_future_t *f = tikv_client_unsafe_destroy_range(db, K(start), K(end), NULL);
  ck_assert_int_eq(code_of(f, want), want);
  tikv_future_destroy(f);
}

START_TEST(unsafe_destroy_range_on_every_store) {
  const char *keys[] = {"u/a", "u/b", "u/c", "v/x"};
  txn_put(keys, 4);
  txn_put(keys + 1, 1); /* a second version of u/b */
  uint64_t lock_ts = timestamp();
  write_direct("u/locked", "v", lock_ts, 0); /* a lock nobody resolves */
  uint64_t before = timestamp();
  uint8_t *enc;
  size_t el;
  ck_assert_int_eq(tikv__codec_encode_bytes(K("u/b"), &enc, &el), 0);
  ok(tikv_raw_put(raw, enc, el, K("raw"), 0, NULL)); /* a raw key in the encoded range */
  uint64_t calls = tikv_mock_call_count(mock, "UnsafeDestroyRange");
  destroy("u/", "u0", TIKV_ERR_OK);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "UnsafeDestroyRange") - calls, 3);
  /* every version is gone, not only the last: a read at an earlier ts
   * finds nothing either, and no lock stops it */
  tikv_txn_t *s = snapshot_at(db, before);
  for (size_t i = 0; i < 3; i++) ck_assert_int_eq(found(tikv_txn_get(s, K(keys[i]), NULL), NULL), 0);
  ck_assert_int_eq(found(tikv_txn_get(s, K("u/locked"), NULL), NULL), 0);
  ck_assert_int_eq(found(tikv_txn_get(s, K("v/x"), NULL), "v"), 1);
  tikv_txn_free(s);
  ck_assert_int_eq(found(tikv_raw_get(raw, enc, el, NULL), NULL), 0);
  free(enc);
  destroy("u/", "u0", TIKV_ERR_OK); /* again: harmless */
  destroy("u/", "u/", TIKV_ERR_OK);
  destroy("", "u0", TIKV_ERR_INVALID_ARGUMENT);
  destroy("u/", "", TIKV_ERR_INVALID_ARGUMENT);
  destroy("u0", "u/", TIKV_ERR_INVALID_ARGUMENT);
  /* a store that cannot be reached is named */
  ck_assert_int_eq(tikv_mock_store_set_down(mock, 2, 1), 0);
  tikv_future_t *f = tikv_client_unsafe_destroy_range(db, K("w/"), K("w0"), NULL);
  ck_assert_int_ne(tikv_future_wait(f), TIKV_ERR_OK);
  const char *m = tikv_error_message(tikv_future_get_error(f));
  ck_assert_msg(strstr(m, "store 2") && !strstr(m, "store 1") && !strstr(m, "store 3"), "%s", m);
  tikv_future_destroy(f);
  ck_assert_int_eq(tikv_mock_store_set_down(mock, 2, 0), 0);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("edge");
  TCase *tc = tcase_create("edge");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, raw_empty_value_is_a_value);
  tcase_add_test(tc, txn_refuses_empty_values);
  tcase_add_test(tc, txn_reply_without_value_is_not_found);
  tcase_add_test(tc, txn_scan_reads_past_values_left_out);
  tcase_add_test(tc, undecodable_reads_are_sent_again);
  tcase_add_test(tc, replies_answering_what_was_not_asked_are_sent_again);
  tcase_add_test(tc, undecodable_write_reply_is_protocol);
  tcase_add_test(tc, corrupted_replies_settle);
  tcase_add_test(tc, reads_below_the_gc_safe_point_are_refused);
  tcase_add_test(tc, raw_checksum_as_tikv_computes_it);
  tcase_add_test(tc, unsafe_destroy_range_on_every_store);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
