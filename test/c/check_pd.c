/* The PD client against the mock's PD: timestamps from the Tso stream under
 * concurrency (batched, unique, increasing), one write per request when
 * they come one at a time, leader discovery over several endpoints, and
 * timestamps across a PD that stops answering. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

static tikv_mock_cluster_t *mock;

static void setup(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  char err[256];
  mock = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(mock != NULL, "mock: %s", err);
}

static void teardown(void) { tikv_mock_cluster_stop(mock); }

static tikv_client_t *client_for(const char *const *endpoints, int n, uint32_t timeout_ms) {
  tikv_config_t *cfg = tikv_config_new();
  for (int i = 0; i < n; i++) ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, endpoints[i]), 0);
  tikv_config_set_timeout_ms(cfg, timeout_ms);
  tikv_client_t *c = tikv_client_new(cfg, NULL);
  tikv_config_free(cfg);
  ck_assert_ptr_nonnull(c);
  return c;
}

enum { THREADS = 4, PER_THREAD = 2000 };
typedef struct {
  tikv_client_t *c;
  uint64_t *out;
} ts_arg;

static void *ts_thread(void *p) {
  ts_arg *a = p;
  tikv_future_t *fs[PER_THREAD];
  /* all in flight at once, so that they share round trips */
  for (int i = 0; i < PER_THREAD; i++) fs[i] = tikv_client_current_timestamp(a->c, NULL);
  uint64_t prev = 0;
  for (int i = 0; i < PER_THREAD; i++) {
    ck_assert_int_eq(tikv_future_wait(fs[i]), TIKV_ERR_OK);
    ck_assert_int_eq(tikv_future_get_u64(fs[i], &a->out[i]), 1);
    /* requests of one thread are answered in the order they were made */
    ck_assert_uint_gt(a->out[i], prev);
    prev = a->out[i];
    tikv_future_destroy(fs[i]);
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

START_TEST(tso_concurrent_unique_and_increasing) {
  const char *pd = tikv_mock_pd_address(mock);
  tikv_client_t *c = client_for(&pd, 1, 10000);
  static uint64_t all[THREADS * PER_THREAD];
  pthread_t th[THREADS];
  ts_arg args[THREADS];
  for (int i = 0; i < THREADS; i++) {
    args[i] = (ts_arg){c, all + i * PER_THREAD};
    pthread_create(&th[i], NULL, ts_thread, &args[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  /* concurrent requests share round trips: far fewer TsoRequests than
   * timestamps */
  uint64_t batches = tikv_mock_pd_call_count(mock, "Tso");
  ck_assert_uint_gt(batches, 0);
  ck_assert_uint_lt(batches, THREADS * PER_THREAD / 4);
  qsort(all, THREADS * PER_THREAD, sizeof(uint64_t), cmp_u64);
  for (int i = 1; i < THREADS * PER_THREAD; i++) ck_assert_uint_gt(all[i], all[i - 1]);
  /* the physical part is milliseconds since the epoch: now-ish */
  ck_assert_uint_gt(all[0] >> 18, 1700000000000ull);
  tikv_client_free(c);
}
END_TEST

/* Two requests at a time: the second waits for the first's reply (one batch
 * in flight) and must still be sent, from that reply. */
START_TEST(tso_sequential_requests) {
  const char *pd = tikv_mock_pd_address(mock);
  tikv_client_t *c = client_for(&pd, 1, 5000);
  uint64_t prev = 0;
  for (int i = 0; i < 3000; i++) {
    tikv_future_t *a = tikv_client_current_timestamp(c, NULL);
    tikv_future_t *b = tikv_client_current_timestamp(c, NULL);
    ck_assert_int_eq(tikv_future_wait(a), TIKV_ERR_OK);
    ck_assert_int_eq(tikv_future_wait(b), TIKV_ERR_OK);
    uint64_t x, y;
    tikv_future_get_u64(a, &x);
    tikv_future_get_u64(b, &y);
    ck_assert_uint_gt(x, prev);
    ck_assert_uint_gt(y, x);
    prev = y;
    tikv_future_destroy(a);
    tikv_future_destroy(b);
  }
  tikv_client_free(c);
}
END_TEST

/* A timestamp at a time: each request leaves in one write (segment). gRPC 1.51
 * answers a receive posted after a reply with a window update written at
 * once; posted with the request, in one batch, the update goes in the
 * request's write instead of a second one (the Tso stream's lockstep). */
START_TEST(tso_one_write_per_request) {
  const char *pd = tikv_mock_pd_address(mock);
  tikv_client_t *c = client_for(&pd, 1, 5000);
  enum { N = 200 };
  tikv_future_t *f = tikv_client_current_timestamp(c, NULL); /* the stream opens */
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  int port = atoi(strrchr(pd, ':') + 1);
  uint64_t batches = tikv_mock_pd_call_count(mock, "Tso");
  uint64_t before = mc_segments_to(port);
  for (int i = 0; i < N; i++) {
    f = tikv_client_current_timestamp(c, NULL);
    ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
    tikv_future_destroy(f);
  }
  uint64_t writes = mc_segments_to(port) - before;
  ck_assert_uint_eq(tikv_mock_pd_call_count(mock, "Tso") - batches, N);
  /* two per request when the update is written on its own; a few to spare
   * for anything else on the connection (a keepalive ping) */
  ck_assert_msg(writes <= N + N / 10, "%llu writes for %d timestamps", (unsigned long long)writes, N);
  ck_assert_uint_ge(writes, N);
  tikv_client_free(c);
}
END_TEST

START_TEST(dead_endpoint_then_live_one) {
  const char *eps[] = {"127.0.0.1:1", tikv_mock_pd_address(mock)};
  tikv_client_t *c = client_for(eps, 2, 10000);
  tikv_future_t *f = tikv_client_connect(c);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_uint_eq(tikv_client_cluster_id(c), tikv_mock_cluster_id(mock));
  ck_assert_uint_ge(tikv_mock_pd_call_count(mock, "GetMembers"), 1);
  f = tikv_client_current_timestamp(c, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  tikv_client_free(c);
}
END_TEST

START_TEST(tso_times_out_and_recovers) {
  const char *pd = tikv_mock_pd_address(mock);
  tikv_client_t *c = client_for(&pd, 1, 600);
  tikv_future_t *f = tikv_client_current_timestamp(c, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  uint64_t before;
  tikv_future_get_u64(f, &before);
  tikv_future_destroy(f);
  tikv_mock_pd_pause(mock, 1);
  f = tikv_client_current_timestamp(c, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  tikv_future_destroy(f);
  tikv_mock_pd_pause(mock, 0);
  /* the stuck stream was dropped; the next request opens a new one */
  f = tikv_client_current_timestamp(c, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  uint64_t after;
  tikv_future_get_u64(f, &after);
  ck_assert_uint_gt(after, before);
  tikv_future_destroy(f);
  tikv_client_free(c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("pd");
  TCase *tc = tcase_create("pd");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, tso_concurrent_unique_and_increasing);
  tcase_add_test(tc, tso_sequential_requests);
  tcase_add_test(tc, tso_one_write_per_request);
  tcase_add_test(tc, dead_endpoint_then_live_one);
  tcase_add_test(tc, tso_times_out_and_recovers);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
