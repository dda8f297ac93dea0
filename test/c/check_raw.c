/* Integration tests: every raw operation against the mock cluster (3 stores,
 * 8 regions), across region boundaries, through injected region errors,
 * deadlines, a silent PD, stores going away, and close. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

static tikv_mock_cluster_t *mock;
static tikv_client_t *client;

static tikv_mock_cluster_t *start_mock(int stores, int regions, int ttl) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = stores;
  o.regions = regions;
  o.enable_ttl = ttl;
  char err[256];
  tikv_mock_cluster_t *m = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(m != NULL, "mock: %s", err);
  return m;
}

static tikv_client_t *connect_to(tikv_mock_cluster_t *m, uint32_t timeout_ms, int atomic,
                                 const char *cf) {
  tikv_config_t *cfg = tikv_config_new();
  ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(m)), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_config_set_timeout_ms(cfg, timeout_ms), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_config_set_atomic(cfg, atomic), TIKV_ERR_OK);
  if (cf) ck_assert_int_eq(tikv_config_set_column_family(cfg, cf), TIKV_ERR_OK);
  int err;
  tikv_client_t *c = tikv_client_new(cfg, &err);
  tikv_config_free(cfg);
  ck_assert_ptr_nonnull(c);
  tikv_future_t *f = tikv_client_connect(c);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_uint_eq(tikv_client_cluster_id(c), tikv_mock_cluster_id(m));
  return c;
}

static void setup(void) {
  mock = start_mock(3, 8, 1);
  client = connect_to(mock, 10000, 0, NULL);
}

static void teardown(void) {
  tikv_client_free(client);
  client = NULL;
  tikv_mock_cluster_stop(mock);
  mock = NULL;
}

#define K(s) (const uint8_t *)(s), strlen(s)

/* Waits and returns the error code, printing the message on failure. */
static int wait_code(tikv_future_t *f) {
  int code = tikv_future_wait(f);
  if (code != TIKV_ERR_OK && code != TIKV_ERR_INVALID_ARGUMENT)
    fprintf(stderr, "  (%s: %s)\n", tikv_err_name(code), tikv_error_message(tikv_future_get_error(f)));
  return code;
}

static void put_ok(tikv_client_t *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl) {
  tikv_future_t *f = tikv_raw_put(c, k, kl, v, vl, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
}

/* 1 found (value compared), 0 absent; the call's options o (NULL: the client's) */
static int get_is_with(tikv_client_t *c, const uint8_t *k, size_t kl, const uint8_t *want,
                       size_t wl, const tikv_call_opts_t *o) {
  tikv_future_t *f = tikv_raw_get(c, k, kl, o);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const uint8_t *v;
  size_t vl;
  int found = tikv_future_get_value(f, &v, &vl);
  if (found == 1 && want) {
    ck_assert_uint_eq(vl, wl);
    ck_assert_mem_eq(v, want, wl);
  }
  tikv_future_destroy(f);
  return found;
}
static int get_is(tikv_client_t *c, const uint8_t *k, size_t kl, const uint8_t *want, size_t wl) {
  return get_is_with(c, k, kl, want, wl, NULL);
}

/* Region lookups PD has answered (every method that returns regions). */
static uint64_t pd_region_lookups(tikv_mock_cluster_t *m) {
  return tikv_mock_pd_call_count(m, "GetRegion") + tikv_mock_pd_call_count(m, "GetPrevRegion") +
         tikv_mock_pd_call_count(m, "GetRegionByID") + tikv_mock_pd_call_count(m, "ScanRegions");
}

/* Waits (bounded) until the mock has counted `n` calls of method (see
 * mc_await_count). */
static void await_calls(const char *method, uint64_t n) {
  ck_assert_uint_ge(mc_await_count(tikv_mock_call_count, mock, method, n, 10000), n);
}

/* The keys of a finished scan or batch get, in order, joined by ",". */
static void keys_of(tikv_future_t *f, char *out, size_t cap) {
  const tikv_kv_t *kvs;
  size_t n;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kvs, &n), TIKV_ERR_OK);
  size_t used = 0;
  out[0] = 0;
  for (size_t i = 0; i < n; i++) {
    int w = snprintf(out + used, cap - used, "%s%.*s", i ? "," : "", (int)kvs[i].key_len,
                     (const char *)kvs[i].key);
    ck_assert(w > 0 && (size_t)w < cap - used);
    used += (size_t)w;
  }
}

START_TEST(put_get_delete) {
  put_ok(client, K("apple"), K("red"));
  ck_assert_int_eq(get_is(client, K("apple"), K("red")), 1);
  put_ok(client, K("apple"), K("green"));
  ck_assert_int_eq(get_is(client, K("apple"), K("green")), 1);
  ck_assert_int_eq(get_is(client, K("missing"), NULL, 0), 0);
  tikv_future_t *f = tikv_raw_delete(client, K("apple"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_int_eq(get_is(client, K("apple"), NULL, 0), 0);
}
END_TEST

START_TEST(binary_keys_and_big_values) {
  const uint8_t k1[] = {0, 0, 1, 0xff, 0};
  const uint8_t k2[] = {0xff, 0xff, 0, 0};
  const uint8_t v1[] = {0, 1, 0, 2};
  put_ok(client, k1, sizeof(k1), v1, sizeof(v1));
  put_ok(client, k2, sizeof(k2), v1, 1);
  ck_assert_int_eq(get_is(client, k1, sizeof(k1), v1, sizeof(v1)), 1);
  ck_assert_int_eq(get_is(client, k2, sizeof(k2), v1, 1), 1);
  ck_assert_int_eq(get_is(client, k1, 4, NULL, 0), 0); /* a prefix is another key */
  size_t big = 6 << 20;
  uint8_t *v = malloc(big);
  for (size_t i = 0; i < big; i++) v[i] = (uint8_t)(i * 7);
  put_ok(client, K("big"), v, big);
  ck_assert_int_eq(get_is(client, K("big"), v, big), 1);
  free(v);
}
END_TEST

START_TEST(empty_value_and_bad_arguments) {
  /* an empty value is a value (check_edge has the rest of its rules) */
  put_ok(client, K("k"), (const uint8_t *)"", 0);
  ck_assert_int_eq(get_is(client, K("k"), (const uint8_t *)"", 0), 1);
  tikv_future_t *f = tikv_raw_scan(client, K("a"), K("b"), TIKV_RAW_MAX_SCAN_LIMIT + 1, 0, 0, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
  tikv_slice_t keys[2] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}};
  f = tikv_raw_batch_put(client, keys, 2, keys, 1, 0, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
  f = tikv_raw_get(NULL, K("a"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
  f = tikv_raw_get(client, NULL, 3, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
  f = tikv_raw_delete_range(client, K("b"), K("a"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
  f = tikv_raw_compare_and_swap(client, K("a"), NULL, 0, 1, K("v"), 0, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_UNSUPPORTED);
  tikv_future_destroy(f);
  tikv_config_t *cfg = tikv_config_new();
  ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, "nocolon"), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_config_set_column_family(cfg, "nope"), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_config_set_timeout_ms(cfg, 0), TIKV_ERR_INVALID_ARGUMENT);
  int err;
  ck_assert_ptr_null(tikv_client_new(cfg, &err)); /* no PD endpoint */
  ck_assert_int_eq(err, TIKV_ERR_INVALID_ARGUMENT);
  tikv_config_free(cfg);
}
END_TEST

/* n keys "<letter><i>" spread over every region */
static void make_keys(size_t n, tikv_slice_t *keys, tikv_slice_t *vals, char (*kb)[16],
                      char (*vb)[16]) {
  const char *alpha = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (size_t i = 0; i < n; i++) {
    snprintf(kb[i], 16, "%c%05zu", alpha[i % 62], i);
    snprintf(vb[i], 16, "v%zu", i);
    keys[i] = (tikv_slice_t){(const uint8_t *)kb[i], strlen(kb[i])};
    vals[i] = (tikv_slice_t){(const uint8_t *)vb[i], strlen(vb[i])};
  }
}

START_TEST(batches_across_regions) {
  enum { N = 1000 };
  static tikv_slice_t keys[N], vals[N];
  static char kb[N][16], vb[N][16];
  make_keys(N, keys, vals, kb, vb);
  tikv_future_t *f = tikv_raw_batch_put(client, keys, N, vals, N, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  /* every region got a part */
  ck_assert_uint_ge(tikv_mock_call_count(mock, "RawBatchPut"), 8);

  tikv_slice_t q[N + 1];
  memcpy(q, keys, sizeof(keys));
  q[N] = (tikv_slice_t){(const uint8_t *)"absent", 6};
  f = tikv_raw_batch_get(client, q, N + 1, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const tikv_kv_t *kvs;
  size_t n;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kvs, &n), TIKV_ERR_OK);
  ck_assert_uint_eq(n, N);
  for (size_t i = 1; i < n; i++)
    ck_assert_int_lt(memcmp(kvs[i - 1].key, kvs[i].key, 6), 0); /* sorted */
  for (size_t i = 0; i < n; i++) {
    /* value "v<i>" for key "<c><i>" */
    size_t idx = (size_t)atoi((const char *)kvs[i].key + 1);
    ck_assert_uint_eq(kvs[i].value_len, strlen(vb[idx]));
    ck_assert_mem_eq(kvs[i].value, vb[idx], kvs[i].value_len);
  }
  tikv_future_destroy(f);

  f = tikv_raw_batch_delete(client, keys, N / 2, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  f = tikv_raw_batch_get(client, keys, N, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, N - N / 2);
  tikv_future_destroy(f);

  f = tikv_raw_batch_get(client, NULL, 0, NULL); /* an empty batch is fine */
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 0);
  tikv_future_destroy(f);
}
END_TEST

/* One result per key, in the keys' order: reversed, across every region,
 * with a key missing, one given twice and an empty value. */
START_TEST(batch_get_values_follow_the_keys) {
  enum { N = 1000 };
  static tikv_slice_t keys[N], vals[N], q[N + 3];
  static char kb[N][16], vb[N][16];
  make_keys(N, keys, vals, kb, vb);
  vals[7].len = 0; /* stored empty */
  tikv_future_t *f = tikv_raw_batch_put(client, keys, N, vals, N, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  for (size_t i = 0; i < N; i++) q[i] = keys[N - 1 - i];
  q[N] = (tikv_slice_t){(const uint8_t *)"absent", 6};
  q[N + 1] = keys[3];
  q[N + 2] = keys[7];
  f = tikv_raw_batch_get_values(client, q, N + 3, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const tikv_kv_t *kvs;
  size_t n;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kvs, &n), TIKV_ERR_OK);
  ck_assert_uint_eq(n, N + 3);
  for (size_t i = 0; i < N + 3; i++) {
    ck_assert_uint_eq(kvs[i].key_len, q[i].len);
    ck_assert_mem_eq(kvs[i].key, q[i].data, q[i].len);
    if (i == N) {
      ck_assert_ptr_null(kvs[i].value);
      continue;
    }
    size_t idx = i < N ? N - 1 - i : i == N + 1 ? 3 : 7;
    ck_assert_ptr_nonnull(kvs[i].value);
    ck_assert_uint_eq(kvs[i].value_len, vals[idx].len);
    ck_assert_mem_eq(kvs[i].value, vals[idx].data, vals[idx].len);
  }
  ck_assert_uint_eq(kvs[N - 1 - 7].value_len, 0); /* empty, not missing */
  tikv_future_destroy(f);

  f = tikv_raw_batch_get_values(client, NULL, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 0);
  tikv_future_destroy(f);
  f = tikv_raw_batch_get_values(client, NULL, 2, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(f);
}
END_TEST

/* A region's keys go in chunks of client-go's raw batch size (512 pairs). */
START_TEST(batches_are_chunked) {
  enum { N = 1100 };
  static tikv_slice_t keys[N];
  static char kb[N][8];
  for (int i = 0; i < N; i++) {
    snprintf(kb[i], sizeof(kb[i]), "c%04d", i); /* all in region ["c", "k") */
    keys[i] = (tikv_slice_t){(const uint8_t *)kb[i], 5};
  }
  uint64_t r = tikv_mock_region_for_key(mock, K("c0000"));
  ck_assert_uint_eq(tikv_mock_region_for_key(mock, K("c1099")), r);
  uint64_t puts = tikv_mock_call_count(mock, "RawBatchPut");
  tikv_future_t *f = tikv_raw_batch_put(client, keys, N, keys, N, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawBatchPut"), puts + 3);
  uint64_t gets = tikv_mock_call_count(mock, "RawBatchGet");
  f = tikv_raw_batch_get(client, keys, N, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  size_t n;
  tikv_future_get_kvs(f, NULL, &n);
  ck_assert_uint_eq(n, N);
  tikv_future_destroy(f);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawBatchGet"), gets + 3);
}
END_TEST

/* The keys of a finished batch get: how many, each with the value that
 * make_keys' value i has with the given prefix ("" for make_keys' own). */
static size_t batch_values_are(tikv_future_t *f, const char *prefix) {
  const tikv_kv_t *kvs;
  size_t n;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kvs, &n), TIKV_ERR_OK);
  for (size_t i = 0; i < n; i++) {
    char want[32];
    snprintf(want, sizeof(want), "%sv%d", prefix, atoi((const char *)kvs[i].key + 1));
    ck_assert_uint_eq(kvs[i].value_len, strlen(want));
    ck_assert_mem_eq(kvs[i].value, want, kvs[i].value_len);
  }
  return n;
}

/* A batch's part that meets a region error is grouped again (from the
 * cache, or PD) and sent again: every key of a batch put, get and delete
 * over all regions is done, whichever region error each region's part
 * meets first; each failed part costs one request more, no key is dropped.
 * A split under a cached part makes it two. */
START_TEST(batch_parts_regrouped_after_region_errors) {
  enum { N = 64 };
  static tikv_slice_t keys[N], vals[N];
  static char kb[N][16], vb[N][16], nb[N][24];
  static const char *kinds[] = {"epoch_not_match", "not_leader", "region_not_found",
                                "key_not_in_region"};
  make_keys(N, keys, vals, kb, vb); /* first bytes 0-9A-Za-z: every region */
  tikv_future_t *f = tikv_raw_batch_put(client, keys, N, vals, N, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK); /* and the cache knows every region */
  tikv_future_destroy(f);
  uint64_t nreg = (uint64_t)tikv_mock_region_count(mock);
  tikv_slice_t nv[N];
  for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
    char prefix[8];
    snprintf(prefix, sizeof(prefix), "%zu-", k);
    for (int i = 0; i < N; i++) {
      snprintf(nb[i], sizeof(nb[i]), "%sv%d", prefix, i);
      nv[i] = (tikv_slice_t){(const uint8_t *)nb[i], strlen(nb[i])};
    }
    /* the first nreg requests fail: one per region's part, or a retry */
    uint64_t calls = tikv_mock_call_count(mock, "RawBatchPut");
    ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawBatchPut", 0, kinds[k], (int)nreg), 0);
    f = tikv_raw_batch_put(client, keys, N, nv, N, 0, NULL);
    ck_assert_msg(wait_code(f) == TIKV_ERR_OK, "batch put after %s", kinds[k]);
    tikv_future_destroy(f);
    ck_assert_uint_eq(tikv_mock_call_count(mock, "RawBatchPut"), calls + 2 * nreg);

    calls = tikv_mock_call_count(mock, "RawBatchGet");
    ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawBatchGet", 0, kinds[k], (int)nreg), 0);
    f = tikv_raw_batch_get(client, keys, N, NULL);
    ck_assert_msg(wait_code(f) == TIKV_ERR_OK, "batch get after %s", kinds[k]);
    ck_assert_msg(batch_values_are(f, prefix) == N, "batch get after %s", kinds[k]);
    tikv_future_destroy(f);
    ck_assert_uint_eq(tikv_mock_call_count(mock, "RawBatchGet"), calls + 2 * nreg);

    calls = tikv_mock_call_count(mock, "RawBatchDelete");
    ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawBatchDelete", 0, kinds[k], (int)nreg), 0);
    f = tikv_raw_batch_delete(client, keys, N, NULL);
    ck_assert_msg(wait_code(f) == TIKV_ERR_OK, "batch delete after %s", kinds[k]);
    tikv_future_destroy(f);
    ck_assert_uint_eq(tikv_mock_call_count(mock, "RawBatchDelete"), calls + 2 * nreg);
    f = tikv_raw_batch_get(client, keys, N, NULL);
    ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
    ck_assert_msg(batch_values_are(f, "") == 0, "keys left after a batch delete with %s", kinds[k]);
    tikv_future_destroy(f);
    f = tikv_raw_batch_put(client, keys, N, vals, N, 0, NULL);
    ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
    tikv_future_destroy(f);
  }
  /* a split under the cached region of "O.." "P.." "Q..": its part meets a
   * real EpochNotMatch and goes on as two parts */
  ck_assert_uint_ne(tikv_mock_split_region(mock, K("P")), 0);
  uint64_t calls = tikv_mock_call_count(mock, "RawBatchGet");
  f = tikv_raw_batch_get(client, keys, N, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_uint_eq(batch_values_are(f, ""), N);
  tikv_future_destroy(f);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawBatchGet"), calls + nreg + 2);
}
END_TEST

/* EpochNotMatch carries the regions that now cover the old one: put in the
 * cache, they make the retry (and later requests) need no PD lookup. */
START_TEST(epoch_not_match_current_regions_spare_pd) {
  put_ok(client, K("e001"), K("left"));
  put_ok(client, K("e020"), K("right"));
  ck_assert_int_eq(get_is(client, K("e001"), K("left")), 1); /* the region is cached */
  uint64_t rid = tikv_mock_region_for_key(mock, K("e001"));
  ck_assert_uint_ne(tikv_mock_split_region(mock, K("e010")), 0);
  uint64_t right = tikv_mock_region_for_key(mock, K("e020"));
  ck_assert_uint_ne(right, rid);
  uint64_t lookups = pd_region_lookups(mock);
  uint64_t gets = tikv_mock_call_count(mock, "RawGet");
  ck_assert_int_eq(get_is(client, K("e020"), K("right")), 1); /* sent to the old region */
  ck_assert_uint_ge(tikv_mock_call_count(mock, "RawGet"), gets + 2); /* EpochNotMatch, retry */
  ck_assert_int_eq(get_is(client, K("e001"), K("left")), 1);
  tikv_slice_t both[2] = {{K("e001")}, {K("e020")}};
  tikv_future_t *f = tikv_raw_batch_get(client, both, 2, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  char got[64];
  keys_of(f, got, sizeof(got));
  ck_assert_str_eq(got, "e001,e020");
  tikv_future_destroy(f);
  ck_assert_uint_eq(pd_region_lookups(mock), lookups);
}
END_TEST

/* NotLeader naming the new leader: the cache follows it, no PD lookup. */
START_TEST(not_leader_hint_spares_pd) {
  put_ok(client, K("nl-key"), K("v"));
  uint64_t rid = tikv_mock_region_for_key(mock, K("nl-key"));
  uint64_t leader = tikv_mock_region_leader_store(mock, rid);
  ck_assert_int_eq(tikv_mock_transfer_leader(mock, rid, leader % 3 + 1), 0);
  uint64_t lookups = pd_region_lookups(mock);
  uint64_t gets = tikv_mock_call_count(mock, "RawGet");
  ck_assert_int_eq(get_is(client, K("nl-key"), K("v")), 1);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawGet"), gets + 2); /* NotLeader, then the leader */
  ck_assert_int_eq(get_is(client, K("nl-key"), K("v")), 1);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawGet"), gets + 3);
  ck_assert_uint_eq(pd_region_lookups(mock), lookups);
}
END_TEST

/* A reverse scan whose end is exactly a region's start key: the end belongs
 * to the region before, which a fresh client (nothing cached) learns from
 * GetPrevRegion; forward, the same bound needs no such lookup. */
START_TEST(reverse_scan_from_a_region_start_on_a_fresh_client) {
  uint64_t rid = tikv_mock_region_id_at(mock, 2); /* [enc "F", enc "N") */
  uint8_t b[32], e[32];
  size_t bl, el;
  ck_assert_int_eq(tikv_mock_region_bounds(mock, rid, b, sizeof(b), &bl, e, sizeof(e), &el), 0);
  put_ok(client, K("E1"), K("1"));
  put_ok(client, K("E2"), K("2"));
  put_ok(client, b, bl, K("at")); /* the boundary itself: excluded */
  put_ok(client, K("G1"), K("3"));
  for (int dir = 1; dir >= 0; dir--) {
    tikv_client_t *c = connect_to(mock, 3000, 0, NULL);
    uint64_t prev = tikv_mock_pd_call_count(mock, "GetPrevRegion");
    tikv_future_t *f = tikv_raw_scan(c, K("A"), b, bl, 10, 0, dir, NULL);
    ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
    char got[64];
    keys_of(f, got, sizeof(got));
    ck_assert_str_eq(got, dir ? "E2,E1" : "E1,E2");
    tikv_future_destroy(f);
    ck_assert_uint_eq(tikv_mock_pd_call_count(mock, "GetPrevRegion"), prev + (dir ? 1 : 0));
    tikv_client_free(c);
  }
}
END_TEST

static void put_range(const char *prefix, int n) {
  for (int i = 0; i < n; i++) {
    char k[32];
    snprintf(k, sizeof(k), "%s%03d", prefix, i);
    put_ok(client, K(k), K(k));
  }
}

START_TEST(scans_across_regions) {
  /* keys on both sides of the boundaries "c", "k" and "s" */
  put_range("b", 20);
  put_range("c", 20);
  put_range("j", 20);
  put_range("k", 20);
  put_range("t", 20);
  tikv_future_t *f = tikv_raw_scan(client, K("b"), K("k010"), 1000, 0, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const tikv_kv_t *kvs;
  size_t n;
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 70);
  ck_assert_mem_eq(kvs[0].key, "b000", 4);
  ck_assert_mem_eq(kvs[69].key, "k009", 4);
  ck_assert_mem_eq(kvs[69].value, "k009", 4);
  for (size_t i = 1; i < n; i++)
    ck_assert_int_lt(memcmp(kvs[i - 1].key, kvs[i].key, 4), 0);
  tikv_future_destroy(f);

  /* limit stops inside the second region: two regions asked, no more */
  uint64_t scans = tikv_mock_call_count(mock, "RawScan");
  f = tikv_raw_scan(client, K("b"), NULL, 0, 25, 1, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 25);
  ck_assert_mem_eq(kvs[24].key, "c004", 4);
  ck_assert_ptr_null(kvs[24].value); /* keys only */
  tikv_future_destroy(f);
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawScan"), scans + 2);

  /* reverse, across three boundaries, from an unbounded end */
  f = tikv_raw_scan(client, K("b010"), NULL, 0, 1000, 0, 1, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 90);
  ck_assert_mem_eq(kvs[0].key, "t019", 4);
  ck_assert_mem_eq(kvs[89].key, "b010", 4);
  for (size_t i = 1; i < n; i++)
    ck_assert_int_gt(memcmp(kvs[i - 1].key, kvs[i].key, 4), 0);
  tikv_future_destroy(f);

  /* reverse with an end exactly on a region boundary ("k" encoded is not "k",
   * so use a raw key that is a boundary byte string) and a limit */
  f = tikv_raw_scan(client, K("a"), K("k"), 5, 0, 1, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 5);
  ck_assert_mem_eq(kvs[0].key, "j019", 4);
  ck_assert_mem_eq(kvs[4].key, "j015", 4);
  tikv_future_destroy(f);

  /* batch scan: ranges in the order given, each limited */
  tikv_slice_t ranges[4] = {{K("t")}, {K("u")}, {K("b")}, {K("c")}};
  f = tikv_raw_batch_scan(client, ranges, 4, 3, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 6);
  ck_assert_mem_eq(kvs[0].key, "t000", 4);
  ck_assert_mem_eq(kvs[3].key, "b000", 4);
  tikv_future_destroy(f);

  /* a fresh client walking every region loads them with ScanRegions, not
   * one GetRegion per region */
  tikv_client_t *fresh = connect_to(mock, 10000, 0, NULL);
  uint64_t gr = tikv_mock_pd_call_count(mock, "GetRegion");
  uint64_t sr = tikv_mock_pd_call_count(mock, "ScanRegions");
  f = tikv_raw_scan(fresh, K(""), NULL, 0, 1000, 1, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 100);
  tikv_future_destroy(f);
  ck_assert_uint_ge(tikv_mock_pd_call_count(mock, "ScanRegions"), sr + 1);
  ck_assert_uint_eq(tikv_mock_pd_call_count(mock, "GetRegion"), gr);
  tikv_client_free(fresh);

  /* empty and inverted ranges answer nothing */
  f = tikv_raw_scan(client, K("z"), K("a"), 10, 0, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 0);
  tikv_future_destroy(f);
}
END_TEST

START_TEST(delete_range_across_regions) {
  put_range("b", 10);
  put_range("d", 10);
  put_range("m", 10);
  put_range("u", 10);
  tikv_future_t *f = tikv_raw_delete_range(client, K("b005"), K("m005"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  f = tikv_raw_scan(client, K(""), NULL, 0, 1000, 1, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const tikv_kv_t *kvs;
  size_t n;
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 5 + 5 + 10);
  ck_assert_mem_eq(kvs[4].key, "b004", 4);
  ck_assert_mem_eq(kvs[5].key, "m005", 4);
  tikv_future_destroy(f);
  /* unbounded end */
  f = tikv_raw_delete_range(client, K("m"), NULL, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  f = tikv_raw_scan(client, K(""), NULL, 0, 1000, 1, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 5);
  tikv_future_destroy(f);
}
END_TEST

START_TEST(ttl_and_expiry) {
  tikv_future_t *f = tikv_raw_put(client, K("t1"), K("v"), 1, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  f = tikv_raw_put(client, K("t100"), K("v"), 100, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  put_ok(client, K("forever"), K("v"));
  uint64_t ttl;
  f = tikv_raw_get_key_ttl(client, K("t100"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_u64(f, &ttl), 1);
  ck_assert(ttl > 90 && ttl <= 100);
  tikv_future_destroy(f);
  f = tikv_raw_get_key_ttl(client, K("forever"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_u64(f, &ttl), 1);
  ck_assert_uint_eq(ttl, 0);
  tikv_future_destroy(f);
  f = tikv_raw_get_key_ttl(client, K("nothing"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_u64(f, &ttl), 0);
  tikv_future_destroy(f);
  tikv_slice_t keys[2] = {{K("bt1")}, {K("bt2")}};
  f = tikv_raw_batch_put(client, keys, 2, keys, 2, 1, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_int_eq(get_is(client, K("t1"), K("v")), 1);
  usleep(2100 * 1000); /* TTLs are whole seconds: past 1 s, whatever the load */
  ck_assert_int_eq(get_is(client, K("t1"), NULL, 0), 0);
  ck_assert_int_eq(get_is(client, K("bt2"), NULL, 0), 0);
  ck_assert_int_eq(get_is(client, K("t100"), K("v")), 1);
  /* expired keys are gone for every read, not only a point get */
  tikv_slice_t all[5] = {{K("bt1")}, {K("bt2")}, {K("forever")}, {K("t1")}, {K("t100")}};
  f = tikv_raw_batch_get(client, all, 5, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  char got[64];
  keys_of(f, got, sizeof(got));
  ck_assert_str_eq(got, "forever,t100");
  tikv_future_destroy(f);
  f = tikv_raw_scan(client, K("bt"), K("bu"), 10, 0, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  keys_of(f, got, sizeof(got));
  ck_assert_str_eq(got, "");
  tikv_future_destroy(f);
  f = tikv_raw_get_key_ttl(client, K("t1"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_u64(f, &ttl), 0);
  tikv_future_destroy(f);
}
END_TEST

START_TEST(ttl_refused_when_disabled) {
  tikv_mock_cluster_t *m = start_mock(1, 1, 0);
  tikv_client_t *c = connect_to(m, 5000, 0, NULL);
  tikv_future_t *f = tikv_raw_put(c, K("k"), K("v"), 10, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_SERVER);
  tikv_future_destroy(f);
  ck_assert_int_eq(get_is(c, K("k"), NULL, 0), 0); /* nothing was written */
  tikv_client_free(c);
  tikv_mock_cluster_stop(m);
}
END_TEST

START_TEST(column_families_are_separate) {
  tikv_client_t *w = connect_to(mock, 5000, 0, "write");
  put_ok(client, K("cfkey"), K("default"));
  put_ok(w, K("cfkey"), K("write"));
  ck_assert_int_eq(get_is(client, K("cfkey"), K("default")), 1);
  ck_assert_int_eq(get_is(w, K("cfkey"), K("write")), 1);
  tikv_future_t *f = tikv_raw_delete(w, K("cfkey"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_int_eq(get_is(w, K("cfkey"), NULL, 0), 0);
  ck_assert_int_eq(get_is(client, K("cfkey"), K("default")), 1);
  tikv_client_free(w);
}
END_TEST

typedef struct {
  tikv_client_t *c;
  int id;
  int swapped;
} cas_arg;

static void *cas_thread(void *p) {
  cas_arg *a = p;
  char v[16];
  snprintf(v, sizeof(v), "w%d", a->id);
  tikv_future_t *f = tikv_raw_compare_and_swap(a->c, K("race"), NULL, 0, 1, K(v), 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  a->swapped = tikv_future_get_bool(f);
  tikv_future_destroy(f);
  return NULL;
}

START_TEST(compare_and_swap) {
  tikv_client_t *a = connect_to(mock, 5000, 1, NULL);
  tikv_future_t *f = tikv_raw_compare_and_swap(a, K("cas"), NULL, 0, 1, K("one"), 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f), 1);
  ck_assert_int_eq(tikv_future_get_value(f, NULL, NULL), 0); /* nothing before */
  tikv_future_destroy(f);
  f = tikv_raw_compare_and_swap(a, K("cas"), K("wrong"), 0, K("two"), 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f), 0);
  const uint8_t *v;
  size_t vl;
  ck_assert_int_eq(tikv_future_get_value(f, &v, &vl), 1);
  ck_assert_uint_eq(vl, 3);
  ck_assert_mem_eq(v, "one", 3);
  tikv_future_destroy(f);
  /* the same length, other bytes (first, middle, last): no swap */
  const char *near[] = {"Xne", "oXe", "onX", "two"};
  for (int i = 0; i < 4; i++) {
    f = tikv_raw_compare_and_swap(a, K("cas"), K(near[i]), 0, K("bad"), 0, NULL);
    ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
    ck_assert_msg(tikv_future_get_bool(f) == 0, "swapped against %s", near[i]);
    ck_assert_int_eq(tikv_future_get_value(f, &v, &vl), 1);
    ck_assert_uint_eq(vl, 3);
    ck_assert_mem_eq(v, "one", 3);
    tikv_future_destroy(f);
  }
  ck_assert_int_eq(get_is(a, K("cas"), K("one")), 1);
  f = tikv_raw_compare_and_swap(a, K("cas"), K("one"), 0, K("two"), 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f), 1);
  ck_assert_int_eq(tikv_future_get_value(f, &v, &vl), 1); /* what it replaced */
  ck_assert_mem_eq(v, "one", 3);
  tikv_future_destroy(f);
  ck_assert_int_eq(get_is(a, K("cas"), K("two")), 1);
  /* atomic mode refuses what client-rust refuses */
  f = tikv_raw_delete_range(a, K("a"), K("b"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_UNSUPPORTED);
  tikv_future_destroy(f);

  /* 16 racers on one absent key: exactly one wins */
  pthread_t th[16];
  cas_arg args[16];
  for (int i = 0; i < 16; i++) {
    args[i] = (cas_arg){a, i, -1};
    pthread_create(&th[i], NULL, cas_thread, &args[i]);
  }
  int winners = 0;
  for (int i = 0; i < 16; i++) {
    pthread_join(th[i], NULL);
    ck_assert_int_ge(args[i].swapped, 0);
    winners += args[i].swapped;
  }
  ck_assert_int_eq(winners, 1);
  tikv_client_free(a);
}
END_TEST

/* A put (or, del, a delete) of key by writer, sent while a CAS by the atomic
 * client a (absent -> "cas") holds key's latch: the mock stalls the CAS's
 * write until the write has reached the store. Returns after both are done
 * (the CAS having found key absent). */
static void write_during_cas(tikv_client_t *a, tikv_client_t *writer, const char *key, bool del) {
  const char *method = del ? "RawDelete" : "RawPut";
  ck_assert_int_eq(tikv_mock_set_latency(mock, "RawCompareAndSwap/write", 20), 0);
  uint64_t cas = tikv_mock_call_count(mock, "RawCompareAndSwap");
  tikv_future_t *f1 = tikv_raw_compare_and_swap(a, K(key), NULL, 0, 1, K("cas"), 0, NULL);
  await_calls("RawCompareAndSwap", cas + 1); /* read: the latch is held */
  uint64_t w = tikv_mock_call_count(mock, method);
  tikv_future_t *f2 = del ? tikv_raw_delete(writer, K(key), NULL) : tikv_raw_put(writer, K(key), K("put"), 0, NULL);
  await_calls(method, w + 1);
  if (writer != a) {
    /* no for_cas: not ordered behind the latch, done while the CAS is not */
    ck_assert_int_eq(wait_code(f2), TIKV_ERR_OK);
    ck_assert(!tikv_future_is_ready(f1));
  }
  ck_assert_int_eq(tikv_mock_set_latency(mock, "RawCompareAndSwap/write", 0), 0);
  ck_assert_int_eq(wait_code(f1), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_bool(f1), 1);
  ck_assert_int_eq(tikv_future_get_value(f1, NULL, NULL), 0);
  ck_assert_int_eq(wait_code(f2), TIKV_ERR_OK);
  tikv_future_destroy(f1);
  tikv_future_destroy(f2);
}

/* Atomic mode: puts and deletes carry for_cas, so TiKV runs them in its
 * scheduler, behind the latch a CAS holds on the key until its write
 * applies: a put or delete sent during a CAS lands after it. Without
 * for_cas (a client not in atomic mode) the write lands at once, and the
 * CAS's write, decided before it, overwrites it: the update is lost. */
START_TEST(atomic_writes_wait_for_a_cas) {
  tikv_client_t *a = connect_to(mock, 10000, 1, NULL);
  tikv_client_t *plain = connect_to(mock, 10000, 0, NULL);
  write_during_cas(a, a, "latch-put", false);
  ck_assert_int_eq(get_is(a, K("latch-put"), K("put")), 1);
  write_during_cas(a, a, "latch-del", true);
  ck_assert_int_eq(get_is(a, K("latch-del"), NULL, 0), 0);
  write_during_cas(a, plain, "lost-put", false);
  ck_assert_int_eq(get_is(a, K("lost-put"), K("cas")), 1);
  write_during_cas(a, plain, "lost-del", true);
  ck_assert_int_eq(get_is(a, K("lost-del"), K("cas")), 1);
  tikv_client_free(plain);
  tikv_client_free(a);
}
END_TEST

/* ---- region errors: each kind injected once per region, all survived ---- */
START_TEST(region_errors_are_retried) {
  static const char *kinds[] = {"not_leader", "not_leader_no_hint", "epoch_not_match",
                                "region_not_found", "store_not_match", "server_is_busy",
                                "stale_command", "key_not_in_region",
                                "max_timestamp_not_synced"};
  put_ok(client, K("err-key"), K("v0"));
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    uint64_t before = tikv_mock_call_count(mock, "RawGet");
    ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawGet", 0, kinds[i], 2), 0);
    ck_assert_msg(get_is(client, K("err-key"), K("v0")) == 1, "after %s", kinds[i]);
    ck_assert_msg(tikv_mock_call_count(mock, "RawGet") >= before + 3, "%s was not retried",
                  kinds[i]);
    /* writes too */
    ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawPut", 0, kinds[i], 1), 0);
    put_ok(client, K("err-key"), K("v0"));
  }
  ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawGet", 0, "no_such_kind", 1), -1);
}
END_TEST

/* What each region error does to the cache, seen from PD: the errors that
 * say the cached region is wrong (gone, keys elsewhere, wrong store) make
 * the retry look the region up again; those that say "retry later" (busy,
 * stale command, ts not synced) and an EpochNotMatch carrying the current
 * regions do not. */
START_TEST(region_errors_and_pd_lookups) {
  static const struct {
    const char *kind;
    bool lookup;
  } cases[] = {{"region_not_found", true},       {"key_not_in_region", true},
               {"store_not_match", true},        {"epoch_not_match", false},
               {"server_is_busy", false},        {"stale_command", false},
               {"max_timestamp_not_synced", false}};
  put_ok(client, K("look-key"), K("v"));
  ck_assert_int_eq(get_is(client, K("look-key"), K("v")), 1); /* cached */
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint64_t lookups = pd_region_lookups(mock);
    ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawGet", 0, cases[i].kind, 1), 0);
    ck_assert_msg(get_is(client, K("look-key"), K("v")) == 1, "after %s", cases[i].kind);
    uint64_t now = pd_region_lookups(mock);
    if (cases[i].lookup)
      ck_assert_msg(now > lookups, "%s: the region was not looked up again", cases[i].kind);
    else
      ck_assert_msg(now == lookups, "%s: %llu PD lookups", cases[i].kind,
                    (unsigned long long)(now - lookups));
  }
}
END_TEST

START_TEST(split_and_leader_moves) {
  put_range("e", 30);
  /* warm the cache */
  tikv_future_t *f = tikv_raw_scan(client, K("e"), K("f"), 100, 0, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  uint64_t rid = tikv_mock_region_for_key(mock, K("e015"));
  ck_assert_uint_ne(tikv_mock_split_region(mock, K("e015")), 0);
  uint64_t right = tikv_mock_region_for_key(mock, K("e020"));
  ck_assert_uint_ne(right, rid);
  /* move the left half's leader away: the cached leader is wrong now too */
  uint64_t leader = tikv_mock_region_leader_store(mock, rid);
  ck_assert_int_eq(tikv_mock_transfer_leader(mock, rid, leader % 3 + 1), 0);
  f = tikv_raw_scan(client, K("e"), K("f"), 100, 0, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const tikv_kv_t *kvs;
  size_t n;
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 30);
  tikv_future_destroy(f);
  tikv_slice_t keys[2] = {{K("e001")}, {K("e029")}};
  f = tikv_raw_batch_get(client, keys, 2, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_get_kvs(f, &kvs, &n);
  ck_assert_uint_eq(n, 2);
  tikv_future_destroy(f);
  ck_assert_int_eq(get_is(client, K("e016"), K("e016")), 1);
}
END_TEST

START_TEST(deadline_expiry_carries_last_cause) {
  tikv_client_t *c = connect_to(mock, 800, 0, NULL);
  ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawGet", 0, "server_is_busy", 1000000), 0);
  tikv_future_t *f = tikv_raw_get(c, K("busy"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  const tikv_error_t *e = tikv_future_get_error(f);
  ck_assert_ptr_nonnull(strstr(tikv_error_message(e), "server_is_busy"));
  ck_assert_str_eq(tikv_error_detail_kind(e), "server_is_busy");
  tikv_future_destroy(f);
  tikv_mock_clear_faults(mock);
  /* a slow store: the call's own deadline */
  ck_assert_int_eq(tikv_mock_set_latency(mock, "RawPut", 3000), 0);
  int64_t t0 = time(NULL);
  f = tikv_raw_put(c, K("slow"), K("v"), 0, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  ck_assert_int_le(time(NULL) - t0, 2);
  tikv_future_destroy(f);
  tikv_mock_clear_faults(mock);
  tikv_client_free(c);
}
END_TEST

START_TEST(silent_pd_times_out) {
  tikv_mock_pd_pause(mock, 1);
  tikv_config_t *cfg = tikv_config_new();
  tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(mock));
  tikv_config_set_timeout_ms(cfg, 700);
  tikv_client_t *c = tikv_client_new(cfg, NULL);
  tikv_config_free(cfg);
  tikv_future_t *f = tikv_client_connect(c);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  tikv_future_destroy(f);
  f = tikv_raw_get(c, K("a"), NULL); /* operations too */
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  tikv_future_destroy(f);
  tikv_client_free(c);
  tikv_mock_pd_pause(mock, 0);
  /* a connected client whose PD falls silent still reads cached regions */
  get_is(client, K("warm"), NULL, 0);
  tikv_mock_pd_pause(mock, 1);
  ck_assert_int_eq(get_is(client, K("warm"), NULL, 0), 0);
  tikv_mock_pd_pause(mock, 0);
  /* a PD address where nothing listens */
  cfg = tikv_config_new();
  tikv_config_add_pd_endpoint(cfg, "127.0.0.1:1");
  tikv_config_set_timeout_ms(cfg, 500);
  c = tikv_client_new(cfg, NULL);
  tikv_config_free(cfg);
  f = tikv_client_connect(c);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  ck_assert_ptr_nonnull(strstr(tikv_error_message(tikv_future_get_error(f)), "127.0.0.1:1"));
  tikv_future_destroy(f);
  tikv_client_free(c);
}
END_TEST

/* A client with an idle spin of spin_us, connected, with the region of
 * `key` cached by a first get (nothing found). */
static tikv_client_t *spinning_client(uint32_t spin_us, const char *key) {
  tikv_config_t *cfg = tikv_config_new();
  ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(mock)), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_config_set_idle_spin_us(cfg, spin_us), TIKV_ERR_OK);
  tikv_client_t *c = mc_client_connected(cfg);
  get_is(c, K(key), NULL, 0);
  return c;
}

/* A C caller awaiting one get at a time (no idle hook): with the idle spin
 * the loop is awake after each completion for the next call, which needs
 * no wakeup; without it every call wakes the sleeping loop. */
static uint64_t wakeups_over_gets(uint32_t spin_us, int n) {
  tikv_client_t *c = spinning_client(spin_us, "spin");
  tikv_stats_t before, after;
  ck_assert_int_eq(tikv_client_stats(c, &before), TIKV_ERR_OK);
  for (int i = 0; i < n; i++) get_is(c, K("spin"), NULL, 0);
  ck_assert_int_eq(tikv_client_stats(c, &after), TIKV_ERR_OK);
  tikv_client_free(c);
  return after.io_wakeups - before.io_wakeups;
}

START_TEST(c_callers_spin_after_completions) {
  enum { N = 40, TRIES = 5 };
  ck_assert_uint_ge(wakeups_over_gets(0, N), N);
  /* a window is missed only when the waiting thread is kept off the CPU
   * for the window's 10 ms, which a loaded machine does now and then: the
   * best of a few runs has (almost) none */
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < TRIES && best > 2; i++) {
    uint64_t w = wakeups_over_gets(10000, N);
    best = w < best ? w : best;
  }
  ck_assert_uint_le(best, 2);
}
END_TEST

/* Replies slower than the window: after the first such wait the loop no
 * longer spins for them (each spin that ran out is counted). Replies within
 * the window: the spin for them grows again, from 8 us, until it covers
 * them (each shorter spin runs out). */
static uint64_t reply_spins_missed(tikv_client_t *c) {
  tikv_stats_t st;
  ck_assert_int_eq(tikv_client_stats(c, &st), TIKV_ERR_OK);
  return st.io_reply_spins_missed;
}

static uint64_t reply_spins_missed_over_gets(tikv_client_t *c, uint32_t latency_ms, int n) {
  tikv_mock_set_latency(mock, "RawGet", latency_ms);
  uint64_t before = reply_spins_missed(c);
  for (int i = 0; i < n; i++) get_is(c, K("slow"), NULL, 0);
  return reply_spins_missed(c) - before;
}

START_TEST(no_spinning_for_replies_slower_than_the_window) {
  enum { N = 10 };
  tikv_client_t *c = spinning_client(10000, "slow");
  /* 30 ms: the first; a few more only if the loop was kept off the CPU past
   * a reply (a loaded machine) */
  uint64_t slow = reply_spins_missed_over_gets(c, 30, N);
  ck_assert_uint_ge(slow, 1);
  ck_assert_uint_le(slow, 3);
  /* 2 ms, within the 10 ms window: spins of 8, 16, ... 1,024 us run out */
  ck_assert_uint_ge(reply_spins_missed_over_gets(c, 2, N), 5);
  tikv_client_free(c);
  tikv_mock_clear_faults(mock);
}
END_TEST

static atomic_int closed_cbs;
static void on_done(tikv_future_t *f, void *arg) {
  if (tikv_future_get_error_code(f) == TIKV_ERR_CLOSED) atomic_fetch_add(&closed_cbs, 1);
}

START_TEST(close_with_operations_in_flight) {
  tikv_client_t *c = connect_to(mock, 10000, 0, NULL);
  get_is(c, K("x"), NULL, 0);
  tikv_mock_set_latency(mock, "RawGet", 2000);
  uint64_t gets = tikv_mock_call_count(mock, "RawGet");
  enum { N = 50 };
  tikv_future_t *fs[N];
  atomic_store(&closed_cbs, 0);
  for (int i = 0; i < N; i++) {
    fs[i] = tikv_raw_get(c, K("x"), NULL);
    ck_assert_int_eq(tikv_future_set_callback(fs[i], on_done, NULL), TIKV_ERR_OK);
  }
  await_calls("RawGet", gets + N); /* every call is at the store, delayed */
  tikv_client_close(c);
  for (int i = 0; i < N; i++) {
    ck_assert_int_eq(tikv_future_wait(fs[i]), TIKV_ERR_CLOSED);
    tikv_future_destroy(fs[i]);
  }
  ck_assert_int_eq(atomic_load(&closed_cbs), N);
  tikv_client_close(c); /* idempotent */
  tikv_future_t *f = tikv_raw_get(c, K("x"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_CLOSED);
  tikv_future_destroy(f);
  tikv_client_free(c);
  tikv_mock_clear_faults(mock);
}
END_TEST

START_TEST(store_down_and_back) {
  put_ok(client, K("sd-key"), K("v"));
  uint64_t rid = tikv_mock_region_for_key(mock, K("sd-key"));
  uint64_t store = tikv_mock_region_leader_store(mock, rid);
  ck_assert_int_eq(tikv_mock_store_set_down(mock, store, 1), 0);
  tikv_client_t *c = connect_to(mock, 1500, 0, NULL);
  tikv_future_t *f = tikv_raw_get(c, K("sd-key"), NULL);
  int code = tikv_future_wait(f);
  ck_assert_int_eq(code, TIKV_ERR_TIMEOUT);
  tikv_future_destroy(f);
  ck_assert_int_eq(tikv_mock_store_set_down(mock, store, 0), 0);
  /* the store is suspect, not gone: the next request reconnects. Its
   * deadline outlasts gRPC's reconnect backoff (up to 1 s, +20% jitter),
   * which the client's 1.5 s barely did on a loaded machine */
  tikv_call_opts_t o;
  tikv_call_opts_init(&o);
  o.timeout_ms = 5000;
  ck_assert_int_eq(get_is_with(c, K("sd-key"), K("v"), &o), 1);
  tikv_client_free(c);
}
END_TEST

typedef struct {
  int done;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} counter_t;
static void count_done(tikv_future_t *f, void *arg) {
  counter_t *k = arg;
  ck_assert_msg(tikv_future_get_error_code(f) == TIKV_ERR_OK, "%s: %s",
                tikv_err_name(tikv_future_get_error_code(f)),
                tikv_error_message(tikv_future_get_error(f)));
  pthread_mutex_lock(&k->mu);
  k->done++;
  pthread_cond_signal(&k->cv);
  pthread_mutex_unlock(&k->mu);
}

START_TEST(many_concurrent_operations) {
  enum { N = 2000 };
  counter_t k = {0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
  static tikv_future_t *fs[N];
  for (int i = 0; i < N; i++) {
    char key[16];
    snprintf(key, sizeof(key), "%c-%d", "aeimquy"[i % 7], i);
    fs[i] = tikv_raw_put(client, K(key), K(key), 0, NULL);
    tikv_future_set_callback(fs[i], count_done, &k);
  }
  pthread_mutex_lock(&k.mu);
  while (k.done < N) pthread_cond_wait(&k.cv, &k.mu);
  pthread_mutex_unlock(&k.mu);
  for (int i = 0; i < N; i++) tikv_future_destroy(fs[i]);
  tikv_future_t *f = tikv_raw_scan(client, K(""), NULL, 0, 10240, 1, 0, NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  size_t n;
  tikv_future_get_kvs(f, NULL, &n);
  ck_assert_uint_eq(n, N);
  tikv_future_destroy(f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("raw");
  TCase *tc = tcase_create("raw");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, put_get_delete);
  tcase_add_test(tc, binary_keys_and_big_values);
  tcase_add_test(tc, empty_value_and_bad_arguments);
  tcase_add_test(tc, batches_across_regions);
  tcase_add_test(tc, batches_are_chunked);
  tcase_add_test(tc, batch_get_values_follow_the_keys);
  tcase_add_test(tc, c_callers_spin_after_completions);
  tcase_add_test(tc, no_spinning_for_replies_slower_than_the_window);
  tcase_add_test(tc, batch_parts_regrouped_after_region_errors);
  tcase_add_test(tc, epoch_not_match_current_regions_spare_pd);
  tcase_add_test(tc, not_leader_hint_spares_pd);
  tcase_add_test(tc, reverse_scan_from_a_region_start_on_a_fresh_client);
  tcase_add_test(tc, scans_across_regions);
  tcase_add_test(tc, delete_range_across_regions);
  tcase_add_test(tc, ttl_and_expiry);
  tcase_add_test(tc, ttl_refused_when_disabled);
  tcase_add_test(tc, column_families_are_separate);
  tcase_add_test(tc, compare_and_swap);
  tcase_add_test(tc, atomic_writes_wait_for_a_cas);
  tcase_add_test(tc, region_errors_are_retried);
  tcase_add_test(tc, region_errors_and_pd_lookups);
  tcase_add_test(tc, split_and_leader_moves);
  tcase_add_test(tc, deadline_expiry_carries_last_cause);
  tcase_add_test(tc, silent_pd_times_out);
  tcase_add_test(tc, close_with_operations_in_flight);
  tcase_add_test(tc, store_down_and_back);
  tcase_add_test(tc, many_concurrent_operations);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
