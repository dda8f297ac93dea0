/* The mock cluster seen from the wire: raw gRPC calls (no client library)
 * against PD and the stores, checking PD's semantics, TiKV's raw KV
 * semantics, the region checks TiKV applies, and fault injection.
 * Cluster: 3 stores, 4 regions split at the encoded "F", "V", "k". */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "mock/rawstore.h"
#include "errorpb.pb-c.h"
#include "health.pb-c.h"
#include "kvrpcpb.pb-c.h"
#include "metapb.pb-c.h"
#include "pdpb.pb-c.h"
#include "tikv/mock.h"
#include "tikvpb.pb-c.h"
#include "util_mock_client.h"

#define TIMEOUT_MS 5000
#define K(s) (const uint8_t *)(s), strlen(s)

static tikv_mock_cluster_t *m;
static char details[512];

static tikv_mock_cluster_t *start(int stores, int regions, int ttl) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = stores;
  o.regions = regions;
  o.enable_ttl = ttl;
  char err[256];
  tikv_mock_cluster_t *c = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(c != NULL, "start: %s", err);
  return c;
}

static void setup(void) { m = start(3, 4, 1); }
static void teardown(void) {
  tikv_mock_cluster_stop(m);
  m = NULL;
}

/* ---- PD helpers ---- */
static Pdpb__RequestHeader hdr;
static Pdpb__RequestHeader *pd_header(void) {
  Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
  hdr = h;
  hdr.cluster_id = tikv_mock_cluster_id(m);
  return &hdr;
}

static void *pd_call(const char *name, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *d, int want_status) {
  char method[128];
  snprintf(method, sizeof(method), "/pdpb.PD/%s", name);
  ProtobufCMessage *resp = NULL;
  int st = mc_unary(tikv_mock_pd_address(m), method, req, d, &resp, TIMEOUT_MS, details,
                    sizeof(details));
  ck_assert_msg(st == want_status, "%s: status %d (%s), want %d", name, st, details, want_status);
  return resp;
}
#define FREE(p) protobuf_c_message_free_unpacked((ProtobufCMessage *)(p), NULL)

static Pdpb__GetRegionResponse *pd_region(const char *method, const uint8_t *key, size_t len) {
  Pdpb__GetRegionRequest q = PDPB__GET_REGION_REQUEST__INIT;
  q.header = pd_header();
  q.region_key.data = (uint8_t *)key;
  q.region_key.len = len;
  return pd_call(method, &q.base, &pdpb__get_region_response__descriptor, 0);
}

static uint8_t *enc(const char *s, size_t *len) {
  uint8_t *out;
  ck_assert_int_eq(tikv__codec_encode_bytes((const uint8_t *)s, strlen(s), &out, len), 0);
  return out;
}

/* ---- KV helpers ---- */
typedef struct kctx {
  Kvrpcpb__Context ctx;
  Metapb__RegionEpoch epoch;
  Metapb__Peer peer;
  uint64_t store; /* where to send */
} kctx_t;

/* A context for region_id as a client would send it to store_id. */
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

/* The right context for the region holding raw key `key`, to its leader. */
static Kvrpcpb__Context *kctx_key(kctx_t *k, const char *key) {
  uint64_t r = tikv_mock_region_for_key(m, K(key));
  return kctx_for(k, r, tikv_mock_region_leader_store(m, r));
}

static void *kv_call(uint64_t store, const char *name, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *d, int want_status) {
  char method[128];
  snprintf(method, sizeof(method), "/tikvpb.Tikv/%s", name);
  ProtobufCMessage *resp = NULL;
  int st = mc_unary(tikv_mock_store_address(m, store), method, req, d, &resp, TIMEOUT_MS, details,
                    sizeof(details));
  ck_assert_msg(st == want_status, "%s: status %d (%s), want %d", name, st, details, want_status);
  return resp;
}

static Kvrpcpb__RawPutResponse *raw_put_ttl(kctx_t *k, const char *key, const char *val,
                                            uint64_t ttl) {
  Kvrpcpb__RawPutRequest q = KVRPCPB__RAW_PUT_REQUEST__INIT;
  q.context = &k->ctx;
  q.key.data = (uint8_t *)key;
  q.key.len = strlen(key);
  q.value.data = (uint8_t *)val;
  q.value.len = strlen(val);
  q.ttl = ttl;
  return kv_call(k->store, "RawPut", &q.base, &kvrpcpb__raw_put_response__descriptor, 0);
}

static void put_ok(const char *key, const char *val) {
  kctx_t k;
  kctx_key(&k, key);
  Kvrpcpb__RawPutResponse *r = raw_put_ttl(&k, key, val, 0);
  ck_assert_ptr_null(r->region_error);
  ck_assert_str_eq(r->error, "");
  FREE(r);
}

static Kvrpcpb__RawGetResponse *raw_get(kctx_t *k, const char *key) {
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = &k->ctx;
  q.key.data = (uint8_t *)key;
  q.key.len = strlen(key);
  return kv_call(k->store, "RawGet", &q.base, &kvrpcpb__raw_get_response__descriptor, 0);
}

static Kvrpcpb__RawScanResponse *raw_scan(kctx_t *k, const char *start, const char *end,
                                          uint32_t limit, int reverse) {
  Kvrpcpb__RawScanRequest q = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  q.context = &k->ctx;
  q.start_key.data = (uint8_t *)start;
  q.start_key.len = strlen(start);
  q.end_key.data = (uint8_t *)end;
  q.end_key.len = strlen(end);
  q.limit = limit;
  q.reverse = reverse;
  return kv_call(k->store, "RawScan", &q.base, &kvrpcpb__raw_scan_response__descriptor, 0);
}

static void assert_keys(Kvrpcpb__RawScanResponse *r, const char *const *want, size_t n) {
  ck_assert_ptr_null(r->region_error);
  ck_assert_uint_eq(r->n_kvs, n);
  for (size_t i = 0; i < n; i++) {
    ck_assert_uint_eq(r->kvs[i]->key.len, strlen(want[i]));
    ck_assert_mem_eq(r->kvs[i]->key.data, want[i], strlen(want[i]));
  }
}

/* ================= PD ================= */
START_TEST(pd_get_members) {
  Pdpb__GetMembersRequest q = PDPB__GET_MEMBERS_REQUEST__INIT; /* no header needed */
  Pdpb__GetMembersResponse *r = pd_call("GetMembers", &q.base, &pdpb__get_members_response__descriptor, 0);
  ck_assert_uint_eq(r->header->cluster_id, tikv_mock_cluster_id(m));
  ck_assert_ptr_null(r->header->error);
  ck_assert_uint_eq(r->n_members, 1);
  char url[128];
  snprintf(url, sizeof(url), "http://%s", tikv_mock_pd_address(m));
  ck_assert_uint_eq(r->leader->n_client_urls, 1);
  ck_assert_str_eq(r->leader->client_urls[0], url);
  ck_assert_str_eq(r->etcd_leader->client_urls[0], url);
  ck_assert_uint_eq(r->leader->member_id, r->members[0]->member_id);
  FREE(r);
  ck_assert_ptr_nonnull(strstr(tikv_mock_pd_address(m), "127.0.0.1:"));
}
END_TEST

START_TEST(pd_cluster_id_mismatch) {
  Pdpb__GetRegionRequest q = PDPB__GET_REGION_REQUEST__INIT; /* header missing: id 0 */
  pd_call("GetRegion", &q.base, &pdpb__get_region_response__descriptor, GRPC_STATUS_FAILED_PRECONDITION);
  char want[128];
  snprintf(want, sizeof(want), "mismatch cluster id, need %llu but got 0",
           (unsigned long long)tikv_mock_cluster_id(m));
  ck_assert_str_eq(details, want);
  /* the TSO stream checks it too */
  mc_stream_t *s = mc_stream_open(tikv_mock_pd_address(m), "/pdpb.PD/Tso", TIMEOUT_MS);
  Pdpb__TsoRequest t = PDPB__TSO_REQUEST__INIT;
  t.count = 1;
  ProtobufCMessage *resp = NULL;
  ck_assert_int_eq(mc_stream_roundtrip(s, &t.base, &pdpb__tso_response__descriptor, &resp), -1);
  ck_assert_int_eq(mc_stream_close(s, details, sizeof(details)), GRPC_STATUS_FAILED_PRECONDITION);
  ck_assert_str_eq(details, want);
}
END_TEST

START_TEST(pd_regions) {
  ck_assert_int_eq(tikv_mock_region_count(m), 4);
  size_t fl, vl;
  uint8_t *F = enc("F", &fl), *V = enc("V", &vl);
  /* first region: starts at "", ends at encoded "F" */
  Pdpb__GetRegionResponse *r = pd_region("GetRegion", NULL, 0);
  ck_assert_uint_eq(r->region->id, tikv_mock_region_id_at(m, 0));
  ck_assert_uint_eq(r->region->start_key.len, 0);
  ck_assert_uint_eq(r->region->end_key.len, fl);
  ck_assert_mem_eq(r->region->end_key.data, F, fl);
  ck_assert_uint_eq(r->region->n_peers, 3);
  ck_assert_uint_eq(r->region->region_epoch->conf_ver, 1);
  ck_assert_uint_eq(r->region->region_epoch->version, 1);
  ck_assert_uint_eq(r->leader->store_id, tikv_mock_region_leader_store(m, r->region->id));
  ck_assert_uint_eq(r->leader->store_id, 1); /* round-robin: region i on store i%3+1 */
  FREE(r);
  /* a key at a region start belongs to that region */
  r = pd_region("GetRegion", F, fl);
  ck_assert_uint_eq(r->region->id, tikv_mock_region_id_at(m, 1));
  ck_assert_uint_eq(r->leader->store_id, 2);
  FREE(r);
  /* raw keys compare with the same bytes: "G" > encoded "F" */
  r = pd_region("GetRegion", K("G"));
  ck_assert_uint_eq(r->region->id, tikv_mock_region_id_at(m, 1));
  ck_assert_uint_eq(r->region->end_key.len, vl);
  ck_assert_mem_eq(r->region->end_key.data, V, vl);
  FREE(r);
  /* GetPrevRegion: the region before the one holding the key, whether the
   * key is that region's start or inside it */
  r = pd_region("GetPrevRegion", F, fl);
  ck_assert_uint_eq(r->region->id, tikv_mock_region_id_at(m, 0));
  FREE(r);
  r = pd_region("GetPrevRegion", K("G"));
  ck_assert_uint_eq(r->region->id, tikv_mock_region_id_at(m, 0));
  FREE(r);
  r = pd_region("GetPrevRegion", NULL, 0);
  ck_assert_ptr_null(r->region);
  ck_assert_ptr_null(r->header->error);
  FREE(r);
  /* by id */
  Pdpb__GetRegionByIDRequest qi = PDPB__GET_REGION_BY_IDREQUEST__INIT;
  qi.header = pd_header();
  qi.region_id = tikv_mock_region_id_at(m, 3);
  r = pd_call("GetRegionByID", &qi.base, &pdpb__get_region_response__descriptor, 0);
  ck_assert_uint_eq(r->region->id, qi.region_id);
  ck_assert_uint_eq(r->region->end_key.len, 0);
  FREE(r);
  free(F);
  free(V);
}
END_TEST

START_TEST(pd_scan_regions) {
  Pdpb__ScanRegionsRequest q = PDPB__SCAN_REGIONS_REQUEST__INIT;
  q.header = pd_header();
  q.start_key.data = (uint8_t *)"G";
  q.start_key.len = 1;
  q.limit = 2;
  Pdpb__ScanRegionsResponse *r = pd_call("ScanRegions", &q.base, &pdpb__scan_regions_response__descriptor, 0);
  ck_assert_uint_eq(r->n_regions, 2);
  ck_assert_uint_eq(r->n_region_metas, 2);
  ck_assert_uint_eq(r->n_leaders, 2);
  ck_assert_uint_eq(r->regions[0]->region->id, tikv_mock_region_id_at(m, 1));
  ck_assert_uint_eq(r->region_metas[1]->id, tikv_mock_region_id_at(m, 2));
  ck_assert_uint_eq(r->leaders[1]->store_id, r->regions[1]->leader->store_id);
  FREE(r);
  /* end bound, no limit */
  size_t vl;
  uint8_t *V = enc("V", &vl);
  q.start_key.len = 0;
  q.limit = 0;
  q.end_key.data = V;
  q.end_key.len = vl;
  r = pd_call("ScanRegions", &q.base, &pdpb__scan_regions_response__descriptor, 0);
  ck_assert_uint_eq(r->n_regions, 2);
  FREE(r);
  free(V);
}
END_TEST

START_TEST(pd_tso_batches) {
  mc_stream_t *s = mc_stream_open(tikv_mock_pd_address(m), "/pdpb.PD/Tso", TIMEOUT_MS);
  int64_t prev_last = -1;
  uint32_t counts[] = {1, 10, 3, 50, 1};
  for (int i = 0; i < 5; i++) {
    Pdpb__TsoRequest t = PDPB__TSO_REQUEST__INIT;
    t.header = pd_header();
    t.count = counts[i];
    Pdpb__TsoResponse *r = NULL;
    ck_assert_int_eq(mc_stream_roundtrip(s, &t.base, &pdpb__tso_response__descriptor,
                                         (ProtobufCMessage **)&r), 0);
    ck_assert_uint_eq(r->count, counts[i]);
    ck_assert_uint_eq(r->timestamp->suffix_bits, 0);
    int64_t last = (r->timestamp->physical << 18) + r->timestamp->logical;
    int64_t first = last - counts[i] + 1;
    ck_assert_int_ge(r->timestamp->logical - (int64_t)counts[i] + 1, 0); /* the LAST of the batch */
    ck_assert_int_gt(first, prev_last);
    prev_last = last;
    FREE(r);
  }
  ck_assert_int_eq(mc_stream_close(s, details, sizeof(details)), GRPC_STATUS_OK);
}
END_TEST

START_TEST(pd_stores_and_ids) {
  Pdpb__GetAllStoresRequest q = PDPB__GET_ALL_STORES_REQUEST__INIT;
  q.header = pd_header();
  Pdpb__GetAllStoresResponse *r = pd_call("GetAllStores", &q.base, &pdpb__get_all_stores_response__descriptor, 0);
  ck_assert_uint_eq(r->n_stores, 3);
  for (size_t i = 0; i < 3; i++) {
    ck_assert_uint_eq(r->stores[i]->id, i + 1);
    ck_assert_int_eq(r->stores[i]->state, METAPB__STORE_STATE__Up);
    ck_assert_str_eq(r->stores[i]->address, tikv_mock_store_address(m, i + 1));
  }
  FREE(r);
  Pdpb__GetStoreRequest qs = PDPB__GET_STORE_REQUEST__INIT;
  qs.header = pd_header();
  qs.store_id = 2;
  Pdpb__GetStoreResponse *rs = pd_call("GetStore", &qs.base, &pdpb__get_store_response__descriptor, 0);
  ck_assert_str_eq(rs->store->address, tikv_mock_store_address(m, 2));
  FREE(rs);
  qs.store_id = 99;
  rs = pd_call("GetStore", &qs.base, &pdpb__get_store_response__descriptor, 0);
  ck_assert_ptr_nonnull(rs->header->error);
  ck_assert_ptr_null(rs->store);
  FREE(rs);
  /* ids come after the store, region and peer ids */
  Pdpb__AllocIDRequest qa = PDPB__ALLOC_IDREQUEST__INIT;
  qa.header = pd_header();
  Pdpb__AllocIDResponse *ra = pd_call("AllocID", &qa.base, &pdpb__alloc_idresponse__descriptor, 0);
  ck_assert_uint_gt(ra->id, tikv_mock_region_id_at(m, 3));
  FREE(ra);
  Pdpb__IsBootstrappedRequest qb = PDPB__IS_BOOTSTRAPPED_REQUEST__INIT;
  qb.header = pd_header();
  Pdpb__IsBootstrappedResponse *rb = pd_call("IsBootstrapped", &qb.base, &pdpb__is_bootstrapped_response__descriptor, 0);
  ck_assert(rb->bootstrapped);
  FREE(rb);
}
END_TEST

START_TEST(pd_gc_safe_point) {
  Pdpb__UpdateGCSafePointRequest q = PDPB__UPDATE_GCSAFE_POINT_REQUEST__INIT;
  q.header = pd_header();
  q.safe_point = 100;
  Pdpb__UpdateGCSafePointResponse *r = pd_call("UpdateGCSafePoint", &q.base, &pdpb__update_gcsafe_point_response__descriptor, 0);
  ck_assert_uint_eq(r->new_safe_point, 100);
  FREE(r);
  q.safe_point = 50; /* never moves back */
  r = pd_call("UpdateGCSafePoint", &q.base, &pdpb__update_gcsafe_point_response__descriptor, 0);
  ck_assert_uint_eq(r->new_safe_point, 100);
  FREE(r);
  Pdpb__GetGCSafePointRequest g = PDPB__GET_GCSAFE_POINT_REQUEST__INIT;
  g.header = pd_header();
  Pdpb__GetGCSafePointResponse *gr = pd_call("GetGCSafePoint", &g.base, &pdpb__get_gcsafe_point_response__descriptor, 0);
  ck_assert_uint_eq(gr->safe_point, 100);
  FREE(gr);
  Pdpb__UpdateServiceGCSafePointRequest s = PDPB__UPDATE_SERVICE_GCSAFE_POINT_REQUEST__INIT;
  s.header = pd_header();
  s.service_id.data = (uint8_t *)"svc";
  s.service_id.len = 3;
  s.ttl = 60;
  s.safe_point = 200;
  Pdpb__UpdateServiceGCSafePointResponse *sr = pd_call("UpdateServiceGCSafePoint", &s.base, &pdpb__update_service_gcsafe_point_response__descriptor, 0);
  ck_assert_uint_eq(sr->min_safe_point, 200);
  ck_assert_mem_eq(sr->service_id.data, "svc", 3);
  FREE(sr);
}
END_TEST

START_TEST(unimplemented_and_health) {
  Pdpb__GetMembersRequest q = PDPB__GET_MEMBERS_REQUEST__INIT;
  pd_call("NoSuchMethod", &q.base, &pdpb__get_members_response__descriptor, GRPC_STATUS_UNIMPLEMENTED);
  kv_call(1, "NoSuchMethod", &q.base, &pdpb__get_members_response__descriptor, GRPC_STATUS_UNIMPLEMENTED);
  Grpc__Health__V1__HealthCheckRequest h = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  const char *targets[] = {tikv_mock_pd_address(m), tikv_mock_store_address(m, 1),
                           tikv_mock_store_address(m, 2), tikv_mock_store_address(m, 3)};
  for (int i = 0; i < 4; i++) {
    ProtobufCMessage *resp = NULL;
    ck_assert_int_eq(mc_unary(targets[i], "/grpc.health.v1.Health/Check", &h.base,
                              &grpc__health__v1__health_check_response__descriptor, &resp,
                              TIMEOUT_MS, NULL, 0), 0);
    ck_assert_int_eq(((Grpc__Health__V1__HealthCheckResponse *)resp)->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    FREE(resp);
  }
}
END_TEST

/* ================= raw KV ================= */
START_TEST(raw_put_get_missing) {
  put_ok("a", "va");
  kctx_t k;
  kctx_key(&k, "a");
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "a");
  ck_assert_ptr_null(r->region_error);
  ck_assert(!r->not_found);
  ck_assert_mem_eq(r->value.data, "va", 2);
  FREE(r);
  r = raw_get(&k, "a-missing");
  ck_assert(r->not_found);
  ck_assert_uint_eq(r->value.len, 0);
  FREE(r);
  /* an empty value is kept (TiKV stores it) and is not "not found" */
  put_ok("a-empty", "");
  r = raw_get(&k, "a-empty");
  ck_assert(!r->not_found);
  FREE(r);
  /* column families are separate keyspaces; unknown ones are refused */
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = &k.ctx;
  q.key.data = (uint8_t *)"a";
  q.key.len = 1;
  q.cf = "lock";
  r = kv_call(k.store, "RawGet", &q.base, &kvrpcpb__raw_get_response__descriptor, 0);
  ck_assert(r->not_found);
  FREE(r);
  q.cf = "default";
  r = kv_call(k.store, "RawGet", &q.base, &kvrpcpb__raw_get_response__descriptor, 0);
  ck_assert(!r->not_found);
  FREE(r);
  q.cf = "nope";
  r = kv_call(k.store, "RawGet", &q.base, &kvrpcpb__raw_get_response__descriptor, 0);
  ck_assert_str_eq(r->error, "invalid cf name: nope");
  FREE(r);
  ck_assert_uint_ge(tikv_mock_call_count(m, "RawGet"), 5);
  ck_assert_uint_ge(tikv_mock_call_count(m, "*"), 7);
}
END_TEST

/* Lookups from where the last one ended answer what a search from the top
 * does, in any order of keys. */
START_TEST(kvmap_get_near_matches_get) {
  mock_kvmap_t *s = mock_kvmap_new();
  char k[16];
  for (int i = 0; i < 2000; i += 2) {
    int n = snprintf(k, sizeof(k), "k%05d", i);
    ck_assert_int_eq(mock_kvmap_put(s, (uint8_t *)k, (size_t)n, (uint8_t *)k, (size_t)n, 0), 0);
  }
  /* ascending neighbours, ascending with absent keys between, far jumps,
   * the same key twice, descending, before the first and after the last */
  static const int order[] = {0,    2,    3,    4,    4,    6,   40,   41,  1998, 1999, 2500,
                              1500, 1498, 1497, 1200, 100,  -1,  7,    9,    8,    10,   12};
  mock_kventry_t *near = NULL;
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    int n = order[i] < 0 ? snprintf(k, sizeof(k), "a") : snprintf(k, sizeof(k), "k%05d", order[i]);
    mock_kventry_t *want = mock_kvmap_get(s, (uint8_t *)k, (size_t)n);
    mock_kventry_t *got = mock_kvmap_get_near(s, (uint8_t *)k, (size_t)n, &near);
    ck_assert_msg(got == want, "lookup %zu (%s): got %p, want %p", i, k, (void *)got, (void *)want);
  }
  mock_kvmap_free(s);
}
END_TEST

START_TEST(raw_batch_and_delete_range) {
  kctx_t k;
  kctx_key(&k, "b1");
  Kvrpcpb__KvPair p[4], *pp[4];
  const char *keys[] = {"b1", "b2", "b3", "b4"};
  for (int i = 0; i < 4; i++) {
    Kvrpcpb__KvPair x = KVRPCPB__KV_PAIR__INIT;
    p[i] = x;
    p[i].key.data = (uint8_t *)keys[i];
    p[i].key.len = 2;
    p[i].value.data = (uint8_t *)keys[i];
    p[i].value.len = 2;
    pp[i] = &p[i];
  }
  Kvrpcpb__RawBatchPutRequest bp = KVRPCPB__RAW_BATCH_PUT_REQUEST__INIT;
  bp.context = &k.ctx;
  bp.n_pairs = 4;
  bp.pairs = pp;
  Kvrpcpb__RawBatchPutResponse *bpr = kv_call(k.store, "RawBatchPut", &bp.base, &kvrpcpb__raw_batch_put_response__descriptor, 0);
  ck_assert_ptr_null(bpr->region_error);
  ck_assert_str_eq(bpr->error, "");
  FREE(bpr);
  /* batch get answers only the keys that exist */
  ProtobufCBinaryData ks[3] = {{2, (uint8_t *)"b1"}, {2, (uint8_t *)"bx"}, {2, (uint8_t *)"b3"}};
  Kvrpcpb__RawBatchGetRequest bg = KVRPCPB__RAW_BATCH_GET_REQUEST__INIT;
  bg.context = &k.ctx;
  bg.n_keys = 3;
  bg.keys = ks;
  Kvrpcpb__RawBatchGetResponse *bgr = kv_call(k.store, "RawBatchGet", &bg.base, &kvrpcpb__raw_batch_get_response__descriptor, 0);
  ck_assert_uint_eq(bgr->n_pairs, 2);
  ck_assert_mem_eq(bgr->pairs[1]->key.data, "b3", 2);
  FREE(bgr);
  /* delete range [b2, b4) */
  Kvrpcpb__RawDeleteRangeRequest dr = KVRPCPB__RAW_DELETE_RANGE_REQUEST__INIT;
  dr.context = &k.ctx;
  dr.start_key.data = (uint8_t *)"b2";
  dr.start_key.len = 2;
  dr.end_key.data = (uint8_t *)"b4";
  dr.end_key.len = 2;
  Kvrpcpb__RawDeleteRangeResponse *drr = kv_call(k.store, "RawDeleteRange", &dr.base, &kvrpcpb__raw_delete_range_response__descriptor, 0);
  ck_assert_ptr_null(drr->region_error);
  FREE(drr);
  Kvrpcpb__RawScanResponse *sr = raw_scan(&k, "b", "c", 10, 0);
  const char *left[] = {"b1", "b4"};
  assert_keys(sr, left, 2);
  FREE(sr);
  /* an end past the region end is refused (TiKV's apply check) */
  dr.end_key.data = (uint8_t *)"z";
  dr.end_key.len = 1;
  drr = kv_call(k.store, "RawDeleteRange", &dr.base, &kvrpcpb__raw_delete_range_response__descriptor, 0);
  ck_assert_ptr_nonnull(drr->region_error);
  ck_assert_ptr_nonnull(drr->region_error->key_not_in_region);
  FREE(drr);
  /* batch delete */
  ProtobufCBinaryData dk[2] = {{2, (uint8_t *)"b1"}, {2, (uint8_t *)"b9"}};
  Kvrpcpb__RawBatchDeleteRequest bd = KVRPCPB__RAW_BATCH_DELETE_REQUEST__INIT;
  bd.context = &k.ctx;
  bd.n_keys = 2;
  bd.keys = dk;
  Kvrpcpb__RawBatchDeleteResponse *bdr = kv_call(k.store, "RawBatchDelete", &bd.base, &kvrpcpb__raw_batch_delete_response__descriptor, 0);
  ck_assert_ptr_null(bdr->region_error);
  FREE(bdr);
  sr = raw_scan(&k, "b", "c", 10, 0);
  const char *left2[] = {"b4"};
  assert_keys(sr, left2, 1);
  FREE(sr);
}
END_TEST

START_TEST(raw_scan_semantics) {
  const char *keys[] = {"b1", "b2", "b3", "b4", "b5"};
  for (int i = 0; i < 5; i++) put_ok(keys[i], keys[i]);
  kctx_t k;
  kctx_key(&k, "b1");
  /* forward: [start, end), limit */
  Kvrpcpb__RawScanResponse *r = raw_scan(&k, "b2", "b4", 10, 0);
  const char *f1[] = {"b2", "b3"};
  assert_keys(r, f1, 2);
  FREE(r);
  r = raw_scan(&k, "b", "", 3, 0);
  const char *f2[] = {"b1", "b2", "b3"};
  assert_keys(r, f2, 3);
  FREE(r);
  /* reverse: start_key is the exclusive upper bound, end_key the inclusive
   * lower bound, highest first */
  r = raw_scan(&k, "b4", "b2", 10, 1);
  const char *r1[] = {"b3", "b2"};
  assert_keys(r, r1, 2);
  FREE(r);
  r = raw_scan(&k, "b9", "", 2, 1);
  const char *r2[] = {"b5", "b4"};
  assert_keys(r, r2, 2);
  FREE(r);
  /* key only */
  Kvrpcpb__RawScanRequest q = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  q.context = &k.ctx;
  q.start_key.data = (uint8_t *)"b";
  q.start_key.len = 1;
  q.limit = 10;
  q.key_only = 1;
  r = kv_call(k.store, "RawScan", &q.base, &kvrpcpb__raw_scan_response__descriptor, 0);
  ck_assert_uint_eq(r->n_kvs, 5);
  ck_assert_uint_eq(r->kvs[0]->value.len, 0);
  FREE(r);
  /* a scan stops at the region end ("k" encoded): "l" is in the next region */
  put_ok("l1", "x");
  r = raw_scan(&k, "b", "z", 100, 0);
  ck_assert_uint_eq(r->n_kvs, 5);
  FREE(r);
  /* a reverse scan may start at the region end (inclusive seek check) */
  size_t kl;
  uint8_t *kend = enc("k", &kl);
  Kvrpcpb__RawScanRequest rq = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  rq.context = &k.ctx;
  rq.start_key.data = kend;
  rq.start_key.len = kl;
  rq.limit = 100;
  rq.reverse = 1;
  r = kv_call(k.store, "RawScan", &rq.base, &kvrpcpb__raw_scan_response__descriptor, 0);
  ck_assert_ptr_null(r->region_error);
  ck_assert_uint_eq(r->n_kvs, 5);
  FREE(r);
  free(kend);
}
END_TEST

START_TEST(raw_ttl) {
  kctx_t k;
  kctx_key(&k, "t1");
  Kvrpcpb__RawPutResponse *p = raw_put_ttl(&k, "t1", "v", 1);
  ck_assert_str_eq(p->error, "");
  FREE(p);
  p = raw_put_ttl(&k, "t2", "v", 0);
  FREE(p);
  Kvrpcpb__RawGetKeyTTLRequest q = KVRPCPB__RAW_GET_KEY_TTLREQUEST__INIT;
  q.context = &k.ctx;
  q.key.data = (uint8_t *)"t1";
  q.key.len = 2;
  Kvrpcpb__RawGetKeyTTLResponse *r = kv_call(k.store, "RawGetKeyTTL", &q.base, &kvrpcpb__raw_get_key_ttlresponse__descriptor, 0);
  ck_assert(!r->not_found);
  ck_assert_uint_eq(r->ttl, 1);
  FREE(r);
  q.key.data = (uint8_t *)"t2";
  r = kv_call(k.store, "RawGetKeyTTL", &q.base, &kvrpcpb__raw_get_key_ttlresponse__descriptor, 0);
  ck_assert(!r->not_found);
  ck_assert_uint_eq(r->ttl, 0);
  FREE(r);
  q.key.data = (uint8_t *)"t3";
  r = kv_call(k.store, "RawGetKeyTTL", &q.base, &kvrpcpb__raw_get_key_ttlresponse__descriptor, 0);
  ck_assert(r->not_found);
  FREE(r);
  usleep(1200 * 1000); /* TTLs are whole seconds: past 1 s, whatever the load */
  Kvrpcpb__RawGetResponse *g = raw_get(&k, "t1");
  ck_assert(g->not_found);
  FREE(g);
  /* expired for every read: batch get, TTL, CAS (absent again) */
  ProtobufCBinaryData ks[3] = {{2, (uint8_t *)"t1"}, {2, (uint8_t *)"t2"}, {2, (uint8_t *)"t3"}};
  Kvrpcpb__RawBatchGetRequest bg = KVRPCPB__RAW_BATCH_GET_REQUEST__INIT;
  bg.context = &k.ctx;
  bg.n_keys = 3;
  bg.keys = ks;
  Kvrpcpb__RawBatchGetResponse *bgr =
      kv_call(k.store, "RawBatchGet", &bg.base, &kvrpcpb__raw_batch_get_response__descriptor, 0);
  ck_assert_uint_eq(bgr->n_pairs, 1);
  ck_assert_uint_eq(bgr->pairs[0]->key.len, 2);
  ck_assert_mem_eq(bgr->pairs[0]->key.data, "t2", 2);
  FREE(bgr);
  q.key.data = (uint8_t *)"t1";
  r = kv_call(k.store, "RawGetKeyTTL", &q.base, &kvrpcpb__raw_get_key_ttlresponse__descriptor, 0);
  ck_assert(r->not_found);
  FREE(r);
  Kvrpcpb__RawScanResponse *s = raw_scan(&k, "t", "u", 10, 0);
  const char *left[] = {"t2"};
  assert_keys(s, left, 1);
  FREE(s);
}
END_TEST

START_TEST(raw_ttl_disabled) {
  tikv_mock_cluster_stop(m);
  m = start(1, 1, 0);
  kctx_t k;
  kctx_key(&k, "t1");
  Kvrpcpb__RawPutResponse *p = raw_put_ttl(&k, "t1", "v", 10);
  ck_assert_ptr_null(p->region_error);
  ck_assert_str_eq(p->error, "ttl is not enabled, but get put request with ttl");
  FREE(p);
  Kvrpcpb__RawGetResponse *g = raw_get(&k, "t1");
  ck_assert(g->not_found);
  FREE(g);
  p = raw_put_ttl(&k, "t1", "v", 0);
  ck_assert_str_eq(p->error, "");
  FREE(p);
}
END_TEST

static Kvrpcpb__RawCASResponse *cas(kctx_t *k, const char *key, const char *prev, int not_exist,
                                    const char *val, int del) {
  Kvrpcpb__RawCASRequest q = KVRPCPB__RAW_CASREQUEST__INIT;
  q.context = &k->ctx;
  q.key.data = (uint8_t *)key;
  q.key.len = strlen(key);
  q.previous_not_exist = not_exist;
  if (prev) {
    q.previous_value.data = (uint8_t *)prev;
    q.previous_value.len = strlen(prev);
  }
  q.value.data = (uint8_t *)val;
  q.value.len = strlen(val);
  q.delete_ = del;
  return kv_call(k->store, "RawCompareAndSwap", &q.base, &kvrpcpb__raw_casresponse__descriptor, 0);
}

START_TEST(raw_cas) {
  kctx_t k;
  kctx_key(&k, "c1");
  Kvrpcpb__RawCASResponse *r = cas(&k, "c1", NULL, 1, "v1", 0);
  ck_assert(r->succeed);
  ck_assert(r->previous_not_exist);
  FREE(r);
  r = cas(&k, "c1", NULL, 1, "v2", 0);
  ck_assert(!r->succeed);
  ck_assert(!r->previous_not_exist);
  ck_assert_mem_eq(r->previous_value.data, "v1", 2);
  FREE(r);
  r = cas(&k, "c1", "wrong", 0, "v3", 0);
  ck_assert(!r->succeed);
  ck_assert_mem_eq(r->previous_value.data, "v1", 2);
  FREE(r);
  /* the same length, other bytes: no swap either */
  const char *near[] = {"x1", "vx", "v2", "v", "v11"};
  for (int i = 0; i < 5; i++) {
    r = cas(&k, "c1", near[i], 0, "v3", 0);
    ck_assert_msg(!r->succeed, "swapped against %s", near[i]);
    ck_assert(!r->previous_not_exist);
    ck_assert_uint_eq(r->previous_value.len, 2);
    ck_assert_mem_eq(r->previous_value.data, "v1", 2);
    FREE(r);
  }
  r = cas(&k, "c1", "v1", 0, "v4", 0);
  ck_assert(r->succeed);
  ck_assert_mem_eq(r->previous_value.data, "v1", 2);
  FREE(r);
  Kvrpcpb__RawGetResponse *g = raw_get(&k, "c1");
  ck_assert_mem_eq(g->value.data, "v4", 2);
  FREE(g);
  r = cas(&k, "c1", "v4", 0, "", 1); /* delete on match */
  ck_assert(r->succeed);
  FREE(r);
  g = raw_get(&k, "c1");
  ck_assert(g->not_found);
  FREE(g);
}
END_TEST

/* ================= region checks ================= */
START_TEST(strict_region_not_found) {
  kctx_t k;
  kctx_key(&k, "a");
  k.ctx.region_id = 999999;
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "a");
  ck_assert_ptr_nonnull(r->region_error);
  ck_assert_ptr_nonnull(r->region_error->region_not_found);
  ck_assert_uint_eq(r->region_error->region_not_found->region_id, 999999);
  ck_assert_str_eq(r->region_error->message, "region 999999 not found");
  FREE(r);
}
END_TEST

START_TEST(strict_region_not_found_on_store_without_peer) {
  tikv_mock_cluster_stop(m);
  m = start(4, 4, 0); /* 3 peers per region, 4 stores */
  uint64_t region = tikv_mock_region_id_at(m, 0); /* peers on stores 1,2,3 */
  ck_assert_uint_eq(tikv_mock_region_peer_on_store(m, region, 4), 0);
  kctx_t k;
  kctx_for(&k, region, 4);
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "0");
  ck_assert_ptr_nonnull(r->region_error->region_not_found);
  FREE(r);
}
END_TEST

START_TEST(strict_not_leader) {
  kctx_t k;
  uint64_t region = tikv_mock_region_for_key(m, K("a"));
  uint64_t leader = tikv_mock_region_leader_store(m, region);
  uint64_t follower = leader % 3 + 1;
  kctx_for(&k, region, follower);
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "a");
  ck_assert_ptr_nonnull(r->region_error);
  Errorpb__NotLeader *nl = r->region_error->not_leader;
  ck_assert_ptr_nonnull(nl);
  ck_assert_uint_eq(nl->region_id, region);
  ck_assert_uint_eq(nl->leader->store_id, leader);
  ck_assert_uint_eq(nl->leader->id, tikv_mock_region_peer_on_store(m, region, leader));
  char want[160];
  snprintf(want, sizeof(want), "peer is not leader for region %llu, leader may Some(id: %llu store_id: %llu)",
           (unsigned long long)region, (unsigned long long)nl->leader->id, (unsigned long long)leader);
  ck_assert_str_eq(r->region_error->message, want);
  FREE(r);
  /* after a leader transfer the old leader answers NotLeader with the new one */
  ck_assert_int_eq(tikv_mock_transfer_leader(m, region, follower), 0);
  kctx_for(&k, region, leader);
  r = raw_get(&k, "a");
  ck_assert_uint_eq(r->region_error->not_leader->leader->store_id, follower);
  FREE(r);
  kctx_for(&k, region, follower);
  r = raw_get(&k, "a");
  ck_assert_ptr_null(r->region_error);
  FREE(r);
}
END_TEST

START_TEST(strict_store_not_match) {
  kctx_t k;
  kctx_key(&k, "a");
  uint64_t actual = k.store;
  k.peer.store_id = actual % 3 + 1; /* the context names another store */
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "a");
  ck_assert_ptr_nonnull(r->region_error);
  ck_assert_ptr_nonnull(r->region_error->store_not_match);
  ck_assert_uint_eq(r->region_error->store_not_match->request_store_id, actual % 3 + 1);
  ck_assert_uint_eq(r->region_error->store_not_match->actual_store_id, actual);
  FREE(r);
}
END_TEST

START_TEST(strict_key_not_in_region) {
  kctx_t k;
  kctx_key(&k, "a");
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "G"); /* "G" lives in region 1 */
  ck_assert_ptr_nonnull(r->region_error);
  Errorpb__KeyNotInRegion *e = r->region_error->key_not_in_region;
  ck_assert_ptr_nonnull(e);
  ck_assert_mem_eq(e->key.data, "G", 1);
  ck_assert_uint_eq(e->region_id, k.ctx.region_id);
  size_t vl;
  uint8_t *V = enc("V", &vl);
  ck_assert_uint_eq(e->start_key.len, vl);
  ck_assert_mem_eq(e->start_key.data, V, vl);
  free(V);
  ck_assert_ptr_nonnull(strstr(r->region_error->message, "key 47 is not in region key range [56"));
  FREE(r);
  /* puts too, and a forward scan starting outside */
  Kvrpcpb__RawPutResponse *p = raw_put_ttl(&k, "G", "x", 0);
  ck_assert_ptr_nonnull(p->region_error->key_not_in_region);
  FREE(p);
  Kvrpcpb__RawScanResponse *s = raw_scan(&k, "G", "", 10, 0);
  ck_assert_ptr_nonnull(s->region_error->key_not_in_region);
  FREE(s);
}
END_TEST

START_TEST(strict_epoch_and_split) {
  put_ok("b1", "1");
  put_ok("b5", "5");
  kctx_t old;
  kctx_key(&old, "b1");
  uint64_t region = old.ctx.region_id;
  uint64_t right = tikv_mock_split_region(m, K("b3"));
  ck_assert_uint_ne(right, 0);
  ck_assert_int_eq(tikv_mock_region_count(m), 5);
  uint64_t cv, v, rcv, rv;
  tikv_mock_region_epoch(m, region, &cv, &v);
  tikv_mock_region_epoch(m, right, &rcv, &rv);
  ck_assert_uint_eq(v, 2); /* both halves bumped */
  ck_assert_uint_eq(rv, 2);
  ck_assert_uint_eq(cv, 1);
  ck_assert_uint_eq(tikv_mock_region_for_key(m, K("b5")), right);
  ck_assert_uint_eq(tikv_mock_region_for_key(m, K("b1")), region);
  /* the old epoch is refused, with the regions now covering the old range */
  Kvrpcpb__RawGetResponse *r = raw_get(&old, "b1");
  ck_assert_ptr_nonnull(r->region_error);
  Errorpb__EpochNotMatch *e = r->region_error->epoch_not_match;
  ck_assert_ptr_nonnull(e);
  ck_assert_uint_eq(e->n_current_regions, 2);
  ck_assert_uint_eq(e->current_regions[0]->id, region);
  ck_assert_uint_eq(e->current_regions[1]->id, right);
  ck_assert_uint_eq(e->current_regions[0]->region_epoch->version, 2);
  char want[160];
  snprintf(want, sizeof(want), "EpochNotMatch current epoch of region %llu is conf_ver: 1 version: 2, but you sent conf_ver: 1 version: 1",
           (unsigned long long)region);
  ck_assert_str_eq(r->region_error->message, want);
  FREE(r);
  /* with the new epoch: b1 is served, b5 is now outside */
  kctx_t now;
  kctx_key(&now, "b1");
  r = raw_get(&now, "b1");
  ck_assert_ptr_null(r->region_error);
  ck_assert_mem_eq(r->value.data, "1", 1);
  FREE(r);
  r = raw_get(&now, "b5");
  ck_assert_ptr_nonnull(r->region_error->key_not_in_region);
  FREE(r);
  kctx_key(&now, "b5");
  r = raw_get(&now, "b5");
  ck_assert_ptr_null(r->region_error);
  ck_assert_mem_eq(r->value.data, "5", 1);
  FREE(r);
  /* PD knows the new layout */
  Pdpb__GetRegionResponse *g = pd_region("GetRegion", K("b4"));
  ck_assert_uint_eq(g->region->id, right);
  ck_assert_mem_eq(g->region->start_key.data, "b3", 2);
  FREE(g);
  /* splitting at an existing boundary does nothing */
  ck_assert_uint_eq(tikv_mock_split_region(m, K("b3")), 0);
}
END_TEST

/* ================= faults ================= */
START_TEST(inject_region_errors) {
  put_ok("a", "1");
  kctx_t k;
  kctx_key(&k, "a");
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawGet", 0, "bogus", 1), -1);
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawGet", 0, "server_is_busy", 2), 0);
  for (int i = 0; i < 2; i++) {
    Kvrpcpb__RawGetResponse *r = raw_get(&k, "a");
    ck_assert_ptr_nonnull(r->region_error);
    ck_assert_ptr_nonnull(r->region_error->server_is_busy);
    FREE(r);
  }
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "a");
  ck_assert_ptr_null(r->region_error);
  FREE(r);
  /* only on one region; other regions unaffected */
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "*", k.ctx.region_id, "not_leader_no_hint", 1), 0);
  kctx_t k2;
  kctx_key(&k2, "0");
  r = raw_get(&k2, "0");
  ck_assert_ptr_null(r->region_error);
  FREE(r);
  r = raw_get(&k, "a");
  ck_assert_ptr_nonnull(r->region_error->not_leader);
  ck_assert_ptr_null(r->region_error->not_leader->leader);
  FREE(r);
  const char *kinds[] = {"not_leader", "epoch_not_match", "region_not_found", "store_not_match",
                         "stale_command", "key_not_in_region", "max_timestamp_not_synced"};
  for (int i = 0; i < 7; i++) {
    ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawGet", 0, kinds[i], 1), 0);
    r = raw_get(&k, "a");
    Errorpb__Error *e = r->region_error;
    ck_assert_ptr_nonnull(e);
    void *field[] = {e->not_leader, e->epoch_not_match, e->region_not_found, e->store_not_match,
                     e->stale_command, e->key_not_in_region, e->max_timestamp_not_synced};
    ck_assert_msg(field[i] != NULL, "kind %s", kinds[i]);
    FREE(r);
  }
}
END_TEST

typedef struct delayed_get {
  kctx_t *k;
  atomic_int done;
} delayed_get;

static void *raw_get_in_background(void *arg) {
  delayed_get *d = arg;
  FREE(raw_get(d->k, "a"));
  atomic_store(&d->done, 1);
  return NULL;
}

START_TEST(inject_grpc_error_and_latency) {
  kctx_t k;
  kctx_key(&k, "a");
  ck_assert_int_eq(tikv_mock_inject_grpc_error(m, "RawGet", 14, 1), 0);
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = &k.ctx;
  q.key.data = (uint8_t *)"a";
  q.key.len = 1;
  kv_call(k.store, "RawGet", &q.base, &kvrpcpb__raw_get_response__descriptor, 14);
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "a");
  FREE(r);
  /* latency does not block the server: while a delayed RawGet is held, PD
   * and the same store answer other calls */
  ck_assert_int_eq(tikv_mock_set_latency(m, "RawGet", 3000), 0);
  uint64_t gets = tikv_mock_call_count(m, "RawGet");
  delayed_get d = {&k, 0};
  pthread_t th;
  int64_t t0 = tikv__now_ms();
  pthread_create(&th, NULL, raw_get_in_background, &d);
  ck_assert_uint_eq(mc_await_count(tikv_mock_call_count, m, "RawGet", gets + 1, 5000),
                   gets + 1); /* held by the store */
  Pdpb__GetMembersRequest gm = PDPB__GET_MEMBERS_REQUEST__INIT;
  FREE(pd_call("GetMembers", &gm.base, &pdpb__get_members_response__descriptor, 0));
  put_ok("a2", "v");
  Kvrpcpb__RawGetKeyTTLRequest tq = KVRPCPB__RAW_GET_KEY_TTLREQUEST__INIT;
  tq.context = &k.ctx;
  tq.key = (ProtobufCBinaryData){1, (uint8_t *)"a"};
  FREE(kv_call(k.store, "RawGetKeyTTL", &tq.base, &kvrpcpb__raw_get_key_ttlresponse__descriptor, 0));
  ck_assert_int_eq(atomic_load(&d.done), 0); /* ... all while the RawGet is still held */
  pthread_join(th, NULL);
  ck_assert_int_ge(tikv__now_ms() - t0, 2990);
  ck_assert_int_eq(tikv_mock_set_latency(m, "RawGet", 0), 0);
  /* PD methods can fail too */
  ck_assert_int_eq(tikv_mock_inject_grpc_error(m, "GetMembers", 4, 1), 0);
  pd_call("GetMembers", &gm.base, &pdpb__get_members_response__descriptor, 4);
  FREE(pd_call("GetMembers", &gm.base, &pdpb__get_members_response__descriptor, 0));
}
END_TEST

typedef struct bg_call {
  tikv_mock_cluster_t *m;
  atomic_int status;
} bg_call;

static void *members_in_background(void *arg) {
  bg_call *b = arg;
  Pdpb__GetMembersRequest q = PDPB__GET_MEMBERS_REQUEST__INIT;
  ProtobufCMessage *resp = NULL;
  atomic_store(&b->status, mc_unary(tikv_mock_pd_address(b->m), "/pdpb.PD/GetMembers", &q.base,
                                    &pdpb__get_members_response__descriptor, &resp, 5000, NULL, 0));
  if (resp) FREE(resp);
  return NULL;
}

START_TEST(pd_pause) {
  Pdpb__GetMembersRequest q = PDPB__GET_MEMBERS_REQUEST__INIT;
  ck_assert_int_eq(tikv_mock_pd_pause(m, 1), 0);
  ProtobufCMessage *resp = NULL;
  int st = mc_unary(tikv_mock_pd_address(m), "/pdpb.PD/GetMembers", &q.base,
                    &pdpb__get_members_response__descriptor, &resp, 300, NULL, 0);
  ck_assert_int_eq(st, GRPC_STATUS_DEADLINE_EXCEEDED);
  /* a call held by the pause is answered once PD resumes */
  bg_call b = {m, -1};
  pthread_t th;
  uint64_t calls = tikv_mock_pd_call_count(m, "GetMembers");
  pthread_create(&th, NULL, members_in_background, &b);
  ck_assert_uint_eq(mc_await_count(tikv_mock_pd_call_count, m, "GetMembers", calls + 1, 5000),
                   calls + 1); /* PD holds it */
  ck_assert_int_eq(atomic_load(&b.status), -1);
  ck_assert_int_eq(tikv_mock_pd_pause(m, 0), 0);
  pthread_join(th, NULL);
  ck_assert_int_eq(atomic_load(&b.status), 0);
  FREE(pd_call("GetMembers", &q.base, &pdpb__get_members_response__descriptor, 0));
  /* the stores are not affected by a PD pause */
  tikv_mock_pd_pause(m, 1);
  kctx_t k;
  kctx_key(&k, "a");
  FREE(raw_get(&k, "a"));
  tikv_mock_pd_pause(m, 0);
}
END_TEST

START_TEST(store_down_and_up) {
  put_ok("a", "1");
  kctx_t k;
  kctx_key(&k, "a");
  char addr[80];
  snprintf(addr, sizeof(addr), "%s", tikv_mock_store_address(m, k.store));
  ck_assert_int_eq(tikv_mock_store_set_down(m, k.store, 1), 0);
  Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
  q.context = &k.ctx;
  q.key.data = (uint8_t *)"a";
  q.key.len = 1;
  ProtobufCMessage *resp = NULL;
  int st = mc_unary(addr, "/tikvpb.Tikv/RawGet", &q.base, &kvrpcpb__raw_get_response__descriptor,
                    &resp, 1000, NULL, 0);
  ck_assert_int_eq(st, GRPC_STATUS_UNAVAILABLE);
  ck_assert_int_eq(tikv_mock_store_set_down(m, k.store, 0), 0);
  ck_assert_str_eq(tikv_mock_store_address(m, k.store), addr); /* same port */
  Kvrpcpb__RawGetResponse *r = raw_get(&k, "a");
  ck_assert_mem_eq(r->value.data, "1", 1); /* the data survived */
  FREE(r);
}
END_TEST

/* ================= BatchCommands ================= */
START_TEST(batch_commands_stream) {
  put_ok("a", "va");
  kctx_t k;
  kctx_key(&k, "a");
  Kvrpcpb__RawGetRequest g = KVRPCPB__RAW_GET_REQUEST__INIT;
  g.context = &k.ctx;
  g.key.data = (uint8_t *)"a";
  g.key.len = 1;
  Kvrpcpb__RawGetRequest g2 = g;
  g2.key.data = (uint8_t *)"G"; /* not in this region */
  Tikvpb__BatchCommandsEmptyRequest e = TIKVPB__BATCH_COMMANDS_EMPTY_REQUEST__INIT;
  e.test_id = 77;
  Tikvpb__BatchCommandsRequest__Request r0 = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__INIT,
                                        r1 = r0, r2 = r0;
  r0.cmd_case = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_RAW_GET;
  r0.rawget = &g;
  r1.cmd_case = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_EMPTY;
  r1.empty = &e;
  r2.cmd_case = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_RAW_GET;
  r2.rawget = &g2;
  Tikvpb__BatchCommandsRequest__Request *rs[] = {&r0, &r1, &r2};
  uint64_t ids[] = {7, 8, 9};
  Tikvpb__BatchCommandsRequest b = TIKVPB__BATCH_COMMANDS_REQUEST__INIT;
  b.n_requests = 3;
  b.requests = rs;
  b.n_request_ids = 3;
  b.request_ids = ids;
  mc_stream_t *s = mc_stream_open(tikv_mock_store_address(m, k.store), "/tikvpb.Tikv/BatchCommands", TIMEOUT_MS);
  Tikvpb__BatchCommandsResponse *resp = NULL;
  ck_assert_int_eq(mc_stream_roundtrip(s, &b.base, &tikvpb__batch_commands_response__descriptor,
                                       (ProtobufCMessage **)&resp), 0);
  ck_assert_uint_eq(resp->n_responses, 3);
  ck_assert_uint_eq(resp->n_request_ids, 3);
  for (size_t i = 0; i < 3; i++) {
    Tikvpb__BatchCommandsResponse__Response *one = resp->responses[i];
    if (resp->request_ids[i] == 7) {
      ck_assert_int_eq(one->cmd_case, TIKVPB__BATCH_COMMANDS_RESPONSE__RESPONSE__CMD_RAW_GET);
      ck_assert_mem_eq(one->rawget->value.data, "va", 2);
    } else if (resp->request_ids[i] == 8) {
      ck_assert_int_eq(one->cmd_case, TIKVPB__BATCH_COMMANDS_RESPONSE__RESPONSE__CMD_EMPTY);
      ck_assert_uint_eq(one->empty->test_id, 77);
    } else {
      ck_assert_uint_eq(resp->request_ids[i], 9);
      ck_assert_ptr_nonnull(one->rawget->region_error->key_not_in_region);
    }
  }
  FREE(resp);
  /* per-method latency applies inside the stream too, without blocking it */
  tikv_mock_set_latency(m, "RawGet", 200);
  b.n_requests = b.n_request_ids = 1;
  int64_t t0 = tikv__now_ms();
  ck_assert_int_eq(mc_stream_roundtrip(s, &b.base, &tikvpb__batch_commands_response__descriptor,
                                       (ProtobufCMessage **)&resp), 0);
  ck_assert_int_ge(tikv__now_ms() - t0, 190);
  ck_assert_uint_eq(resp->request_ids[0], 7);
  FREE(resp);
  ck_assert_int_eq(mc_stream_close(s, details, sizeof(details)), GRPC_STATUS_OK);
  ck_assert_uint_eq(tikv_mock_call_count(m, "RawGet"), 3);
}
END_TEST

/* Large responses of one message go out before the rest are served (as
 * TiKV's are sent when ready): four gets of 20 KB values come back in more
 * than one message, each request answered once. */
START_TEST(batch_commands_send_large_responses_early) {
  static char big[20001];
  memset(big, 'v', sizeof(big) - 1);
  const char *keys[] = {"a1", "a2", "a3", "a4"};
  for (int i = 0; i < 4; i++) put_ok(keys[i], big);
  kctx_t k;
  kctx_key(&k, "a1");
  Kvrpcpb__RawGetRequest g[4];
  Tikvpb__BatchCommandsRequest__Request r[4], *rs[4];
  uint64_t ids[4];
  for (int i = 0; i < 4; i++) {
    Kvrpcpb__RawGetRequest gi = KVRPCPB__RAW_GET_REQUEST__INIT;
    g[i] = gi;
    g[i].context = &k.ctx;
    g[i].key.data = (uint8_t *)keys[i];
    g[i].key.len = 2;
    Tikvpb__BatchCommandsRequest__Request ri = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__INIT;
    r[i] = ri;
    r[i].cmd_case = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_RAW_GET;
    r[i].rawget = &g[i];
    rs[i] = &r[i];
    ids[i] = 100 + (uint64_t)i;
  }
  Tikvpb__BatchCommandsRequest b = TIKVPB__BATCH_COMMANDS_REQUEST__INIT;
  b.n_requests = b.n_request_ids = 4;
  b.requests = rs;
  b.request_ids = ids;
  mc_stream_t *s = mc_stream_open(tikv_mock_store_address(m, k.store), "/tikvpb.Tikv/BatchCommands", TIMEOUT_MS);
  int seen[4] = {0}, messages = 0, answered = 0;
  Tikvpb__BatchCommandsResponse *resp = NULL;
  ck_assert_int_eq(mc_stream_roundtrip(s, &b.base, &tikvpb__batch_commands_response__descriptor,
                                       (ProtobufCMessage **)&resp), 0);
  for (;;) {
    messages++;
    ck_assert_uint_eq(resp->n_responses, resp->n_request_ids);
    for (size_t i = 0; i < resp->n_responses; i++) {
      uint64_t id = resp->request_ids[i];
      ck_assert(id >= 100 && id < 104);
      seen[id - 100]++;
      ck_assert_uint_eq(resp->responses[i]->rawget->value.len, sizeof(big) - 1);
      answered++;
    }
    FREE(resp);
    if (answered == 4) break;
    ck_assert_int_eq(mc_stream_recv(s, &tikvpb__batch_commands_response__descriptor,
                                    (ProtobufCMessage **)&resp), 0);
  }
  for (int i = 0; i < 4; i++) ck_assert_int_eq(seen[i], 1);
  ck_assert_int_ge(messages, 2);
  ck_assert_int_eq(mc_stream_close(s, details, sizeof(details)), GRPC_STATUS_OK);
}
END_TEST

/* ================= cluster layout ================= */
START_TEST(layout_and_leaders) {
  tikv_mock_cluster_stop(m);
  m = start(3, 8, 0);
  const char *splits = "7FNVcks";
  for (int i = 0; i < 8; i++) {
    uint64_t id = tikv_mock_region_id_at(m, i);
    ck_assert_uint_eq(tikv_mock_region_leader_store(m, id), (uint64_t)(i % 3) + 1);
    uint8_t s[16], e[16];
    size_t sl, el;
    ck_assert_int_eq(tikv_mock_region_bounds(m, id, s, sizeof(s), &sl, e, sizeof(e), &el), 0);
    if (i == 0) ck_assert_uint_eq(sl, 0);
    if (i == 7) ck_assert_uint_eq(el, 0);
    if (i < 7) {
      char c[2] = {splits[i], 0};
      size_t xl;
      uint8_t *x = enc(c, &xl);
      ck_assert_uint_eq(el, xl);
      ck_assert_mem_eq(e, x, xl);
      free(x);
    }
  }
  /* ids: stores 1..3, then regions and peers from one allocator */
  ck_assert_uint_eq(tikv_mock_region_id_at(m, 0), 4);
  ck_assert_uint_eq(tikv_mock_region_peer_on_store(m, 4, 1), 5);
  ck_assert_uint_eq(tikv_mock_region_for_key(m, K("conformance/x")), tikv_mock_region_id_at(m, 5)); /* [c, k) */
}
END_TEST

static Suite *mock_suite(void) {
  Suite *s = suite_create("mock");
  TCase *pd = tcase_create("pd");
  tcase_add_checked_fixture(pd, setup, teardown);
  tcase_set_timeout(pd, 30);
  tcase_add_test(pd, pd_get_members);
  tcase_add_test(pd, pd_cluster_id_mismatch);
  tcase_add_test(pd, pd_regions);
  tcase_add_test(pd, pd_scan_regions);
  tcase_add_test(pd, pd_tso_batches);
  tcase_add_test(pd, pd_stores_and_ids);
  tcase_add_test(pd, pd_gc_safe_point);
  tcase_add_test(pd, unimplemented_and_health);
  tcase_add_test(pd, layout_and_leaders);
  suite_add_tcase(s, pd);

  TCase *kv = tcase_create("raw");
  tcase_add_checked_fixture(kv, setup, teardown);
  tcase_set_timeout(kv, 30);
  tcase_add_test(kv, raw_put_get_missing);
  tcase_add_test(kv, kvmap_get_near_matches_get);
  tcase_add_test(kv, raw_batch_and_delete_range);
  tcase_add_test(kv, raw_scan_semantics);
  tcase_add_test(kv, raw_ttl);
  tcase_add_test(kv, raw_ttl_disabled);
  tcase_add_test(kv, raw_cas);
  tcase_add_test(kv, batch_commands_stream);
  tcase_add_test(kv, batch_commands_send_large_responses_early);
  suite_add_tcase(s, kv);

  TCase *st = tcase_create("strict");
  tcase_add_checked_fixture(st, setup, teardown);
  tcase_set_timeout(st, 30);
  tcase_add_test(st, strict_region_not_found);
  tcase_add_test(st, strict_region_not_found_on_store_without_peer);
  tcase_add_test(st, strict_not_leader);
  tcase_add_test(st, strict_store_not_match);
  tcase_add_test(st, strict_key_not_in_region);
  tcase_add_test(st, strict_epoch_and_split);
  suite_add_tcase(s, st);

  TCase *f = tcase_create("faults");
  tcase_add_checked_fixture(f, setup, teardown);
  tcase_set_timeout(f, 30);
  tcase_add_test(f, inject_region_errors);
  tcase_add_test(f, inject_grpc_error_and_latency);
  tcase_add_test(f, pd_pause);
  tcase_add_test(f, store_down_and_up);
  suite_add_tcase(s, f);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(mock_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
