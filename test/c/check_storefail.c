/* The client through store failures, against the mock cluster: a store
 * killed under reads and writes (with PD silent too: the region's other
 * peers name the new leader), a hung store cut short by the attempt
 * timeout, the transport statuses that are retried and those that are not,
 * the health check that gates a failed store's reuse, and lost replies: a
 * read's is sent again, the primary commit's and an async-commit or 1PC
 * prewrite's make the commit UNDETERMINED, and the data is then whole. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvrpcpb.pb-c.h"
#include "tikv/mock.h"
#include "txn/txn_internal.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

static tikv_mock_cluster_t *mock;

#define K(s) (const uint8_t *)(s), strlen(s)

static void setup(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 3;
  o.regions = 8; /* region i led by store i % 3 + 1: "0.." on 1, "8.." on 2, "G.." on 3 */
  o.raft_election_ms = 300;
  char err[256];
  mock = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(mock != NULL, "mock: %s", err);
}

static void teardown(void) { tikv_mock_cluster_stop(mock); }

static tikv_client_t *connect_with(uint32_t timeout_ms, uint32_t attempt_ms) {
  tikv_config_t *cfg = tikv_config_new();
  tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(mock));
  ck_assert_int_eq(tikv_config_set_timeout_ms(cfg, timeout_ms), TIKV_ERR_OK);
  if (attempt_ms) ck_assert_int_eq(tikv_config_set_attempt_timeout_ms(cfg, attempt_ms), TIKV_ERR_OK);
  return mc_client_connected(cfg);
}

static int wait_code(tikv_future_t *f) {
  int code = tikv_future_wait(f);
  if (code != TIKV_ERR_OK)
    fprintf(stderr, "  (%s: %s)\n", tikv_err_name(code),
            tikv_error_message(tikv_future_get_error(f)));
  return code;
}

static void ok(tikv_future_t *f) {
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
}

/* raw get of key: 1 and the value equal to want, 0 when absent */
static void raw_is(tikv_client_t *c, const char *key, const char *want) {
  tikv_future_t *f = tikv_raw_get(c, K(key), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const uint8_t *v;
  size_t len;
  int found = tikv_future_get_value(f, &v, &len);
  if (want) {
    ck_assert_msg(found == 1, "%s: not found", key);
    ck_assert_int_eq(len, strlen(want));
    ck_assert(memcmp(v, want, len) == 0);
  } else {
    ck_assert_int_eq(found, 0);
  }
  tikv_future_destroy(f);
}

static tikv_txn_t *begin(tikv_client_t *c, int async_commit, int one_pc) {
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.async_commit = async_commit;
  o.try_one_pc = one_pc;
  tikv_txn_t *t = tikv_txn_new(c, &o, NULL);
  ck_assert_ptr_nonnull(t);
  ok(tikv_txn_begin(t, NULL));
  return t;
}

/* a transactional read in a new snapshot (which resolves the locks it
 * meets); opts NULL: the client's timeout */
static void txn_is_within(tikv_client_t *c, const char *key, const char *want,
                          const tikv_call_opts_t *opts) {
  tikv_txn_t *t = begin(c, 0, 0);
  tikv_future_t *f = tikv_txn_get(t, K(key), opts);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const uint8_t *v;
  size_t len;
  int found = tikv_future_get_value(f, &v, &len);
  if (want) {
    ck_assert_msg(found == 1, "%s: not found", key);
    ck_assert_int_eq(len, strlen(want));
    ck_assert(memcmp(v, want, len) == 0);
  } else {
    ck_assert_msg(found == 0, "%s: found", key);
  }
  tikv_future_destroy(f);
  tikv_txn_free(t);
}

static void txn_is(tikv_client_t *c, const char *key, const char *want) {
  txn_is_within(c, key, want, NULL);
}

static uint64_t leader_of(const char *key) {
  return tikv_mock_region_leader_store(mock, tikv_mock_region_for_key(mock, K(key)));
}

/* ---- transport statuses ---- */
START_TEST(transport_statuses_retried_others_final) {
  tikv_client_t *c = connect_with(10000, 0);
  ok(tikv_raw_put(c, K("0t"), K("v"), 0, NULL));
  /* what gRPC core makes of a broken call: retried, never surfaced */
  const int retried[] = {2 /* UNKNOWN: "Channel Destroyed" */, 14 /* UNAVAILABLE */,
                         1 /* CANCELLED, not by us */, 4 /* DEADLINE_EXCEEDED */};
  for (size_t i = 0; i < sizeof(retried) / sizeof(retried[0]); i++) {
    uint64_t before = tikv_mock_call_count(mock, "RawGet");
    ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "RawGet", retried[i], 2), 0);
    raw_is(c, "0t", "v");
    ck_assert_uint_ge(tikv_mock_call_count(mock, "RawGet") - before, 3);
  }
  /* a commit's primary through a cut-off call: sent again, it finds out */
  tikv_txn_t *t = begin(c, 0, 0);
  ok(tikv_txn_put(t, K("0u"), K("c"), NULL));
  ok(tikv_txn_put(t, K("8u"), K("c"), NULL));
  ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "KvCommit", 2, 1), 0);
  ok(tikv_txn_commit(t, NULL));
  tikv_txn_free(t);
  txn_is(c, "0u", "c");
  txn_is(c, "8u", "c");
  /* a server's answer to the request: final at once */
  const int final[] = {12 /* UNIMPLEMENTED */, 3 /* INVALID_ARGUMENT */};
  for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++) {
    ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "RawGet", final[i], 1), 0);
    tikv_future_t *f = tikv_raw_get(c, K("0t"), NULL);
    ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_GRPC);
    ck_assert_int_eq(tikv_error_grpc_status(tikv_future_get_error(f)), final[i]);
    tikv_future_destroy(f);
  }
  tikv_client_free(c);
  /* retried until the deadline, which names the last cause */
  c = connect_with(800, 0);
  ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "RawGet", 2, 1000000), 0);
  tikv_future_t *f = tikv_raw_get(c, K("0t"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  const tikv_error_t *e = tikv_future_get_error(f);
  ck_assert_msg(strstr(tikv_error_message(e), "UNKNOWN") != NULL, "%s", tikv_error_message(e));
  ck_assert_int_eq(tikv_error_grpc_status(e), 2);
  tikv_future_destroy(f);
  tikv_mock_clear_faults(mock);
  tikv_client_free(c);
}
END_TEST

/* ---- a hung store ---- */
typedef struct {
  uint64_t calls; /* RawGet calls before the read */
  uint64_t region, to_store;
} unhang_t;

/* Once the read has been sent a second time (its first attempt timed out),
 * the store is cured and the region's leader moves. */
static void *unhang(void *arg) {
  unhang_t *u = arg;
  mc_await_count(tikv_mock_call_count, mock, "RawGet", u->calls + 2, 8000);
  tikv_mock_set_latency(mock, "RawGet", 0);
  tikv_mock_transfer_leader(mock, u->region, u->to_store);
  return NULL;
}

START_TEST(hung_store_costs_one_attempt) {
  tikv_client_t *c = connect_with(10000, 300);
  ok(tikv_raw_put(c, K("0h"), K("v"), 0, NULL));
  ck_assert_int_eq(tikv_mock_set_latency(mock, "RawGet", 60000), 0);
  unhang_t u = {tikv_mock_call_count(mock, "RawGet"), tikv_mock_region_for_key(mock, K("0h")), 2};
  pthread_t th;
  pthread_create(&th, NULL, unhang, &u);
  raw_is(c, "0h", "v"); /* not TIMEOUT after the operation's 10 s */
  pthread_join(th, NULL);
  ck_assert_uint_eq(leader_of("0h"), 2);
  tikv_client_free(c);
}
END_TEST

START_TEST(attempt_timeout_option) {
  tikv_config_t *cfg = tikv_config_new();
  ck_assert_int_eq(tikv_config_set_attempt_timeout_ms(cfg, 0), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_config_set_attempt_timeout_ms(NULL, 10), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_config_set_attempt_timeout_ms(cfg, 10), TIKV_ERR_OK);
  tikv_config_free(cfg);
}
END_TEST

/* A pessimistic lock waits on the server: the holder commits well after
 * the waiter's attempt timeout would have passed (by rolling back, so that
 * the waiter's one request takes the lock, with no conflict to retry). */
typedef struct {
  tikv_txn_t *holder;
  uint64_t calls;
} holder_t;

static void *release_later(void *arg) {
  holder_t *h = arg;
  mc_await_count(tikv_mock_call_count, mock, "KvPessimisticLock", h->calls + 1, 8000);
  /* past the waiter's 300 ms attempt timeout, within TiKV's (and the
   * mock's) 1 s cap on one request's wait */
  usleep(500 * 1000);
  ok(tikv_txn_rollback(h->holder, NULL));
  return NULL;
}

START_TEST(pessimistic_lock_wait_outlasts_attempt) {
  tikv_client_t *c = connect_with(10000, 300);
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.pessimistic = 1;
  o.lock_wait_timeout_ms = 5000;
  tikv_txn_t *holder = tikv_txn_new(c, &o, NULL), *waiter = tikv_txn_new(c, &o, NULL);
  ok(tikv_txn_begin(holder, NULL));
  ok(tikv_txn_begin(waiter, NULL));
  tikv_slice_t key = {(const uint8_t *)"0x", 2};
  ok(tikv_txn_lock_keys(holder, &key, 1, NULL));
  ok(tikv_txn_put(holder, K("0x"), K("held"), NULL));
  holder_t h = {holder, tikv_mock_call_count(mock, "KvPessimisticLock")};
  pthread_t th;
  pthread_create(&th, NULL, release_later, &h);
  tikv_future_t *f = tikv_txn_get_for_update(waiter, K("0x"), NULL);
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  tikv_future_destroy(f);
  pthread_join(th, NULL);
  /* one request held by TiKV until the lock was released, and the one
   * sent after its wake-up, which takes the lock: none cut short by the
   * attempt timeout and sent again */
  ck_assert_uint_le(tikv_mock_call_count(mock, "KvPessimisticLock") - h.calls, 2);
  ok(tikv_txn_rollback(waiter, NULL));
  tikv_txn_free(holder);
  tikv_txn_free(waiter);
  tikv_client_free(c);
}
END_TEST

/* ---- a store killed ---- */

/* the client talks to every store once, so that it knows their addresses */
static void warm(tikv_client_t *c) {
  const char *keys[] = {"0w", "8w", "Gw"};
  for (int i = 0; i < 3; i++) {
    ok(tikv_raw_put(c, K(keys[i]), K("w"), 0, NULL));
    ck_assert_uint_eq(leader_of(keys[i]), (uint64_t)i + 1);
  }
}

START_TEST(store_down_pd_silent_peers_name_the_leader) {
  tikv_client_t *c = connect_with(10000, 0);
  warm(c);
  ok(tikv_raw_put(c, K("0k"), K("before"), 0, NULL));
  /* PD cannot help: only the region's other peers know the new leader */
  ck_assert_int_eq(tikv_mock_pd_pause(mock, 1), 0);
  ck_assert_int_eq(tikv_mock_store_set_down(mock, 1, 1), 0);
  raw_is(c, "0k", "before");
  ok(tikv_raw_put(c, K("0k"), K("after"), 0, NULL));
  raw_is(c, "0k", "after");
  uint64_t now = leader_of("0k");
  ck_assert_uint_ne(now, 1);
  ck_assert_uint_ne(now, 0);
  ck_assert_int_eq(tikv_mock_pd_pause(mock, 0), 0);
  tikv_client_free(c);
}
END_TEST

START_TEST(store_down_under_reads_and_writes) {
  tikv_client_t *c = connect_with(10000, 0);
  warm(c);
  enum { ROUNDS = 12, KILL_AT = 4 };
  char keys[3][16];
  int failures = 0;
  uint64_t get_region = 0;
  for (int r = 0; r < ROUNDS; r++) {
    if (r == KILL_AT) get_region = tikv_mock_pd_call_count(mock, "GetRegion");
    char val[16];
    snprintf(val, sizeof(val), "v%d", r);
    tikv_txn_t *t = begin(c, 0, 0);
    for (int i = 0; i < 3; i++) {
      snprintf(keys[i], sizeof(keys[i]), "%cs%d", "08G"[i], r);
      ok(tikv_txn_put(t, K(keys[i]), K(val), NULL));
    }
    tikv_future_t *commit = tikv_txn_commit(t, NULL);
    tikv_future_t *raw = tikv_raw_put(c, K("0r"), K(val), 0, NULL);
    /* killed while the commit and the raw write are on their way */
    if (r == KILL_AT) ck_assert_int_eq(tikv_mock_store_set_down(mock, 1, 1), 0);
    failures += wait_code(commit) != TIKV_ERR_OK;
    failures += wait_code(raw) != TIKV_ERR_OK;
    tikv_future_destroy(commit);
    tikv_future_destroy(raw);
    tikv_txn_free(t);
    for (int i = 0; i < 3; i++) txn_is(c, keys[i], val);
    raw_is(c, "0r", val);
  }
  ck_assert_int_eq(failures, 0);
  /* the cached regions' other peers were asked, not PD for the key again */
  ck_assert_uint_eq(tikv_mock_pd_call_count(mock, "GetRegion"), get_region);
  /* the reads of store 1's regions went to their new leaders */
  ck_assert_uint_ne(leader_of("0s0"), 1);
  ck_assert_uint_eq(tikv_mock_region_has_leader(mock, tikv_mock_region_for_key(mock, K("0s0"))), 1);
  tikv_client_free(c);
}
END_TEST

/* ---- the health check ---- */
START_TEST(health_check_gates_reuse) {
  tikv_client_t *c = connect_with(1500, 0);
  ok(tikv_raw_put(c, K("0g"), K("v"), 0, NULL));
  ck_assert_uint_eq(leader_of("0g"), 1);
  /* store 1 fails one call and then says it does not serve: while it says
   * so, nothing goes to it (its peers name it the leader in vain) */
  ck_assert_int_eq(tikv_mock_store_set_serving(mock, 1, 0), 0);
  ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "RawGet", 14, 1), 0);
  uint64_t before = tikv_mock_call_count(mock, "RawGet");
  tikv_future_t *f = tikv_raw_get(c, K("0g"), NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  tikv_future_destroy(f);
  /* and the peers' answers naming the down store are backed off, not
   * chased back and forth (that would be thousands of calls) */
  ck_assert_uint_lt(tikv_mock_call_count(mock, "RawGet") - before, 100);
  /* serving again: the next health check lets the requests back */
  ck_assert_int_eq(tikv_mock_store_set_serving(mock, 1, 1), 0);
  raw_is(c, "0g", "v");
  tikv_client_free(c);
}
END_TEST

/* ---- lost replies ---- */
START_TEST(lost_read_reply_is_sent_again) {
  tikv_client_t *c = connect_with(10000, 0);
  ok(tikv_raw_put(c, K("0l"), K("v"), 0, NULL));
  tikv_txn_t *t = begin(c, 0, 0);
  ok(tikv_txn_put(t, K("8l"), K("w"), NULL));
  ok(tikv_txn_commit(t, NULL));
  tikv_txn_free(t);
  uint64_t before = tikv_mock_call_count(mock, "RawGet");
  ck_assert_int_eq(tikv_mock_inject_lost_reply(mock, 0, "RawGet", 1), 0);
  raw_is(c, "0l", "v");
  ck_assert_uint_eq(tikv_mock_call_count(mock, "RawGet") - before, 2);
  before = tikv_mock_call_count(mock, "KvGet");
  ck_assert_int_eq(tikv_mock_inject_lost_reply(mock, 0, "KvGet", 1), 0);
  txn_is(c, "8l", "w");
  ck_assert_uint_eq(tikv_mock_call_count(mock, "KvGet") - before, 2);
  tikv_client_free(c);
}
END_TEST

/* Commits keys (each in its own region) with every reply of `method`
 * lost, until the deadline; the commit must be UNDETERMINED. */
static void commit_with_lost(tikv_client_t *c, const char *method, int async_commit, int one_pc,
                             const char *const *keys, int n) {
  tikv_txn_t *t = begin(c, async_commit, one_pc);
  for (int i = 0; i < n; i++) ok(tikv_txn_put(t, K(keys[i]), K("x"), NULL));
  ck_assert_int_eq(tikv_mock_inject_lost_reply(mock, 0, method, 1000000), 0);
  tikv_future_t *f = tikv_txn_commit(t, NULL);
  int code = wait_code(f);
  ck_assert_msg(code == TIKV_ERR_UNDETERMINED, "%s lost: %s", method, tikv_err_name(code));
  ck_assert(!tikv_error_retryable(tikv_future_get_error(f)));
  tikv_future_destroy(f);
  tikv_txn_free(t);
  tikv_mock_clear_faults(mock);
}

/* The lost replies were of applied requests: once the readers have
 * resolved the locks, every key is there, none half. The locks may have to
 * live out their TTL first (counted from the prewrite), and the commit gave
 * up as much as one backoff before its own deadline: with the client's
 * timeout of 2 s a reader could run out of time waiting for them (seen
 * under ASan), so the readers' deadline covers the TTL. */
static void all_there(tikv_client_t *c, const char *const *keys, int n) {
  tikv_call_opts_t o;
  tikv_call_opts_init(&o);
  o.timeout_ms = TIKV__DEFAULT_LOCK_TTL_MS + 2000;
  for (int i = 0; i < n; i++) txn_is_within(c, keys[i], "x", &o);
}

START_TEST(lost_primary_commit_is_undetermined) {
  tikv_client_t *c = connect_with(2000, 0);
  const char *keys[] = {"0p", "8p", "Gp"};
  commit_with_lost(c, "KvCommit", 0, 0, keys, 3);
  all_there(c, keys, 3);
  /* one lost reply: the commit sent again finds it done */
  tikv_txn_t *t = begin(c, 0, 0);
  ok(tikv_txn_put(t, K("0q"), K("y"), NULL));
  ok(tikv_txn_put(t, K("8q"), K("y"), NULL));
  ck_assert_int_eq(tikv_mock_inject_lost_reply(mock, 0, "KvCommit", 1), 0);
  ok(tikv_txn_commit(t, NULL));
  tikv_txn_free(t);
  txn_is(c, "0q", "y");
  txn_is(c, "8q", "y");
  tikv_client_free(c);
}
END_TEST

/* Rolls back txn start_ts's lock on key at its region's leader, as another
 * client's resolver may (straight to the store, beside the client). */
static void rollback_at_store(const char *key, uint64_t start_ts) {
  uint64_t region = tikv_mock_region_for_key(mock, K(key));
  uint64_t store = tikv_mock_region_leader_store(mock, region);
  Metapb__RegionEpoch epoch = METAPB__REGION_EPOCH__INIT;
  ck_assert_int_eq(tikv_mock_region_epoch(mock, region, &epoch.conf_ver, &epoch.version), 0);
  Metapb__Peer peer = METAPB__PEER__INIT;
  peer.store_id = store;
  peer.id = tikv_mock_region_peer_on_store(mock, region, store);
  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
  ctx.region_id = region;
  ctx.region_epoch = &epoch;
  ctx.peer = &peer;
  ProtobufCBinaryData k = {strlen(key), (uint8_t *)key};
  Kvrpcpb__BatchRollbackRequest q = KVRPCPB__BATCH_ROLLBACK_REQUEST__INIT;
  q.context = &ctx;
  q.start_version = start_ts;
  q.n_keys = 1;
  q.keys = &k;
  ProtobufCMessage *resp = NULL;
  char details[256];
  ck_assert_int_eq(mc_unary(tikv_mock_store_address(mock, store), "/tikvpb.Tikv/KvBatchRollback",
                            &q.base, &kvrpcpb__batch_rollback_response__descriptor, &resp, 5000,
                            details, sizeof(details)),
                   0);
  Kvrpcpb__BatchRollbackResponse *r = (Kvrpcpb__BatchRollbackResponse *)resp;
  ck_assert_ptr_null(r->region_error);
  ck_assert_ptr_null(r->error);
  protobuf_c_message_free_unpacked(resp, NULL);
}

/* A primary commit that failed at transport level and then finds its lock
 * gone: whether the failed attempt committed cannot be told from here
 * (client-go's rule: an RPC error before a failure is undetermined). */
START_TEST(primary_commit_failing_after_a_transport_error_is_undetermined) {
  tikv_client_t *c = connect_with(10000, 0);
  tikv_txn_t *t = begin(c, 0, 0);
  ok(tikv_txn_put(t, K("0z"), K("x"), NULL));
  ok(tikv_txn_put(t, K("8z"), K("x"), NULL));
  uint64_t commits = tikv_mock_call_count(mock, "KvCommit");
  ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "KvCommit", 14, 1000000), 0);
  tikv_future_t *f = tikv_txn_commit(t, NULL);
  mc_await_count(tikv_mock_call_count, mock, "KvCommit", commits + 1, 8000);
  rollback_at_store("0z", tikv_txn_start_ts(t));
  tikv_mock_clear_faults(mock);
  int code = wait_code(f);
  ck_assert_msg(code == TIKV_ERR_UNDETERMINED, "%s", tikv_err_name(code));
  tikv_future_destroy(f);
  tikv_txn_free(t);
  /* here it was not committed: nothing of it is visible, none half */
  txn_is(c, "0z", NULL);
  txn_is(c, "8z", NULL);
  tikv_client_free(c);
}
END_TEST

START_TEST(lost_async_commit_prewrite_is_undetermined) {
  tikv_client_t *c = connect_with(2000, 0);
  const char *keys[] = {"0a", "8a", "Ga"};
  commit_with_lost(c, "KvPrewrite", 1, 0, keys, 3);
  all_there(c, keys, 3);
  tikv_client_free(c);
}
END_TEST

START_TEST(lost_one_pc_prewrite_is_undetermined) {
  tikv_client_t *c = connect_with(2000, 0);
  const char *keys[] = {"0o", "1o"}; /* one region: one request */
  commit_with_lost(c, "KvPrewrite", 0, 1, keys, 2);
  all_there(c, keys, 2);
  tikv_client_free(c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("storefail");
  TCase *tc = tcase_create("storefail");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, transport_statuses_retried_others_final);
  tcase_add_test(tc, hung_store_costs_one_attempt);
  tcase_add_test(tc, attempt_timeout_option);
  tcase_add_test(tc, pessimistic_lock_wait_outlasts_attempt);
  tcase_add_test(tc, store_down_pd_silent_peers_name_the_leader);
  tcase_add_test(tc, store_down_under_reads_and_writes);
  tcase_add_test(tc, health_check_gates_reuse);
  tcase_add_test(tc, lost_read_reply_is_sent_again);
  tcase_add_test(tc, lost_primary_commit_is_undetermined);
  tcase_add_test(tc, primary_commit_failing_after_a_transport_error_is_undetermined);
  tcase_add_test(tc, lost_async_commit_prewrite_is_undetermined);
  tcase_add_test(tc, lost_one_pc_prewrite_is_undetermined);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
