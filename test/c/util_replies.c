/* The reply checks as fuzz and unit-test targets (util_replies.h). */
#include "util_replies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd/validate.h"
#include "region/cache.h"
#include "region/validate.h"
#include "rpc/rpc.h"
#include "txn/txn_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define BIN(s) ((ProtobufCBinaryData){sizeof(s) - 1, (uint8_t *)(s)})
#define BYTES(s) ((tikv__bytes_t){(uint8_t *)(s), sizeof(s) - 1})

static void must(int ok, const char *what) {
  if (ok) return;
  fprintf(stderr, "reply check broke its promise: %s\n", what);
  abort();
}

/* ---- what each case asked ---- */
#define MSG(d) .base = PROTOBUF_C_MESSAGE_INIT(&pdpb__##d##__descriptor)
static Pdpb__GetRegionRequest Q_REGION_K = {MSG(get_region_request), .region_key = {1, (uint8_t *)"k"}};
static Pdpb__GetRegionRequest Q_PREV_M = {MSG(get_region_request), .region_key = {1, (uint8_t *)"m"}};
static Pdpb__GetRegionByIDRequest Q_BY_ID = {MSG(get_region_by_idrequest), .region_id = 5};
static Pdpb__ScanRegionsRequest Q_SCAN = {MSG(scan_regions_request), .start_key = {1, (uint8_t *)"b"},
                                          .limit = 32, .end_key = {1, (uint8_t *)"x"}};
static Pdpb__GetStoreRequest Q_STORE = {MSG(get_store_request), .store_id = 2};
static Pdpb__GetAllStoresRequest Q_ALL_STORES = PDPB__GET_ALL_STORES_REQUEST__INIT;
static Pdpb__GetMembersRequest Q_MEMBERS = PDPB__GET_MEMBERS_REQUEST__INIT;
/* Tso: a batch of three */
#define TSO_N 3

static const tikv__bytes_t KEYS[] = {BYTES("a"), BYTES("c"), BYTES("e")};
static const size_t IDX[] = {0, 1, 2};
static const tikv__bytes_t ONE[] = {BYTES("c")};
static const tikv__part_t P_KEYS = {.keys = KEYS, .idx = IDX, .n = 3};
static const tikv__bytes_t KEYS_DUP[] = {BYTES("a"), BYTES("a"), BYTES("c")};
static const tikv__part_t P_KEYS_DUP = {.keys = KEYS_DUP, .idx = IDX, .n = 3};
static const tikv__part_t P_ONE = {.keys = ONE, .idx = IDX, .n = 1};
static const tikv__part_t P_RANGE = {.lo = BYTES("b"), .hi = BYTES("y"), .limit = 10};
static const tikv__part_t P_RANGE_REV = {.lo = BYTES("b"), .hi = BYTES("y"), .limit = 10, .reverse = true};
static const tikv__part_t P_UNBOUNDED = {.lo = BYTES("b")};

/* ---- using what passed ---- */

static void use_tso(const Pdpb__TsoResponse *r) {
  uint64_t prev = 0;
  for (size_t i = 0; i < TSO_N; i++) {
    uint64_t ts = tikv__tso_compose(r->timestamp, TSO_N, i);
    must(ts > prev, "Tso timestamps increase");
    prev = ts;
  }
  must(prev == ((uint64_t)r->timestamp->physical << 18) + (uint64_t)r->timestamp->logical,
       "the last timestamp is the one PD sent");
}

static uint64_t leader_id(const Metapb__Peer *l) { return l ? l->id : 0; }

static void use_region(int req, const Pdpb__GetRegionResponse *r) {
  if (!r->region) return;
  tikv__region_cache_t rc;
  tikv__cache_init(&rc);
  tikv__region_t *got = tikv__cache_insert(&rc, r->region, leader_id(r->leader));
  must(got != NULL, "a checked region goes into an empty cache");
  if (req == TIKV__REQ_PD_GET_REGION)
    must(tikv__cache_find(&rc, Q_REGION_K.region_key.data, 1) == got, "the key asked is in it");
  if (r->leader && r->leader->id) must(got->leader != SIZE_MAX, "its leader is one of its peers");
  tikv__cache_destroy(&rc);
}

static void use_scan_regions(const Pdpb__ScanRegionsResponse *r) {
  tikv__region_cache_t rc;
  tikv__cache_init(&rc);
  size_t n = r->n_regions ? r->n_regions : r->n_region_metas;
  for (size_t i = 0; i < n; i++)
    tikv__cache_insert(&rc, r->n_regions ? r->regions[i]->region : r->region_metas[i], 0);
  must(rc.count == n, "scanned regions do not overlap");
  tikv__cache_destroy(&rc);
}

static int run_pd(const reply_case_t *c, const ProtobufCMessage *m, tikv_error_t **err) {
  if (c->req == TIKV__REQ_PD_TSO) {
    *err = tikv__check_tso((const Pdpb__TsoResponse *)m, TSO_N);
    if (!*err) use_tso((const Pdpb__TsoResponse *)m);
    return 1;
  }
  *err = tikv__check_pd_reply((tikv__req_id)c->req, c->want, m);
  if (*err) return 1;
  switch (c->req) {
    case TIKV__REQ_PD_GET_REGION:
    case TIKV__REQ_PD_GET_PREV_REGION:
    case TIKV__REQ_PD_GET_REGION_BY_ID:
      use_region(c->req, (const Pdpb__GetRegionResponse *)m);
      break;
    case TIKV__REQ_PD_SCAN_REGIONS:
      use_scan_regions((const Pdpb__ScanRegionsResponse *)m);
      break;
    case TIKV__REQ_PD_GET_STORE: {
      const Pdpb__GetStoreResponse *r = (const Pdpb__GetStoreResponse *)m;
      must(!r->store || r->store->id == Q_STORE.store_id, "the store asked");
      break;
    }
  }
  return 1;
}

/* Pairs without error, pushed as a consume would; their count bounded. */
static void use_pairs(const tikv__part_t *p, Kvrpcpb__KvPair *const *pairs, size_t n) {
  tikv__kvs_t kvs = {0};
  for (size_t i = 0; i < n; i++) {
    if (pairs[i]->error) continue;
    const ProtobufCBinaryData *k = &pairs[i]->key;
    if (!p->keys) {
      must(tikv__key_cmp(k->data, k->len, p->lo.data, p->lo.len) >= 0, "a pair in range (lo)");
      must(!p->hi.len || tikv__key_cmp(k->data, k->len, p->hi.data, p->hi.len) < 0,
           "a pair in range (hi)");
    }
    must(tikv__kvs_push(&kvs, k->data, k->len, pairs[i]->value.data, pairs[i]->value.len, true) == 0,
         "memory");
  }
  must(p->keys ? kvs.count <= p->n : !p->limit || kvs.count <= p->limit, "pairs within the count");
  tikv__kvs_sort(&kvs, p->reverse);
  tikv__kvs_free(&kvs);
}

static void use_locks(Kvrpcpb__LockInfo *const *locks, size_t n) {
  tikv__locks_t l = {0};
  for (size_t i = 0; i < n; i++) must(tikv__locks_add(&l, locks[i]) == 0, "memory");
  for (size_t i = 0; i < l.count; i++)
    must(l.items[i].ts || l.items[i].lock_type == KVRPCPB__OP__SharedLock ||
             l.items[i].lock_type == KVRPCPB__OP__SharedPessimisticLock,
         "a lock has a start ts");
  tikv__locks_free(&l);
}

static void use_region_error(const Errorpb__Error *re) {
  tikv__region_cache_t rc;
  tikv__cache_init(&rc);
  for (size_t i = 0; re->epoch_not_match && i < re->epoch_not_match->n_current_regions; i++)
    tikv__cache_insert(&rc, re->epoch_not_match->current_regions[i], 0);
  const Metapb__Peer *l = re->not_leader ? re->not_leader->leader : NULL;
  if (l && l->id) must(l->store_id != 0, "NotLeader's leader has a store");
  tikv__cache_destroy(&rc);
}

static void use_tikv(int req, const tikv__part_t *p, const ProtobufCMessage *m) {
  switch (req) {
    case TIKV__REQ_RAW_BATCH_GET: {
      const Kvrpcpb__RawBatchGetResponse *r = (const Kvrpcpb__RawBatchGetResponse *)m;
      use_pairs(p, r->pairs, r->n_pairs);
      break;
    }
    case TIKV__REQ_RAW_SCAN: {
      const Kvrpcpb__RawScanResponse *r = (const Kvrpcpb__RawScanResponse *)m;
      use_pairs(p, r->kvs, r->n_kvs);
      break;
    }
    case TIKV__REQ_KV_BATCH_GET: {
      const Kvrpcpb__BatchGetResponse *r = (const Kvrpcpb__BatchGetResponse *)m;
      use_pairs(p, r->pairs, r->n_pairs);
      break;
    }
    case TIKV__REQ_KV_SCAN: {
      const Kvrpcpb__ScanResponse *r = (const Kvrpcpb__ScanResponse *)m;
      use_pairs(p, r->pairs, r->n_pairs);
      break;
    }
    case TIKV__REQ_KV_SCAN_LOCK: {
      const Kvrpcpb__ScanLockResponse *r = (const Kvrpcpb__ScanLockResponse *)m;
      use_locks(r->locks, r->n_locks);
      break;
    }
    case TIKV__REQ_KV_CHECK_SECONDARY_LOCKS: {
      const Kvrpcpb__CheckSecondaryLocksResponse *r =
          (const Kvrpcpb__CheckSecondaryLocksResponse *)m;
      use_locks(r->locks, r->n_locks);
      break;
    }
    case TIKV__REQ_KV_CHECK_TXN_STATUS: {
      const Kvrpcpb__CheckTxnStatusResponse *r = (const Kvrpcpb__CheckTxnStatusResponse *)m;
      if (r->lock_info) use_locks(&r->lock_info, 1);
      break;
    }
    case TIKV__REQ_KV_GET: {
      const Kvrpcpb__GetResponse *r = (const Kvrpcpb__GetResponse *)m;
      if (r->error && r->error->locked) use_locks(&r->error->locked, 1);
      break;
    }
  }
}

static int run_tikv(const reply_case_t *c, const ProtobufCMessage *m, tikv_error_t **err) {
  if (c->req < 0) { /* a region error on its own */
    const Errorpb__Error *re = (const Errorpb__Error *)m;
    if (!(*err = tikv__check_region_error("TiKV", re))) use_region_error(re);
    return 1;
  }
  const tikv__part_t *p = c->want;
  *err = tikv__check_reply((tikv__req_id)c->req, m, p);
  /* a reply with a region error is handled as that error alone */
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "region_error");
  bool region_error = fd && *(void *const *)((const char *)m + fd->offset);
  if (!*err && region_error)
    use_region_error(*(const Errorpb__Error *const *)((const char *)m + fd->offset));
  else if (!*err)
    use_tikv(c->req, p, m);
  return 1;
}

int reply_case_run(const reply_case_t *c, const ProtobufCMessage *m, char *why) {
  tikv_error_t *err = NULL;
  bool pd = c->req >= 0 && tikv__req((tikv__req_id)c->req)->service == &pdpb__pd__descriptor;
  if (pd)
    run_pd(c, m, &err);
  else
    run_tikv(c, m, &err);
  if (!err) return 0;
  must(err->code == TIKV_ERR_PROTOCOL, "a refused reply is a PROTOCOL error");
  must(strstr(err->message, "malformed reply") != NULL, "the message says why");
  if (why) snprintf(why, 256, "%s", err->message);
  tikv__error_free(err);
  return 1;
}

int reply_target_run(const reply_target_t *t, const uint8_t *data, size_t len) {
  int accepted = 0;
  for (size_t i = 0; i < t->n_cases; i++) {
    /* unpacked as the client unpacks replies (one arena), so the fuzz
     * targets run the arena with every input too */
    ProtobufCMessage *m = tikv__reply_unpack(t->cases[i].desc, data, len);
    if (!m) continue;
    accepted += reply_case_run(&t->cases[i], m, NULL) == 0;
    tikv__reply_free(m);
  }
  return accepted;
}

/* ---- valid replies ---- */
#define NEW(a, T, INIT)                       \
  ({                                          \
    T *_p = up_alloc((a), sizeof(T));         \
    T _i = INIT;                              \
    *_p = _i;                                 \
    _p;                                       \
  })

ProtobufCBinaryData rb_bin(const char *s) { return (ProtobufCBinaryData){strlen(s), (uint8_t *)s}; }

Metapb__Peer *rb_peer(up_arena_t *a, uint64_t id, uint64_t store) {
  Metapb__Peer *p = NEW(a, Metapb__Peer, METAPB__PEER__INIT);
  p->id = id;
  p->store_id = store;
  return p;
}

Metapb__Region *rb_region(up_arena_t *a, uint64_t id, const char *start, const char *end,
                              size_t npeers) {
  Metapb__Region *r = NEW(a, Metapb__Region, METAPB__REGION__INIT);
  r->id = id;
  r->start_key = rb_bin(start);
  r->end_key = rb_bin(end);
  r->region_epoch = NEW(a, Metapb__RegionEpoch, METAPB__REGION_EPOCH__INIT);
  r->region_epoch->conf_ver = 1;
  r->region_epoch->version = 1;
  r->n_peers = npeers;
  r->peers = up_alloc(a, npeers * sizeof(void *));
  for (size_t i = 0; i < npeers; i++) r->peers[i] = rb_peer(a, id * 10 + 1 + i, 1 + i);
  return r;
}

Kvrpcpb__KvPair *rb_kvp(up_arena_t *a, const char *k, const char *v) {
  Kvrpcpb__KvPair *p = NEW(a, Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
  p->key = rb_bin(k);
  p->value = rb_bin(v);
  return p;
}

Kvrpcpb__LockInfo *rb_lock(up_arena_t *a, const char *key, uint64_t ts) {
  Kvrpcpb__LockInfo *l = NEW(a, Kvrpcpb__LockInfo, KVRPCPB__LOCK_INFO__INIT);
  l->key = rb_bin(key);
  l->primary_lock = rb_bin("a");
  l->lock_version = ts;
  l->lock_ttl = 3000;
  l->min_commit_ts = ts + 1;
  return l;
}

Kvrpcpb__KeyError *rb_locked(up_arena_t *a, const char *key, uint64_t ts) {
  Kvrpcpb__KeyError *e = NEW(a, Kvrpcpb__KeyError, KVRPCPB__KEY_ERROR__INIT);
  e->locked = rb_lock(a, key, ts);
  return e;
}

/* Appends m for case c (bounded by cap). */
#define EMIT(m, c)                  \
  do {                              \
    if (n < cap) {                  \
      out[n] = &(m)->base;          \
      case_of[n++] = (c);           \
    }                               \
  } while (0)

static size_t valid_tso(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  Pdpb__TsoResponse *r = NEW(a, Pdpb__TsoResponse, PDPB__TSO_RESPONSE__INIT);
  r->count = TSO_N;
  r->timestamp = NEW(a, Pdpb__Timestamp, PDPB__TIMESTAMP__INIT);
  r->timestamp->physical = 1700000000000;
  r->timestamp->logical = 100;
  EMIT(r, 0);
  Pdpb__TsoResponse *s = NEW(a, Pdpb__TsoResponse, PDPB__TSO_RESPONSE__INIT);
  *s = *r;
  s->timestamp = NEW(a, Pdpb__Timestamp, PDPB__TIMESTAMP__INIT);
  *s->timestamp = *r->timestamp;
  s->timestamp->suffix_bits = 2; /* steps of 4: logical 100 leaves room */
  EMIT(s, 0);
  return n;
}

static size_t valid_region(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  Pdpb__GetRegionResponse *r = NEW(a, Pdpb__GetRegionResponse, PDPB__GET_REGION_RESPONSE__INIT);
  r->region = rb_region(a, 5, "a", "m", 3);
  r->leader = rb_peer(a, 52, 2);
  for (size_t c = 0; c < 3; c++) EMIT(r, c); /* holds "k", ends at "m", id 5 */
  Pdpb__GetRegionResponse *none = NEW(a, Pdpb__GetRegionResponse, PDPB__GET_REGION_RESPONSE__INIT);
  EMIT(none, 0);
  Pdpb__GetRegionResponse *all = NEW(a, Pdpb__GetRegionResponse, PDPB__GET_REGION_RESPONSE__INIT);
  all->region = rb_region(a, 5, "", "", 1);
  EMIT(all, 0);
  EMIT(all, 2);
  return n;
}

static size_t valid_scan_regions(up_arena_t *a, ProtobufCMessage **out, size_t *case_of,
                                 size_t cap) {
  size_t n = 0;
  const char *bounds[] = {"a", "f", "p", ""};
  Pdpb__ScanRegionsResponse *r = NEW(a, Pdpb__ScanRegionsResponse, PDPB__SCAN_REGIONS_RESPONSE__INIT);
  Pdpb__ScanRegionsResponse *legacy =
      NEW(a, Pdpb__ScanRegionsResponse, PDPB__SCAN_REGIONS_RESPONSE__INIT);
  r->n_regions = legacy->n_region_metas = legacy->n_leaders = 3;
  r->regions = up_alloc(a, 3 * sizeof(void *));
  legacy->region_metas = up_alloc(a, 3 * sizeof(void *));
  legacy->leaders = up_alloc(a, 3 * sizeof(void *));
  for (size_t i = 0; i < 3; i++) {
    Pdpb__Region *pr = NEW(a, Pdpb__Region, PDPB__REGION__INIT);
    pr->region = legacy->region_metas[i] = rb_region(a, 10 + i, bounds[i], bounds[i + 1], 2);
    pr->leader = legacy->leaders[i] = pr->region->peers[1];
    r->regions[i] = pr;
  }
  EMIT(r, 0);
  EMIT(legacy, 0);
  return n;
}

static Metapb__Store *store(up_arena_t *a, uint64_t id, int state) {
  Metapb__Store *s = NEW(a, Metapb__Store, METAPB__STORE__INIT);
  s->id = id;
  s->state = state;
  if (state != METAPB__STORE_STATE__Tombstone) {
    s->address = up_alloc(a, 32);
    snprintf(s->address, 32, "127.0.0.1:%llu", 20160ull + id);
  }
  return s;
}

static size_t valid_stores(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  Pdpb__GetStoreResponse *one = NEW(a, Pdpb__GetStoreResponse, PDPB__GET_STORE_RESPONSE__INIT);
  one->store = store(a, 2, METAPB__STORE_STATE__Up);
  EMIT(one, 0);
  Pdpb__GetAllStoresResponse *all =
      NEW(a, Pdpb__GetAllStoresResponse, PDPB__GET_ALL_STORES_RESPONSE__INIT);
  all->n_stores = 3;
  all->stores = up_alloc(a, 3 * sizeof(void *));
  for (size_t i = 0; i < 3; i++)
    all->stores[i] = store(a, i + 1, i == 2 ? METAPB__STORE_STATE__Tombstone : (int)i);
  EMIT(all, 1);
  return n;
}

static size_t valid_members(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  Pdpb__GetMembersResponse *r = NEW(a, Pdpb__GetMembersResponse, PDPB__GET_MEMBERS_RESPONSE__INIT);
  r->leader = NEW(a, Pdpb__Member, PDPB__MEMBER__INIT);
  r->leader->n_client_urls = 1;
  r->leader->client_urls = up_alloc(a, sizeof(char *));
  r->leader->client_urls[0] = "http://127.0.0.1:2379";
  EMIT(r, 0);
  return n;
}

static size_t valid_region_error(up_arena_t *a, ProtobufCMessage **out, size_t *case_of,
                                 size_t cap) {
  size_t n = 0;
  Errorpb__Error *nl = NEW(a, Errorpb__Error, ERRORPB__ERROR__INIT);
  nl->not_leader = NEW(a, Errorpb__NotLeader, ERRORPB__NOT_LEADER__INIT);
  nl->not_leader->region_id = 5;
  nl->not_leader->leader = rb_peer(a, 52, 2);
  EMIT(nl, 0);
  Errorpb__Error *ep = NEW(a, Errorpb__Error, ERRORPB__ERROR__INIT);
  ep->epoch_not_match = NEW(a, Errorpb__EpochNotMatch, ERRORPB__EPOCH_NOT_MATCH__INIT);
  ep->epoch_not_match->n_current_regions = 2;
  ep->epoch_not_match->current_regions = up_alloc(a, 2 * sizeof(void *));
  ep->epoch_not_match->current_regions[0] = rb_region(a, 5, "a", "g", 3);
  ep->epoch_not_match->current_regions[1] = rb_region(a, 6, "g", "m", 3);
  EMIT(ep, 0);
  Errorpb__Error *busy = NEW(a, Errorpb__Error, ERRORPB__ERROR__INIT);
  busy->server_is_busy = NEW(a, Errorpb__ServerIsBusy, ERRORPB__SERVER_IS_BUSY__INIT);
  busy->server_is_busy->backoff_ms = 100;
  EMIT(busy, 0);
  return n;
}

static size_t valid_raw_point(up_arena_t *a, ProtobufCMessage **out, size_t *case_of,
                              size_t cap) {
  size_t n = 0;
  Kvrpcpb__RawGetResponse *g = NEW(a, Kvrpcpb__RawGetResponse, KVRPCPB__RAW_GET_RESPONSE__INIT);
  g->value = rb_bin("v");
  EMIT(g, 0);
  Kvrpcpb__RawGetResponse *missing = NEW(a, Kvrpcpb__RawGetResponse, KVRPCPB__RAW_GET_RESPONSE__INIT);
  missing->not_found = 1;
  EMIT(missing, 0);
  Kvrpcpb__RawGetKeyTTLResponse *t =
      NEW(a, Kvrpcpb__RawGetKeyTTLResponse, KVRPCPB__RAW_GET_KEY_TTLRESPONSE__INIT);
  t->ttl = 60;
  EMIT(t, 1);
  Kvrpcpb__RawCASResponse *c = NEW(a, Kvrpcpb__RawCASResponse, KVRPCPB__RAW_CASRESPONSE__INIT);
  c->succeed = 1;
  c->previous_value = rb_bin("old");
  EMIT(c, 2);
  Kvrpcpb__RawChecksumResponse *s =
      NEW(a, Kvrpcpb__RawChecksumResponse, KVRPCPB__RAW_CHECKSUM_RESPONSE__INIT);
  s->checksum = 0x8483c0fa32607d61ull;
  s->total_kvs = 1;
  s->total_bytes = 12;
  EMIT(s, 3);
  return n;
}

static size_t valid_raw_batch_get(up_arena_t *a, ProtobufCMessage **out, size_t *case_of,
                                  size_t cap) {
  size_t n = 0;
  Kvrpcpb__RawBatchGetResponse *r =
      NEW(a, Kvrpcpb__RawBatchGetResponse, KVRPCPB__RAW_BATCH_GET_RESPONSE__INIT);
  r->n_pairs = 2;
  r->pairs = up_alloc(a, 2 * sizeof(void *));
  r->pairs[0] = rb_kvp(a, "e", "");
  r->pairs[1] = rb_kvp(a, "a", "1");
  EMIT(r, 0);
  return n;
}

/* Pairs "c", "d", "x" (reverse: the other way round) with values. */
static Kvrpcpb__KvPair **scanned(up_arena_t *a, bool reverse) {
  const char *k[] = {"c", "d", "x"};
  Kvrpcpb__KvPair **p = up_alloc(a, 3 * sizeof(void *));
  for (size_t i = 0; i < 3; i++) p[i] = rb_kvp(a, k[reverse ? 2 - i : i], "v");
  return p;
}

static size_t valid_raw_scan(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  for (size_t c = 0; c < 2; c++) {
    Kvrpcpb__RawScanResponse *r = NEW(a, Kvrpcpb__RawScanResponse, KVRPCPB__RAW_SCAN_RESPONSE__INIT);
    r->n_kvs = 3;
    r->kvs = scanned(a, c == 1);
    EMIT(r, c);
  }
  return n;
}

static size_t valid_kv_get(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  Kvrpcpb__GetResponse *g = NEW(a, Kvrpcpb__GetResponse, KVRPCPB__GET_RESPONSE__INIT);
  g->value = rb_bin("v");
  EMIT(g, 0);
  Kvrpcpb__GetResponse *l = NEW(a, Kvrpcpb__GetResponse, KVRPCPB__GET_RESPONSE__INIT);
  l->error = rb_locked(a, "c", 400);
  EMIT(l, 0);
  return n;
}

static size_t valid_kv_batch_get(up_arena_t *a, ProtobufCMessage **out, size_t *case_of,
                                 size_t cap) {
  size_t n = 0;
  Kvrpcpb__BatchGetResponse *r = NEW(a, Kvrpcpb__BatchGetResponse, KVRPCPB__BATCH_GET_RESPONSE__INIT);
  r->n_pairs = 3;
  r->pairs = up_alloc(a, 3 * sizeof(void *));
  r->pairs[0] = rb_kvp(a, "a", "1");
  r->pairs[1] = rb_kvp(a, "c", "3");
  r->pairs[2] = NEW(a, Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
  r->pairs[2]->error = rb_locked(a, "e", 400);
  EMIT(r, 0);
  return n;
}

static size_t valid_kv_scan(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  for (size_t c = 0; c < 2; c++) {
    Kvrpcpb__ScanResponse *r = NEW(a, Kvrpcpb__ScanResponse, KVRPCPB__SCAN_RESPONSE__INIT);
    r->n_pairs = 3;
    r->pairs = scanned(a, c == 1);
    EMIT(r, c);
  }
  return n;
}

static size_t valid_scan_lock(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  Kvrpcpb__ScanLockResponse *r = NEW(a, Kvrpcpb__ScanLockResponse, KVRPCPB__SCAN_LOCK_RESPONSE__INIT);
  r->n_locks = 2;
  r->locks = up_alloc(a, 2 * sizeof(void *));
  r->locks[0] = rb_lock(a, "b", 300);
  r->locks[1] = rb_lock(a, "zz", 301);
  r->locks[1]->n_secondaries = 1;
  r->locks[1]->secondaries = up_alloc(a, sizeof(ProtobufCBinaryData));
  r->locks[1]->secondaries[0] = rb_bin("q");
  EMIT(r, 0);
  return n;
}

static size_t valid_txn_status(up_arena_t *a, ProtobufCMessage **out, size_t *case_of,
                               size_t cap) {
  size_t n = 0;
  Kvrpcpb__CheckTxnStatusResponse *alive =
      NEW(a, Kvrpcpb__CheckTxnStatusResponse, KVRPCPB__CHECK_TXN_STATUS_RESPONSE__INIT);
  alive->lock_ttl = 3000;
  alive->action = KVRPCPB__ACTION__MinCommitTSPushed;
  alive->lock_info = rb_lock(a, "c", 300);
  EMIT(alive, 0);
  Kvrpcpb__CheckTxnStatusResponse *done =
      NEW(a, Kvrpcpb__CheckTxnStatusResponse, KVRPCPB__CHECK_TXN_STATUS_RESPONSE__INIT);
  done->commit_version = 310;
  EMIT(done, 0);
  Kvrpcpb__CheckSecondaryLocksResponse *sec =
      NEW(a, Kvrpcpb__CheckSecondaryLocksResponse, KVRPCPB__CHECK_SECONDARY_LOCKS_RESPONSE__INIT);
  sec->n_locks = 2;
  sec->locks = up_alloc(a, 2 * sizeof(void *));
  sec->locks[0] = rb_lock(a, "a", 300);
  sec->locks[1] = rb_lock(a, "e", 300);
  EMIT(sec, 1);
  return n;
}

static size_t valid_kv_write(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap) {
  size_t n = 0;
  Kvrpcpb__PrewriteResponse *p = NEW(a, Kvrpcpb__PrewriteResponse, KVRPCPB__PREWRITE_RESPONSE__INIT);
  p->n_errors = 1;
  p->errors = up_alloc(a, sizeof(void *));
  p->errors[0] = rb_locked(a, "c", 290);
  p->min_commit_ts = 501;
  EMIT(p, 0);
  Kvrpcpb__PessimisticLockResponse *l =
      NEW(a, Kvrpcpb__PessimisticLockResponse, KVRPCPB__PESSIMISTIC_LOCK_RESPONSE__INIT);
  l->n_values = l->n_not_founds = 3;
  l->values = up_alloc(a, 3 * sizeof(ProtobufCBinaryData));
  l->not_founds = up_alloc(a, 3 * sizeof(protobuf_c_boolean));
  l->values[0] = rb_bin("1");
  l->not_founds[1] = 1;
  l->values[2] = rb_bin("3");
  EMIT(l, 1);
  Kvrpcpb__CommitResponse *c = NEW(a, Kvrpcpb__CommitResponse, KVRPCPB__COMMIT_RESPONSE__INIT);
  c->commit_version = 510;
  EMIT(c, 2);
  return n;
}

/* ---- the targets ---- */
#define PD(T, req, want) {&pdpb__##T##__descriptor, TIKV__REQ_PD_##req, want}
#define KV(T, req, part) {&kvrpcpb__##T##__descriptor, TIKV__REQ_##req, part}
static const reply_case_t C_TSO[] = {PD(tso_response, TSO, NULL)};
static const reply_case_t C_REGION[] = {PD(get_region_response, GET_REGION, &Q_REGION_K),
                                        PD(get_region_response, GET_PREV_REGION, &Q_PREV_M),
                                        PD(get_region_response, GET_REGION_BY_ID, &Q_BY_ID)};
static const reply_case_t C_SCAN_REGIONS[] = {PD(scan_regions_response, SCAN_REGIONS, &Q_SCAN)};
static const reply_case_t C_STORES[] = {PD(get_store_response, GET_STORE, &Q_STORE),
                                        PD(get_all_stores_response, GET_ALL_STORES, &Q_ALL_STORES)};
static const reply_case_t C_MEMBERS[] = {PD(get_members_response, GET_MEMBERS, &Q_MEMBERS)};
static const reply_case_t C_REGION_ERROR[] = {{&errorpb__error__descriptor, -1, NULL}};
static const reply_case_t C_RAW_POINT[] = {
    KV(raw_get_response, RAW_GET, &P_ONE), KV(raw_get_key_ttlresponse, RAW_GET_KEY_TTL, &P_ONE),
    KV(raw_casresponse, RAW_CAS, &P_ONE), KV(raw_checksum_response, RAW_CHECKSUM, &P_RANGE)};
static const reply_case_t C_RAW_BATCH_GET[] = {KV(raw_batch_get_response, RAW_BATCH_GET, &P_KEYS),
                                               KV(raw_batch_get_response, RAW_BATCH_GET, &P_KEYS_DUP)};
static const reply_case_t C_RAW_SCAN[] = {KV(raw_scan_response, RAW_SCAN, &P_RANGE),
                                          KV(raw_scan_response, RAW_SCAN, &P_RANGE_REV)};
static const reply_case_t C_KV_GET[] = {KV(get_response, KV_GET, &P_ONE)};
static const reply_case_t C_KV_BATCH_GET[] = {KV(batch_get_response, KV_BATCH_GET, &P_KEYS)};
static const reply_case_t C_KV_SCAN[] = {KV(scan_response, KV_SCAN, &P_RANGE),
                                         KV(scan_response, KV_SCAN, &P_RANGE_REV)};
static const reply_case_t C_SCAN_LOCK[] = {KV(scan_lock_response, KV_SCAN_LOCK, &P_UNBOUNDED)};
static const reply_case_t C_TXN_STATUS[] = {
    KV(check_txn_status_response, KV_CHECK_TXN_STATUS, &P_ONE),
    KV(check_secondary_locks_response, KV_CHECK_SECONDARY_LOCKS, &P_KEYS)};
static const reply_case_t C_KV_WRITE[] = {KV(prewrite_response, KV_PREWRITE, &P_KEYS),
                                          KV(pessimistic_lock_response, KV_PESSIMISTIC_LOCK, &P_KEYS),
                                          KV(commit_response, KV_COMMIT, &P_KEYS)};

#define TARGET(name, cases, valid) {name, cases, COUNT(cases), valid}
const reply_target_t REPLY_TARGETS[] = {
    TARGET("pd_tso", C_TSO, valid_tso),
    TARGET("pd_region", C_REGION, valid_region),
    TARGET("pd_scan_regions", C_SCAN_REGIONS, valid_scan_regions),
    TARGET("pd_stores", C_STORES, valid_stores),
    TARGET("pd_members", C_MEMBERS, valid_members),
    TARGET("tikv_region_error", C_REGION_ERROR, valid_region_error),
    TARGET("raw_point", C_RAW_POINT, valid_raw_point),
    TARGET("raw_batch_get", C_RAW_BATCH_GET, valid_raw_batch_get),
    TARGET("raw_scan", C_RAW_SCAN, valid_raw_scan),
    TARGET("kv_get", C_KV_GET, valid_kv_get),
    TARGET("kv_batch_get", C_KV_BATCH_GET, valid_kv_batch_get),
    TARGET("kv_scan", C_KV_SCAN, valid_kv_scan),
    TARGET("kv_scan_lock", C_SCAN_LOCK, valid_scan_lock),
    TARGET("kv_txn_status", C_TXN_STATUS, valid_txn_status),
    TARGET("kv_write", C_KV_WRITE, valid_kv_write),
};
const size_t N_REPLY_TARGETS = COUNT(REPLY_TARGETS);

const reply_target_t *reply_target(const char *name) {
  for (size_t i = 0; i < N_REPLY_TARGETS; i++)
    if (!strcmp(REPLY_TARGETS[i].name, name)) return &REPLY_TARGETS[i];
  return NULL;
}

static void emit_packed(const ProtobufCMessage *m,
                        void (*emit)(void *ctx, const uint8_t *data, size_t len), void *ctx) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n ? n : 1);
  must(buf != NULL, "memory");
  protobuf_c_message_pack(m, buf);
  emit(ctx, buf, n);
  free(buf);
}

void reply_target_seeds(const reply_target_t *t,
                        void (*emit)(void *ctx, const uint8_t *data, size_t len), void *ctx) {
  up_arena_t a = {0};
  ProtobufCMessage *valid[16];
  size_t case_of[16];
  size_t n = t->valid(&a, valid, case_of, COUNT(valid));
  for (size_t i = 0; i < n; i++) emit_packed(valid[i], emit, ctx);
  for (size_t c = 0; c < t->n_cases; c++) {
    const ProtobufCMessageDescriptor *d = t->cases[c].desc;
    ProtobufCMessage *all = up_alloc(&a, d->sizeof_message);
    protobuf_c_message_init(d, all);
    up_fill(&a, all);
    emit_packed(all, emit, ctx);
    for (unsigned f = 0; f < d->n_fields; f++) {
      ProtobufCMessage *one = up_alloc(&a, d->sizeof_message);
      protobuf_c_message_init(d, one);
      up_set_one(&a, one, &d->fields[f]);
      emit_packed(one, emit, ctx);
    }
  }
  up_free(&a);
}
