/* Per-call options and cancellation, against the mock cluster: a call's
 * timeout_ms replaces the client's deadline; tikv_future_cancel cancels the
 * gRPC call in flight (a write the mock holds back is then never applied),
 * ends a backoff and a wait for a PD timestamp at once, and completes with
 * ABORTED; a commit cancelled after its primary was sent is UNDETERMINED;
 * column_family names the raw pair's column family per call. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

static tikv_mock_cluster_t *mock;
static tikv_client_t *client;

#define K(s) (const uint8_t *)(s), strlen(s)

/* long client-wide deadlines: only the per-call ones end these calls early */
static tikv_client_t *connect_client(int batch_commands) {
  tikv_config_t *cfg = tikv_config_new();
  tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(mock));
  tikv_config_set_timeout_ms(cfg, 30000);
  tikv_config_set_attempt_timeout_ms(cfg, 30000);
  tikv_config_set_batch_commands(cfg, batch_commands);
  return mc_client_connected(cfg);
}

static void setup(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 3;
  o.regions = 4;
  char err[256];
  mock = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(mock != NULL, "mock: %s", err);
  client = connect_client(1); /* BatchCommands, the default */
}

static void teardown(void) {
  tikv_client_free(client);
  tikv_mock_cluster_stop(mock);
}

static int code_of(tikv_future_t *f) {
  int code = tikv_future_wait(f);
  tikv_future_destroy(f);
  return code;
}

/* Cancels f once the mock has received n more calls of method (a delayed
 * one is then held there, in flight), and returns f's code. */
static int cancel_when_sent(tikv_future_t *f, uint64_t (*count)(tikv_mock_cluster_t *, const char *),
                            const char *method, uint64_t before, uint64_t n) {
  ck_assert_uint_ge(mc_await_count(count, mock, method, before + n, 10000), before + n);
  ck_assert_int_eq(tikv_future_cancel(f), TIKV_ERR_OK);
  int code = tikv_future_wait(f);
  if (code != TIKV_ERR_ABORTED && code != TIKV_ERR_OK)
    fprintf(stderr, "  (%s: %s)\n", tikv_err_name(code), tikv_error_message(tikv_future_get_error(f)));
  tikv_future_destroy(f);
  return code;
}

static int raw_found(const char *key, const char *cf) {
  tikv_call_opts_t o;
  tikv_call_opts_init(&o);
  o.column_family = cf;
  tikv_future_t *f = tikv_raw_get(client, K(key), &o);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  int found = tikv_future_get_value(f, NULL, NULL);
  tikv_future_destroy(f);
  return found;
}

START_TEST(timeout_per_call) {
  ck_assert_int_eq(code_of(tikv_raw_put(client, K("t/k"), K("v"), 0, NULL)), TIKV_ERR_OK);
  tikv_mock_set_latency(mock, "RawGet", 1500);
  tikv_call_opts_t o;
  tikv_call_opts_init(&o);
  o.timeout_ms = 200;
  ck_assert_int_eq(code_of(tikv_raw_get(client, K("t/k"), &o)), TIKV_ERR_TIMEOUT);
  /* NULL options: the client's 30 s, which outlast the latency */
  ck_assert_int_eq(code_of(tikv_raw_get(client, K("t/k"), NULL)), TIKV_ERR_OK);
  /* zeroed options are the defaults too */
  tikv_call_opts_init(&o);
  ck_assert_int_eq(code_of(tikv_raw_get(client, K("t/k"), &o)), TIKV_ERR_OK);
}
END_TEST

START_TEST(cancel_cancels_the_call_in_flight) {
  /* a unary call is cancelled as a whole */
  tikv_client_t *unary = connect_client(0);
  tikv_mock_set_latency(mock, "RawPut", 800);
  uint64_t before = tikv_mock_call_count(mock, "RawPut");
  tikv_future_t *f = tikv_raw_put(unary, K("c/k"), K("v"), 0, NULL);
  ck_assert_int_eq(cancel_when_sent(f, tikv_mock_call_count, "RawPut", before, 1), TIKV_ERR_ABORTED);
  tikv_mock_set_latency(mock, "RawPut", 0);
  /* past the latency: the mock would have applied a put whose call was open */
  usleep(1000 * 1000);
  ck_assert_int_eq(raw_found("c/k", NULL), 0);
  tikv_client_free(unary);
}
END_TEST

START_TEST(cancel_a_batched_request) {
  /* a request inside a BatchCommands stream: it fails at once, ABORTED; the
   * stream and the store serve on (a cancel is not the store's failure:
   * nothing is marked down, no transport retry is counted) */
  tikv_stats_t st0, st1;
  ck_assert_int_eq(tikv_client_stats(client, &st0), TIKV_ERR_OK);
  ck_assert_int_eq(code_of(tikv_raw_put(client, K("c/b"), K("v"), 0, NULL)), TIKV_ERR_OK);
  tikv_mock_set_latency(mock, "RawGet", 800);
  uint64_t before = tikv_mock_call_count(mock, "RawGet");
  tikv_future_t *slow = tikv_raw_get(client, K("c/b"), NULL);
  tikv_future_t *f = tikv_raw_get(client, K("c/b"), NULL);
  ck_assert_int_eq(cancel_when_sent(f, tikv_mock_call_count, "RawGet", before, 2), TIKV_ERR_ABORTED);
  ck_assert_int_eq(tikv_future_is_ready(slow), 0);
  ck_assert_int_eq(code_of(slow), TIKV_ERR_OK); /* its stream was not broken */
  tikv_mock_set_latency(mock, "RawGet", 0);
  ck_assert_int_eq(tikv_client_stats(client, &st1), TIKV_ERR_OK);
  ck_assert_uint_eq(st1.tikv_transport, st0.tikv_transport);
  ck_assert_int_eq(raw_found("c/b", NULL), 1);
}
END_TEST

START_TEST(cancel_is_a_noop_when_done) {
  tikv_future_t *f = tikv_raw_put(client, K("d/k"), K("v"), 0, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_cancel(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_error_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_int_eq(tikv_future_cancel(NULL), TIKV_ERR_INVALID_ARGUMENT);
  /* a future failed at the call (no loop behind it) */
  f = tikv_raw_get(client, NULL, 3, NULL);
  ck_assert_int_eq(tikv_future_cancel(f), TIKV_ERR_OK);
  ck_assert_int_eq(code_of(f), TIKV_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(cancel_ends_backoff_and_timestamp_waits) {
  /* every RawGet fails with UNAVAILABLE: the client backs off and resends */
  tikv_mock_inject_grpc_error(mock, "RawGet", 14, 100000);
  uint64_t before = tikv_mock_call_count(mock, "RawGet");
  tikv_future_t *f = tikv_raw_get(client, K("b/k"), NULL);
  ck_assert_int_eq(cancel_when_sent(f, tikv_mock_call_count, "RawGet", before, 3), TIKV_ERR_ABORTED);
  tikv_mock_clear_faults(mock);

  tikv_mock_pd_pause(mock, 1);
  before = tikv_mock_pd_call_count(mock, "Tso");
  f = tikv_client_current_timestamp(client, NULL);
  ck_assert_int_eq(cancel_when_sent(f, tikv_mock_pd_call_count, "Tso", before, 1), TIKV_ERR_ABORTED);
  tikv_mock_pd_pause(mock, 0);
  ck_assert_int_eq(code_of(tikv_client_current_timestamp(client, NULL)), TIKV_ERR_OK);
}
END_TEST

static tikv_txn_t *txn_with(const char *key) {
  tikv_txn_t *t = tikv_txn_new(client, NULL, NULL);
  ck_assert_int_eq(code_of(tikv_txn_begin(t, NULL)), TIKV_ERR_OK);
  ck_assert_int_eq(code_of(tikv_txn_put(t, K(key), K("v"), NULL)), TIKV_ERR_OK);
  return t;
}

START_TEST(cancel_commit) {
  /* during prewrite: nothing is decided, the transaction is rolled back */
  tikv_mock_set_latency(mock, "KvPrewrite", 800);
  tikv_txn_t *t = txn_with("x/a");
  uint64_t before = tikv_mock_call_count(mock, "KvPrewrite");
  tikv_future_t *f = tikv_txn_commit(t, NULL);
  ck_assert_int_eq(cancel_when_sent(f, tikv_mock_call_count, "KvPrewrite", before, 1), TIKV_ERR_ABORTED);
  tikv_txn_free(t);
  tikv_mock_set_latency(mock, "KvPrewrite", 0);

  /* the primary's commit sent: its outcome is unknown */
  tikv_mock_set_latency(mock, "KvCommit", 800);
  t = txn_with("x/b");
  before = tikv_mock_call_count(mock, "KvCommit");
  f = tikv_txn_commit(t, NULL);
  ck_assert_int_eq(cancel_when_sent(f, tikv_mock_call_count, "KvCommit", before, 1),
                   TIKV_ERR_UNDETERMINED);
  tikv_txn_free(t);
  tikv_mock_set_latency(mock, "KvCommit", 0);

  /* x/a never committed */
  tikv_txn_options_t ro;
  tikv_txn_options_init(&ro);
  ro.read_only = 1;
  usleep(1000 * 1000);
  t = tikv_txn_new(client, &ro, NULL);
  ck_assert_int_eq(code_of(tikv_txn_begin(t, NULL)), TIKV_ERR_OK);
  f = tikv_txn_get(t, K("x/a"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_value(f, NULL, NULL), 0);
  tikv_future_destroy(f);
  tikv_txn_free(t);
}
END_TEST

START_TEST(column_family_per_call) {
  tikv_call_opts_t w;
  tikv_call_opts_init(&w);
  w.column_family = "write";
  ck_assert_int_eq(code_of(tikv_raw_put(client, K("f/k"), K("v"), 0, &w)), TIKV_ERR_OK);
  ck_assert_int_eq(raw_found("f/k", NULL), 0);
  ck_assert_int_eq(raw_found("f/k", "default"), 0);
  ck_assert_int_eq(raw_found("f/k", "write"), 1);
  ck_assert_int_eq(raw_found("f/k", "lock"), 0);
  tikv_future_t *f = tikv_raw_scan(client, K("f/"), K("f0"), 10, 0, 0, &w);
  const tikv_kv_t *kvs;
  size_t n;
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_get_kvs(f, &kvs, &n), TIKV_ERR_OK);
  ck_assert_uint_eq(n, 1);
  tikv_future_destroy(f);
  ck_assert_int_eq(code_of(tikv_raw_delete(client, K("f/k"), &w)), TIKV_ERR_OK);
  ck_assert_int_eq(raw_found("f/k", "write"), 0);
  /* an unknown family is refused at the call */
  w.column_family = "writes";
  ck_assert_int_eq(code_of(tikv_raw_get(client, K("f/k"), &w)), TIKV_ERR_INVALID_ARGUMENT);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("cancel");
  TCase *tc = tcase_create("cancel");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, timeout_per_call);
  tcase_add_test(tc, cancel_cancels_the_call_in_flight);
  tcase_add_test(tc, cancel_a_batched_request);
  tcase_add_test(tc, cancel_is_a_noop_when_done);
  tcase_add_test(tc, cancel_ends_backoff_and_timestamp_waits);
  tcase_add_test(tc, cancel_commit);
  tcase_add_test(tc, column_family_per_call);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
