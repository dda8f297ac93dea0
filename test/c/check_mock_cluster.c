/* The mock cluster failing like a cluster, seen from the wire (raw gRPC, no
 * client library): several PD members with one leader, PD leader kills,
 * pauses and transfers, store loss with Raft-like elections, replies lost
 * after the request was applied; and the store-wide GetStoreSafeTS. Every
 * path, descriptor and batch case comes from the request table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "rpc/requests.h"
#include "tikv/mock.h"
#include "util_mock_client.h"

#define TIMEOUT_MS 5000
#define FREE(p) protobuf_c_message_free_unpacked((ProtobufCMessage *)(p), NULL)

static tikv_mock_cluster_t *m;
static char details[512];

static tikv_mock_cluster_t *start_with(const tikv_mock_options_t *o) {
  char err[256];
  tikv_mock_cluster_t *c = tikv_mock_cluster_start(o, err, sizeof(err));
  ck_assert_msg(c != NULL, "start: %s", err);
  return c;
}

static void teardown(void) {
  tikv_mock_cluster_stop(m);
  m = NULL;
}

static void setup_default(void) { m = start_with(NULL); }

/* One unary call of request `id` to target; *status gets the gRPC status.
 * Returns the reply (NULL unless OK). */
static void *call(const char *target, tikv__req_id id, const ProtobufCMessage *req, int *status) {
  ProtobufCMessage *resp = NULL;
  *status = mc_unary(target, tikv__req(id)->path, req, tikv__req(id)->resp, &resp, TIMEOUT_MS,
                     details, sizeof(details));
  return resp;
}

/* The same, asserting an OK status. */
static void *call_ok(const char *target, tikv__req_id id, const ProtobufCMessage *req) {
  int st;
  void *r = call(target, id, req, &st);
  ck_assert_msg(st == GRPC_STATUS_OK, "%s: status %d (%s)", tikv__req(id)->path, st, details);
  return r;
}

static Pdpb__RequestHeader hdr;
static Pdpb__RequestHeader *pd_header(void) {
  Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
  hdr = h;
  hdr.cluster_id = tikv_mock_cluster_id(m);
  return &hdr;
}

/* One timestamp from the Tso stream of the PD at target: 0 and *ts, or the
 * gRPC status the stream ended with (details filled). */
static int tso_at(const char *target, uint64_t *ts) {
  mc_stream_t *s = mc_stream_open(target, tikv__req(TIKV__REQ_PD_TSO)->path, TIMEOUT_MS);
  Pdpb__TsoRequest t = PDPB__TSO_REQUEST__INIT;
  t.header = pd_header();
  t.count = 1;
  Pdpb__TsoResponse *r = NULL;
  int rc =
      mc_stream_roundtrip(s, &t.base, tikv__req(TIKV__REQ_PD_TSO)->resp, (ProtobufCMessage **)&r);
  if (rc == 0) {
    *ts = ((uint64_t)r->timestamp->physical << 18) + (uint64_t)r->timestamp->logical;
    FREE(r);
  }
  int st = mc_stream_close(s, details, sizeof(details));
  return rc == 0 ? 0 : (st ? st : -1);
}

/* ---- transactional helpers (region contexts for user keys) ---- */
typedef struct kctx {
  Kvrpcpb__Context ctx;
  Metapb__RegionEpoch epoch;
  Metapb__Peer peer;
  uint64_t store;
} kctx_t;

static uint64_t region_of_user_key(const char *key) {
  uint8_t *e;
  size_t el;
  ck_assert_int_eq(tikv__codec_encode_bytes((const uint8_t *)key, strlen(key), &e, &el), 0);
  uint64_t r = tikv_mock_region_for_key(m, e, el);
  free(e);
  return r;
}

static Kvrpcpb__Context *kctx_for(kctx_t *k, uint64_t region_id, uint64_t store_id) {
  Kvrpcpb__Context c = KVRPCPB__CONTEXT__INIT;
  Metapb__RegionEpoch e = METAPB__REGION_EPOCH__INIT;
  Metapb__Peer p = METAPB__PEER__INIT;
  k->ctx = c;
  k->epoch = e;
  k->peer = p;
  tikv_mock_region_epoch(m, region_id, &k->epoch.conf_ver, &k->epoch.version);
  k->peer.store_id = store_id;
  k->peer.id = tikv_mock_region_peer_on_store(m, region_id, store_id);
  k->ctx.region_id = region_id;
  k->ctx.region_epoch = &k->epoch;
  k->ctx.peer = &k->peer;
  k->store = store_id;
  return &k->ctx;
}

static Kvrpcpb__Context *kctx_leader(kctx_t *k, const char *user_key) {
  uint64_t r = region_of_user_key(user_key);
  return kctx_for(k, r, tikv_mock_region_leader_store(m, r));
}

static Kvrpcpb__PrewriteResponse *prewrite_put(kctx_t *k, const char *key, const char *val,
                                               uint64_t start_ts, int *status) {
  Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT;
  mu.op = KVRPCPB__OP__Put;
  mu.key.data = (uint8_t *)key;
  mu.key.len = strlen(key);
  mu.value.data = (uint8_t *)val;
  mu.value.len = strlen(val);
  Kvrpcpb__Mutation *mus[] = {&mu};
  Kvrpcpb__PrewriteRequest q = KVRPCPB__PREWRITE_REQUEST__INIT;
  q.context = &k->ctx;
  q.n_mutations = 1;
  q.mutations = mus;
  q.primary_lock.data = (uint8_t *)key;
  q.primary_lock.len = strlen(key);
  q.start_version = start_ts;
  q.lock_ttl = 3000;
  return call(tikv_mock_store_address(m, k->store), TIKV__REQ_KV_PREWRITE, &q.base, status);
}

static uint64_t store_safe_ts(uint64_t store) {
  Kvrpcpb__StoreSafeTSRequest q = KVRPCPB__STORE_SAFE_TSREQUEST__INIT;
  Kvrpcpb__StoreSafeTSResponse *r =
      call_ok(tikv_mock_store_address(m, store), TIKV__REQ_GET_STORE_SAFE_TS, &q.base);
  uint64_t ts = r->safe_ts;
  FREE(r);
  return ts;
}

/* ================= GetStoreSafeTS ================= */
START_TEST(store_safe_ts_follows_tso_and_locks) {
  uint64_t t1 = 0, t2 = 0;
  ck_assert_int_eq(tso_at(tikv_mock_pd_address(m), &t1), 0);
  ck_assert_uint_ge(store_safe_ts(1), t1); /* no lock: the newest timestamp */
  ck_assert_int_eq(tso_at(tikv_mock_pd_address(m), &t2), 0);
  kctx_t k;
  kctx_leader(&k, "safe");
  int st;
  Kvrpcpb__PrewriteResponse *r = prewrite_put(&k, "safe", "v", t2, &st);
  ck_assert_int_eq(st, GRPC_STATUS_OK);
  ck_assert_uint_eq(r->n_errors, 0);
  FREE(r);
  uint64_t t3 = 0;
  ck_assert_int_eq(tso_at(tikv_mock_pd_address(m), &t3), 0);
  for (uint64_t s = 1; s <= 3; s++)
    ck_assert_uint_eq(store_safe_ts(s), t2 - 1); /* below the lock */
}
END_TEST

/* ================= fault kinds ================= */
static Kvrpcpb__RawGetResponse *raw_get_at(uint64_t region, uint64_t store, const char *key) {
  kctx_t k;
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = kctx_for(&k, region, store);
  q.key.data = (uint8_t *)key;
  q.key.len = strlen(key);
  return call_ok(tikv_mock_store_address(m, store), TIKV__REQ_RAW_GET, &q.base);
}

/* Which field of errorpb.Error a kind sets (and, for NotLeader, whether the
 * leader is named): the test's own expectation for every row of the map. */
static int region_error_field(const Errorpb__Error *e, int *has_leader) {
  *has_leader = e->not_leader && e->not_leader->leader;
  if (e->not_leader) return TIKV_MOCK_REGION_ERROR_NOT_LEADER;
  if (e->epoch_not_match) return TIKV_MOCK_REGION_ERROR_EPOCH_NOT_MATCH;
  if (e->region_not_found) return TIKV_MOCK_REGION_ERROR_REGION_NOT_FOUND;
  if (e->store_not_match) return TIKV_MOCK_REGION_ERROR_STORE_NOT_MATCH;
  if (e->server_is_busy) return TIKV_MOCK_REGION_ERROR_SERVER_IS_BUSY;
  if (e->stale_command) return TIKV_MOCK_REGION_ERROR_STALE_COMMAND;
  if (e->key_not_in_region) return TIKV_MOCK_REGION_ERROR_KEY_NOT_IN_REGION;
  if (e->max_timestamp_not_synced) return TIKV_MOCK_REGION_ERROR_MAX_TIMESTAMP_NOT_SYNCED;
  return -1;
}

START_TEST(every_region_error_kind_answers_as_tikv) {
  uint64_t rid = tikv_mock_region_id_at(m, 0), leader = tikv_mock_region_leader_store(m, rid);
  for (int kind = 0; kind < TIKV_MOCK_REGION_ERROR_COUNT; kind++) {
    const char *name = tikv_mock_region_error_name(kind);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawGet", rid, name, 1), 0);
    Kvrpcpb__RawGetResponse *r = raw_get_at(rid, leader, "k");
    ck_assert_msg(r->region_error != NULL, "%s: no region error", name);
    int has_leader = 0;
    int got = region_error_field(r->region_error, &has_leader);
    int want = kind == TIKV_MOCK_REGION_ERROR_NOT_LEADER_NO_HINT ? TIKV_MOCK_REGION_ERROR_NOT_LEADER
                                                                 : kind;
    ck_assert_msg(got == want, "%s: got field of kind %d", name, got);
    ck_assert_int_eq(has_leader, kind == TIKV_MOCK_REGION_ERROR_NOT_LEADER);
    ck_assert_str_ne(r->region_error->message, "");
    FREE(r);
    r = raw_get_at(rid, leader, "k"); /* used up: served */
    ck_assert_ptr_null(r->region_error);
    FREE(r);
  }
  ck_assert_ptr_null(tikv_mock_region_error_name(TIKV_MOCK_REGION_ERROR_COUNT));
  ck_assert_ptr_null(tikv_mock_region_error_name(-1));
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawGet", rid, "no_such_kind", 1), -1);
}
END_TEST

static Suite *cluster_suite(void) {
  Suite *s = suite_create("mock_cluster");
  TCase *st = tcase_create("store");
  tcase_add_checked_fixture(st, setup_default, teardown);
  tcase_set_timeout(st, 30);
  tcase_add_test(st, store_safe_ts_follows_tso_and_locks);
  tcase_add_test(st, every_region_error_kind_answers_as_tikv);
  suite_add_tcase(s, st);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(cluster_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
