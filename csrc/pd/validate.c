/* Validation of PD's replies (pd/validate.h): every field the client uses
 * is checked before it is used, so a reply that was corrupted or comes from
 * a server that misbehaves fails as PROTOCOL instead of reaching the region
 * cache, a shift or an index. */
#include <stdio.h>

#include "pd/validate.h"

tikv_error_t *tikv__bad_reply(const char *what, const char *fmt, ...) {
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  return tikv__error_new(TIKV_ERR_PROTOCOL, "%s: malformed reply: %s", what, why);
}

const char *tikv__hex_key(char *buf, const uint8_t *key, size_t len) {
  size_t n = len > 24 ? 24 : len;
  for (size_t i = 0; i < n; i++) snprintf(buf + 2 * i, 3, "%02X", key[i]);
  snprintf(buf + 2 * n, 4, "%s", n < len ? "\u2026" : "");
  if (!len) snprintf(buf, 3, "\"\"");
  return buf;
}

static int cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b) {
  return tikv__key_cmp(a->data, a->len, b->data, b->len);
}

/* ---- regions and stores ---- */

static tikv_error_t *check_peers(const char *what, const Metapb__Region *r) {
  if (r->n_peers == 0) return tikv__bad_reply(what, "region %llu has no peers", (unsigned long long)r->id);
  for (size_t i = 0; i < r->n_peers; i++) {
    const Metapb__Peer *p = r->peers[i];
    if (p->id == 0 || p->store_id == 0)
      return tikv__bad_reply(what, "region %llu: peer %zu has id %llu on store %llu",
                             (unsigned long long)r->id, i, (unsigned long long)p->id,
                             (unsigned long long)p->store_id);
    for (size_t j = 0; j < i; j++)
      if (r->peers[j]->id == p->id || r->peers[j]->store_id == p->store_id)
        return tikv__bad_reply(what, "region %llu: two peers with id %llu or on store %llu",
                               (unsigned long long)r->id, (unsigned long long)p->id,
                               (unsigned long long)p->store_id);
  }
  return NULL;
}

tikv_error_t *tikv__check_region_meta(const char *what, const Metapb__Region *r,
                                      const Metapb__Peer *leader) {
  if (!r) return tikv__bad_reply(what, "no region");
  if (r->id == 0) return tikv__bad_reply(what, "region id 0");
  if (!r->region_epoch)
    return tikv__bad_reply(what, "region %llu has no epoch", (unsigned long long)r->id);
  if (r->end_key.len && cmp(&r->start_key, &r->end_key) >= 0)
    return tikv__bad_reply(what, "region %llu starts at or after its end", (unsigned long long)r->id);
  tikv_error_t *e = check_peers(what, r);
  if (e || !leader || (leader->id == 0 && leader->store_id == 0)) return e;
  for (size_t i = 0; i < r->n_peers; i++)
    if (r->peers[i]->id == leader->id && r->peers[i]->store_id == leader->store_id) return NULL;
  return tikv__bad_reply(what, "region %llu: leader %llu on store %llu is none of its peers",
                         (unsigned long long)r->id, (unsigned long long)leader->id,
                         (unsigned long long)leader->store_id);
}

tikv_error_t *tikv__check_store_meta(const char *what, const Metapb__Store *s, uint64_t want_id) {
  if (s->id == 0) return tikv__bad_reply(what, "store id 0");
  if (want_id && s->id != want_id)
    return tikv__bad_reply(what, "store %llu instead of store %llu", (unsigned long long)s->id,
                           (unsigned long long)want_id);
  if (!protobuf_c_enum_descriptor_get_value(&metapb__store_state__descriptor, s->state))
    return tikv__bad_reply(what, "store %llu in unknown state %d", (unsigned long long)s->id,
                           (int)s->state);
  if (s->state == METAPB__STORE_STATE__Tombstone) return NULL;
  const char *a = s->address;
  const char *colon = a ? strrchr(a, ':') : NULL;
  if (!colon || colon == a || !colon[1])
    return tikv__bad_reply(what, "store %llu has no address host:port (\"%s\")",
                           (unsigned long long)s->id, a ? a : "");
  return NULL;
}

/* ---- timestamps ---- */
#define TSO_LOGICAL_BITS 18

tikv_error_t *tikv__check_tso(const Pdpb__TsoResponse *r, size_t n) {
  const char *what = "PD Tso";
  if (!r->timestamp || r->count != n)
    return tikv__bad_reply(what, "asked for %zu timestamps, got %u", n,
                           r->timestamp ? r->count : 0);
  const Pdpb__Timestamp *t = r->timestamp;
  if (t->physical <= 0 || t->physical >= (int64_t)1 << (64 - TSO_LOGICAL_BITS))
    return tikv__bad_reply(what, "physical time %lld out of range", (long long)t->physical);
  if (t->logical < 0 || t->logical >= (int64_t)1 << TSO_LOGICAL_BITS)
    return tikv__bad_reply(what, "logical time %lld out of range", (long long)t->logical);
  if (t->suffix_bits >= TSO_LOGICAL_BITS)
    return tikv__bad_reply(what, "suffix_bits %u out of range", t->suffix_bits);
  /* the first of the n is (n - 1) << suffix_bits below the last */
  if (n == 0 || n - 1 > (uint64_t)t->logical >> t->suffix_bits)
    return tikv__bad_reply(what, "logical time %lld leaves no room for %zu timestamps",
                           (long long)t->logical, n);
  return NULL;
}

uint64_t tikv__tso_compose(const Pdpb__Timestamp *t, size_t n, size_t i) {
  uint64_t logical = (uint64_t)t->logical - ((uint64_t)(n - 1 - i) << t->suffix_bits);
  return ((uint64_t)t->physical << TSO_LOGICAL_BITS) + logical;
}

/* ---- members ---- */
tikv_error_t *tikv__check_members(const Pdpb__GetMembersResponse *r) {
  const char *what = "PD GetMembers";
  if (!r->leader || r->leader->n_client_urls == 0) return NULL; /* no leader yet: the caller's */
  for (size_t i = 0; i < r->leader->n_client_urls; i++)
    if (!r->leader->client_urls[i] || !r->leader->client_urls[i][0])
      return tikv__bad_reply(what, "the leader's client URL %zu is empty", i);
  return NULL;
}

/* ---- unary replies ---- */

/* GetRegion / GetPrevRegion / GetRegionByID: no region at all is an answer
 * (PD has none), the caller's to handle. */
static tikv_error_t *check_get_region(tikv__req_id id, const ProtobufCMessage *req,
                                      const Pdpb__GetRegionResponse *r) {
  char what[48];
  snprintf(what, sizeof(what), "PD %s", tikv__req(id)->method);
  if (!r->region) return NULL;
  tikv_error_t *e = tikv__check_region_meta(what, r->region, r->leader);
  if (e) return e;
  const Metapb__Region *m = r->region;
  char hex[64];
  if (id == TIKV__REQ_PD_GET_REGION_BY_ID) {
    uint64_t want = ((const Pdpb__GetRegionByIDRequest *)req)->region_id;
    return m->id == want ? NULL
                         : tikv__bad_reply(what, "region %llu instead of %llu",
                                           (unsigned long long)m->id, (unsigned long long)want);
  }
  const ProtobufCBinaryData *key = &((const Pdpb__GetRegionRequest *)req)->region_key;
  if (id == TIKV__REQ_PD_GET_PREV_REGION) {
    if (m->end_key.len && cmp(&m->end_key, key) <= 0) return NULL;
    return tikv__bad_reply(what, "region %llu does not end at or before key %s",
                           (unsigned long long)m->id, tikv__hex_key(hex, key->data, key->len));
  }
  if (cmp(&m->start_key, key) <= 0 && (!m->end_key.len || cmp(key, &m->end_key) < 0)) return NULL;
  return tikv__bad_reply(what, "region %llu does not hold key %s", (unsigned long long)m->id,
                         tikv__hex_key(hex, key->data, key->len));
}

/* Each region valid, in key order without overlap, inside [start, end). */
static tikv_error_t *check_scanned(const char *what, const Pdpb__ScanRegionsRequest *q,
                                   const Metapb__Region *m, const Metapb__Peer *leader,
                                   const Metapb__Region *prev) {
  tikv_error_t *e = tikv__check_region_meta(what, m, leader);
  if (e) return e;
  if (prev && (!prev->end_key.len || cmp(&prev->end_key, &m->start_key) > 0))
    return tikv__bad_reply(what, "region %llu overlaps or precedes region %llu",
                           (unsigned long long)m->id, (unsigned long long)prev->id);
  if ((m->end_key.len && cmp(&m->end_key, &q->start_key) <= 0) ||
      (q->end_key.len && cmp(&m->start_key, &q->end_key) >= 0))
    return tikv__bad_reply(what, "region %llu is outside the range asked", (unsigned long long)m->id);
  return NULL;
}

static tikv_error_t *check_scan_regions(const Pdpb__ScanRegionsRequest *q,
                                        const Pdpb__ScanRegionsResponse *r) {
  const char *what = "PD ScanRegions";
  size_t n = r->n_regions ? r->n_regions : r->n_region_metas;
  if (q->limit > 0 && n > (size_t)q->limit)
    return tikv__bad_reply(what, "%zu regions for a limit of %d", n, q->limit);
  if (!r->n_regions && r->n_leaders > r->n_region_metas)
    return tikv__bad_reply(what, "%zu leaders for %zu regions", r->n_leaders, r->n_region_metas);
  const Metapb__Region *prev = NULL;
  for (size_t i = 0; i < n; i++) {
    const Metapb__Region *m = r->n_regions ? r->regions[i]->region : r->region_metas[i];
    const Metapb__Peer *l = r->n_regions ? r->regions[i]->leader
                            : i < r->n_leaders ? r->leaders[i]
                                               : NULL;
    tikv_error_t *e = check_scanned(what, q, m, l, prev);
    if (e) return e;
    for (size_t j = 0; j < i; j++)
      if ((r->n_regions ? r->regions[j]->region : r->region_metas[j])->id == m->id)
        return tikv__bad_reply(what, "region %llu listed twice", (unsigned long long)m->id);
    prev = m;
  }
  return NULL;
}

static tikv_error_t *check_all_stores(const Pdpb__GetAllStoresResponse *r) {
  const char *what = "PD GetAllStores";
  for (size_t i = 0; i < r->n_stores; i++) {
    tikv_error_t *e = tikv__check_store_meta(what, r->stores[i], 0);
    if (e) return e;
    for (size_t j = 0; j < i; j++)
      if (r->stores[j]->id == r->stores[i]->id)
        return tikv__bad_reply(what, "store %llu listed twice", (unsigned long long)r->stores[i]->id);
  }
  return NULL;
}

tikv_error_t *tikv__check_pd_reply(tikv__req_id id, const ProtobufCMessage *req,
                                   const ProtobufCMessage *resp) {
  switch (id) {
    case TIKV__REQ_PD_GET_REGION:
    case TIKV__REQ_PD_GET_PREV_REGION:
    case TIKV__REQ_PD_GET_REGION_BY_ID:
      return check_get_region(id, req, (const Pdpb__GetRegionResponse *)resp);
    case TIKV__REQ_PD_SCAN_REGIONS:
      return check_scan_regions((const Pdpb__ScanRegionsRequest *)req,
                                (const Pdpb__ScanRegionsResponse *)resp);
    case TIKV__REQ_PD_GET_STORE: {
      const Pdpb__GetStoreResponse *r = (const Pdpb__GetStoreResponse *)resp;
      uint64_t want = ((const Pdpb__GetStoreRequest *)req)->store_id;
      return r->store ? tikv__check_store_meta("PD GetStore", r->store, want) : NULL;
    }
    case TIKV__REQ_PD_GET_ALL_STORES:
      return check_all_stores((const Pdpb__GetAllStoresResponse *)resp);
    case TIKV__REQ_PD_GET_MEMBERS:
      return tikv__check_members((const Pdpb__GetMembersResponse *)resp);
    default:
      /* the GC safe points, cluster info and ids: any value is one PD may
       * send; nothing else is read from them */
      return NULL;
  }
}
