/* The mock in API v2, seen over raw gRPC: PD's keyspaces and LoadKeyspace,
 * the region layout at keyspace boundaries, and what the stores refuse as
 * TiKV's check_api_version refuses it (with TiKV's text, in TiKV's field),
 * plus the mock's own keyspace check.
 * Cluster: 3 stores, regions = 2 (each keyspace range split again at "V"),
 * keyspaces DEFAULT (0), ks1 (1, allocated), ks5 (5), off (6, DISABLED). */
#include <check.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "keyspacepb.pb-c.h"
#include "kvrpcpb.pb-c.h"
#include "pdpb.pb-c.h"
#include "rpc/requests.h"
#include "tikv/mock.h"
#include "tikvpb.pb-c.h"
#include "util_mock_client.h"

#define TIMEOUT_MS 5000
#define FREE(p) protobuf_c_message_free_unpacked((ProtobufCMessage *)(p), NULL)
#define V1 KVRPCPB__APIVERSION__V1
#define V2 KVRPCPB__APIVERSION__V2

static tikv_mock_cluster_t *m;
static char details[512];

static tikv_mock_cluster_t *start_v2(int pd_members) {
  static const tikv_mock_keyspace_t ks[] = {
      {"ks1", -1, TIKV_MOCK_KEYSPACE_ENABLED},
      {"ks5", 5, TIKV_MOCK_KEYSPACE_ENABLED},
      {"off", -1, TIKV_MOCK_KEYSPACE_DISABLED},
  };
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.regions = 2;
  o.pd_members = pd_members;
  o.api_version = 2;
  o.keyspaces = ks;
  o.n_keyspaces = 3;
  char err[256];
  tikv_mock_cluster_t *c = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(c != NULL, "start: %s", err);
  return c;
}

static void setup(void) { m = start_v2(1); }
static void teardown(void) {
  tikv_mock_cluster_stop(m);
  m = NULL;
}

/* ---- keys ---- */
typedef struct key {
  uint8_t b[64];
  size_t len;
} key_t_;

/* mode ('r' / 'x') + the 3-byte keyspace id + user key */
static key_t_ ks_key(char mode, uint32_t id, const char *user) {
  key_t_ k;
  k.b[0] = (uint8_t)mode;
  k.b[1] = (uint8_t)(id >> 16);
  k.b[2] = (uint8_t)(id >> 8);
  k.b[3] = (uint8_t)id;
  k.len = 4 + strlen(user);
  memcpy(k.b + 4, user, strlen(user));
  return k;
}
static key_t_ plain(const char *s) {
  key_t_ k;
  k.len = strlen(s);
  memcpy(k.b, s, k.len);
  return k;
}
static ProtobufCBinaryData bin(key_t_ *k) { return (ProtobufCBinaryData){k->len, k->b}; }

static key_t_ encoded(key_t_ k) {
  uint8_t *e;
  size_t el;
  ck_assert_int_eq(tikv__codec_encode_bytes(k.b, k.len, &e, &el), 0);
  key_t_ out;
  ck_assert_uint_le(el, sizeof(out.b));
  memcpy(out.b, e, el);
  out.len = el;
  free(e);
  return out;
}

/* ---- routing: PD's region of a key as a v2 client routes it (encoded) ---- */
typedef struct kctx {
  Kvrpcpb__Context ctx;
  Metapb__RegionEpoch epoch;
  Metapb__Peer peer;
  uint64_t store;
} kctx_t;

static Kvrpcpb__Context *ctx_region(kctx_t *k, uint64_t r, int api_version, uint32_t keyspace) {
  Kvrpcpb__Context c = KVRPCPB__CONTEXT__INIT;
  Metapb__RegionEpoch e = METAPB__REGION_EPOCH__INIT;
  Metapb__Peer p = METAPB__PEER__INIT;
  k->ctx = c;
  k->epoch = e;
  k->peer = p;
  tikv_mock_region_epoch(m, r, &k->epoch.conf_ver, &k->epoch.version);
  k->store = tikv_mock_region_leader_store(m, r);
  k->peer.store_id = k->store;
  k->peer.id = tikv_mock_region_peer_on_store(m, r, k->store);
  k->ctx.region_id = r;
  k->ctx.region_epoch = &k->epoch;
  k->ctx.peer = &k->peer;
  k->ctx.api_version = (Kvrpcpb__APIVersion)api_version;
  k->ctx.keyspace_id = keyspace;
  return &k->ctx;
}

static Kvrpcpb__Context *ctx_key(kctx_t *k, key_t_ key, int api_version, uint32_t keyspace) {
  key_t_ e = encoded(key);
  return ctx_region(k, tikv_mock_region_for_key(m, e.b, e.len), api_version, keyspace);
}

static void *call_at(const char *addr, tikv__req_id id, const ProtobufCMessage *req, int want) {
  ProtobufCMessage *resp = NULL;
  int st = mc_unary(addr, tikv__req(id)->path, req, tikv__req(id)->resp, &resp, TIMEOUT_MS,
                    details, sizeof(details));
  ck_assert_msg(st == want, "%s: status %d (%s), want %d", tikv__req(id)->path, st, details, want);
  return resp;
}
static void *kv(kctx_t *k, tikv__req_id id, const ProtobufCMessage *req) {
  return call_at(tikv_mock_store_address(m, k->store), id, req, 0);
}

static Kvrpcpb__RawGetResponse *raw_get(key_t_ key, int api_version, uint32_t keyspace) {
  kctx_t k;
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = ctx_key(&k, key, api_version, keyspace);
  q.key = bin(&key);
  return kv(&k, TIKV__REQ_RAW_GET, &q.base);
}

static Kvrpcpb__RawPutResponse *raw_put(key_t_ key, const char *v, uint64_t ttl, int api_version,
                                        uint32_t keyspace) {
  kctx_t k;
  Kvrpcpb__RawPutRequest q = KVRPCPB__RAW_PUT_REQUEST__INIT;
  q.context = ctx_key(&k, key, api_version, keyspace);
  q.key = bin(&key);
  q.value = (ProtobufCBinaryData){strlen(v), (uint8_t *)v};
  q.ttl = ttl;
  return kv(&k, TIKV__REQ_RAW_PUT, &q.base);
}

static void put_ok(key_t_ key, const char *v) {
  Kvrpcpb__RawPutResponse *r = raw_put(key, v, 0, V2, key.b[1] << 16 | key.b[2] << 8 | key.b[3]);
  ck_assert_ptr_null(r->region_error);
  ck_assert_str_eq(r->error, "");
  FREE(r);
}

/* A scan sent to the region of `route` */
static Kvrpcpb__RawScanResponse *raw_scan(key_t_ route, key_t_ start, key_t_ *end, int reverse,
                                          uint32_t keyspace) {
  kctx_t k;
  Kvrpcpb__RawScanRequest q = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  q.context = ctx_key(&k, route, V2, keyspace);
  q.start_key = bin(&start);
  if (end) q.end_key = bin(end);
  q.limit = 100;
  q.reverse = reverse;
  return kv(&k, TIKV__REQ_RAW_SCAN, &q.base);
}

static Kvrpcpb__GetResponse *kv_get(key_t_ key, int api_version, uint32_t keyspace) {
  kctx_t k;
  Kvrpcpb__GetRequest q = KVRPCPB__GET_REQUEST__INIT;
  q.context = ctx_key(&k, key, api_version, keyspace);
  q.key = bin(&key);
  q.version = 10;
  return kv(&k, TIKV__REQ_KV_GET, &q.base);
}

/* ---- PD ---- */
static Keyspacepb__LoadKeyspaceResponse *load(const char *target, const char *name, int want) {
  Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
  h.cluster_id = tikv_mock_cluster_id(m);
  Keyspacepb__LoadKeyspaceRequest q = KEYSPACEPB__LOAD_KEYSPACE_REQUEST__INIT;
  q.header = &h;
  q.name = (char *)name;
  return call_at(target, TIKV__REQ_PD_LOAD_KEYSPACE, &q.base, want);
}

START_TEST(load_keyspace_as_pd_answers) {
  const char *pd = tikv_mock_pd_address(m);
  struct {
    const char *name;
    uint32_t id;
    int state;
  } want[] = {{"DEFAULT", 0, KEYSPACEPB__KEYSPACE_STATE__ENABLED},
              {"ks1", 1, KEYSPACEPB__KEYSPACE_STATE__ENABLED},
              {"ks5", 5, KEYSPACEPB__KEYSPACE_STATE__ENABLED},
              {"off", 6, KEYSPACEPB__KEYSPACE_STATE__DISABLED}};
  for (size_t i = 0; i < 4; i++) {
    Keyspacepb__LoadKeyspaceResponse *r = load(pd, want[i].name, 0);
    ck_assert_ptr_null(r->header->error);
    ck_assert_uint_eq(r->header->cluster_id, tikv_mock_cluster_id(m));
    ck_assert_ptr_nonnull(r->keyspace);
    ck_assert_int_eq(r->keyspace->keyspace_case, KEYSPACEPB__KEYSPACE_META__KEYSPACE_ID);
    ck_assert_uint_eq(r->keyspace->id, want[i].id);
    ck_assert_str_eq(r->keyspace->name, want[i].name);
    ck_assert_int_eq(r->keyspace->state, want[i].state);
    ck_assert_int_gt(r->keyspace->created_at, 1600000000);
    ck_assert_int_ge(r->keyspace->state_changed_at, r->keyspace->created_at);
    FREE(r);
  }
  /* an unknown name, and the empty one: PD's not-found header, no keyspace */
  const char *missing[] = {"nope", "", "default"};
  for (size_t i = 0; i < 3; i++) {
    Keyspacepb__LoadKeyspaceResponse *r = load(pd, missing[i], 0);
    ck_assert_ptr_nonnull(r->header->error);
    ck_assert_int_eq(r->header->error->type, PDPB__ERROR_TYPE__ENTRY_NOT_FOUND);
    ck_assert_str_eq(r->header->error->message,
                     "[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist");
    ck_assert_ptr_null(r->keyspace);
    FREE(r);
  }
  /* states change as tests set them */
  ck_assert_int_eq(tikv_mock_set_keyspace_state(m, "ks1", TIKV_MOCK_KEYSPACE_ARCHIVED), 0);
  Keyspacepb__LoadKeyspaceResponse *r = load(pd, "ks1", 0);
  ck_assert_int_eq(r->keyspace->state, KEYSPACEPB__KEYSPACE_STATE__ARCHIVED);
  FREE(r);
  ck_assert_int_eq(tikv_mock_set_keyspace_state(m, "nope", 1), -1);
  ck_assert_int_eq(tikv_mock_set_keyspace_state(m, "ks1", 4), -1);
  ck_assert_int_eq(tikv_mock_get_keyspace_state(m, "off"), TIKV_MOCK_KEYSPACE_DISABLED);
  ck_assert_int_eq(tikv_mock_get_keyspace_state(m, "nope"), -1);
}
END_TEST

START_TEST(load_keyspace_needs_the_leader_and_the_cluster_id) {
  tikv_mock_cluster_stop(m);
  m = start_v2(2);
  ck_assert_ptr_null(load(tikv_mock_pd_member_address(m, 2), "ks1", GRPC_STATUS_UNAVAILABLE));
  ck_assert_str_eq(details, "not leader");
  Keyspacepb__LoadKeyspaceRequest q = KEYSPACEPB__LOAD_KEYSPACE_REQUEST__INIT; /* no header */
  q.name = "ks1";
  call_at(tikv_mock_pd_address(m), TIKV__REQ_PD_LOAD_KEYSPACE, &q.base,
          GRPC_STATUS_FAILED_PRECONDITION);
  ck_assert_ptr_nonnull(strstr(details, "mismatch cluster id"));
}
END_TEST

START_TEST(keyspaces_are_pds) {
  ck_assert_int_eq(tikv_mock_api_version(m), 2);
  ck_assert_int_eq(tikv_mock_keyspace_count(m), 4);
  const char *names[] = {"DEFAULT", "ks1", "ks5", "off"};
  for (int i = 0; i < 4; i++) ck_assert_str_eq(tikv_mock_keyspace_name(m, i), names[i]);
  ck_assert_ptr_null(tikv_mock_keyspace_name(m, 4));
  ck_assert_ptr_null(tikv_mock_keyspace_name(m, -1));
  ck_assert_int_eq(tikv_mock_keyspace_id(m, "off"), 6);
  ck_assert_int_eq(tikv_mock_keyspace_id(m, "nope"), -1);
  /* PD's rules: names of [-A-Za-z0-9_]{1,20}, not DEFAULT; ids of 24 bits, not taken */
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "a b", -1), -1);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "", -1), -1);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "abcdefghij0123456789x", -1), -1);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "DEFAULT", -1), -1);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "ks1", -1), -1);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "x", 5), -1);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "x", 0), -1);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "x", 0x1000000), -1);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "late-1_X", -1), 7); /* after the highest */
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "last", 0xFFFFFF), 0xFFFFFF);
  Keyspacepb__LoadKeyspaceResponse *r = load(tikv_mock_pd_address(m), "late-1_X", 0);
  ck_assert_uint_eq(r->keyspace->id, 7);
  FREE(r);
}
END_TEST

/* ---- regions ---- */
static bool is_region_start(key_t_ boundary) {
  key_t_ e = encoded(boundary);
  uint64_t id = tikv_mock_region_for_key(m, e.b, e.len);
  uint8_t s[64], end[64];
  size_t sl, el;
  ck_assert_int_eq(tikv_mock_region_bounds(m, id, s, sizeof(s), &sl, end, sizeof(end), &el), 0);
  return sl == e.len && memcmp(s, e.b, sl) == 0;
}

START_TEST(regions_split_at_keyspace_boundaries) {
  /* every keyspace's raw and txn range starts a region, and ends one; inside,
   * the split of regions = 2 (user keys from "V" on) */
  uint32_t ids[] = {0, 1, 5, 6};
  for (size_t i = 0; i < 4; i++)
    for (const char *mode = "rx"; *mode; mode++) {
      ck_assert_msg(is_region_start(ks_key(*mode, ids[i], "")), "%c%u", *mode, ids[i]);
      ck_assert(is_region_start(ks_key(*mode, ids[i] + 1, "")));
      ck_assert(is_region_start(ks_key(*mode, ids[i], "V")));
      ck_assert(!is_region_start(ks_key(*mode, ids[i], "U")));
    }
  /* ids 0,1,2 | 5,6,7 per mode: 6 bounds + 4 inner splits, twice; one region before */
  ck_assert_int_eq(tikv_mock_region_count(m), 1 + 2 * (6 + 4));
  /* PD reports the encoded bounds: what a v2 client routes by */
  key_t_ a = encoded(ks_key('r', 1, "a")), v = encoded(ks_key('r', 1, "V"));
  ck_assert_uint_eq(tikv_mock_region_for_key(m, a.b, a.len),
                    tikv_mock_region_for_key(m, v.b, v.len));
  /* the regions of one keyspace are led by more than one store */
  key_t_ first = encoded(ks_key('x', 1, "")), second = encoded(ks_key('x', 1, "Z"));
  uint64_t l1 = tikv_mock_region_leader_store(m, tikv_mock_region_for_key(m, first.b, first.len));
  uint64_t l2 = tikv_mock_region_leader_store(m, tikv_mock_region_for_key(m, second.b, second.len));
  ck_assert_uint_ne(l1, l2);
  /* a keyspace added later splits too */
  int before = tikv_mock_region_count(m);
  ck_assert_int_eq(tikv_mock_add_keyspace(m, "later", 100), 100);
  ck_assert_int_eq(tikv_mock_region_count(m), before + 2 * 3);
  ck_assert(is_region_start(ks_key('x', 100, "")));
  /* in API v2 a split key must be an encoding */
  ck_assert_uint_eq(tikv_mock_split_region(m, (const uint8_t *)"r\0\0\1b", 5), 0);
  key_t_ split = encoded(ks_key('r', 1, "b"));
  ck_assert_uint_ne(tikv_mock_split_region(m, split.b, split.len), 0);
}
END_TEST

/* ---- served ---- */
START_TEST(v2_raw_requests_are_served) {
  put_ok(ks_key('r', 1, "A"), "1");
  put_ok(ks_key('r', 1, "a"), "2");
  put_ok(ks_key('r', 5, "A"), "3"); /* the same user key in another keyspace */
  Kvrpcpb__RawGetResponse *g = raw_get(ks_key('r', 1, "A"), V2, 1);
  ck_assert_str_eq(g->error, "");
  ck_assert_uint_eq(g->value.len, 1);
  ck_assert_int_eq(g->value.data[0], '1');
  FREE(g);
  /* raw keys are compared with the regions by their encoding: "a" lies
   * after the split at "V", and a scan stops at its region's end */
  key_t_ start = ks_key('r', 1, ""), end = ks_key('r', 2, "");
  Kvrpcpb__RawScanResponse *s = raw_scan(start, start, &end, 0, 1);
  ck_assert_ptr_null(s->region_error);
  ck_assert_uint_eq(s->n_kvs, 1);
  ck_assert_uint_eq(s->kvs[0]->key.len, 5);
  ck_assert_int_eq(s->kvs[0]->key.data[4], 'A');
  FREE(s);
  /* reverse from the keyspace's end: its last region, "a" only */
  s = raw_scan(ks_key('r', 1, "a"), end, &start, 1, 1);
  ck_assert_ptr_null(s->region_error);
  ck_assert_uint_eq(s->n_kvs, 1);
  ck_assert_int_eq(s->kvs[0]->key.data[4], 'a');
  FREE(s);
  /* the key of one region sent to another: KeyNotInRegion */
  kctx_t k;
  key_t_ z = ks_key('r', 1, "a");
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = ctx_key(&k, ks_key('r', 1, "A"), V2, 1);
  q.key = bin(&z);
  g = kv(&k, TIKV__REQ_RAW_GET, &q.base);
  ck_assert_ptr_nonnull(g->region_error);
  ck_assert_ptr_nonnull(g->region_error->key_not_in_region);
  FREE(g);
  /* TTLs are always on in API v2 (no enable_ttl here) */
  Kvrpcpb__RawPutResponse *p = raw_put(ks_key('r', 1, "t"), "v", 100, V2, 1);
  ck_assert_str_eq(p->error, "");
  FREE(p);
  Kvrpcpb__RawGetKeyTTLRequest tq = KVRPCPB__RAW_GET_KEY_TTLREQUEST__INIT;
  key_t_ t = ks_key('r', 1, "t");
  tq.context = ctx_key(&k, t, V2, 1);
  tq.key = bin(&t);
  Kvrpcpb__RawGetKeyTTLResponse *tr = kv(&k, TIKV__REQ_RAW_GET_KEY_TTL, &tq.base);
  ck_assert_str_eq(tr->error, "");
  ck_assert_uint_gt(tr->ttl, 98);
  ck_assert_uint_le(tr->ttl, 100);
  FREE(tr);
}
END_TEST

START_TEST(v1_txn_on_tidb_keys_is_served) {
  /* TiKV's compatibility: a V1 transactional request on 'm' / 't' keys */
  Kvrpcpb__GetResponse *g = kv_get(plain("t_row"), V1, 0);
  ck_assert_ptr_null(g->region_error);
  ck_assert_ptr_null(g->error);
  ck_assert(g->not_found);
  FREE(g);
  g = kv_get(ks_key('x', 1, "k"), V2, 1);
  ck_assert_ptr_null(g->error);
  ck_assert(g->not_found);
  FREE(g);
  /* commands TiKV does not check take any key, any version */
  kctx_t k;
  key_t_ a = plain("a");
  Kvrpcpb__BatchRollbackRequest rb = KVRPCPB__BATCH_ROLLBACK_REQUEST__INIT;
  rb.context = ctx_key(&k, a, V1, 0);
  ProtobufCBinaryData keys[] = {bin(&a)};
  rb.keys = keys;
  rb.n_keys = 1;
  rb.start_version = 5;
  Kvrpcpb__BatchRollbackResponse *r = kv(&k, TIKV__REQ_KV_BATCH_ROLLBACK, &rb.base);
  ck_assert_ptr_null(r->region_error);
  ck_assert_ptr_null(r->error);
  FREE(r);
}
END_TEST

/* ---- refused as TiKV refuses ---- */
START_TEST(api_version_not_matched) {
  /* a V1 raw request on a V2 store: the text in RawGetResponse.error */
  Kvrpcpb__RawGetResponse *g = raw_get(ks_key('r', 1, "a"), V1, 1);
  ck_assert_ptr_null(g->region_error);
  ck_assert_str_eq(g->error, "Api version in request does not match with TiKV storage, cmd: "
                             "raw_get, storage: V2, request: V1");
  FREE(g);
  /* before any region check: TiKV's storage checks first */
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT; /* no region at all */
  key_t_ a = ks_key('r', 1, "a");
  q.context = &ctx;
  q.key = bin(&a);
  g = call_at(tikv_mock_store_address(m, 1), TIKV__REQ_RAW_GET, &q.base, 0);
  ck_assert_ptr_null(g->region_error);
  ck_assert_ptr_nonnull(strstr(g->error, "request: V1"));
  FREE(g);
  Kvrpcpb__GetRequest tq = KVRPCPB__GET_REQUEST__INIT; /* transactional: the same order */
  key_t_ t = plain("a");
  tq.context = &ctx;
  tq.key = bin(&t);
  Kvrpcpb__GetResponse *tg = call_at(tikv_mock_store_address(m, 1), TIKV__REQ_KV_GET, &tq.base, 0);
  ck_assert_ptr_null(tg->region_error);
  ck_assert_ptr_nonnull(strstr(tg->error->abort, "Error(InvalidKeyMode { cmd: get"));
  FREE(tg);
  /* atomic raw writes are TiKV's raw_atomic_store */
  kctx_t k;
  Kvrpcpb__RawPutRequest p = KVRPCPB__RAW_PUT_REQUEST__INIT;
  p.context = ctx_key(&k, a, 1 /* V1TTL */, 1);
  p.key = bin(&a);
  p.value = (ProtobufCBinaryData){1, (uint8_t *)"v"};
  p.for_cas = 1;
  Kvrpcpb__RawPutResponse *pr = kv(&k, TIKV__REQ_RAW_PUT, &p.base);
  ck_assert_str_eq(pr->error, "Api version in request does not match with TiKV storage, cmd: "
                              "raw_atomic_store, storage: V2, request: V1ttl");
  FREE(pr);
  /* a V2 raw batch read: one pair carrying the KeyError (TiKV's Debug form) */
  Kvrpcpb__RawBatchGetRequest bg = KVRPCPB__RAW_BATCH_GET_REQUEST__INIT;
  ProtobufCBinaryData keys[] = {bin(&a)};
  bg.context = ctx_key(&k, a, 3 /* V3 */, 1);
  bg.keys = keys;
  bg.n_keys = 1;
  Kvrpcpb__RawBatchGetResponse *br = kv(&k, TIKV__REQ_RAW_BATCH_GET, &bg.base);
  ck_assert_uint_eq(br->n_pairs, 1);
  ck_assert_str_eq(br->pairs[0]->error->abort,
                   "Error(ApiVersionNotMatched { cmd: raw_batch_get, storage_api_version: V2, "
                   "req_api_version: V3 })");
  FREE(br);
}
END_TEST

START_TEST(key_modes_refused) {
  /* a V2 raw request on a transactional key */
  Kvrpcpb__RawGetResponse *g = raw_get(ks_key('x', 1, "k"), V2, 1);
  ck_assert_str_eq(g->error, "Key mode mismatched with the request mode, cmd: raw_get, storage: "
                             "V2, key: 780000016B");
  FREE(g);
  /* a V2 txn read on a raw key: KeyError.abort, the key as TiKV holds it (encoded) */
  Kvrpcpb__GetResponse *tg = kv_get(ks_key('r', 1, "k"), V2, 1);
  ck_assert_ptr_nonnull(tg->error);
  ck_assert_str_eq(tg->error->abort, "Error(InvalidKeyMode { cmd: get, storage_api_version: V2, "
                                     "key: \"720000016B000000FC\" })");
  FREE(tg);
  /* a V1 txn request on a key that is not TiDB's */
  tg = kv_get(plain("a"), V1, 0);
  ck_assert_str_eq(tg->error->abort, "Error(InvalidKeyMode { cmd: get, storage_api_version: V2, "
                                     "key: \"6100000000000000F8\" })");
  FREE(tg);
  /* prewrite: errors[0] */
  kctx_t k;
  key_t_ good = ks_key('x', 1, "a"), bad = ks_key('r', 1, "b");
  Kvrpcpb__Mutation m1 = KVRPCPB__MUTATION__INIT, m2 = KVRPCPB__MUTATION__INIT;
  m1.key = bin(&good);
  m2.key = bin(&bad);
  Kvrpcpb__Mutation *muts[] = {&m1, &m2};
  Kvrpcpb__PrewriteRequest pw = KVRPCPB__PREWRITE_REQUEST__INIT;
  pw.context = ctx_key(&k, good, V2, 1);
  pw.mutations = muts;
  pw.n_mutations = 2;
  pw.primary_lock = bin(&good);
  pw.start_version = 10;
  pw.lock_ttl = 3000;
  Kvrpcpb__PrewriteResponse *pr = kv(&k, TIKV__REQ_KV_PREWRITE, &pw.base);
  ck_assert_ptr_null(pr->region_error);
  ck_assert_uint_eq(pr->n_errors, 1);
  ck_assert_str_eq(pr->errors[0]->abort,
                   "Error(InvalidKeyMode { cmd: prewrite, storage_api_version: V2, key: "
                   "\"7200000162000000FC\" })");
  FREE(pr);
  /* nothing was locked: the good key reads as absent, no lock */
  tg = kv_get(good, V2, 1);
  ck_assert_ptr_null(tg->error);
  FREE(tg);
}
END_TEST

START_TEST(key_ranges_refused) {
  /* a raw scan to the end of the key space (no end key) is no mode */
  kctx_t k;
  key_t_ s = ks_key('r', 1, "");
  Kvrpcpb__RawScanRequest q = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  q.context = ctx_key(&k, s, V2, 1);
  q.start_key = bin(&s);
  q.limit = 10;
  Kvrpcpb__RawScanResponse *r = kv(&k, TIKV__REQ_RAW_SCAN, &q.base);
  ck_assert_uint_eq(r->n_kvs, 1);
  ck_assert_str_eq(r->kvs[0]->error->abort,
                   "Error(InvalidKeyRangeMode { cmd: raw_scan, storage_api_version: V2, range: "
                   "(Some(\"72000001\"), None) })");
  FREE(r);
  /* the end may be the mode's successor byte alone: the last keyspace's
   * range ends at "s" (PD's fencepost), and [r\xff\xff\xff, "s") is raw */
  key_t_ last = ks_key('r', 0xFFFFFF, ""), ss = plain("s");
  q.start_key = bin(&last);
  q.end_key = bin(&ss);
  q.context = ctx_key(&k, last, V2, 0xFFFFFF);
  r = kv(&k, TIKV__REQ_RAW_SCAN, &q.base);
  ck_assert_ptr_null(r->region_error);
  ck_assert_uint_eq(r->n_kvs, 0);
  FREE(r);
  /* a delete-range across modes: the text in RawDeleteRangeResponse.error */
  key_t_ e = ks_key('x', 1, "");
  Kvrpcpb__RawDeleteRangeRequest d = KVRPCPB__RAW_DELETE_RANGE_REQUEST__INIT;
  d.context = ctx_key(&k, s, V2, 1);
  d.start_key = bin(&s);
  d.end_key = bin(&e);
  Kvrpcpb__RawDeleteRangeResponse *dr = kv(&k, TIKV__REQ_RAW_DELETE_RANGE, &d.base);
  ck_assert_str_eq(dr->error, "Key mode mismatched with the request mode, cmd: raw_delete_range, "
                              "storage: V2, range: (Some(\"72000001\"), Some(\"78000001\"))");
  FREE(dr);
  /* a txn scan without an end: ScanResponse.error and its first pair */
  key_t_ xs = ks_key('x', 1, "");
  Kvrpcpb__ScanRequest sc = KVRPCPB__SCAN_REQUEST__INIT;
  sc.context = ctx_key(&k, xs, V2, 1);
  sc.start_key = bin(&xs);
  sc.limit = 10;
  sc.version = 10;
  Kvrpcpb__ScanResponse *sr = kv(&k, TIKV__REQ_KV_SCAN, &sc.base);
  const char *want = "Error(InvalidKeyRangeMode { cmd: scan, storage_api_version: V2, range: "
                     "(Some(\"7800000100000000FB\"), None) })";
  ck_assert_str_eq(sr->error->abort, want);
  ck_assert_uint_eq(sr->n_pairs, 1);
  ck_assert_str_eq(sr->pairs[0]->error->abort, want);
  FREE(sr);
}
END_TEST

START_TEST(v2_raw_names_no_column_family) {
  kctx_t k;
  key_t_ a = ks_key('r', 1, "a");
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = ctx_key(&k, a, V2, 1);
  q.key = bin(&a);
  q.cf = "default";
  Kvrpcpb__RawGetResponse *g = kv(&k, TIKV__REQ_RAW_GET, &q.base);
  ck_assert_str_eq(g->error, "cf is deprecated in API V2, cf name: default");
  FREE(g);
  Kvrpcpb__RawScanRequest s = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  key_t_ e = ks_key('r', 2, "");
  s.context = q.context;
  s.start_key = bin(&a);
  s.end_key = bin(&e);
  s.cf = "lock";
  Kvrpcpb__RawScanResponse *r = kv(&k, TIKV__REQ_RAW_SCAN, &s.base);
  ck_assert_uint_eq(r->n_kvs, 1);
  ck_assert_str_eq(r->kvs[0]->error->abort, "Error(CfDeprecated(\"lock\"))");
  FREE(r);
}
END_TEST

/* ---- the mock's own check: the keys of the keyspace the context names ---- */
START_TEST(keys_outside_the_requests_keyspace) {
  Kvrpcpb__RawGetResponse *g = raw_get(ks_key('r', 5, "a"), V2, 1);
  ck_assert_str_eq(g->error, "mock: key 7200000561 lies outside keyspace 1, which the request's "
                             "Context.keyspace_id names (TiKV does not check this; the mock does)");
  FREE(g);
  /* a short key is in no keyspace; the next keyspace's prefix is not this one's */
  g = raw_get(plain("r"), V2, 0);
  ck_assert_ptr_nonnull(strstr(g->error, "mock: key 72 lies outside keyspace 0"));
  FREE(g);
  g = raw_get(ks_key('r', 2, ""), V2, 1);
  ck_assert_ptr_nonnull(strstr(g->error, "mock: key 72000002 lies outside keyspace 1"));
  FREE(g);
  /* a scan may end at the next keyspace's first key, not beyond */
  key_t_ s = ks_key('r', 1, ""), end_ok = ks_key('r', 2, ""), end_bad = ks_key('r', 2, "a");
  Kvrpcpb__RawScanResponse *r = raw_scan(s, s, &end_ok, 0, 1);
  ck_assert_ptr_null(r->region_error);
  ck_assert_uint_eq(r->n_kvs, 0); /* nothing stored, nothing refused */
  FREE(r);
  r = raw_scan(s, s, &end_bad, 0, 1);
  ck_assert_uint_eq(r->n_kvs, 1);
  ck_assert_ptr_nonnull(strstr(r->kvs[0]->error->abort, "range (Some(\"72000001\"), "
                                                        "Some(\"7200000261\")) lies outside"));
  FREE(r);
  /* txn keys too */
  Kvrpcpb__GetResponse *tg = kv_get(ks_key('x', 5, "k"), V2, 1);
  ck_assert_ptr_nonnull(strstr(tg->error->abort, "mock: key 780000056B lies outside keyspace 1"));
  FREE(tg);
}
END_TEST

/* ---- every command TiKV checks answers in its own field; the others pass ---- */
typedef enum { TEXT, KEY_ERROR, KEY_ERRORS, PAIRS, KEY_ERROR_AND_PAIRS, UNCHECKED } where_t;

/* The text of the error where TiKV's service puts it, or NULL. */
static const char *answer(const ProtobufCMessage *r, where_t w) {
  const ProtobufCMessageDescriptor *d = r->descriptor;
  const ProtobufCFieldDescriptor *f;
  const char *base = (const char *)r;
  switch (w) {
    case TEXT:
      f = protobuf_c_message_descriptor_get_field_by_name(d, "error");
      return *(char *const *)(base + f->offset);
    case KEY_ERROR:
    case KEY_ERROR_AND_PAIRS: {
      f = protobuf_c_message_descriptor_get_field_by_name(d, "error");
      const Kvrpcpb__KeyError *ke = *(Kvrpcpb__KeyError *const *)(base + f->offset);
      if (w == KEY_ERROR_AND_PAIRS) { /* and the first pair says the same */
        f = protobuf_c_message_descriptor_get_field_by_name(d, "pairs");
        size_t n = *(const size_t *)(base + f->quantifier_offset);
        Kvrpcpb__KvPair *const *pairs = *(Kvrpcpb__KvPair *const *const *)(base + f->offset);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(pairs[0]->error->abort, ke->abort);
      }
      return ke ? ke->abort : NULL;
    }
    case KEY_ERRORS: {
      f = protobuf_c_message_descriptor_get_field_by_name(d, "errors");
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      Kvrpcpb__KeyError *const *errs = *(Kvrpcpb__KeyError *const *const *)(base + f->offset);
      return n == 1 ? errs[0]->abort : NULL;
    }
    case PAIRS: {
      f = protobuf_c_message_descriptor_get_field_by_name(d, "pairs");
      if (!f) f = protobuf_c_message_descriptor_get_field_by_name(d, "kvs");
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      Kvrpcpb__KvPair *const *pairs = *(Kvrpcpb__KvPair *const *const *)(base + f->offset);
      return n == 1 && pairs[0]->error ? pairs[0]->error->abort : NULL;
    }
    case UNCHECKED: break;
  }
  return NULL;
}

START_TEST(every_checked_command_answers_in_tikvs_field) {
  /* from tikv/tikv src/server/service/kv.rs: a text error is format!("{}"),
   * a KeyError's abort format!("{:?}") */
  static const struct {
    tikv__req_id req;
    const char *cmd;
    where_t where;
  } rows[] = {
      {TIKV__REQ_RAW_GET, "raw_get", TEXT},
      {TIKV__REQ_RAW_BATCH_GET, "raw_batch_get", PAIRS},
      {TIKV__REQ_RAW_PUT, "raw_put", TEXT},
      {TIKV__REQ_RAW_BATCH_PUT, "raw_batch_put", TEXT},
      {TIKV__REQ_RAW_DELETE, "raw_delete", TEXT},
      {TIKV__REQ_RAW_BATCH_DELETE, "raw_batch_delete", TEXT},
      {TIKV__REQ_RAW_DELETE_RANGE, "raw_delete_range", TEXT},
      {TIKV__REQ_RAW_SCAN, "raw_scan", PAIRS},
      {TIKV__REQ_RAW_BATCH_SCAN, "raw_batch_scan", PAIRS},
      {TIKV__REQ_RAW_GET_KEY_TTL, "raw_get_key_ttl", TEXT},
      {TIKV__REQ_RAW_CAS, "raw_compare_and_swap", TEXT},
      {TIKV__REQ_KV_GET, "get", KEY_ERROR},
      {TIKV__REQ_KV_BATCH_GET, "batch_get", KEY_ERROR_AND_PAIRS},
      {TIKV__REQ_KV_SCAN, "scan", KEY_ERROR_AND_PAIRS},
      {TIKV__REQ_KV_PREWRITE, "prewrite", KEY_ERRORS},
      {TIKV__REQ_KV_PESSIMISTIC_LOCK, "acquire_pessimistic_lock", KEY_ERRORS},
      {TIKV__REQ_KV_DELETE_RANGE, "delete_range", TEXT},
      {TIKV__REQ_KV_COMMIT, NULL, UNCHECKED},
      {TIKV__REQ_KV_CLEANUP, NULL, UNCHECKED},
      {TIKV__REQ_KV_BATCH_ROLLBACK, NULL, UNCHECKED},
      {TIKV__REQ_KV_CHECK_TXN_STATUS, NULL, UNCHECKED},
      {TIKV__REQ_KV_CHECK_SECONDARY_LOCKS, NULL, UNCHECKED},
      {TIKV__REQ_KV_TXN_HEART_BEAT, NULL, UNCHECKED},
      {TIKV__REQ_KV_RESOLVE_LOCK, NULL, UNCHECKED},
      {TIKV__REQ_KV_SCAN_LOCK, NULL, UNCHECKED},
      {TIKV__REQ_KV_PESSIMISTIC_ROLLBACK, NULL, UNCHECKED},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    const tikv__req_info_t *ri = tikv__req(rows[i].req);
    ProtobufCMessage *q = calloc(1, ri->req->sizeof_message);
    protobuf_c_message_init(ri->req, q);
    kctx_t k; /* a V3 request: ApiVersionNotMatched wherever TiKV checks */
    const ProtobufCFieldDescriptor *cf =
        protobuf_c_message_descriptor_get_field_by_name(ri->req, "context");
    *(Kvrpcpb__Context **)((char *)q + cf->offset) = ctx_key(&k, ks_key('x', 1, "k"), 3, 1);
    ProtobufCMessage *r = kv(&k, rows[i].req, q);
    const char *got = answer(r, rows[i].where);
    if (rows[i].where == UNCHECKED) {
      size_t n = protobuf_c_message_get_packed_size(r);
      uint8_t *buf = malloc(n + 1);
      protobuf_c_message_pack(r, buf);
      ck_assert_msg(!memmem(buf, n, "ApiVersionNotMatched", 20), "%s refused by version",
                    ri->method);
      free(buf);
    } else {
      char want[160];
      snprintf(want, sizeof(want),
               rows[i].where == TEXT
                   ? "Api version in request does not match with TiKV storage, cmd: %s, "
                     "storage: V2, request: V3"
                   : "Error(ApiVersionNotMatched { cmd: %s, storage_api_version: V2, "
                     "req_api_version: V3 })",
               rows[i].cmd);
      ck_assert_msg(got && strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", ri->method,
                    got ? got : "(none)", want);
    }
    FREE(r);
    free(q);
  }
}
END_TEST

/* ---- inside BatchCommands too ---- */
START_TEST(checked_inside_batch_commands) {
  kctx_t k;
  key_t_ a = ks_key('r', 1, "a");
  Kvrpcpb__RawGetRequest g = KVRPCPB__RAW_GET_REQUEST__INIT;
  g.context = ctx_key(&k, a, V1, 1);
  g.key = bin(&a);
  Tikvpb__BatchCommandsRequest__Request one = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__INIT;
  one.cmd_case =
      (Tikvpb__BatchCommandsRequest__Request__CmdCase)tikv__req(TIKV__REQ_RAW_GET)->batch_case;
  one.rawget = &g;
  Tikvpb__BatchCommandsRequest__Request *reqs[] = {&one};
  uint64_t ids[] = {7};
  Tikvpb__BatchCommandsRequest b = TIKVPB__BATCH_COMMANDS_REQUEST__INIT;
  b.requests = reqs;
  b.n_requests = 1;
  b.request_ids = ids;
  b.n_request_ids = 1;
  mc_stream_t *s = mc_stream_open(tikv_mock_store_address(m, k.store),
                                  tikv__req(TIKV__REQ_BATCH_COMMANDS)->path, TIMEOUT_MS);
  Tikvpb__BatchCommandsResponse *r = NULL;
  ck_assert_int_eq(mc_stream_roundtrip(s, &b.base, tikv__req(TIKV__REQ_BATCH_COMMANDS)->resp,
                                       (ProtobufCMessage **)&r),
                   0);
  ck_assert_uint_eq(r->n_responses, 1);
  ck_assert_ptr_nonnull(strstr(r->responses[0]->rawget->error, "request: V1"));
  FREE(r);
  mc_stream_close(s, NULL, 0);
}
END_TEST

/* ---- API v1 ---- */
START_TEST(v1_store_refuses_v2_requests) {
  tikv_mock_cluster_stop(m);
  for (int ttl = 0; ttl <= 1; ttl++) {
    tikv_mock_options_t o;
    tikv_mock_options_init(&o);
    o.enable_ttl = ttl;
    m = tikv_mock_cluster_start(&o, NULL, 0);
    ck_assert_int_eq(tikv_mock_api_version(m), 1);
    ck_assert_int_eq(tikv_mock_keyspace_count(m), 0);
    ck_assert_int_eq(tikv_mock_add_keyspace(m, "ks1", -1), -1); /* keyspaces need v2 */
    Kvrpcpb__RawGetResponse *g = raw_get(ks_key('r', 0, "a"), V2, 0);
    ck_assert_str_eq(g->error,
                     ttl ? "Api version in request does not match with TiKV storage, cmd: raw_get, "
                           "storage: V1ttl, request: V2"
                         : "Api version in request does not match with TiKV storage, cmd: raw_get, "
                           "storage: V1, request: V2");
    FREE(g);
    Kvrpcpb__GetResponse *tg = kv_get(plain("a"), V2, 0);
    ck_assert_ptr_nonnull(tg->error);
    ck_assert_ptr_nonnull(strstr(tg->error->abort, "Error(ApiVersionNotMatched { cmd: get"));
    FREE(tg);
    /* a V1 request is served as ever, on any key */
    g = raw_get(plain("a"), V1, 0);
    ck_assert_str_eq(g->error, "");
    FREE(g);
    /* PD has no keyspace (none was split for) */
    Keyspacepb__LoadKeyspaceResponse *l = load(tikv_mock_pd_address(m), "DEFAULT", 0);
    ck_assert_int_eq(l->header->error->type, PDPB__ERROR_TYPE__ENTRY_NOT_FOUND);
    FREE(l);
    tikv_mock_cluster_stop(m);
  }
  m = NULL;
}
END_TEST

START_TEST(bad_options_fail_the_start) {
  tikv_mock_cluster_stop(m);
  m = NULL;
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  char err[256];
  o.api_version = 3;
  ck_assert_ptr_null(tikv_mock_cluster_start(&o, err, sizeof(err)));
  ck_assert_str_eq(err, "api_version must be 1 or 2, not 3");
  tikv_mock_keyspace_t ks[] = {{"a", -1, 0}, {"a", -1, 0}};
  o.api_version = 1;
  o.keyspaces = ks;
  o.n_keyspaces = 1;
  ck_assert_ptr_null(tikv_mock_cluster_start(&o, err, sizeof(err)));
  ck_assert_str_eq(err, "keyspaces need API v2 (api_version 2)");
  o.api_version = 2;
  o.n_keyspaces = 2;
  ck_assert_ptr_null(tikv_mock_cluster_start(&o, err, sizeof(err)));
  ck_assert_str_eq(err, "keyspace a already exists");
  ks[1].name = "b";
  ks[1].id = 0;
  ck_assert_ptr_null(tikv_mock_cluster_start(&o, err, sizeof(err)));
  ck_assert_str_eq(err, "keyspace b: id 0 is not in 1..16777215");
}
END_TEST

static Suite *apiv2_suite(void) {
  Suite *s = suite_create("mock_apiv2");
  TCase *pd = tcase_create("pd");
  tcase_add_checked_fixture(pd, setup, teardown);
  tcase_set_timeout(pd, 30);
  tcase_add_test(pd, load_keyspace_as_pd_answers);
  tcase_add_test(pd, load_keyspace_needs_the_leader_and_the_cluster_id);
  tcase_add_test(pd, keyspaces_are_pds);
  tcase_add_test(pd, regions_split_at_keyspace_boundaries);
  suite_add_tcase(s, pd);
  TCase *kv = tcase_create("stores");
  tcase_add_checked_fixture(kv, setup, teardown);
  tcase_set_timeout(kv, 30);
  tcase_add_test(kv, v2_raw_requests_are_served);
  tcase_add_test(kv, v1_txn_on_tidb_keys_is_served);
  tcase_add_test(kv, api_version_not_matched);
  tcase_add_test(kv, key_modes_refused);
  tcase_add_test(kv, key_ranges_refused);
  tcase_add_test(kv, every_checked_command_answers_in_tikvs_field);
  tcase_add_test(kv, v2_raw_names_no_column_family);
  tcase_add_test(kv, keys_outside_the_requests_keyspace);
  tcase_add_test(kv, checked_inside_batch_commands);
  tcase_add_test(kv, v1_store_refuses_v2_requests);
  tcase_add_test(kv, bad_options_fail_the_start);
  suite_add_tcase(s, kv);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(apiv2_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
