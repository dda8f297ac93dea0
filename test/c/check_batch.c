/* The BatchCommands transport (csrc/rpc/batch.c) against the mock cluster:
 * requests go over the stream when it is on and as unary calls when off,
 * concurrent requests share messages, a broken stream (an injected status,
 * a lost reply, a killed store) loses nothing and is opened again, a store
 * refusing the stream is spoken to unary for good, a batched request's
 * deadline fails it as a unary call's does, and close fails what the
 * streams hold. Plus the envelope's encoding, decoded back by protobuf-c. */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "rpc/batch.h"
#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_mock_client.h"

static tikv_mock_cluster_t *mock;

#define K(s) (const uint8_t *)(s), strlen(s)

static void setup(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 3;
  o.regions = 8; /* keys "a..." are in region 4, led by store 2 */
  o.raft_election_ms = 300;
  char err[256];
  mock = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(mock != NULL, "mock: %s", err);
}

static void teardown(void) { tikv_mock_cluster_stop(mock); }

/* batch: 0 off, 1 on; streams 0: the default */
static tikv_client_t *connect_with(int batch, int streams, uint32_t timeout_ms,
                                   uint32_t attempt_ms) {
  tikv_config_t *cfg = tikv_config_new();
  tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(mock));
  ck_assert_int_eq(tikv_config_set_batch_commands(cfg, batch), TIKV_ERR_OK);
  if (streams) ck_assert_int_eq(tikv_config_set_grpc_connections(cfg, streams), TIKV_ERR_OK);
  if (timeout_ms) ck_assert_int_eq(tikv_config_set_timeout_ms(cfg, timeout_ms), TIKV_ERR_OK);
  if (attempt_ms)
    ck_assert_int_eq(tikv_config_set_attempt_timeout_ms(cfg, attempt_ms), TIKV_ERR_OK);
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

static void put(tikv_client_t *c, const char *k, const char *v) {
  ok(tikv_raw_put(c, K(k), K(v), 0, NULL));
}

static void expect_value(tikv_future_t *f, const char *v) {
  ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
  const uint8_t *val;
  size_t len;
  ck_assert_int_eq(tikv_future_get_value(f, &val, &len), 1);
  ck_assert_int_eq((int)len, (int)strlen(v));
  ck_assert(memcmp(val, v, len) == 0);
  tikv_future_destroy(f);
}

static uint64_t calls(const char *m) { return tikv_mock_call_count(mock, m); }

/* ---- the envelope ---- */
START_TEST(encoding_decodes_as_kvproto_message) {
  Kvrpcpb__RawGetRequest g = KVRPCPB__RAW_GET_REQUEST__INIT;
  g.key.data = (uint8_t *)"key";
  g.key.len = 3;
  Kvrpcpb__RawPutRequest p = KVRPCPB__RAW_PUT_REQUEST__INIT;
  p.key.data = (uint8_t *)"k2";
  p.key.len = 2;
  p.value.len = 300; /* a two-byte length */
  uint8_t big[300];
  memset(big, 'v', sizeof(big));
  p.value.data = big;
  grpc_slice bodies[3];
  tikv__pack(&g.base, &bodies[0]);
  tikv__pack(&p.base, &bodies[1]);
  tikv__pack(&g.base, &bodies[2]);
  int cases[3] = {TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_RAW_GET,
                  TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_RAW_PUT,
                  TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_GET_HEALTH_FEEDBACK};
  uint64_t ids[3] = {1, 300, UINT64_MAX};
  grpc_slice s = tikv__batch_encode(3, cases, bodies, ids);
  Tikvpb__BatchCommandsRequest *q =
      tikvpb__batch_commands_request__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
  ck_assert_ptr_nonnull(q);
  ck_assert_uint_eq(q->n_requests, 3);
  ck_assert_uint_eq(q->n_request_ids, 3);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq((int)q->requests[i]->cmd_case, cases[i]);
    ck_assert(q->request_ids[i] == ids[i]);
  }
  ck_assert_uint_eq(q->requests[0]->rawget->key.len, 3);
  ck_assert(memcmp(q->requests[0]->rawget->key.data, "key", 3) == 0);
  ck_assert_uint_eq(q->requests[1]->rawput->value.len, 300);
  ck_assert(memcmp(q->requests[1]->rawput->value.data, big, 300) == 0);
  tikvpb__batch_commands_request__free_unpacked(q, NULL);
  grpc_slice_unref(s);
  for (int i = 0; i < 3; i++) grpc_slice_unref(bodies[i]);
}
END_TEST

/* ---- on and off ---- */
START_TEST(stream_when_on_unary_when_off) {
  tikv_client_t *on = connect_with(1, 0, 0, 0);
  uint64_t msgs = calls("BatchCommands"), gets = calls("RawGet");
  put(on, "a1", "v1");
  expect_value(tikv_raw_get(on, K("a1"), NULL), "v1");
  ck_assert_uint_eq(calls("RawGet") - gets, 1);
  ck_assert_uint_ge(calls("BatchCommands") - msgs, 2); /* the put's and the get's */
  tikv_client_free(on);

  tikv_client_t *off = connect_with(0, 0, 0, 0);
  msgs = calls("BatchCommands");
  gets = calls("RawGet");
  put(off, "a2", "v2");
  expect_value(tikv_raw_get(off, K("a2"), NULL), "v2");
  ck_assert_uint_eq(calls("RawGet") - gets, 1);
  ck_assert_uint_eq(calls("BatchCommands"), msgs);
  tikv_client_free(off);
}
END_TEST

/* requests without a batch case travel unary with batching on */
START_TEST(rows_without_a_case_stay_unary) {
  tikv_client_t *c = connect_with(1, 0, 0, 0);
  put(c, "a1", "v1");
  uint64_t msgs = calls("BatchCommands"), ttl = calls("RawGetKeyTTL");
  tikv_future_t *f = tikv_raw_get_key_ttl(c, K("a1"), NULL);
  tikv_future_wait(f); /* the mock may refuse TTLs (enable_ttl off): either way it was asked */
  tikv_future_destroy(f);
  ck_assert_uint_eq(calls("RawGetKeyTTL") - ttl, 1);
  ck_assert_uint_eq(calls("BatchCommands"), msgs);
  tikv_client_free(c);
}
END_TEST

/* ---- coalescing ---- */
#define BURST 300
START_TEST(concurrent_requests_share_messages) {
  tikv_client_t *c = connect_with(1, 1, 0, 0);
  put(c, "a1", "v1");
  uint64_t msgs = calls("BatchCommands"), gets = calls("RawGet");
  tikv_future_t *f[BURST];
  for (int i = 0; i < BURST; i++) f[i] = tikv_raw_get(c, K("a1"), NULL);
  for (int i = 0; i < BURST; i++) expect_value(f[i], "v1");
  uint64_t sent = calls("BatchCommands") - msgs;
  fprintf(stderr, "  %d gets in %llu BatchCommands messages\n", BURST, (unsigned long long)sent);
  ck_assert_uint_eq(calls("RawGet") - gets, BURST);
  ck_assert_uint_le(sent, BURST / 4);
  /* never more than 128 (client-go's max batch size) in one message */
  ck_assert_uint_ge(sent, (BURST + 127) / 128);
  tikv_client_free(c);
}
END_TEST

/* ---- window updates ---- */
typedef struct {
  int port;
  uint64_t at;     /* segments written when the result was handed over */
  atomic_int done;
} seg_probe;

static void count_at_result(tikv_future_t *f, void *arg) {
  seg_probe *p = arg;
  p->at = mc_segments_to(p->port);
  atomic_store(&p->done, 1);
}

/* With no reply owed, a stream has no receive posted: the next request
 * posts one, just after it, and gRPC's window update for the last reply
 * leaves in that request's write (rpc.h). Before, the receive was posted
 * again as each reply arrived and the update was written, on its own,
 * before the caller had its result. Each round holds a get's reply in the
 * mock, counts what the client has written to the store, and counts again
 * in the get's callback: nothing may be written in between. gRPC's own
 * pings (BDP probes, when a reply comes after a pause) may be now and then,
 * so the best of the rounds is taken; with the update on the reply's path
 * every round writes one. */
START_TEST(no_write_between_a_reply_and_its_result) {
  tikv_client_t *c = connect_with(1, 1, 5000, 0);
  put(c, "a1", "v1");
  const char *store = tikv_mock_store_address(mock, 2); /* leads region 4, keys "a..." */
  int port = atoi(strrchr(store, ':') + 1);
  uint64_t fewest = UINT64_MAX;
  int rounds = 0;
  for (int i = 0; i < 20 && rounds < 8; i++) {
    uint64_t gets = calls("RawGet");
    ck_assert_int_eq(tikv_mock_set_latency(mock, "RawGet", 40), 0);
    seg_probe p = {.port = port};
    tikv_future_t *f = tikv_raw_get(c, K("a1"), NULL);
    ck_assert_int_eq(tikv_future_set_callback(f, count_at_result, &p), TIKV_ERR_OK);
    ck_assert_uint_eq(mc_await_count(tikv_mock_call_count, mock, "RawGet", gets + 1, 5000),
                      gets + 1);
    /* the request's writes are done by the time the mock holds its reply;
     * this only makes sure (the reply comes 40 ms after the request) */
    usleep(5 * 1000);
    uint64_t held = mc_segments_to(port);
    int late = tikv_future_is_ready(f); /* answered already: the round tells nothing */
    ck_assert_int_eq(wait_code(f), TIKV_ERR_OK);
    while (!atomic_load(&p.done)) usleep(100);
    tikv_future_destroy(f);
    tikv_mock_set_latency(mock, "RawGet", 0);
    if (late) continue;
    rounds++;
    if (p.at - held < fewest) fewest = p.at - held;
  }
  ck_assert_int_ge(rounds, 3);
  ck_assert_uint_eq(fewest, 0);
  /* and the updates are not lost: each get writes once (its request with
   * the update for the reply before it) */
  uint64_t before = mc_segments_to(port);
  for (int i = 0; i < 20; i++) expect_value(tikv_raw_get(c, K("a1"), NULL), "v1");
  uint64_t writes = mc_segments_to(port) - before;
  ck_assert_uint_ge(writes, 20);
  ck_assert_uint_le(writes, 24);
  tikv_client_free(c);
}
END_TEST

/* ---- broken streams ---- */
START_TEST(broken_stream_loses_nothing) {
  tikv_client_t *c = connect_with(1, 1, 10000, 0);
  for (int i = 0; i < 20; i++) {
    char k[16], v[16];
    snprintf(k, sizeof(k), "a%02d", i);
    snprintf(v, sizeof(v), "v%02d", i);
    put(c, k, v);
  }
  /* the stream's next message ends it, with what it carries */
  uint64_t msgs = calls("BatchCommands");
  ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "BatchCommands", 14, 1), 0);
  tikv_future_t *f[20];
  for (int i = 0; i < 20; i++) {
    char k[16];
    snprintf(k, sizeof(k), "a%02d", i);
    f[i] = tikv_raw_get(c, K(k), NULL);
  }
  for (int i = 0; i < 20; i++) {
    char v[16];
    snprintf(v, sizeof(v), "v%02d", i);
    expect_value(f[i], v);
  }
  ck_assert_uint_ge(calls("BatchCommands") - msgs, 2); /* the failed one, then a new stream */
  /* a reply lost inside the stream: a read is sent again */
  ck_assert_int_eq(tikv_mock_inject_lost_reply(mock, 0, "RawGet", 1), 0);
  expect_value(tikv_raw_get(c, K("a03"), NULL), "v03");
  tikv_client_free(c);
}
END_TEST

START_TEST(killed_store_under_batched_requests) {
  tikv_client_t *c = connect_with(1, 2, 15000, 1000);
  for (int i = 0; i < 20; i++) {
    char k[16], v[16];
    snprintf(k, sizeof(k), "a%02d", i);
    snprintf(v, sizeof(v), "v%02d", i);
    put(c, k, v);
  }
  uint64_t store = tikv_mock_region_leader_store(mock, tikv_mock_region_for_key(mock, K("a00")));
  /* held by the store when it dies */
  ck_assert_int_eq(tikv_mock_set_latency(mock, "RawGet", 300), 0);
  uint64_t gets = calls("RawGet");
  tikv_future_t *f[20];
  for (int i = 0; i < 20; i++) {
    char k[16];
    snprintf(k, sizeof(k), "a%02d", i);
    f[i] = tikv_raw_get(c, K(k), NULL);
  }
  ck_assert_uint_ge(mc_await_count(tikv_mock_call_count, mock, "RawGet", gets + 20, 5000),
                    gets + 20);
  ck_assert_int_eq(tikv_mock_store_set_down(mock, store, 1), 0);
  tikv_mock_set_latency(mock, "RawGet", 0);
  for (int i = 0; i < 20; i++) {
    char v[16];
    snprintf(v, sizeof(v), "v%02d", i);
    expect_value(f[i], v);
  }
  ck_assert_int_eq(tikv_mock_store_set_down(mock, store, 0), 0);
  /* the store back: writes and reads on all regions go through */
  put(c, "b1", "w1");
  expect_value(tikv_raw_get(c, K("b1"), NULL), "w1");
  tikv_client_free(c);
}
END_TEST

/* ---- a store without BatchCommands ---- */
START_TEST(refusing_store_falls_back_to_unary) {
  ck_assert_int_eq(tikv_mock_inject_grpc_error(mock, "BatchCommands", 12, 1000), 0);
  tikv_client_t *c = connect_with(1, 2, 5000, 0);
  put(c, "a1", "v1"); /* refused, then sent unary */
  expect_value(tikv_raw_get(c, K("a1"), NULL), "v1");
  uint64_t msgs = calls("BatchCommands"), gets = calls("RawGet");
  for (int i = 0; i < 5; i++) expect_value(tikv_raw_get(c, K("a1"), NULL), "v1");
  ck_assert_uint_eq(calls("RawGet") - gets, 5);
  ck_assert_uint_eq(calls("BatchCommands"), msgs); /* for good: no stream tried again */
  tikv_mock_clear_faults(mock);
  tikv_client_free(c);
}
END_TEST

/* ---- deadlines ---- */
static int get_timing_out(int batch, int *grpc_status, int64_t *took) {
  tikv_client_t *c = connect_with(batch, 1, 400, 150);
  put(c, "a1", "v1");
  ck_assert_int_eq(tikv_mock_set_latency(mock, "RawGet", 600), 0);
  int64_t t0 = tikv__now_ms();
  tikv_future_t *f = tikv_raw_get(c, K("a1"), NULL);
  int code = tikv_future_wait(f);
  *took = tikv__now_ms() - t0;
  *grpc_status = tikv_error_grpc_status(tikv_future_get_error(f));
  tikv_future_destroy(f);
  /* the late replies arrive and are dropped; the stream serves on */
  tikv_mock_set_latency(mock, "RawGet", 0);
  usleep(700 * 1000);
  expect_value(tikv_raw_get(c, K("a1"), NULL), "v1");
  tikv_client_free(c);
  return code;
}

START_TEST(batched_request_deadline_as_unary) {
  int st_batch, st_unary;
  int64_t took_batch, took_unary;
  int code_batch = get_timing_out(1, &st_batch, &took_batch);
  int code_unary = get_timing_out(0, &st_unary, &took_unary);
  fprintf(stderr, "  timed out after %lld ms batched, %lld ms unary\n", (long long)took_batch,
          (long long)took_unary);
  ck_assert_int_eq(code_batch, TIKV_ERR_TIMEOUT);
  ck_assert_int_eq(code_unary, TIKV_ERR_TIMEOUT);
  ck_assert_int_eq(st_batch, st_unary);
  ck_assert_int_eq(st_batch, 4); /* DEADLINE_EXCEEDED, the last attempt's */
  ck_assert_int_lt(took_batch, 590);
}
END_TEST

/* ---- close ---- */
START_TEST(close_fails_pending_with_closed) {
  tikv_client_t *c = connect_with(1, 2, 20000, 10000);
  put(c, "a1", "v1");
  put(c, "k1", "v1"); /* another store */
  ck_assert_int_eq(tikv_mock_set_latency(mock, "RawGet", 5000), 0);
  uint64_t gets = calls("RawGet");
  tikv_future_t *f[20];
  for (int i = 0; i < 20; i++) f[i] = tikv_raw_get(c, K(i % 2 ? "a1" : "k1"), NULL);
  ck_assert_uint_ge(mc_await_count(tikv_mock_call_count, mock, "RawGet", gets + 20, 5000),
                    gets + 20);
  int64_t t0 = tikv__now_ms();
  tikv_client_close(c);
  ck_assert_int_lt(tikv__now_ms() - t0, 2000);
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq(tikv_future_wait(f[i]), TIKV_ERR_CLOSED);
    tikv_future_destroy(f[i]);
  }
  tikv_client_free(c);
  tikv_mock_set_latency(mock, "RawGet", 0);
}
END_TEST

/* ---- one request cancelled through its scope (an operation's cancel) ----
 * Straight on the rpc layer: a loop, an rpc with one stream per store, a
 * connection to the store; everything that touches them runs on the loop. */
typedef struct cancel_fix {
  tikv__loop_t *loop;
  tikv__rpc_t rpc;
  tikv__conn_t *conn;
  tikv__scope_t scope;
  _Atomic int calls, code, done;
} cancel_fix_t;

static void on_cancel_reply(void *arg, tikv_error_t *err, ProtobufCMessage *resp) {
  cancel_fix_t *x = arg;
  atomic_store(&x->code, err ? tikv_error_code_of(err) : 0);
  if (err) tikv__error_free(err);
  tikv__reply_free(resp);
  atomic_fetch_add(&x->calls, 1);
}

static void send_get(void *arg) {
  cancel_fix_t *x = arg;
  Kvrpcpb__RawGetRequest g = KVRPCPB__RAW_GET_REQUEST__INIT;
  g.key.data = (uint8_t *)"a1";
  g.key.len = 2;
  grpc_slice s;
  tikv__pack(&g.base, &s);
  /* no context: the store answers with a region error, an answer all the same */
  tikv__scope_init(&x->scope, x->loop, tikv__now_ms() + 5000);
  int r = tikv__batch_send(&x->rpc, x->conn, tikv__conn_batch(x->conn),
                           tikv__req(TIKV__REQ_RAW_GET), s, tikv__now_ms() + 5000, &x->scope,
                           on_cancel_reply, x);
  ck_assert_ptr_nonnull(x->scope.waits); /* the pending request waits in the scope */
  ck_assert_int_eq(r, 0);
  atomic_store(&x->done, 1);
}

static void cancel_it(void *arg) {
  cancel_fix_t *x = arg;
  tikv__scope_cancel(&x->scope);
  ck_assert_ptr_null(x->scope.waits); /* it left the scope as it failed */
  atomic_store(&x->done, 1);
}

static void drop_conn(void *arg) {
  cancel_fix_t *x = arg;
  tikv__conn_free(x->conn);
  atomic_store(&x->done, 1);
}

static void drain(void *arg) { tikv__rpc_cancel_all(arg); }

static void on_loop(cancel_fix_t *x, tikv__task_fn fn) {
  atomic_store(&x->done, 0);
  ck_assert_int_eq(tikv__loop_post(x->loop, fn, x), 0);
  while (!atomic_load(&x->done)) usleep(1000);
}

static void wait_calls(cancel_fix_t *x, int n) {
  for (int i = 0; i < 5000 && atomic_load(&x->calls) < n; i++) usleep(1000);
}

START_TEST(one_request_cancelled_late_reply_dropped) {
  cancel_fix_t *x = calloc(1, sizeof(*x));
  x->loop = tikv__loop_new();
  x->rpc.loop = x->loop;
  x->rpc.batch_streams = 1;
  x->conn = tikv__conn_new(&x->rpc, tikv_mock_store_address(mock, 1));
  ck_assert_ptr_nonnull(x->conn);
  ck_assert_int_eq(tikv_mock_set_latency(mock, "RawGet", 300), 0);
  uint64_t gets = calls("RawGet");
  on_loop(x, send_get);
  ck_assert_uint_eq(mc_await_count(tikv_mock_call_count, mock, "RawGet", gets + 1, 5000), gets + 1);
  on_loop(x, cancel_it);
  ck_assert_int_eq(atomic_load(&x->calls), 1);
  ck_assert_int_eq(atomic_load(&x->code), TIKV_ERR_CANCELLED);
  usleep(500 * 1000); /* the reply comes, finds no request, is dropped */
  ck_assert_int_eq(atomic_load(&x->calls), 1);
  /* the stream serves on */
  tikv_mock_set_latency(mock, "RawGet", 0);
  on_loop(x, send_get);
  wait_calls(x, 2);
  ck_assert_int_eq(atomic_load(&x->calls), 2);
  ck_assert_int_eq(atomic_load(&x->code), 0);
  ck_assert_ptr_null(x->scope.waits); /* answered: gone from its scope */
  on_loop(x, drop_conn); /* its idle stream closes and frees it */
  tikv__loop_stop(x->loop, drain, &x->rpc);
  tikv__loop_free(x->loop);
  free(x);
}
END_TEST

START_TEST(config_setters) {
  tikv_config_t *cfg = tikv_config_new();
  ck_assert_int_eq(tikv_config_set_batch_commands(NULL, 1), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_config_set_grpc_connections(cfg, 0), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_config_set_grpc_connections(cfg, 65), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(tikv_config_set_grpc_connections(cfg, 4), TIKV_ERR_OK);
  tikv_config_free(cfg);
}
END_TEST

int main(void) {
  Suite *s = suite_create("batch");
  TCase *u = tcase_create("unit");
  tcase_add_test(u, encoding_decodes_as_kvproto_message);
  tcase_add_test(u, config_setters);
  suite_add_tcase(s, u);
  TCase *tc = tcase_create("batch");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, stream_when_on_unary_when_off);
  tcase_add_test(tc, rows_without_a_case_stay_unary);
  tcase_add_test(tc, concurrent_requests_share_messages);
  tcase_add_test(tc, no_write_between_a_reply_and_its_result);
  tcase_add_test(tc, broken_stream_loses_nothing);
  tcase_add_test(tc, killed_store_under_batched_requests);
  tcase_add_test(tc, refusing_store_falls_back_to_unary);
  tcase_add_test(tc, batched_request_deadline_as_unary);
  tcase_add_test(tc, close_fails_pending_with_closed);
  tcase_add_test(tc, one_request_cancelled_late_reply_dropped);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
