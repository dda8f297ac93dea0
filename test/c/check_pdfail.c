/* The client through PD leader changes, against the mock's 3 PD members: a
 * killed or moved leader costs no operation whose deadline outlasts the
 * election (timestamps carried over to the new leader's Tso stream, unary
 * calls sent again), members learned from GetMembers are found when the
 * configured one dies, a request whose deadline is shorter than the
 * election fails TIMEOUT naming why, and the change is counted and told. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

#define ELECTION_MS 1500
#define LONG_MS 600000

static tikv_mock_cluster_t *mock;

static void setup(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.pd_members = 3;
  o.pd_election_ms = ELECTION_MS;
  char err[256];
  mock = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(mock != NULL, "mock: %s", err);
}

static void teardown(void) {
  tikv_mock_cluster_stop(mock);
  mock = NULL;
}

/* Waits (polling observable state, 10 s at most) until cond holds. */
#define WAIT_FOR(cond)                                             \
  do {                                                             \
    for (int w_ = 0; w_ < 500 && !(cond); w_++) usleep(20 * 1000); \
    ck_assert_msg((cond), "still not true after 10 s: %s", #cond); \
  } while (0)

/* What the event callback saw (it runs on the client's I/O thread). */
static atomic_int leader_events, other_events, region_events;
static atomic_uint_fast64_t region_event_id;
static char last_leader_msg[256];
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_event(const tikv_event_t *ev, void *arg) {
  ck_assert_ptr_eq(arg, &leader_events);
  if (ev->kind == TIKV_EVENT_PD_LEADER_CHANGE) {
    pthread_mutex_lock(&ev_mu);
    snprintf(last_leader_msg, sizeof(last_leader_msg), "%s", ev->message);
    pthread_mutex_unlock(&ev_mu);
    atomic_fetch_add(&leader_events, 1);
  } else if (ev->kind == TIKV_EVENT_REGION_ERROR) {
    ck_assert_ptr_nonnull(strstr(ev->message, "server_is_busy"));
    atomic_store(&region_event_id, ev->region_id);
    atomic_fetch_add(&region_events, 1);
  } else {
    atomic_fetch_add(&other_events, 1);
  }
}

/* A client of the first n members (n 0: every member), connected. */
static tikv_client_t *client_of(int n, uint32_t timeout_ms) {
  tikv_config_t *cfg = tikv_config_new();
  int members = n ? n : tikv_mock_pd_member_count(mock);
  for (int i = 1; i <= members; i++)
    ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_member_address(mock, i)), 0);
  tikv_config_set_timeout_ms(cfg, timeout_ms);
  ck_assert_int_eq(tikv_config_set_event_callback(cfg, on_event, &leader_events), 0);
  tikv_client_t *c = mc_client_connected(cfg);
  atomic_store(&leader_events, 0);
  atomic_store(&other_events, 0);
  atomic_store(&region_events, 0);
  return c;
}

/* ---- a loop of operations of every kind ---- */
enum { TS_PER_ROUND = 8 };
typedef struct {
  tikv_client_t *c;
  atomic_bool stop;
  atomic_int rounds;
  atomic_int failures;
  char first_failure[512];
  uint64_t last_ts;
  bool ts_backwards;
} loop_t;

static void failed(loop_t *l, const char *what, tikv_future_t *f) {
  if (atomic_fetch_add(&l->failures, 1) == 0)
    snprintf(l->first_failure, sizeof(l->first_failure), "%s: %s: %s", what,
             tikv_err_name(tikv_future_get_error_code(f)),
             tikv_error_message(tikv_future_get_error(f)));
}

static bool settle(loop_t *l, const char *what, tikv_future_t *f) {
  bool ok = tikv_future_wait(f) == TIKV_ERR_OK;
  if (!ok) failed(l, what, f);
  return ok;
}

static void *loop_thread(void *p) {
  loop_t *l = p;
  const uint8_t key[] = "pdfail/k", val[] = "v";
  while (!atomic_load(&l->stop)) {
    /* timestamps in flight together: some sent, some queued at the break */
    tikv_future_t *ts[TS_PER_ROUND];
    for (int i = 0; i < TS_PER_ROUND; i++) ts[i] = tikv_client_current_timestamp(l->c, NULL);
    tikv_future_t *put = tikv_raw_put(l->c, key, sizeof(key) - 1, val, 1, 0, NULL);
    for (int i = 0; i < TS_PER_ROUND; i++) {
      uint64_t v = 0;
      if (settle(l, "timestamp", ts[i]) && tikv_future_get_u64(ts[i], &v) == 1) {
        if (v <= l->last_ts) l->ts_backwards = true;
        l->last_ts = v;
      }
      tikv_future_destroy(ts[i]);
    }
    settle(l, "raw put", put);
    tikv_future_destroy(put);
    /* a transaction: two timestamps, prewrite and commit */
    tikv_txn_t *t = tikv_txn_new(l->c, NULL, NULL);
    tikv_future_t *f = tikv_txn_begin(t, NULL);
    if (settle(l, "txn begin", f)) {
      tikv_future_destroy(f);
      f = tikv_txn_put(t, key, sizeof(key) - 1, val, 1, NULL);
      if (settle(l, "txn put", f)) {
        tikv_future_destroy(f);
        f = tikv_txn_commit(t, NULL);
        settle(l, "txn commit", f);
      }
    }
    tikv_future_destroy(f);
    tikv_txn_free(t);
    atomic_fetch_add(&l->rounds, 1);
  }
  return NULL;
}

/* Runs the loop on c around fault(): some rounds before, the fault, the
 * new leader elected, some rounds after. */
static void loop_through(tikv_client_t *c, void (*fault)(void), loop_t *l) {
  l->c = c;
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, loop_thread, l), 0);
  WAIT_FOR(atomic_load(&l->rounds) >= 5);
  int old = tikv_mock_pd_leader(mock);
  fault();
  WAIT_FOR(tikv_mock_pd_leader(mock) != 0 && tikv_mock_pd_leader(mock) != old);
  int at = atomic_load(&l->rounds);
  WAIT_FOR(atomic_load(&l->rounds) >= at + 5);
  atomic_store(&l->stop, true);
  pthread_join(th, NULL);
}

static void kill_leader(void) {
  ck_assert_int_eq(tikv_mock_pd_member_set_down(mock, tikv_mock_pd_leader(mock), 1), 0);
}

static void transfer_leader(void) {
  int to = tikv_mock_pd_leader(mock) % tikv_mock_pd_member_count(mock) + 1;
  ck_assert_int_eq(tikv_mock_pd_transfer_leader(mock, to), 0);
}

/* A fresh client (GetMembers, GetRegion, GetStore: unary PD calls) reads
 * what the loop wrote. */
static void fresh_client_reads(void) {
  tikv_client_t *c = client_of(0, 20000);
  const uint8_t key[] = "pdfail/k";
  tikv_future_t *f = tikv_raw_get(c, key, sizeof(key) - 1, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  tikv_client_free(c);
}

START_TEST(leader_killed_no_operation_fails) {
  tikv_client_t *c = client_of(0, 20000);
  loop_t l = {0};
  loop_through(c, kill_leader, &l);
  ck_assert_msg(atomic_load(&l.failures) == 0, "%d failed, first: %s", atomic_load(&l.failures),
                l.first_failure);
  ck_assert_msg(!l.ts_backwards, "a timestamp went backwards");
  tikv_stats_t st;
  ck_assert_int_eq(tikv_client_stats(c, &st), TIKV_ERR_OK);
  /* the Tso stream broke and was opened again on the new leader */
  ck_assert_uint_ge(st.pd_transport + st.pd_not_leader, 1);
  ck_assert_uint_eq(st.pd_leader_changes, 1);
  ck_assert_int_eq(atomic_load(&leader_events), 1);
  fresh_client_reads();
  tikv_client_free(c);
}
END_TEST

START_TEST(leader_transferred_no_operation_fails) {
  tikv_client_t *c = client_of(0, 20000);
  loop_t l = {0};
  loop_through(c, transfer_leader, &l);
  ck_assert_msg(atomic_load(&l.failures) == 0, "%d failed, first: %s", atomic_load(&l.failures),
                l.first_failure);
  ck_assert_msg(!l.ts_backwards, "a timestamp went backwards");
  tikv_stats_t st;
  tikv_client_stats(c, &st);
  /* the old leader's Tso stream said "not leader" */
  ck_assert_uint_ge(st.pd_not_leader, 1);
  ck_assert_uint_eq(st.pd_leader_changes, 1);
  fresh_client_reads();
  tikv_client_free(c);
}
END_TEST

/* A unary call to a member that no longer leads is answered "not leader":
 * the client finds the leader and sends it again. */
START_TEST(unary_call_follows_transfer) {
  tikv_client_t *c = client_of(0, 20000);
  ck_assert_int_eq(tikv_mock_pd_transfer_leader(mock, 3), 0);
  tikv_future_t *f = tikv_client_gc(c, 1, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  tikv_stats_t st;
  tikv_client_stats(c, &st);
  ck_assert_uint_ge(st.pd_not_leader, 1);
  ck_assert_uint_eq(st.pd_leader_changes, 1);
  tikv_client_free(c);
}
END_TEST

START_TEST(learned_members_found_when_configured_one_dies) {
  tikv_client_t *c = client_of(1, 20000); /* knows member 1 only */
  ck_assert_int_eq(tikv_mock_pd_leader(mock), 1);
  kill_leader();
  tikv_future_t *f = tikv_client_current_timestamp(c, NULL);
  ck_assert_msg(tikv_future_wait(f) == TIKV_ERR_OK, "%s",
                tikv_error_message(tikv_future_get_error(f)));
  tikv_future_destroy(f);
  ck_assert_int_eq(tikv_mock_pd_leader(mock), 2);
  tikv_stats_t st;
  tikv_client_stats(c, &st);
  ck_assert_uint_eq(st.pd_leader_changes, 1);
  pthread_mutex_lock(&ev_mu);
  ck_assert_ptr_nonnull(strstr(last_leader_msg, tikv_mock_pd_member_address(mock, 2)));
  pthread_mutex_unlock(&ev_mu);
  tikv_client_free(c);
}
END_TEST

START_TEST(tso_deadline_shorter_than_election) {
  tikv_mock_set_pd_election_ms(mock, LONG_MS);
  tikv_client_t *c = client_of(0, 800);
  tikv_future_t *f = tikv_client_current_timestamp(c, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  /* requests in flight while the leader dies, and one after */
  tikv_future_t *fs[4];
  for (int i = 0; i < 3; i++) fs[i] = tikv_client_current_timestamp(c, NULL);
  kill_leader();
  fs[3] = tikv_client_current_timestamp(c, NULL);
  for (int i = 0; i < 4; i++) {
    int rc = tikv_future_wait(fs[i]);
    if (rc == TIKV_ERR_OK) { /* answered before the kill */
      tikv_future_destroy(fs[i]);
      continue;
    }
    const char *msg = tikv_error_message(tikv_future_get_error(fs[i]));
    ck_assert_msg(rc == TIKV_ERR_TIMEOUT, "%s: %s", tikv_err_name(rc), msg);
    ck_assert_msg(strstr(msg, "last error: ") != NULL, "no cause in: %s", msg);
    tikv_future_destroy(fs[i]);
  }
  /* and once PD has a leader again, timestamps come */
  tikv_mock_set_pd_election_ms(mock, 10);
  WAIT_FOR(tikv_mock_pd_leader(mock) != 0);
  f = tikv_client_current_timestamp(c, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  tikv_client_free(c);
}
END_TEST

/* A region error retried: counted by kind, with its backoff, and told. */
START_TEST(region_error_counted_and_told) {
  tikv_client_t *c = client_of(0, 20000);
  const uint8_t key[] = "pdfail/re";
  tikv_future_t *f = tikv_raw_put(c, key, sizeof(key) - 1, key, 1, 0, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  ck_assert_int_eq(tikv_mock_inject_region_error(mock, "RawGet", 0, "server_is_busy", 1), 0);
  f = tikv_raw_get(c, key, sizeof(key) - 1, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  tikv_stats_t st;
  tikv_client_stats(c, &st);
  ck_assert_uint_eq(st.region_server_is_busy, 1);
  ck_assert_uint_eq(st.region_not_leader + st.region_epoch_not_match + st.region_other, 0);
  ck_assert_uint_gt(st.backoff_ms, 0);
  ck_assert_int_eq(atomic_load(&region_events), 1);
  ck_assert_uint_eq(atomic_load(&region_event_id), tikv_mock_region_for_key(mock, key, sizeof(key) - 1));
  tikv_client_free(c);
}
END_TEST

START_TEST(stats_null_arguments) {
  tikv_stats_t st;
  ck_assert_int_eq(tikv_client_stats(NULL, &st), TIKV_ERR_INVALID_ARGUMENT);
  tikv_client_t *c = client_of(0, 2000);
  ck_assert_int_eq(tikv_client_stats(c, NULL), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_client_stats(c, &st), TIKV_ERR_OK);
  ck_assert_uint_eq(st.pd_leader_changes, 0);
  ck_assert_int_eq(tikv_config_set_event_callback(NULL, on_event, NULL), TIKV_ERR_INVALID_ARGUMENT);
  tikv_client_free(c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("pdfail");
  TCase *tc = tcase_create("pdfail");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, leader_killed_no_operation_fails);
  tcase_add_test(tc, leader_transferred_no_operation_fails);
  tcase_add_test(tc, unary_call_follows_transfer);
  tcase_add_test(tc, learned_members_found_when_configured_one_dies);
  tcase_add_test(tc, tso_deadline_shorter_than_election);
  tcase_add_test(tc, region_error_counted_and_told);
  tcase_add_test(tc, stats_null_arguments);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
