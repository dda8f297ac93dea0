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

/* A cluster of `stores` stores, one region, `pd` PD members and the given
 * election delays. */
static tikv_mock_cluster_t *start_failing(int stores, int pd, int pd_ms, int raft_ms) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = stores;
  o.pd_members = pd;
  o.pd_election_ms = pd_ms;
  o.raft_election_ms = raft_ms;
  return start_with(&o);
}

/* Waits (polling observable state, 10 s at most) until cond holds. */
#define WAIT_FOR(cond)                                             \
  do {                                                             \
    for (int w_ = 0; w_ < 500 && !(cond); w_++) usleep(20 * 1000); \
    ck_assert_msg((cond), "still not true after 10 s: %s", #cond); \
  } while (0)

#define LONG_MS 600000 /* an election delay no test outlives */

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

/* ---- PD helpers ---- */
static const char *member_addr(int member) { return tikv_mock_pd_member_address(m, member); }

static Pdpb__GetMembersResponse *get_members_at(int member) {
  Pdpb__GetMembersRequest q = PDPB__GET_MEMBERS_REQUEST__INIT;
  return call_ok(member_addr(member), TIKV__REQ_PD_GET_MEMBERS, &q.base);
}

/* The member number GetMembers (asked of `at`) names as leader; 0: none. */
static int leader_seen_by(int at) {
  Pdpb__GetMembersResponse *r = get_members_at(at);
  int leader = 0;
  for (int i = 1; r->leader && i <= tikv_mock_pd_member_count(m); i++)
    if (r->leader->member_id == tikv_mock_pd_member_id(m, i)) leader = i;
  ck_assert_msg(!r->leader || leader, "GetMembers names an unknown leader");
  if (r->leader) ck_assert_uint_eq(r->etcd_leader->member_id, r->leader->member_id);
  FREE(r);
  return leader;
}

/* GetAllStores at a member: its gRPC status (details filled). */
static int get_all_stores_at(int member) {
  Pdpb__GetAllStoresRequest q = PDPB__GET_ALL_STORES_REQUEST__INIT;
  q.header = pd_header();
  int st;
  void *r = call(member_addr(member), TIKV__REQ_PD_GET_ALL_STORES, &q.base, &st);
  if (r) FREE(r);
  return st;
}

#define TSO_NOT_LEADER                                                                     \
  "[PD:tso:ErrGenerateTimestamp]generate timestamp failed, requested pd is not leader of " \
  "cluster"

/* ================= PD members ================= */
START_TEST(pd_members_listed_by_every_member) {
  m = start_failing(1, 3, LONG_MS, 0);
  ck_assert_int_eq(tikv_mock_pd_member_count(m), 3);
  ck_assert_int_eq(tikv_mock_pd_leader(m), 1);
  ck_assert_str_eq(tikv_mock_pd_address(m), member_addr(1));
  for (int at = 1; at <= 3; at++) {
    Pdpb__GetMembersResponse *r = get_members_at(at);
    ck_assert_uint_eq(r->header->cluster_id, tikv_mock_cluster_id(m));
    ck_assert_uint_eq(r->n_members, 3);
    for (int i = 0; i < 3; i++) {
      char url[128];
      snprintf(url, sizeof(url), "http://%s", member_addr(i + 1));
      ck_assert_uint_eq(r->members[i]->member_id, tikv_mock_pd_member_id(m, i + 1));
      ck_assert_uint_eq(r->members[i]->n_client_urls, 1);
      ck_assert_str_eq(r->members[i]->client_urls[0], url);
      for (int j = 0; j < i; j++) ck_assert_str_ne(member_addr(i + 1), member_addr(j + 1));
    }
    ck_assert_uint_eq(r->leader->member_id, tikv_mock_pd_member_id(m, 1));
    FREE(r);
    ck_assert_int_eq(leader_seen_by(at), 1);
  }
  ck_assert_ptr_null(member_addr(4));
  ck_assert_ptr_null(member_addr(0));
}
END_TEST

START_TEST(pd_follower_answers_as_pd) {
  m = start_failing(1, 3, LONG_MS, 0);
  ck_assert_int_eq(get_all_stores_at(1), GRPC_STATUS_OK);
  ck_assert_int_eq(get_all_stores_at(2), GRPC_STATUS_UNAVAILABLE);
  ck_assert_str_eq(details, "not leader");
  /* the role comes before the cluster id, as in PD's validateRoleInRequest */
  Pdpb__GetAllStoresRequest bad = PDPB__GET_ALL_STORES_REQUEST__INIT;
  int st;
  ck_assert_ptr_null(call(member_addr(3), TIKV__REQ_PD_GET_ALL_STORES, &bad.base, &st));
  ck_assert_int_eq(st, GRPC_STATUS_UNAVAILABLE);
  /* region queries: only when the caller allows a follower to answer */
  Pdpb__GetRegionRequest q = PDPB__GET_REGION_REQUEST__INIT;
  q.header = pd_header();
  ck_assert_ptr_null(call(member_addr(2), TIKV__REQ_PD_GET_REGION, &q.base, &st));
  ck_assert_int_eq(st, GRPC_STATUS_UNAVAILABLE);
  ck_assert_str_eq(details, "not leader and follower handling not allowed");
  ProtobufCMessage *resp = NULL;
  st = mc_unary_md(member_addr(2), tikv__req(TIKV__REQ_PD_GET_REGION)->path,
                   "pd-allow-follower-handle", "true", &q.base,
                   tikv__req(TIKV__REQ_PD_GET_REGION)->resp, &resp, TIMEOUT_MS, details,
                   sizeof(details));
  ck_assert_int_eq(st, GRPC_STATUS_OK);
  ck_assert_uint_eq(((Pdpb__GetRegionResponse *)resp)->region->id, tikv_mock_region_id_at(m, 0));
  FREE(resp);
  /* the Tso stream of a follower ends at its first request */
  uint64_t ts;
  ck_assert_int_eq(tso_at(member_addr(2), &ts), GRPC_STATUS_UNKNOWN);
  ck_assert_str_eq(details, TSO_NOT_LEADER);
  ck_assert_int_eq(tso_at(member_addr(1), &ts), 0);
}
END_TEST

START_TEST(pd_leader_killed_nobody_leads_until_elected) {
  m = start_failing(1, 3, LONG_MS, 0);
  uint64_t t1 = 0, t2 = 0;
  ck_assert_int_eq(tso_at(member_addr(1), &t1), 0);
  ck_assert_int_eq(tikv_mock_pd_member_set_down(m, 1, 1), 0);
  ck_assert_int_eq(tikv_mock_pd_leader(m), 0);
  ck_assert_int_eq(get_all_stores_at(1), GRPC_STATUS_UNAVAILABLE); /* refused */
  for (int at = 2; at <= 3; at++) {
    ck_assert_int_eq(leader_seen_by(at), 0);
    ck_assert_int_eq(tso_at(member_addr(at), &t2), GRPC_STATUS_UNKNOWN);
    ck_assert_str_eq(details, TSO_NOT_LEADER);
    ck_assert_int_eq(get_all_stores_at(at), GRPC_STATUS_UNAVAILABLE);
  }
  ck_assert_int_eq(tikv_mock_pd_transfer_leader(m, 1), -1); /* down: cannot lead */
  ck_assert_int_eq(tikv_mock_pd_transfer_leader(m, 3), 0);
  ck_assert_int_eq(leader_seen_by(2), 3);
  ck_assert_int_eq(tso_at(member_addr(3), &t2), 0);
  ck_assert_uint_gt(t2, t1);
  /* the old leader comes back as a follower */
  ck_assert_int_eq(tikv_mock_pd_member_set_down(m, 1, 0), 0);
  ck_assert_int_eq(leader_seen_by(1), 3);
  ck_assert_int_eq(tso_at(member_addr(1), &t2), GRPC_STATUS_UNKNOWN);
  ck_assert_int_eq(get_all_stores_at(1), GRPC_STATUS_UNAVAILABLE);
}
END_TEST

START_TEST(pd_leader_killed_another_elected_after_the_delay) {
  m = start_failing(1, 3, LONG_MS, 0);
  uint64_t t1 = 0, t2 = 0;
  ck_assert_int_eq(tso_at(member_addr(1), &t1), 0);
  ck_assert_int_eq(tikv_mock_pd_member_set_down(m, 1, 1), 0);
  ck_assert_int_eq(tikv_mock_pd_leader(m), 0);
  tikv_mock_set_pd_election_ms(m, 200); /* the pending election: 200 ms from now */
  WAIT_FOR(tikv_mock_pd_leader(m) != 0);
  ck_assert_int_eq(tikv_mock_pd_leader(m), 2); /* the next member in order */
  ck_assert_int_eq(leader_seen_by(3), 2);
  ck_assert_int_eq(tso_at(member_addr(2), &t2), 0);
  ck_assert_uint_gt(t2, t1); /* never backwards across the change */
  ck_assert_int_eq(get_all_stores_at(2), GRPC_STATUS_OK);
  ck_assert_int_eq(get_all_stores_at(3), GRPC_STATUS_UNAVAILABLE);
  /* the next kill moves it on again */
  ck_assert_int_eq(tikv_mock_pd_member_set_down(m, 2, 1), 0);
  WAIT_FOR(tikv_mock_pd_leader(m) != 0);
  ck_assert_int_eq(tikv_mock_pd_leader(m), 3);
  uint64_t t3 = 0;
  ck_assert_int_eq(tso_at(member_addr(3), &t3), 0);
  ck_assert_uint_gt(t3, t2);
}
END_TEST

START_TEST(pd_leader_paused_loses_its_lease) {
  m = start_failing(1, 2, 200, 0);
  ck_assert_int_eq(tikv_mock_pd_member_pause(m, 1, 1), 0);
  /* the paused member takes the call and never answers */
  Pdpb__GetMembersRequest q = PDPB__GET_MEMBERS_REQUEST__INIT;
  int st;
  ProtobufCMessage *r = NULL;
  st = mc_unary(member_addr(1), tikv__req(TIKV__REQ_PD_GET_MEMBERS)->path, &q.base,
                tikv__req(TIKV__REQ_PD_GET_MEMBERS)->resp, &r, 300, details, sizeof(details));
  ck_assert_int_eq(st, GRPC_STATUS_DEADLINE_EXCEEDED);
  WAIT_FOR(tikv_mock_pd_leader(m) == 2);
  ck_assert_int_eq(tikv_mock_pd_transfer_leader(m, 1), -1); /* paused: cannot lead */
  ck_assert_int_eq(tikv_mock_pd_member_pause(m, 1, 0), 0);
  ck_assert_int_eq(leader_seen_by(1), 2); /* back, as a follower */
  ck_assert_int_eq(get_all_stores_at(1), GRPC_STATUS_UNAVAILABLE);
  ck_assert_int_eq(get_all_stores_at(2), GRPC_STATUS_OK);
  ck_assert_int_eq(tikv_mock_pd_member_pause(m, 9, 1), -1);
}
END_TEST

START_TEST(pd_transfer_and_new_member) {
  m = start_failing(1, 2, LONG_MS, 0);
  ck_assert_int_eq(tikv_mock_pd_add_member(m), 3);
  ck_assert_int_eq(tikv_mock_pd_member_count(m), 3);
  Pdpb__GetMembersResponse *r = get_members_at(3);
  ck_assert_uint_eq(r->n_members, 3);
  FREE(r);
  ck_assert_int_eq(get_all_stores_at(3), GRPC_STATUS_UNAVAILABLE); /* joined as a follower */
  ck_assert_int_eq(tikv_mock_pd_transfer_leader(m, 3), 0);
  ck_assert_int_eq(leader_seen_by(1), 3);
  ck_assert_int_eq(get_all_stores_at(3), GRPC_STATUS_OK);
  ck_assert_int_eq(get_all_stores_at(1), GRPC_STATUS_UNAVAILABLE);
  ck_assert_int_eq(tikv_mock_pd_transfer_leader(m, 0), -1);
  ck_assert_int_eq(tikv_mock_pd_member_set_down(m, 7, 1), -1);
}
END_TEST

/* ---- store helpers ---- */
static Kvrpcpb__RawGetResponse *raw_get_at(uint64_t region, uint64_t store, const char *key) {
  kctx_t k;
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = kctx_for(&k, region, store);
  q.key.data = (uint8_t *)key;
  q.key.len = strlen(key);
  return call_ok(tikv_mock_store_address(m, store), TIKV__REQ_RAW_GET, &q.base);
}

/* RawPut to store: the gRPC status; *region_error: whether the reply had one
 * (NULL: it must not). */
static int raw_put_at(uint64_t region, uint64_t store, const char *key, const char *val,
                      bool *region_error) {
  kctx_t k;
  Kvrpcpb__RawPutRequest q = KVRPCPB__RAW_PUT_REQUEST__INIT;
  q.context = kctx_for(&k, region, store);
  q.key.data = (uint8_t *)key;
  q.key.len = strlen(key);
  q.value.data = (uint8_t *)val;
  q.value.len = strlen(val);
  int st;
  Kvrpcpb__RawPutResponse *r =
      call(tikv_mock_store_address(m, store), TIKV__REQ_RAW_PUT, &q.base, &st);
  if (region_error) *region_error = r && r->region_error;
  if (r) {
    ck_assert_msg(r->region_error == NULL || region_error, "RawPut: a region error");
    ck_assert_str_eq(r->error, "");
    FREE(r);
  }
  return st;
}

/* What store `store` answers RawGet of key in region 1: the value (NULL:
 * absent), or the NotLeader it sends (*leader_store: its hint, 0 none;
 * returns "NOT_LEADER"). Fails the test on anything else. */
static const char *raw_get_seen(uint64_t store, const char *key, uint64_t *leader_store) {
  static char value[64];
  uint64_t rid = tikv_mock_region_id_at(m, 0);
  Kvrpcpb__RawGetResponse *r = raw_get_at(rid, store, key);
  const char *out = NULL;
  *leader_store = 0;
  if (r->region_error) {
    ck_assert_msg(r->region_error->not_leader != NULL, "store %llu: not a NotLeader: %s",
                  (unsigned long long)store, r->region_error->message);
    ck_assert_uint_eq(r->region_error->not_leader->region_id, rid);
    if (r->region_error->not_leader->leader)
      *leader_store = r->region_error->not_leader->leader->store_id;
    out = "NOT_LEADER";
  } else if (!r->not_found) {
    snprintf(value, sizeof(value), "%.*s", (int)r->value.len, (const char *)r->value.data);
    out = value;
  }
  FREE(r);
  return out;
}

/* The leader store PD reports for region 1. */
static uint64_t pd_leader_store(void) {
  Pdpb__GetRegionByIDRequest q = PDPB__GET_REGION_BY_IDREQUEST__INIT;
  q.header = pd_header();
  q.region_id = tikv_mock_region_id_at(m, 0);
  Pdpb__GetRegionResponse *r =
      call_ok(tikv_mock_pd_address(m), TIKV__REQ_PD_GET_REGION_BY_ID, &q.base);
  uint64_t s = r->leader ? r->leader->store_id : 0;
  FREE(r);
  return s;
}

/* ================= store loss ================= */
START_TEST(store_loss_peers_answer_without_leader_until_elected) {
  m = start_failing(3, 1, 0, LONG_MS);
  uint64_t rid = tikv_mock_region_id_at(m, 0), hint;
  ck_assert_uint_eq(tikv_mock_region_leader_store(m, rid), 1);
  ck_assert_int_eq(raw_put_at(rid, 1, "k", "v1", NULL), GRPC_STATUS_OK);
  ck_assert_str_eq(raw_get_seen(2, "k", &hint), "NOT_LEADER");
  ck_assert_uint_eq(hint, 1); /* a follower names the live leader */
  ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 1), 0);
  ck_assert_int_eq(tikv_mock_region_has_leader(m, rid), 0);
  for (uint64_t s = 2; s <= 3; s++) {
    ck_assert_str_eq(raw_get_seen(s, "k", &hint), "NOT_LEADER");
    ck_assert_uint_eq(hint, 0); /* an election is due: nobody to name */
  }
  ck_assert_uint_eq(pd_leader_store(), 1); /* PD heard of no new leader yet */
  /* the dead store: refused */
  ck_assert_int_eq(raw_put_at(rid, 1, "k", "v2", NULL), GRPC_STATUS_UNAVAILABLE);
  ck_assert_int_eq(tikv_mock_transfer_leader(m, rid, 1), -1);
  /* an explicit move (PD's scheduling) ends the election */
  ck_assert_int_eq(tikv_mock_transfer_leader(m, rid, 3), 0);
  ck_assert_str_eq(raw_get_seen(3, "k", &hint), "v1");
  ck_assert_str_eq(raw_get_seen(2, "k", &hint), "NOT_LEADER");
  ck_assert_uint_eq(hint, 3);
}
END_TEST

START_TEST(store_loss_elects_a_live_peer_after_the_delay) {
  m = start_failing(3, 1, 0, 200);
  uint64_t rid = tikv_mock_region_id_at(m, 0), hint;
  ck_assert_int_eq(raw_put_at(rid, 1, "k", "v1", NULL), GRPC_STATUS_OK);
  ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 1), 0);
  WAIT_FOR(tikv_mock_region_has_leader(m, rid) == 1);
  ck_assert_uint_eq(tikv_mock_region_leader_store(m, rid), 2); /* the next peer in order */
  ck_assert_uint_eq(pd_leader_store(), 2);
  ck_assert_str_eq(raw_get_seen(2, "k", &hint), "v1"); /* one copy of the data */
  ck_assert_str_eq(raw_get_seen(3, "k", &hint), "NOT_LEADER");
  ck_assert_uint_eq(hint, 2);
  ck_assert_int_eq(raw_put_at(rid, 2, "k", "v2", NULL), GRPC_STATUS_OK);
  /* the old leader rejoins as a follower: no leadership back */
  ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 0), 0);
  ck_assert_str_eq(raw_get_seen(1, "k", &hint), "NOT_LEADER");
  ck_assert_uint_eq(hint, 2);
  ck_assert_str_eq(raw_get_seen(2, "k", &hint), "v2");
  ck_assert_uint_eq(pd_leader_store(), 2);
}
END_TEST

START_TEST(store_back_before_the_election_keeps_its_leadership) {
  m = start_failing(3, 1, 0, LONG_MS);
  uint64_t rid = tikv_mock_region_id_at(m, 0), hint;
  ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 1), 0);
  ck_assert_int_eq(tikv_mock_region_has_leader(m, rid), 0);
  ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 0), 0);
  ck_assert_int_eq(tikv_mock_region_has_leader(m, rid), 1);
  ck_assert_ptr_null(raw_get_seen(1, "k", &hint)); /* served: absent */
  ck_assert_str_eq(raw_get_seen(3, "k", &hint), "NOT_LEADER");
  ck_assert_uint_eq(hint, 1);
}
END_TEST

START_TEST(no_election_without_a_majority) {
  m = start_failing(3, 1, 0, 100);
  uint64_t rid = tikv_mock_region_id_at(m, 0), hint;
  ck_assert_int_eq(tikv_mock_store_set_down(m, 3, 1), 0);
  ck_assert_int_eq(tikv_mock_store_set_down(m, 2, 1), 0);
  ck_assert_int_eq(tikv_mock_region_has_leader(m, rid), 1); /* followers lost: it still leads */
  ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 1), 0);
  ck_assert_int_eq(tikv_mock_store_set_down(m, 3, 0), 0); /* one of three: no majority */
  usleep(600 * 1000); /* several election delays: still nobody */
  ck_assert_int_eq(tikv_mock_region_has_leader(m, rid), 0);
  ck_assert_str_eq(raw_get_seen(3, "k", &hint), "NOT_LEADER");
  ck_assert_uint_eq(hint, 0);
  ck_assert_int_eq(tikv_mock_store_set_down(m, 2, 0), 0); /* two of three */
  WAIT_FOR(tikv_mock_region_has_leader(m, rid) == 1);
  ck_assert_uint_eq(tikv_mock_region_leader_store(m, rid), 2);
}
END_TEST

/* ================= lost replies ================= */
START_TEST(lost_reply_unary_is_applied) {
  m = start_failing(3, 1, 0, 0);
  uint64_t rid = tikv_mock_region_id_at(m, 0), hint;
  ck_assert_int_eq(tikv_mock_inject_lost_reply(m, 2, "RawPut", 1), 0); /* another store */
  ck_assert_int_eq(tikv_mock_inject_lost_reply(m, 1, "RawPut", 1), 0);
  ck_assert_int_eq(raw_put_at(rid, 1, "k", "v1", NULL), GRPC_STATUS_UNAVAILABLE);
  ck_assert_str_eq(raw_get_seen(1, "k", &hint), "v1");                   /* applied all the same */
  ck_assert_int_eq(raw_put_at(rid, 1, "k", "v2", NULL), GRPC_STATUS_OK); /* used up */
  /* store 2's is taken by the next RawPut it serves (a NotLeader: lost too) */
  bool re = false;
  ck_assert_int_eq(raw_put_at(rid, 2, "k", "v3", &re), GRPC_STATUS_UNAVAILABLE);
  ck_assert_int_eq(raw_put_at(rid, 2, "k", "v3", &re), GRPC_STATUS_OK);
  ck_assert(re);
  ck_assert_str_eq(raw_get_seen(1, "k", &hint), "v2");
  ck_assert_int_eq(tikv_mock_inject_lost_reply(m, 9, "RawPut", 1), -1);
  ck_assert_int_eq(tikv_mock_inject_lost_reply(m, 1, "RawPut", 0), -1);
}
END_TEST

/* A prewrite inside BatchCommands whose reply is lost: the stream ends with
 * UNAVAILABLE, and the lock is there. */
START_TEST(lost_reply_in_batch_commands_is_applied) {
  m = start_failing(3, 1, 0, 0);
  uint64_t ts = 0;
  ck_assert_int_eq(tso_at(tikv_mock_pd_address(m), &ts), 0);
  ck_assert_int_eq(tikv_mock_inject_lost_reply(m, 0, "KvPrewrite", 1), 0);
  kctx_t k;
  kctx_leader(&k, "b");
  Kvrpcpb__Mutation mu = KVRPCPB__MUTATION__INIT;
  mu.op = KVRPCPB__OP__Put;
  mu.key.data = (uint8_t *)"b";
  mu.key.len = 1;
  mu.value.data = (uint8_t *)"v";
  mu.value.len = 1;
  Kvrpcpb__Mutation *mus[] = {&mu};
  Kvrpcpb__PrewriteRequest pw = KVRPCPB__PREWRITE_REQUEST__INIT;
  pw.context = &k.ctx;
  pw.n_mutations = 1;
  pw.mutations = mus;
  pw.primary_lock = mu.key;
  pw.start_version = ts;
  pw.lock_ttl = 3000;
  Tikvpb__BatchCommandsRequest__Request one = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__INIT;
  one.cmd_case =
      (Tikvpb__BatchCommandsRequest__Request__CmdCase)tikv__req(TIKV__REQ_KV_PREWRITE)->batch_case;
  one.prewrite = &pw;
  Tikvpb__BatchCommandsRequest__Request *ones[] = {&one};
  uint64_t ids[] = {7};
  Tikvpb__BatchCommandsRequest b = TIKVPB__BATCH_COMMANDS_REQUEST__INIT;
  b.n_requests = 1;
  b.requests = ones;
  b.n_request_ids = 1;
  b.request_ids = ids;
  mc_stream_t *s = mc_stream_open(tikv_mock_store_address(m, k.store),
                                  tikv__req(TIKV__REQ_BATCH_COMMANDS)->path, TIMEOUT_MS);
  ProtobufCMessage *r = NULL;
  ck_assert_int_eq(mc_stream_roundtrip(s, &b.base, tikv__req(TIKV__REQ_BATCH_COMMANDS)->resp, &r),
                   -1);
  ck_assert_int_eq(mc_stream_close(s, details, sizeof(details)), GRPC_STATUS_UNAVAILABLE);
  /* the prewrite happened: a read at a later ts meets its lock */
  Kvrpcpb__GetRequest g = KVRPCPB__GET_REQUEST__INIT;
  g.context = &k.ctx;
  g.key = mu.key;
  g.version = ts + 10;
  Kvrpcpb__GetResponse *gr =
      call_ok(tikv_mock_store_address(m, k.store), TIKV__REQ_KV_GET, &g.base);
  ck_assert_ptr_nonnull(gr->error);
  ck_assert_ptr_nonnull(gr->error->locked);
  ck_assert_uint_eq(gr->error->locked->lock_version, ts);
  FREE(gr);
}
END_TEST

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
  TCase *pd = tcase_create("pd");
  tcase_add_checked_fixture(pd, NULL, teardown);
  tcase_set_timeout(pd, 60);
  tcase_add_test(pd, pd_members_listed_by_every_member);
  tcase_add_test(pd, pd_follower_answers_as_pd);
  tcase_add_test(pd, pd_leader_killed_nobody_leads_until_elected);
  tcase_add_test(pd, pd_leader_killed_another_elected_after_the_delay);
  tcase_add_test(pd, pd_leader_paused_loses_its_lease);
  tcase_add_test(pd, pd_transfer_and_new_member);
  suite_add_tcase(s, pd);
  TCase *raft = tcase_create("raft");
  tcase_add_checked_fixture(raft, NULL, teardown);
  tcase_set_timeout(raft, 60);
  tcase_add_test(raft, store_loss_peers_answer_without_leader_until_elected);
  tcase_add_test(raft, store_loss_elects_a_live_peer_after_the_delay);
  tcase_add_test(raft, store_back_before_the_election_keeps_its_leadership);
  tcase_add_test(raft, no_election_without_a_majority);
  suite_add_tcase(s, raft);
  TCase *lost = tcase_create("lost");
  tcase_add_checked_fixture(lost, NULL, teardown);
  tcase_set_timeout(lost, 30);
  tcase_add_test(lost, lost_reply_unary_is_applied);
  tcase_add_test(lost, lost_reply_in_batch_commands_is_applied);
  suite_add_tcase(s, lost);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(cluster_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
