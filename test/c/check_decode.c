/* The reply checks (pd/validate.h, region/validate.h) as units: for every
 * reply type the valid replies pass, the same replies emptied, cut at every
 * length and flipped at every bit decode (or not) and are then accepted or
 * refused as PROTOCOL without a crash or a sanitizer report, a use of what
 * passed keeps what the check promised (util_replies.c), and each rule
 * refuses the reply that breaks it, saying what was wrong. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd/validate.h"
#include "region/validate.h"
#include "util_replies.h"

#define NEW(a, T, INIT)               \
  ({                                  \
    T *_p = up_alloc((a), sizeof(T)); \
    T _i = INIT;                      \
    *_p = _i;                         \
    _p;                               \
  })

/* Runs m as case i of target, expecting it refused with want in the why. */
static void refused(const char *target, size_t i, const void *m, const char *want) {
  const reply_target_t *t = reply_target(target);
  ck_assert_ptr_nonnull(t);
  char why[256] = "";
  int r = reply_case_run(&t->cases[i], m, why);
  ck_assert_msg(r == 1, "%s case %zu accepted a reply that breaks \"%s\"", target, i, want);
  ck_assert_msg(strstr(why, want), "%s: \"%s\" does not say \"%s\"", target, why, want);
}

static void accepted(const char *target, size_t i, const void *m) {
  char why[256] = "";
  int r = reply_case_run(&reply_target(target)->cases[i], m, why);
  ck_assert_msg(r == 0, "%s case %zu refused: %s", target, i, why);
}

/* ---- every reply type, whole and damaged ---- */

START_TEST(valid_replies_pass) {
  const reply_target_t *t = &REPLY_TARGETS[_i];
  up_arena_t a = {0};
  ProtobufCMessage *m[16];
  size_t case_of[16];
  size_t n = t->valid(&a, m, case_of, 16);
  ck_assert_uint_gt(n, 0);
  for (size_t i = 0; i < n; i++) accepted(t->name, case_of[i], m[i]);
  up_free(&a);
}
END_TEST

typedef struct {
  const reply_target_t *t;
  size_t runs, decoded;
} damage_t;

static void run_bytes(damage_t *d, const uint8_t *p, size_t n) {
  d->runs++;
  for (size_t c = 0; c < d->t->n_cases; c++) {
    ProtobufCMessage *m = protobuf_c_message_unpack(d->t->cases[c].desc, NULL, n, p);
    if (!m) continue;
    d->decoded++;
    reply_case_run(&d->t->cases[c], m, NULL); /* aborts on a broken promise */
    protobuf_c_message_free_unpacked(m, NULL);
  }
}

/* Each seed emptied, cut at every length, and with every bit flipped. */
static void damage(void *ctx, const uint8_t *data, size_t len) {
  damage_t *d = ctx;
  uint8_t *buf = malloc(len ? len : 1);
  ck_assert_ptr_nonnull(buf);
  run_bytes(d, data, 0);
  for (size_t cut = 1; cut < len; cut++) run_bytes(d, data, cut);
  for (size_t bit = 0; bit < len * 8; bit++) {
    memcpy(buf, data, len);
    buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    run_bytes(d, buf, len);
  }
  free(buf);
}

START_TEST(damaged_replies_are_refused_or_safe) {
  damage_t d = {&REPLY_TARGETS[_i], 0, 0};
  reply_target_seeds(d.t, damage, &d);
  ck_assert_uint_gt(d.runs, 10);
  ck_assert_uint_gt(d.decoded, 0);
}
END_TEST

/* ---- PD ---- */

static Pdpb__TsoResponse *tso(up_arena_t *a, uint32_t count, int64_t physical, int64_t logical,
                              uint32_t bits) {
  Pdpb__TsoResponse *r = NEW(a, Pdpb__TsoResponse, PDPB__TSO_RESPONSE__INIT);
  r->count = count;
  r->timestamp = NEW(a, Pdpb__Timestamp, PDPB__TIMESTAMP__INIT);
  r->timestamp->physical = physical;
  r->timestamp->logical = logical;
  r->timestamp->suffix_bits = bits;
  return r;
}

START_TEST(tso_rules) {
  up_arena_t a = {0};
  /* the corrupted reply UBSan once caught as a shift of 922847481 */
  refused("pd_tso", 0, tso(&a, 3, 1700000000000, 100, 922847481), "suffix_bits 922847481");
  refused("pd_tso", 0, tso(&a, 2, 1700000000000, 100, 0), "asked for 3 timestamps, got 2");
  Pdpb__TsoResponse *none = NEW(&a, Pdpb__TsoResponse, PDPB__TSO_RESPONSE__INIT);
  none->count = 3;
  refused("pd_tso", 0, none, "asked for 3 timestamps");
  refused("pd_tso", 0, tso(&a, 3, 0, 100, 0), "physical time 0");
  refused("pd_tso", 0, tso(&a, 3, (int64_t)1 << 46, 100, 0), "physical time");
  refused("pd_tso", 0, tso(&a, 3, 1700000000000, 1 << 18, 0), "logical time");
  refused("pd_tso", 0, tso(&a, 3, 1700000000000, -1, 0), "logical time -1");
  refused("pd_tso", 0, tso(&a, 3, 1700000000000, 1, 0), "no room for 3");
  refused("pd_tso", 0, tso(&a, 3, 1700000000000, 7, 2), "no room for 3"); /* 7 - 2*4 < 0 */
  accepted("pd_tso", 0, tso(&a, 3, 1700000000000, 8, 2));
  ck_assert_uint_eq(tikv__tso_compose(tso(&a, 3, 1, 8, 2)->timestamp, 3, 0), (1u << 18) + 0);
  ck_assert_uint_eq(tikv__tso_compose(tso(&a, 3, 1, 8, 2)->timestamp, 3, 2), (1u << 18) + 8);
  up_free(&a);
}
END_TEST

static Pdpb__GetRegionResponse *got_region(up_arena_t *a, Metapb__Region *r, Metapb__Peer *l) {
  Pdpb__GetRegionResponse *g = NEW(a, Pdpb__GetRegionResponse, PDPB__GET_REGION_RESPONSE__INIT);
  g->region = r;
  g->leader = l;
  return g;
}

/* pd_region's cases: 0 GetRegion("k"), 1 GetPrevRegion("m"), 2 GetRegionByID(5) */
START_TEST(region_rules) {
  up_arena_t a = {0};
  Metapb__Region *r = rb_region(&a, 5, "a", "m", 3);
  r->n_peers = 0;
  refused("pd_region", 0, got_region(&a, r, NULL), "region 5 has no peers");
  refused("pd_region", 0, got_region(&a, rb_region(&a, 5, "a", "m", 3), rb_peer(&a, 99, 2)),
          "leader 99 on store 2 is none of its peers");
  refused("pd_region", 0, got_region(&a, rb_region(&a, 5, "a", "m", 3), rb_peer(&a, 52, 3)),
          "leader 52 on store 3");
  r = rb_region(&a, 5, "a", "m", 3);
  r->peers[1]->store_id = 0;
  refused("pd_region", 0, got_region(&a, r, NULL), "peer 1 has id 52 on store 0");
  r = rb_region(&a, 5, "a", "m", 3);
  r->peers[2]->store_id = 1;
  refused("pd_region", 0, got_region(&a, r, NULL), "two peers");
  refused("pd_region", 0, got_region(&a, rb_region(&a, 5, "m", "a", 1), NULL),
          "starts at or after its end");
  refused("pd_region", 0, got_region(&a, rb_region(&a, 5, "m", "m", 1), NULL),
          "starts at or after its end");
  refused("pd_region", 0, got_region(&a, rb_region(&a, 0, "a", "m", 1), NULL), "region id 0");
  r = rb_region(&a, 5, "a", "m", 1);
  r->region_epoch = NULL;
  refused("pd_region", 0, got_region(&a, r, NULL), "no epoch");
  refused("pd_region", 0, got_region(&a, rb_region(&a, 5, "a", "c", 1), NULL),
          "does not hold key 6B");
  refused("pd_region", 0, got_region(&a, rb_region(&a, 5, "l", "", 1), NULL), "does not hold key");
  refused("pd_region", 1, got_region(&a, rb_region(&a, 5, "a", "n", 1), NULL),
          "does not end at or before key 6D");
  refused("pd_region", 1, got_region(&a, rb_region(&a, 5, "a", "", 1), NULL), "does not end");
  refused("pd_region", 2, got_region(&a, rb_region(&a, 6, "a", "m", 1), NULL),
          "region 6 instead of 5");
  /* a leader PD does not know yet is no leader */
  accepted("pd_region", 0, got_region(&a, rb_region(&a, 5, "a", "m", 1), rb_peer(&a, 0, 0)));
  accepted("pd_region", 1, got_region(&a, rb_region(&a, 5, "a", "l", 1), NULL));
  up_free(&a);
}
END_TEST

static Pdpb__ScanRegionsResponse *scanned_regions(up_arena_t *a, size_t n, ...) {
  Pdpb__ScanRegionsResponse *r = NEW(a, Pdpb__ScanRegionsResponse, PDPB__SCAN_REGIONS_RESPONSE__INIT);
  r->n_region_metas = n;
  r->region_metas = up_alloc(a, n * sizeof(void *));
  va_list ap;
  va_start(ap, n);
  for (size_t i = 0; i < n; i++) r->region_metas[i] = va_arg(ap, Metapb__Region *);
  va_end(ap);
  return r;
}

/* pd_scan_regions asks for [b, x), at most 32 */
START_TEST(scan_regions_rules) {
  up_arena_t a = {0};
  refused("pd_scan_regions", 0,
          scanned_regions(&a, 2, rb_region(&a, 1, "a", "g", 1), rb_region(&a, 2, "f", "p", 1)),
          "overlaps or precedes");
  refused("pd_scan_regions", 0,
          scanned_regions(&a, 2, rb_region(&a, 2, "f", "p", 1), rb_region(&a, 1, "a", "f", 1)),
          "overlaps or precedes");
  refused("pd_scan_regions", 0,
          scanned_regions(&a, 2, rb_region(&a, 1, "a", "f", 1), rb_region(&a, 2, "x", "z", 1)),
          "region 2 is outside the range asked");
  refused("pd_scan_regions", 0, scanned_regions(&a, 1, rb_region(&a, 1, "", "b", 1)),
          "outside the range");
  refused("pd_scan_regions", 0,
          scanned_regions(&a, 3, rb_region(&a, 1, "a", "f", 1), rb_region(&a, 2, "f", "p", 1),
                          rb_region(&a, 1, "p", "", 1)),
          "region 1 listed twice");
  Pdpb__ScanRegionsResponse *many = scanned_regions(&a, 0);
  many->n_region_metas = 33;
  many->region_metas = up_alloc(&a, 33 * sizeof(void *));
  refused("pd_scan_regions", 0, many, "33 regions for a limit of 32");
  Pdpb__ScanRegionsResponse *leaders = scanned_regions(&a, 1, rb_region(&a, 1, "a", "", 1));
  leaders->n_leaders = 2;
  leaders->leaders = up_alloc(&a, 2 * sizeof(void *));
  leaders->leaders[0] = leaders->leaders[1] = rb_peer(&a, 11, 1);
  refused("pd_scan_regions", 0, leaders, "2 leaders for 1 regions");
  up_free(&a);
}
END_TEST

static Metapb__Store *store(up_arena_t *a, uint64_t id, int state, char *address) {
  Metapb__Store *s = NEW(a, Metapb__Store, METAPB__STORE__INIT);
  s->id = id;
  s->state = state;
  s->address = address;
  return s;
}

static Pdpb__GetStoreResponse *got_store(up_arena_t *a, Metapb__Store *s) {
  Pdpb__GetStoreResponse *g = NEW(a, Pdpb__GetStoreResponse, PDPB__GET_STORE_RESPONSE__INIT);
  g->store = s;
  return g;
}

/* pd_stores: 0 GetStore(2), 1 GetAllStores */
START_TEST(store_rules) {
  up_arena_t a = {0};
  refused("pd_stores", 0, got_store(&a, store(&a, 0, 0, "h:1")), "store id 0");
  refused("pd_stores", 0, got_store(&a, store(&a, 3, 0, "h:1")), "store 3 instead of store 2");
  refused("pd_stores", 0, got_store(&a, store(&a, 2, 0, "")), "store 2 has no address");
  refused("pd_stores", 0, got_store(&a, store(&a, 2, 0, "host")), "no address host:port");
  refused("pd_stores", 0, got_store(&a, store(&a, 2, 0, ":20160")), "no address");
  refused("pd_stores", 0, got_store(&a, store(&a, 2, 7, "h:1")), "unknown state 7");
  accepted("pd_stores", 0, got_store(&a, store(&a, 2, METAPB__STORE_STATE__Tombstone, "")));
  Pdpb__GetAllStoresResponse *all =
      NEW(&a, Pdpb__GetAllStoresResponse, PDPB__GET_ALL_STORES_RESPONSE__INIT);
  all->n_stores = 2;
  all->stores = up_alloc(&a, 2 * sizeof(void *));
  all->stores[0] = store(&a, 4, 0, "h:1");
  all->stores[1] = store(&a, 4, 0, "h:2");
  refused("pd_stores", 1, all, "store 4 listed twice");
  all->stores[1] = store(&a, 5, 0, "");
  refused("pd_stores", 1, all, "store 5 has no address");
  Pdpb__GetMembersResponse *m = NEW(&a, Pdpb__GetMembersResponse, PDPB__GET_MEMBERS_RESPONSE__INIT);
  m->leader = NEW(&a, Pdpb__Member, PDPB__MEMBER__INIT);
  m->leader->n_client_urls = 2;
  m->leader->client_urls = up_alloc(&a, 2 * sizeof(char *));
  m->leader->client_urls[0] = "http://h:1";
  m->leader->client_urls[1] = "";
  refused("pd_members", 0, m, "client URL 1 is empty");
  up_free(&a);
}
END_TEST

/* ---- TiKV ---- */

START_TEST(region_error_rules) {
  up_arena_t a = {0};
  Errorpb__Error *nl = NEW(&a, Errorpb__Error, ERRORPB__ERROR__INIT);
  nl->not_leader = NEW(&a, Errorpb__NotLeader, ERRORPB__NOT_LEADER__INIT);
  nl->not_leader->leader = rb_peer(&a, 52, 0);
  refused("tikv_region_error", 0, nl, "NotLeader names peer 52 on store 0");
  nl->not_leader->leader = NULL; /* an election: no leader named */
  accepted("tikv_region_error", 0, nl);
  Errorpb__Error *ep = NEW(&a, Errorpb__Error, ERRORPB__ERROR__INIT);
  ep->epoch_not_match = NEW(&a, Errorpb__EpochNotMatch, ERRORPB__EPOCH_NOT_MATCH__INIT);
  ep->epoch_not_match->n_current_regions = 1;
  ep->epoch_not_match->current_regions = up_alloc(&a, sizeof(void *));
  ep->epoch_not_match->current_regions[0] = rb_region(&a, 5, "g", "a", 1);
  refused("tikv_region_error", 0, ep, "region 5 starts at or after its end");
  Errorpb__Error *busy = NEW(&a, Errorpb__Error, ERRORPB__ERROR__INIT);
  busy->server_is_busy = NEW(&a, Errorpb__ServerIsBusy, ERRORPB__SERVER_IS_BUSY__INIT);
  busy->server_is_busy->backoff_ms = (uint64_t)1 << 40;
  refused("tikv_region_error", 0, busy, "backoff of 1099511627776 ms");
  /* a region error is judged alone: the body of its reply is not read */
  Kvrpcpb__RawScanResponse *s = NEW(&a, Kvrpcpb__RawScanResponse, KVRPCPB__RAW_SCAN_RESPONSE__INIT);
  s->region_error = nl;
  s->n_kvs = 1;
  s->kvs = up_alloc(&a, sizeof(void *));
  s->kvs[0] = rb_kvp(&a, "zzz", "outside");
  accepted("raw_scan", 0, s);
  s->region_error = busy;
  refused("raw_scan", 0, s, "ServerIsBusy");
  up_free(&a);
}
END_TEST

/* n pairs of the keys that follow, each with value "v". */
static Kvrpcpb__KvPair **pairs_of(up_arena_t *a, size_t n, va_list ap) {
  Kvrpcpb__KvPair **p = up_alloc(a, (n ? n : 1) * sizeof(void *));
  for (size_t i = 0; i < n; i++) p[i] = rb_kvp(a, va_arg(ap, const char *), "v");
  return p;
}

static Kvrpcpb__RawBatchGetResponse *raw_pairs(up_arena_t *a, size_t n, ...) {
  Kvrpcpb__RawBatchGetResponse *r =
      NEW(a, Kvrpcpb__RawBatchGetResponse, KVRPCPB__RAW_BATCH_GET_RESPONSE__INIT);
  va_list ap;
  va_start(ap, n);
  r->n_pairs = n;
  r->pairs = pairs_of(a, n, ap);
  va_end(ap);
  return r;
}

/* keyed replies ask for a, c, e; point ones for c */
START_TEST(keyed_rules) {
  up_arena_t a = {0};
  refused("raw_batch_get", 0, raw_pairs(&a, 1, "b"), "key 62 was not asked for");
  refused("raw_batch_get", 0, raw_pairs(&a, 2, "a", "a"), "answered more often than asked");
  refused("raw_batch_get", 0, raw_pairs(&a, 4, "a", "c", "e", "a"), "4 pairs for 3 keys");
  accepted("raw_batch_get", 0, raw_pairs(&a, 0));
  /* in the order asked (each found where the last one ended), and not */
  accepted("raw_batch_get", 0, raw_pairs(&a, 3, "a", "c", "e"));
  accepted("raw_batch_get", 0, raw_pairs(&a, 3, "e", "c", "a"));
  refused("raw_batch_get", 0, raw_pairs(&a, 3, "a", "c", "c"), "answered more often than asked");
  /* case 1 asks a, a, c: a key asked twice may be answered twice */
  accepted("raw_batch_get", 1, raw_pairs(&a, 3, "a", "a", "c"));
  accepted("raw_batch_get", 1, raw_pairs(&a, 3, "c", "a", "a"));
  refused("raw_batch_get", 1, raw_pairs(&a, 3, "a", "a", "a"), "answered more often than asked");
  /* the same bytes as a transactional batch get (field 2: pairs) */
  refused("kv_batch_get", 0, raw_pairs(&a, 1, "d"), "key 64 was not asked for");
  Kvrpcpb__BatchGetResponse *bl = NEW(&a, Kvrpcpb__BatchGetResponse, KVRPCPB__BATCH_GET_RESPONSE__INIT);
  bl->error = rb_locked(&a, "z", 100);
  refused("kv_batch_get", 0, bl, "locked key 7A was not asked for");

  Kvrpcpb__RawGetResponse *g = NEW(&a, Kvrpcpb__RawGetResponse, KVRPCPB__RAW_GET_RESPONSE__INIT);
  g->not_found = 1;
  g->value = rb_bin("v");
  refused("raw_point", 0, g, "not found, with a value");
  Kvrpcpb__RawGetKeyTTLResponse *t =
      NEW(&a, Kvrpcpb__RawGetKeyTTLResponse, KVRPCPB__RAW_GET_KEY_TTLRESPONSE__INIT);
  t->not_found = 1;
  t->ttl = 5;
  refused("raw_point", 1, t, "not found, with a TTL");
  Kvrpcpb__RawCASResponse *c = NEW(&a, Kvrpcpb__RawCASResponse, KVRPCPB__RAW_CASRESPONSE__INIT);
  c->previous_not_exist = 1;
  c->previous_value = rb_bin("old");
  refused("raw_point", 2, c, "no previous value, with a previous value");
  Kvrpcpb__RawChecksumResponse *s =
      NEW(&a, Kvrpcpb__RawChecksumResponse, KVRPCPB__RAW_CHECKSUM_RESPONSE__INIT);
  s->checksum = 1;
  refused("raw_point", 3, s, "a checksum or bytes over no pairs");

  Kvrpcpb__GetResponse *kg = NEW(&a, Kvrpcpb__GetResponse, KVRPCPB__GET_RESPONSE__INIT);
  kg->error = rb_locked(&a, "d", 100);
  refused("kv_get", 0, kg, "locked key 64 was not asked for");
  kg->error = rb_locked(&a, "c", 0);
  refused("kv_get", 0, kg, "lock with start ts 0");
  kg->error = rb_locked(&a, "c", 100);
  kg->error->locked->primary_lock = rb_bin("");
  refused("kv_get", 0, kg, "lock of txn 100 without a primary");
  kg->error = rb_locked(&a, "c", 100);
  kg->error->locked->min_commit_ts = 99;
  refused("kv_get", 0, kg, "timestamp below its start");
  kg->error = rb_locked(&a, "c", 100);
  kg->error->locked->lock_type = 42;
  refused("kv_get", 0, kg, "lock of unknown type 42");
  up_free(&a);
}
END_TEST

static Kvrpcpb__ScanResponse *kv_pairs(up_arena_t *a, size_t n, ...) {
  Kvrpcpb__ScanResponse *r = NEW(a, Kvrpcpb__ScanResponse, KVRPCPB__SCAN_RESPONSE__INIT);
  va_list ap;
  va_start(ap, n);
  r->n_pairs = n;
  r->pairs = pairs_of(a, n, ap);
  va_end(ap);
  return r;
}

/* scans read [b, y), at most 10: case 0 forward, 1 reverse */
START_TEST(scan_rules) {
  up_arena_t a = {0};
  refused("kv_scan", 0, kv_pairs(&a, 2, "c", "y"), "key 79 is outside the range asked");
  refused("kv_scan", 0, kv_pairs(&a, 1, "a"), "key 61 is outside");
  refused("kv_scan", 0, kv_pairs(&a, 2, "d", "c"), "pair 1 out of the scan's order");
  refused("kv_scan", 0, kv_pairs(&a, 2, "c", "c"), "out of the scan's order");
  refused("kv_scan", 1, kv_pairs(&a, 2, "c", "d"), "pair 1 out of the scan's order");
  accepted("kv_scan", 1, kv_pairs(&a, 2, "d", "c"));
  Kvrpcpb__ScanResponse *many = kv_pairs(&a, 11, "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l");
  refused("kv_scan", 0, many, "11 pairs for a limit of 10");
  refused("raw_scan", 0, kv_pairs(&a, 1, "z"), "outside the range"); /* same field 2 */
  Kvrpcpb__ScanResponse *lk = kv_pairs(&a, 1, "c");
  lk->pairs[0]->error = rb_locked(&a, "zz", 100);
  refused("kv_scan", 0, lk, "locked key 7A7A is outside");
  Kvrpcpb__ScanLockResponse *sl = NEW(&a, Kvrpcpb__ScanLockResponse, KVRPCPB__SCAN_LOCK_RESPONSE__INIT);
  sl->n_locks = 1;
  sl->locks = up_alloc(&a, sizeof(void *));
  sl->locks[0] = rb_lock(&a, "a", 100); /* GC scans from "b" */
  refused("kv_scan_lock", 0, sl, "locked key 61 is outside");
  up_free(&a);
}
END_TEST

START_TEST(txn_rules) {
  up_arena_t a = {0};
  Kvrpcpb__CheckTxnStatusResponse *st =
      NEW(&a, Kvrpcpb__CheckTxnStatusResponse, KVRPCPB__CHECK_TXN_STATUS_RESPONSE__INIT);
  st->commit_version = 10;
  st->lock_ttl = 3000;
  refused("kv_txn_status", 0, st, "both committed and locked");
  st->lock_ttl = 0;
  st->action = 99;
  refused("kv_txn_status", 0, st, "unknown action 99");
  Kvrpcpb__CheckSecondaryLocksResponse *sec =
      NEW(&a, Kvrpcpb__CheckSecondaryLocksResponse, KVRPCPB__CHECK_SECONDARY_LOCKS_RESPONSE__INIT);
  sec->n_locks = 4;
  sec->locks = up_alloc(&a, 4 * sizeof(void *));
  for (size_t i = 0; i < 4; i++) sec->locks[i] = rb_lock(&a, "a", 100);
  refused("kv_txn_status", 1, sec, "4 locks for 3 keys");
  Kvrpcpb__PessimisticLockResponse *pl =
      NEW(&a, Kvrpcpb__PessimisticLockResponse, KVRPCPB__PESSIMISTIC_LOCK_RESPONSE__INIT);
  pl->n_values = 4;
  pl->values = up_alloc(&a, 4 * sizeof(ProtobufCBinaryData));
  refused("kv_write", 1, pl, "4 values and 0 not-founds for 3 keys");
  Kvrpcpb__PrewriteResponse *pw = NEW(&a, Kvrpcpb__PrewriteResponse, KVRPCPB__PREWRITE_RESPONSE__INIT);
  pw->n_errors = 1;
  pw->errors = up_alloc(&a, sizeof(void *));
  pw->errors[0] = rb_locked(&a, "b", 100);
  refused("kv_write", 0, pw, "locked key 62 was not asked for");
  /* commit timestamps come after the start */
  tikv_error_t *e = tikv__check_commit_ts("TiKV KvCommit", 10, 10);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->code, TIKV_ERR_PROTOCOL);
  ck_assert_ptr_nonnull(strstr(e->message, "commit ts 10 is not after start ts 10"));
  tikv__error_free(e);
  ck_assert_ptr_null(tikv__check_commit_ts("TiKV KvCommit", 10, 11));
  ck_assert_ptr_null(tikv__check_commit_ts("TiKV KvCommit", 10, 0));
  up_free(&a);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("decode");
  TCase *tc = tcase_create("replies");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, valid_replies_pass, 0, (int)N_REPLY_TARGETS);
  tcase_add_loop_test(tc, damaged_replies_are_refused_or_safe, 0, (int)N_REPLY_TARGETS);
  tcase_add_test(tc, tso_rules);
  tcase_add_test(tc, region_rules);
  tcase_add_test(tc, scan_regions_rules);
  tcase_add_test(tc, store_rules);
  tcase_add_test(tc, region_error_rules);
  tcase_add_test(tc, keyed_rules);
  tcase_add_test(tc, scan_rules);
  tcase_add_test(tc, txn_rules);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
