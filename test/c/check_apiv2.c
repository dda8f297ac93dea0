/* The client in API v2: the key codec's golden encodings, two keyspaces
 * holding the same user keys kept apart (raw and transactional: gets,
 * scans at both ends of each keyspace, reverse scans, batch scans,
 * delete-range, CAS and TTL), API v1 and v2 clients against one cluster
 * seeing what TiKV lets them see, loading the keyspace at connect, and
 * lock resolution and GC inside a keyspace.
 * Cluster: 3 stores, regions = 4 (each keyspace range split again), API v2,
 * keyspaces DEFAULT (0), ks1 (1), ks2 (2: ks1's range ends where it
 * starts), off (3, DISABLED). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "region/apicodec.h"
#include "rpc/requests.h"
#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

#define FREE(p) protobuf_c_message_free_unpacked((ProtobufCMessage *)(p), NULL)

static tikv_mock_cluster_t *m;
static tikv_client_t *a, *b; /* ks1, ks2 */
static char msg[1024];

/* ---- the codec alone: client-go's apicodec facts, TiKV's api_version ---- */

static void hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02X", p[i]);
  out[2 * n] = 0;
}

static void is_hex(const tikv__bytes_t *b, const char *want) {
  char h[200];
  hex(b->data, b->len, h);
  ck_assert_str_eq(h, want);
}

START_TEST(codec_golden_encodings) {
  tikv__apicodec_t c;
  tikv__apicodec_init(&c, 2);
  ck_assert_ptr_nonnull(tikv__apicodec_unready(&c)); /* no keyspace yet */
  tikv__apicodec_set_keyspace(&c, 1);
  ck_assert_ptr_null(tikv__apicodec_unready(&c));
  tikv__bytes_t k = {0}, s = {0}, e = {0};
  /* 'r' / 'x', then the id in 3 bytes big-endian, then the user key */
  ck_assert_int_eq(tikv__apicodec_encode(&c, TIKV__KS_RAW, (const uint8_t *)"k", 1, &k), 0);
  is_hex(&k, "720000016B");
  ck_assert_int_eq(tikv__apicodec_encode(&c, TIKV__KS_TXN, (const uint8_t *)"k", 1, &k), 0);
  is_hex(&k, "780000016B");
  /* a range without an end ends at the next id's prefix; an empty start is
   * the keyspace's first key */
  ck_assert_int_eq(tikv__apicodec_range(&c, TIKV__KS_RAW, NULL, 0, NULL, 0, &s, &e), 0);
  is_hex(&s, "72000001");
  is_hex(&e, "72000002");
  ck_assert_int_eq(tikv__apicodec_range(&c, TIKV__KS_TXN, (const uint8_t *)"a", 1,
                                        (const uint8_t *)"b", 1, &s, &e), 0);
  is_hex(&s, "7800000161");
  is_hex(&e, "7800000162");
  /* routing: both modes memcomparable-encoded, as PD reports the regions */
  ck_assert_int_eq(tikv__apicodec_routing(&c, TIKV__KS_RAW), TIKV__KS_TXN);
  uint8_t enc[32];
  size_t el = tikv__codec_encode_bytes_into(k.data, k.len, enc);
  tikv__bytes_t eb = {enc, el};
  is_hex(&eb, "780000016B000000FC");
  ck_assert_int_eq(tikv__apicodec_range(&c, TIKV__KS_RAW, NULL, 0, NULL, 0, &s, &e), 0);
  el = tikv__codec_encode_bytes_into(s.data, s.len, enc);
  eb.len = el;
  is_hex(&eb, "7200000100000000FB"); /* where the keyspace's raw regions start */
  /* the context names the version and the keyspace */
  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
  tikv__apicodec_context(&c, &ctx);
  ck_assert_int_eq(ctx.api_version, KVRPCPB__APIVERSION__V2);
  ck_assert_uint_eq(ctx.keyspace_id, 1);
  /* replies lose the prefix; a key of another keyspace or mode is refused */
  uint8_t w[] = {'x', 0, 0, 1, 'k', 'e', 'y'};
  size_t wl = sizeof(w);
  ck_assert(tikv__apicodec_owns(&c, TIKV__KS_TXN, w, wl));
  ck_assert(!tikv__apicodec_owns(&c, TIKV__KS_RAW, w, wl));
  ck_assert_int_eq(tikv__apicodec_decode(&c, TIKV__KS_TXN, w, &wl), 0);
  ck_assert_uint_eq(wl, 3);
  ck_assert_mem_eq(w, "key", 3);
  uint8_t other[] = {'x', 0, 0, 2, 'k'};
  wl = sizeof(other);
  ck_assert_int_eq(tikv__apicodec_decode(&c, TIKV__KS_TXN, other, &wl), -1);
  ck_assert_uint_eq(wl, 5);
  /* the largest id: 3 bytes; its range ends at the next mode byte */
  tikv__apicodec_set_keyspace(&c, TIKV__KEYSPACE_ID_MAX);
  ck_assert_int_eq(tikv__apicodec_range(&c, TIKV__KS_RAW, NULL, 0, NULL, 0, &s, &e), 0);
  is_hex(&s, "72FFFFFF");
  is_hex(&e, "73000000");
  /* DEFAULT is id 0 */
  tikv__apicodec_set_keyspace(&c, 0);
  ck_assert_int_eq(tikv__apicodec_encode(&c, TIKV__KS_RAW, (const uint8_t *)"k", 1, &k), 0);
  is_hex(&k, "720000006B");
  /* API v1: keys as given, no end invented, raw routed as it is */
  tikv__apicodec_init(&c, 1);
  ck_assert_ptr_null(tikv__apicodec_unready(&c));
  ck_assert_int_eq(tikv__apicodec_encode(&c, TIKV__KS_RAW, (const uint8_t *)"k", 1, &k), 0);
  is_hex(&k, "6B");
  ck_assert_int_eq(tikv__apicodec_range(&c, TIKV__KS_TXN, NULL, 0, NULL, 0, &s, &e), 0);
  ck_assert_uint_eq(e.len, 0);
  ck_assert_int_eq(tikv__apicodec_routing(&c, TIKV__KS_RAW), TIKV__KS_RAW);
  Kvrpcpb__Context ctx1 = KVRPCPB__CONTEXT__INIT;
  tikv__apicodec_context(&c, &ctx1);
  ck_assert_int_eq(ctx1.api_version, KVRPCPB__APIVERSION__V1);
  tikv__bytes_free(&k);
  tikv__bytes_free(&s);
  tikv__bytes_free(&e);
}
END_TEST

/* ---- a cluster in API v2 ---- */

static tikv_mock_cluster_t *start_v2(void) {
  static const tikv_mock_keyspace_t ks[] = {
      {"ks1", -1, TIKV_MOCK_KEYSPACE_ENABLED},
      {"ks2", -1, TIKV_MOCK_KEYSPACE_ENABLED},
      {"off", -1, TIKV_MOCK_KEYSPACE_DISABLED},
  };
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 3;
  o.regions = 4;
  o.api_version = 2;
  o.keyspaces = ks;
  o.n_keyspaces = 3;
  char err[256];
  tikv_mock_cluster_t *x = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(x != NULL, "start: %s", err);
  return x;
}

/* A client of m, api_version 1 or 2, in keyspace name (NULL: none set). */
static tikv_client_t *client_of(int api_version, const char *name, int atomic, const char *cf,
                                int *connect_code) {
  tikv_config_t *cfg = tikv_config_new();
  ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(m)), 0);
  ck_assert_int_eq(tikv_config_set_timeout_ms(cfg, 10000), 0);
  ck_assert_int_eq(tikv_config_set_api_version(cfg, api_version), 0);
  if (name) ck_assert_int_eq(tikv_config_set_keyspace(cfg, name), 0);
  ck_assert_int_eq(tikv_config_set_atomic(cfg, atomic), 0);
  if (cf) ck_assert_int_eq(tikv_config_set_column_family(cfg, cf), 0);
  int err;
  tikv_client_t *c = tikv_client_new(cfg, &err);
  tikv_config_free(cfg);
  ck_assert_ptr_nonnull(c);
  tikv_future_t *f = tikv_client_connect(c);
  int code = tikv_future_wait(f);
  snprintf(msg, sizeof(msg), "%s", code ? tikv_error_message(tikv_future_get_error(f)) : "");
  tikv_future_destroy(f);
  if (connect_code)
    *connect_code = code;
  else
    ck_assert_msg(code == 0, "connect %s: %s", name ? name : "-", msg);
  return c;
}

static void setup(void) {
  m = start_v2();
  a = client_of(2, "ks1", 0, NULL, NULL);
  b = client_of(2, "ks2", 0, NULL, NULL);
}

static void teardown(void) {
  tikv_client_free(a);
  tikv_client_free(b);
  a = b = NULL;
  tikv_mock_cluster_stop(m);
  m = NULL;
}

/* ---- helpers over the public API ---- */
#define S(s) (const uint8_t *)(s), strlen(s)

/* The user keys both keyspaces hold: the first and last of a keyspace's
 * space among them (ks1's last key and ks2's first are neighbours on the
 * wire: 72000001FFFF, 7200000200). */
static const tikv_slice_t KEYS[] = {{(const uint8_t *)"\x00", 1}, {(const uint8_t *)"a", 1},
                                    {(const uint8_t *)"m", 1},    {(const uint8_t *)"z", 1},
                                    {(const uint8_t *)"\xff\xff", 2}};
#define N_KEYS 5

static int code_of(tikv_future_t *f) {
  int code = tikv_future_wait(f);
  snprintf(msg, sizeof(msg), "%s", code ? tikv_error_message(tikv_future_get_error(f)) : "");
  return code;
}

static void done_ok(tikv_future_t *f) {
  ck_assert_msg(code_of(f) == 0, "%s", msg);
  tikv_future_destroy(f);
}

/* Keys (printable, else \xNN) and values of a finished future, "k=v,..." */
static void pairs_of(tikv_future_t *f, char *out, size_t cap) {
  const tikv_kv_t *kvs;
  size_t n, used = 0;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kvs, &n), 0);
  out[0] = 0;
  for (size_t i = 0; i < n; i++) {
    used += snprintf(out + used, cap - used, "%s", i ? "," : "");
    for (size_t j = 0; j < kvs[i].key_len; j++) {
      uint8_t ch = kvs[i].key[j];
      used += snprintf(out + used, cap - used, ch >= 'a' && ch <= 'z' ? "%c" : "\\x%02x", ch);
    }
    if (kvs[i].value) /* NULL: a key without value (batch get values) */
      used += snprintf(out + used, cap - used, "=%.*s", (int)kvs[i].value_len,
                       (const char *)kvs[i].value);
    ck_assert_uint_lt(used, cap);
  }
}

static void expect_pairs(tikv_future_t *f, const char *want) {
  ck_assert_msg(code_of(f) == 0, "%s", msg);
  char got[1024];
  pairs_of(f, got, sizeof(got));
  ck_assert_str_eq(got, want);
  tikv_future_destroy(f);
}

/* Each keyspace writes every key with its own tag as value. */
static void raw_fill(tikv_client_t *c, const char *tag) {
  tikv_slice_t values[N_KEYS];
  for (int i = 0; i < N_KEYS; i++) values[i] = (tikv_slice_t){(const uint8_t *)tag, strlen(tag)};
  done_ok(tikv_raw_batch_put(c, KEYS, N_KEYS, values, N_KEYS, 0, NULL));
}

static void raw_scans_see_their_own(tikv_client_t *c, const char *t) {
  char all[256], rev[256];
  snprintf(all, sizeof(all), "\\x00=%s,a=%s,m=%s,z=%s,\\xff\\xff=%s", t, t, t, t, t);
  snprintf(rev, sizeof(rev), "\\xff\\xff=%s,z=%s,m=%s,a=%s,\\x00=%s", t, t, t, t, t);
  expect_pairs(tikv_raw_scan(c, NULL, 0, NULL, 0, 100, 0, 0, NULL), all);
  expect_pairs(tikv_raw_scan(c, NULL, 0, NULL, 0, 100, 0, 1, NULL), rev);
  /* the two ends of the keyspace, one pair each */
  char first[32], last[32];
  snprintf(first, sizeof(first), "\\x00=%s", t);
  snprintf(last, sizeof(last), "\\xff\\xff=%s", t);
  expect_pairs(tikv_raw_scan(c, NULL, 0, NULL, 0, 1, 0, 0, NULL), first);
  expect_pairs(tikv_raw_scan(c, NULL, 0, NULL, 0, 1, 0, 1, NULL), last);
  expect_pairs(tikv_raw_scan(c, S("n"), NULL, 0, 100, 0, 0, NULL), strstr(all, "z="));
  /* batch get and batch scan */
  tikv_slice_t some[] = {KEYS[1], KEYS[4], {S("absent")}};
  char want[64];
  snprintf(want, sizeof(want), "a=%s,\\xff\\xff=%s", t, t);
  expect_pairs(tikv_raw_batch_get(c, some, 3, NULL), want);
  /* one per key, in their order: the keys matched without their prefix */
  tikv_slice_t asked[] = {KEYS[4], {S("absent")}, KEYS[1], KEYS[1]};
  snprintf(want, sizeof(want), "\\xff\\xff=%s,absent,a=%s,a=%s", t, t, t);
  expect_pairs(tikv_raw_batch_get_values(c, asked, 4, NULL), want);
  tikv_slice_t ranges[] = {{NULL, 0}, {S("b")}, {S("y")}, {NULL, 0}};
  snprintf(want, sizeof(want), "\\x00=%s,a=%s,z=%s,\\xff\\xff=%s", t, t, t, t);
  expect_pairs(tikv_raw_batch_scan(c, ranges, 4, 10, 0, NULL), want);
}

START_TEST(raw_keyspaces_hold_the_same_keys_apart) {
  raw_fill(a, "A");
  raw_fill(b, "B");
  /* through region errors, in v2's encoded boundaries */
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawScan", 0, "epoch_not_match", 2), 0);
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawBatchGet", 0, "not_leader", 1), 0);
  raw_scans_see_their_own(a, "A");
  raw_scans_see_their_own(b, "B");
  /* DEFAULT sees neither */
  tikv_client_t *d = client_of(2, NULL, 0, NULL, NULL);
  expect_pairs(tikv_raw_scan(d, NULL, 0, NULL, 0, 100, 0, 0, NULL), "");
  /* a delete of ks1's whole space leaves ks2's */
  done_ok(tikv_raw_delete_range(a, NULL, 0, NULL, 0, NULL));
  expect_pairs(tikv_raw_scan(a, NULL, 0, NULL, 0, 100, 0, 0, NULL), "");
  expect_pairs(tikv_raw_scan(a, NULL, 0, NULL, 0, 100, 0, 1, NULL), "");
  raw_scans_see_their_own(b, "B");
  /* and a point delete one key of ks2's only */
  raw_fill(a, "A");
  done_ok(tikv_raw_delete(b, S("m"), NULL));
  expect_pairs(tikv_raw_batch_get(a, &KEYS[2], 1, NULL), "m=A");
  expect_pairs(tikv_raw_batch_get(b, &KEYS[2], 1, NULL), "");
  tikv_client_free(d);
}
END_TEST

static int64_t ttl_of(tikv_client_t *c, const char *k) {
  tikv_future_t *f = tikv_raw_get_key_ttl(c, S(k), NULL);
  ck_assert_msg(code_of(f) == 0, "%s", msg);
  uint64_t ttl;
  int has = tikv_future_get_u64(f, &ttl);
  tikv_future_destroy(f);
  return has == 1 ? (int64_t)ttl : -1;
}

/* CAS: 1 swapped, 0 not; *prev the previous value ("" when absent). */
static int cas(tikv_client_t *c, const char *k, const char *prev, const char *v, char *was) {
  tikv_future_t *f = tikv_raw_compare_and_swap(c, S(k), (const uint8_t *)prev,
                                               prev ? strlen(prev) : 0, prev == NULL, S(v), 0, NULL);
  ck_assert_msg(code_of(f) == 0, "%s", msg);
  int swapped = tikv_future_get_bool(f);
  const uint8_t *pv;
  size_t pl;
  was[0] = 0;
  if (tikv_future_get_value(f, &pv, &pl) == 1) snprintf(was, 64, "%.*s", (int)pl, (const char *)pv);
  tikv_future_destroy(f);
  return swapped;
}

START_TEST(raw_cas_and_ttl_per_keyspace) {
  tikv_client_t *a2 = client_of(2, "ks1", 1, NULL, NULL), *b2 = client_of(2, "ks2", 1, NULL, NULL);
  done_ok(tikv_raw_put(a2, S("t"), S("v"), 100, NULL));
  int64_t ttl = ttl_of(a2, "t");
  ck_assert_msg(ttl > 0 && ttl <= 100, "ttl %lld", (long long)ttl);
  ck_assert_int_eq(ttl_of(b2, "t"), -1); /* ks2 has no "t" */
  char was[64];
  ck_assert_int_eq(cas(a2, "c", NULL, "A", was), 1);
  ck_assert_int_eq(cas(b2, "c", NULL, "B", was), 1); /* ks1's "c" is not ks2's */
  ck_assert_int_eq(cas(a2, "c", "B", "X", was), 0);
  ck_assert_str_eq(was, "A");
  ck_assert_int_eq(cas(b2, "c", "B", "Y", was), 1);
  ck_assert_str_eq(was, "B");
  expect_pairs(tikv_raw_scan(a2, NULL, 0, NULL, 0, 10, 0, 0, NULL), "c=A,t=v");
  expect_pairs(tikv_raw_scan(b2, NULL, 0, NULL, 0, 10, 0, 0, NULL), "c=Y");
  tikv_client_free(a2);
  tikv_client_free(b2);
}
END_TEST

/* ---- transactions ---- */
static tikv_txn_t *begun(tikv_client_t *c) {
  int err;
  tikv_txn_t *t = tikv_txn_new(c, NULL, &err);
  done_ok(tikv_txn_begin(t, NULL));
  return t;
}

static void txn_fill(tikv_client_t *c, const char *tag) {
  tikv_txn_t *t = begun(c);
  for (int i = 0; i < N_KEYS; i++) done_ok(tikv_txn_put(t, KEYS[i].data, KEYS[i].len, S(tag), NULL));
  done_ok(tikv_txn_commit(t, NULL));
  tikv_txn_free(t);
}

static void txn_scans_see_their_own(tikv_client_t *c, const char *t) {
  char all[256], rev[256], want[64];
  snprintf(all, sizeof(all), "\\x00=%s,a=%s,m=%s,z=%s,\\xff\\xff=%s", t, t, t, t, t);
  snprintf(rev, sizeof(rev), "\\xff\\xff=%s,z=%s,m=%s,a=%s,\\x00=%s", t, t, t, t, t);
  tikv_txn_t *x = begun(c);
  expect_pairs(tikv_txn_scan(x, NULL, 0, NULL, 0, 100, 0, 0, NULL), all);
  expect_pairs(tikv_txn_scan(x, NULL, 0, NULL, 0, 100, 0, 1, NULL), rev);
  snprintf(want, sizeof(want), "\\x00=%s", t);
  expect_pairs(tikv_txn_scan(x, NULL, 0, NULL, 0, 1, 0, 0, NULL), want);
  snprintf(want, sizeof(want), "\\xff\\xff=%s", t);
  expect_pairs(tikv_txn_scan(x, NULL, 0, NULL, 0, 1, 0, 1, NULL), want);
  snprintf(want, sizeof(want), "a=%s,\\xff\\xff=%s", t, t);
  tikv_slice_t some[] = {KEYS[1], KEYS[4], {S("absent")}};
  expect_pairs(tikv_txn_batch_get(x, some, 3, NULL), want);
  tikv_txn_free(x);
}

START_TEST(txn_keyspaces_hold_the_same_keys_apart) {
  txn_fill(a, "A");
  txn_fill(b, "B");
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "KvScan", 0, "epoch_not_match", 2), 0);
  txn_scans_see_their_own(a, "A");
  txn_scans_see_their_own(b, "B");
  /* raw and transactional keys of one keyspace never meet */
  expect_pairs(tikv_raw_scan(a, NULL, 0, NULL, 0, 100, 0, 0, NULL), "");
  /* a deletion, an insert conflict and own writes stay in their keyspace */
  tikv_txn_t *x = begun(a);
  done_ok(tikv_txn_delete(x, S("m"), NULL));
  expect_pairs(tikv_txn_scan(x, S("l"), S("n"), 10, 0, 0, NULL), "");
  done_ok(tikv_txn_put(x, S("n"), S("own"), NULL));
  expect_pairs(tikv_txn_scan(x, S("l"), NULL, 0, 10, 0, 0, NULL), "n=own,z=A,\\xff\\xff=A");
  done_ok(tikv_txn_commit(x, NULL));
  tikv_txn_free(x);
  x = begun(b);
  expect_pairs(tikv_txn_scan(x, S("l"), S("o"), 10, 0, 0, NULL), "m=B");
  tikv_future_t *f = tikv_txn_insert(x, S("a"), S("again"), NULL);
  done_ok(f);
  f = tikv_txn_commit(x, NULL);
  ck_assert_int_eq(code_of(f), TIKV_ERR_ALREADY_EXIST);
  /* the key an error names is the caller's */
  size_t kl;
  const uint8_t *k = tikv_error_key(tikv_future_get_error(f), &kl);
  ck_assert_uint_eq(kl, 1);
  ck_assert_mem_eq(k, "a", 1);
  tikv_future_destroy(f);
  tikv_txn_free(x);
}
END_TEST

/* ---- API v1 and v2 against one cluster ---- */
START_TEST(v1_and_v2_clients_see_what_tikv_lets_them) {
  tikv_client_t *v1 = client_of(1, NULL, 0, NULL, NULL);
  /* raw in v1 against v2 storage: TiKV's ApiVersionNotMatched */
  tikv_future_t *f = tikv_raw_get(v1, S("a"), NULL);
  ck_assert_int_eq(code_of(f), TIKV_ERR_SERVER);
  ck_assert_msg(strstr(msg, "Api version in request does not match with TiKV storage"), "%s", msg);
  tikv_future_destroy(f);
  /* transactions in v1: TiDB's keys only */
  tikv_txn_t *x = begun(v1);
  done_ok(tikv_txn_put(x, S("t_1"), S("tidb"), NULL));
  done_ok(tikv_txn_commit(x, NULL));
  tikv_txn_free(x);
  x = begun(v1);
  done_ok(tikv_txn_put(x, S("k"), S("v1"), NULL));
  f = tikv_txn_commit(x, NULL);
  ck_assert_int_eq(code_of(f), TIKV_ERR_TXN_ABORTED);
  ck_assert_msg(strstr(msg, "InvalidKeyMode"), "%s", msg);
  tikv_future_destroy(f);
  tikv_txn_free(x);
  /* v2 keyspaces do not see TiDB's key, nor does v1 see theirs */
  txn_fill(a, "A");
  tikv_client_t *d = client_of(2, "DEFAULT", 0, NULL, NULL);
  x = begun(d);
  expect_pairs(tikv_txn_scan(x, NULL, 0, NULL, 0, 100, 0, 0, NULL), "");
  tikv_txn_free(x);
  x = begun(v1);
  /* (TiKV takes a v1 range in v2 storage only when both encoded ends are
   * TiDB's: "t".."u" is not, "t".."t\xff" is) */
  f = tikv_txn_scan(x, S("t"), S("u"), 100, 0, 0, NULL);
  ck_assert_int_eq(code_of(f), TIKV_ERR_TXN_ABORTED);
  ck_assert_msg(strstr(msg, "InvalidKeyRangeMode"), "%s", msg);
  tikv_future_destroy(f);
  expect_pairs(tikv_txn_scan(x, S("t"), S("t\xff"), 100, 0, 0, NULL), "t\\x5f\\x31=tidb");
  tikv_txn_free(x);
  tikv_client_free(d);
  tikv_client_free(v1);
}
END_TEST

START_TEST(v2_client_against_a_v1_cluster) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  char err[256];
  tikv_mock_cluster_t *v1m = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_ptr_nonnull(v1m);
  tikv_mock_cluster_t *keep = m;
  m = v1m;
  int code;
  tikv_client_t *c = client_of(2, "ks1", 0, NULL, &code);
  ck_assert_int_eq(code, TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "keyspace 'ks1' does not exist"), "%s", msg);
  tikv_client_free(c);
  m = keep;
  tikv_mock_cluster_stop(v1m);
}
END_TEST

/* ---- the keyspace at connect ---- */
START_TEST(keyspace_must_exist_be_enabled_and_loaded) {
  int code;
  tikv_client_t *c = client_of(2, "nope", 0, NULL, &code);
  ck_assert_int_eq(code, TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "keyspace 'nope' does not exist") && strstr(msg, "ErrKeyspaceNotFound"),
                "%s", msg);
  /* nothing can be sent without the keyspace */
  tikv_future_t *f = tikv_raw_get(c, S("a"), NULL);
  ck_assert_int_eq(code_of(f), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "keyspace is not loaded"), "%s", msg);
  tikv_future_destroy(f);
  int err;
  tikv_txn_t *x = tikv_txn_new(c, NULL, &err);
  done_ok(tikv_txn_begin(x, NULL));
  f = tikv_txn_get(x, S("a"), NULL);
  ck_assert_int_eq(code_of(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
  tikv_txn_free(x);
  f = tikv_client_gc(c, 1, NULL);
  ck_assert_int_eq(code_of(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
  tikv_client_free(c);
  c = client_of(2, "off", 0, NULL, &code);
  ck_assert_int_eq(code, TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "keyspace 'off' is DISABLED"), "%s", msg);
  tikv_client_free(c);
  /* a keyspace disabled later is refused at the next connect */
  ck_assert_int_eq(tikv_mock_set_keyspace_state(m, "ks2", TIKV_MOCK_KEYSPACE_ARCHIVED), 0);
  c = client_of(2, "ks2", 0, NULL, &code);
  ck_assert_msg(code == TIKV_ERR_INVALID_ARGUMENT && strstr(msg, "is ARCHIVED"), "%s", msg);
  tikv_client_free(c);
  /* options that do not fit API v2, or v1 */
  c = client_of(1, "ks1", 0, NULL, &code);
  ck_assert_msg(code == TIKV_ERR_INVALID_ARGUMENT && strstr(msg, "a keyspace needs API v2"), "%s",
                msg);
  tikv_client_free(c);
  c = client_of(2, "ks1", 0, "lock", &code);
  ck_assert_msg(code == TIKV_ERR_INVALID_ARGUMENT && strstr(msg, "no column families"), "%s", msg);
  tikv_client_free(c);
  tikv_config_t *cfg = tikv_config_new();
  ck_assert_int_eq(tikv_config_set_keyspace(cfg, "no spaces"), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(tikv_config_error(cfg), "PD's rule"), "%s", tikv_config_error(cfg));
  ck_assert_int_eq(tikv_config_set_keyspace(cfg, "abcdefghijklmnopqrstu"), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_config_set_api_version(cfg, 3), TIKV_ERR_INVALID_ARGUMENT);
  tikv_config_free(cfg);
}
END_TEST

/* ---- locks inside a keyspace, over raw gRPC (a client that dies) ---- */
typedef struct {
  uint8_t b[64];
  size_t len;
} wkey_t;

/* 'x' + the 3-byte id + key: what TiKV holds for user key `key` */
static wkey_t txn_key(uint32_t id, const char *key) {
  wkey_t w = {{'x', (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id}, 4 + strlen(key)};
  memcpy(w.b + 4, key, strlen(key));
  return w;
}
static ProtobufCBinaryData bin(wkey_t *w) { return (ProtobufCBinaryData){w->len, w->b}; }

typedef struct {
  Kvrpcpb__Context ctx;
  Metapb__RegionEpoch ep;
  Metapb__Peer peer;
  const char *addr;
} route_t;

static Kvrpcpb__Context *route_to(route_t *r, uint32_t id, wkey_t *k) {
  *r = (route_t){KVRPCPB__CONTEXT__INIT, METAPB__REGION_EPOCH__INIT, METAPB__PEER__INIT, NULL};
  uint8_t enc[96];
  size_t el = tikv__codec_encode_bytes_into(k->b, k->len, enc);
  uint64_t rid = tikv_mock_region_for_key(m, enc, el);
  uint64_t store = tikv_mock_region_leader_store(m, rid);
  tikv_mock_region_epoch(m, rid, &r->ep.conf_ver, &r->ep.version);
  r->peer.id = tikv_mock_region_peer_on_store(m, rid, store);
  r->peer.store_id = store;
  r->ctx.region_id = rid;
  r->ctx.region_epoch = &r->ep;
  r->ctx.peer = &r->peer;
  r->ctx.api_version = KVRPCPB__APIVERSION__V2;
  r->ctx.keyspace_id = id;
  r->addr = tikv_mock_store_address(m, store);
  return &r->ctx;
}

static void *send_raw(const route_t *r, tikv__req_id id, const ProtobufCMessage *req) {
  ProtobufCMessage *resp = NULL;
  ck_assert_int_eq(mc_unary(r->addr, tikv__req(id)->path, req, tikv__req(id)->resp, &resp, 5000,
                            NULL, 0),
                   0);
  return resp;
}

static uint64_t now_ts(void) {
  tikv_future_t *f = tikv_client_current_timestamp(a, NULL);
  ck_assert_int_eq(code_of(f), 0);
  uint64_t ts;
  tikv_future_get_u64(f, &ts);
  tikv_future_destroy(f);
  return ts;
}

/* A prewrite in keyspace id by a client that then dies; its primary in
 * keyspace primary_id. */
static void dead_prewrite_of(uint32_t id, const char *key, uint32_t primary_id,
                             const char *primary, uint64_t ts, uint64_t ttl) {
  wkey_t k = txn_key(id, key), p = txn_key(primary_id, primary);
  route_t rt;
  Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT, *mp = &mu;
  mu.op = KVRPCPB__OP__Put;
  mu.key = bin(&k);
  mu.value = (ProtobufCBinaryData){4, (uint8_t *)"dead"};
  Kvrpcpb__PrewriteRequest q = KVRPCPB__PREWRITE_REQUEST__INIT;
  q.context = route_to(&rt, id, &k);
  q.n_mutations = 1;
  q.mutations = &mp;
  q.primary_lock = bin(&p);
  q.start_version = ts;
  q.lock_ttl = ttl;
  q.txn_size = 1;
  Kvrpcpb__PrewriteResponse *r = send_raw(&rt, TIKV__REQ_KV_PREWRITE, &q.base);
  ck_assert_ptr_null(r->region_error);
  ck_assert_uint_eq(r->n_errors, 0);
  FREE(r);
}

static void dead_prewrite(uint32_t id, const char *key, const char *primary, uint64_t ts,
                          uint64_t ttl) {
  dead_prewrite_of(id, key, id, primary, ts, ttl);
}

static void dead_commit(uint32_t id, const char *key, uint64_t ts, uint64_t commit_ts) {
  wkey_t k = txn_key(id, key);
  route_t rt;
  ProtobufCBinaryData kb = bin(&k);
  Kvrpcpb__CommitRequest q = KVRPCPB__COMMIT_REQUEST__INIT;
  q.context = route_to(&rt, id, &k);
  q.start_version = ts;
  q.n_keys = 1;
  q.keys = &kb;
  q.commit_version = commit_ts;
  Kvrpcpb__CommitResponse *r = send_raw(&rt, TIKV__REQ_KV_COMMIT, &q.base);
  ck_assert_ptr_null(r->region_error);
  ck_assert_ptr_null(r->error);
  FREE(r);
}

/* Whether keyspace id's key holds a lock (ScanLock of that key alone). */
static bool locked(uint32_t id, const char *key) {
  wkey_t k = txn_key(id, key), e = k;
  e.b[e.len++] = 0;
  route_t rt;
  Kvrpcpb__ScanLockRequest q = KVRPCPB__SCAN_LOCK_REQUEST__INIT;
  q.context = route_to(&rt, id, &k);
  q.max_version = UINT64_MAX;
  q.start_key = bin(&k);
  q.end_key = bin(&e);
  q.limit = 10;
  Kvrpcpb__ScanLockResponse *r = send_raw(&rt, TIKV__REQ_KV_SCAN_LOCK, &q.base);
  ck_assert_ptr_null(r->region_error);
  bool yes = r->n_locks > 0;
  FREE(r);
  return yes;
}

static int txn_get(tikv_client_t *c, const char *k, const char *want) {
  tikv_txn_t *x = begun(c);
  tikv_future_t *f = tikv_txn_get(x, S(k), NULL);
  ck_assert_msg(code_of(f) == 0, "%s", msg);
  const uint8_t *v;
  size_t vl;
  int found = tikv_future_get_value(f, &v, &vl);
  if (found == 1 && want) {
    ck_assert_uint_eq(vl, strlen(want));
    ck_assert_mem_eq(v, want, vl);
  }
  tikv_future_destroy(f);
  tikv_txn_free(x);
  return found;
}

/* The locks a reader meets name prefixed keys (its own and its primary):
 * resolved as they are, in the reader's keyspace only. */
START_TEST(lock_resolution_inside_a_keyspace) {
  uint64_t t1 = now_ts();
  dead_prewrite(1, "L", "L", t1, 1);     /* ks1: expired, rolled back by a reader */
  dead_prewrite(2, "L", "L", t1, 60000); /* ks2: alive, none of ks1's business */
  ck_assert_int_eq(txn_get(a, "L", NULL), 0);
  ck_assert(!locked(1, "L"));
  ck_assert(locked(2, "L"));
  /* a committed primary rolls its secondary forward */
  uint64_t t2 = now_ts();
  dead_prewrite(1, "P", "P", t2, 60000);
  dead_prewrite(1, "S", "P", t2, 60000);
  dead_commit(1, "P", t2, now_ts());
  ck_assert_int_eq(txn_get(a, "S", "dead"), 1);
  ck_assert(!locked(1, "S"));
  /* and ks2's live lock was never touched by ks1's readers */
  ck_assert(locked(2, "L"));
  /* a lock in ks1 naming a primary in ks2 (TiKV does not look): ks1's
   * reader refuses to resolve it rather than touch ks2's key */
  uint64_t t3 = now_ts();
  dead_prewrite(2, "Q", "Q", t3, 1);
  dead_prewrite_of(1, "F", 2, "Q", t3, 1);
  tikv_txn_t *x = begun(a);
  tikv_future_t *f = tikv_txn_get(x, S("F"), NULL);
  ck_assert_int_eq(code_of(f), TIKV_ERR_PROTOCOL);
  ck_assert_msg(strstr(msg, "outside keyspace 1"), "%s", msg);
  tikv_future_destroy(f);
  tikv_txn_free(x);
  ck_assert(locked(2, "Q"));
  ck_assert(locked(1, "F"));
}
END_TEST

START_TEST(gc_inside_a_keyspace) {
  uint64_t t = now_ts();
  dead_prewrite(1, "G", "G", t, 1);
  dead_prewrite(2, "G", "G", t, 1);
  uint64_t sp = now_ts();
  uint64_t scans = tikv_mock_call_count(m, "KvScanLock");
  tikv_future_t *f = tikv_client_gc(a, sp, NULL);
  ck_assert_msg(code_of(f) == 0, "%s", msg);
  tikv_future_destroy(f);
  /* ks1's transactional regions only (4), never ks2's */
  ck_assert_uint_eq(tikv_mock_call_count(m, "KvScanLock") - scans, 4);
  ck_assert(!locked(1, "G"));
  ck_assert(locked(2, "G"));
  f = tikv_client_gc(b, sp, NULL);
  ck_assert_msg(code_of(f) == 0, "%s", msg);
  tikv_future_destroy(f);
  ck_assert(!locked(2, "G"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("apiv2");
  TCase *codec = tcase_create("codec");
  tcase_add_test(codec, codec_golden_encodings);
  suite_add_tcase(s, codec);
  TCase *ks = tcase_create("keyspaces");
  tcase_add_checked_fixture(ks, setup, teardown);
  tcase_set_timeout(ks, 60);
  tcase_add_test(ks, raw_keyspaces_hold_the_same_keys_apart);
  tcase_add_test(ks, raw_cas_and_ttl_per_keyspace);
  tcase_add_test(ks, txn_keyspaces_hold_the_same_keys_apart);
  tcase_add_test(ks, v1_and_v2_clients_see_what_tikv_lets_them);
  tcase_add_test(ks, v2_client_against_a_v1_cluster);
  tcase_add_test(ks, keyspace_must_exist_be_enabled_and_loaded);
  tcase_add_test(ks, lock_resolution_inside_a_keyspace);
  tcase_add_test(ks, gc_inside_a_keyspace);
  suite_add_tcase(s, ks);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
