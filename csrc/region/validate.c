/* Validation of TiKV's replies (region/validate.h): counts, keys, order,
 * locks, flags and region errors are checked against what the request
 * asked, before the region cache, the lock resolver or a result sees them. */
#include <stdio.h>

#include "region/validate.h"

/* ---- what the part asked ---- */

static int cmp_asked(const tikv__part_t *p, size_t i, const ProtobufCBinaryData *key) {
  const tikv__bytes_t *k = &p->keys[p->idx[i]];
  return tikv__key_cmp(k->data, k->len, key->data, key->len);
}

/* How many of the part's keys, from index `from` on, are key (its copies
 * are next to each other). */
static size_t copies_from(const tikv__part_t *p, size_t from, const ProtobufCBinaryData *key) {
  size_t n = 0;
  while (from + n < p->n && cmp_asked(p, from + n, key) == 0) n++;
  return n;
}

/* How many of the part's keys are key. The engines hand parts their keys in
 * ascending order (tikv__multi_run sorts them; a point has one). */
static size_t times_asked_at(const tikv__part_t *p, const ProtobufCBinaryData *key,
                             size_t *first) {
  size_t lo = 0, hi = p->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cmp_asked(p, mid, key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (first) *first = lo;
  return copies_from(p, lo, key);
}

static bool asked(const tikv__part_t *p, const ProtobufCBinaryData *key) {
  return times_asked_at(p, key, NULL) > 0;
}

static bool in_range(const tikv__part_t *p, const ProtobufCBinaryData *key) {
  if (tikv__key_cmp(key->data, key->len, p->lo.data, p->lo.len) < 0) return false;
  return p->hi.len == 0 || tikv__key_cmp(key->data, key->len, p->hi.data, p->hi.len) < 0;
}

/* A key a reply names: one of the keys asked, or inside the range asked. */
static tikv_error_t *check_key(const char *what, const tikv__part_t *p,
                               const ProtobufCBinaryData *key, const char *role) {
  if (p->keys ? asked(p, key) : in_range(p, key)) return NULL;
  char hex[64];
  return tikv__bad_reply(what, "%s %s %s", role, tikv__hex_key(hex, key->data, key->len),
                         p->keys ? "was not asked for" : "is outside the range asked");
}

/* ---- locks and key errors ---- */

tikv_error_t *tikv__check_lock_info(const char *what, const Kvrpcpb__LockInfo *l) {
  if (!protobuf_c_enum_descriptor_get_value(&kvrpcpb__op__descriptor, l->lock_type))
    return tikv__bad_reply(what, "lock of unknown type %d", (int)l->lock_type);
  bool shared = l->lock_type == KVRPCPB__OP__SharedLock ||
                l->lock_type == KVRPCPB__OP__SharedPessimisticLock;
  if (shared) return NULL; /* its holders are in shared_lock_infos */
  if (l->lock_version == 0) return tikv__bad_reply(what, "lock with start ts 0");
  if (l->primary_lock.len == 0)
    return tikv__bad_reply(what, "lock of txn %llu without a primary",
                           (unsigned long long)l->lock_version);
  if ((l->min_commit_ts && l->min_commit_ts < l->lock_version) ||
      (l->lock_for_update_ts && l->lock_for_update_ts < l->lock_version))
    return tikv__bad_reply(what, "lock of txn %llu with a timestamp below its start",
                           (unsigned long long)l->lock_version);
  return NULL;
}

tikv_error_t *tikv__check_commit_ts(const char *what, uint64_t start_ts, uint64_t commit_ts) {
  if (commit_ts == 0 || commit_ts > start_ts) return NULL;
  return tikv__bad_reply(what, "commit ts %llu is not after start ts %llu",
                         (unsigned long long)commit_ts, (unsigned long long)start_ts);
}

/* A lock reported about a key of the request. */
static tikv_error_t *check_lock(const char *what, const tikv__part_t *p,
                                const Kvrpcpb__LockInfo *l) {
  tikv_error_t *e = tikv__check_lock_info(what, l);
  return e ? e : check_key(what, p, &l->key, "locked key");
}

static tikv_error_t *check_key_error(const char *what, const tikv__part_t *p,
                                     const Kvrpcpb__KeyError *ke) {
  return ke && ke->locked ? check_lock(what, p, ke->locked) : NULL;
}

/* The message field `name` of resp (NULL when resp has none). */
static const ProtobufCFieldDescriptor *field(const ProtobufCMessage *resp, const char *name) {
  return protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, name);
}

/* Every key error of a reply: its `error` and its repeated `errors`. */
static tikv_error_t *check_key_errors(const char *what, const tikv__part_t *p,
                                      const ProtobufCMessage *resp) {
  const ProtobufCFieldDescriptor *one = field(resp, "error"), *many = field(resp, "errors");
  tikv_error_t *e = NULL;
  if (one && one->type == PROTOBUF_C_TYPE_MESSAGE && one->descriptor == &kvrpcpb__key_error__descriptor)
    e = check_key_error(what, p, *(Kvrpcpb__KeyError *const *)((const char *)resp + one->offset));
  if (!e && many && many->descriptor == &kvrpcpb__key_error__descriptor) {
    size_t n = *(const size_t *)((const char *)resp + many->quantifier_offset);
    Kvrpcpb__KeyError *const *v = *(Kvrpcpb__KeyError *const *const *)((const char *)resp + many->offset);
    for (size_t i = 0; !e && i < n; i++) e = check_key_error(what, p, v[i]);
  }
  return e;
}

/* ---- region errors ---- */

tikv_error_t *tikv__check_region_error(const char *what, const Errorpb__Error *re) {
  const Metapb__Peer *l = re->not_leader ? re->not_leader->leader : NULL;
  if (l && l->id && !l->store_id)
    return tikv__bad_reply(what, "NotLeader names peer %llu on store 0", (unsigned long long)l->id);
  if (re->server_is_busy && re->server_is_busy->backoff_ms > INT32_MAX)
    return tikv__bad_reply(what, "ServerIsBusy asks for a backoff of %llu ms",
                           (unsigned long long)re->server_is_busy->backoff_ms);
  for (size_t i = 0; re->epoch_not_match && i < re->epoch_not_match->n_current_regions; i++) {
    tikv_error_t *e = tikv__check_region_meta(what, re->epoch_not_match->current_regions[i], NULL);
    if (e) return e;
  }
  return NULL;
}

/* ---- pairs ---- */

/* Pairs of a keyed read: only keys asked, each no more often than asked
 * (pairs carrying an error name their key in the lock, if at all). */
static tikv_error_t *check_keyed_pairs(const char *what, const tikv__part_t *p,
                                       Kvrpcpb__KvPair *const *pairs, size_t n) {
  if (n > p->n) return tikv__bad_reply(what, "%zu pairs for %zu keys", n, p->n);
  /* answers per asked key, counted at the key's first index among those
   * asked (its copies are next to it): O(n log n) for a batch of n;
   * comparing each pair with the ones before it was most of a thousand-key
   * batch get's CPU */
  uint32_t *answered = n ? tikv__calloc(p->n, sizeof(*answered)) : NULL;
  if (n && !answered) return tikv__oom();
  tikv_error_t *e = NULL;
  size_t next = 0; /* where the key after the last one answered is asked */
  for (size_t i = 0; !e && i < n; i++) {
    const Kvrpcpb__KvPair *kv = pairs[i];
    if (kv->error) {
      e = check_key_error(what, p, kv->error);
      continue;
    }
    /* pairs mostly come in the order asked: try there before searching */
    size_t first = next, times = copies_from(p, next, &kv->key);
    if (!times) times = times_asked_at(p, &kv->key, &first);
    if (times) next = first + times;
    if (!times)
      e = check_key(what, p, &kv->key, "key");
    else if (++answered[first] > times)
      e = tikv__bad_reply(what, "a key answered more often than asked");
  }
  free(answered);
  return e;
}

/* Pairs of a scan: inside the range, strictly in the scan's order, no more
 * than its limit. */
static tikv_error_t *check_scanned_pairs(const char *what, const tikv__part_t *p,
                                         Kvrpcpb__KvPair *const *pairs, size_t n) {
  if (p->limit && n > p->limit) return tikv__bad_reply(what, "%zu pairs for a limit of %u", n, p->limit);
  const ProtobufCBinaryData *prev = NULL;
  for (size_t i = 0; i < n; i++) {
    const Kvrpcpb__KvPair *kv = pairs[i];
    tikv_error_t *e = kv->error ? check_key_error(what, p, kv->error)
                                : check_key(what, p, &kv->key, "key");
    if (e) return e;
    if (kv->error) continue;
    if (prev) {
      int c = tikv__key_cmp(prev->data, prev->len, kv->key.data, kv->key.len);
      if (p->reverse ? c <= 0 : c >= 0)
        return tikv__bad_reply(what, "pair %zu out of the scan's order", i);
    }
    prev = &kv->key;
  }
  return NULL;
}

/* ---- each reply type ---- */

static tikv_error_t *check_raw(tikv__req_id id, const char *what, const ProtobufCMessage *resp,
                               const tikv__part_t *p) {
  switch (id) {
    case TIKV__REQ_RAW_GET: {
      const Kvrpcpb__RawGetResponse *r = (const Kvrpcpb__RawGetResponse *)resp;
      return r->not_found && r->value.len ? tikv__bad_reply(what, "not found, with a value") : NULL;
    }
    case TIKV__REQ_RAW_BATCH_GET: {
      const Kvrpcpb__RawBatchGetResponse *r = (const Kvrpcpb__RawBatchGetResponse *)resp;
      return check_keyed_pairs(what, p, r->pairs, r->n_pairs);
    }
    case TIKV__REQ_RAW_SCAN: {
      const Kvrpcpb__RawScanResponse *r = (const Kvrpcpb__RawScanResponse *)resp;
      return check_scanned_pairs(what, p, r->kvs, r->n_kvs);
    }
    case TIKV__REQ_RAW_GET_KEY_TTL: {
      const Kvrpcpb__RawGetKeyTTLResponse *r = (const Kvrpcpb__RawGetKeyTTLResponse *)resp;
      return r->not_found && r->ttl ? tikv__bad_reply(what, "not found, with a TTL") : NULL;
    }
    case TIKV__REQ_RAW_CAS: {
      const Kvrpcpb__RawCASResponse *r = (const Kvrpcpb__RawCASResponse *)resp;
      return r->previous_not_exist && r->previous_value.len
                 ? tikv__bad_reply(what, "no previous value, with a previous value")
                 : NULL;
    }
    case TIKV__REQ_RAW_CHECKSUM: {
      const Kvrpcpb__RawChecksumResponse *r = (const Kvrpcpb__RawChecksumResponse *)resp;
      return !r->total_kvs && (r->checksum || r->total_bytes)
                 ? tikv__bad_reply(what, "a checksum or bytes over no pairs")
                 : NULL;
    }
    default:
      return NULL;
  }
}

static tikv_error_t *check_txn_status(const char *what, const tikv__part_t *p,
                                      const Kvrpcpb__CheckTxnStatusResponse *r) {
  if (!protobuf_c_enum_descriptor_get_value(&kvrpcpb__action__descriptor, r->action))
    return tikv__bad_reply(what, "unknown action %d", (int)r->action);
  if (r->commit_version && r->lock_ttl)
    return tikv__bad_reply(what, "both committed and locked");
  return r->lock_info ? check_lock(what, p, r->lock_info) : NULL;
}

static tikv_error_t *check_locks(const char *what, const tikv__part_t *p,
                                 Kvrpcpb__LockInfo *const *locks, size_t n) {
  if (p->keys && n > p->n) return tikv__bad_reply(what, "%zu locks for %zu keys", n, p->n);
  tikv_error_t *e = NULL;
  for (size_t i = 0; !e && i < n; i++) e = check_lock(what, p, locks[i]);
  return e;
}

static tikv_error_t *check_txn(tikv__req_id id, const char *what, const ProtobufCMessage *resp,
                               const tikv__part_t *p) {
  switch (id) {
    case TIKV__REQ_KV_GET: {
      const Kvrpcpb__GetResponse *r = (const Kvrpcpb__GetResponse *)resp;
      return r->not_found && r->value.len ? tikv__bad_reply(what, "not found, with a value") : NULL;
    }
    case TIKV__REQ_KV_BATCH_GET: {
      const Kvrpcpb__BatchGetResponse *r = (const Kvrpcpb__BatchGetResponse *)resp;
      return check_keyed_pairs(what, p, r->pairs, r->n_pairs);
    }
    case TIKV__REQ_KV_SCAN: {
      const Kvrpcpb__ScanResponse *r = (const Kvrpcpb__ScanResponse *)resp;
      return check_scanned_pairs(what, p, r->pairs, r->n_pairs);
    }
    case TIKV__REQ_KV_SCAN_LOCK: {
      const Kvrpcpb__ScanLockResponse *r = (const Kvrpcpb__ScanLockResponse *)resp;
      return check_locks(what, p, r->locks, r->n_locks);
    }
    case TIKV__REQ_KV_CHECK_SECONDARY_LOCKS: {
      const Kvrpcpb__CheckSecondaryLocksResponse *r =
          (const Kvrpcpb__CheckSecondaryLocksResponse *)resp;
      return check_locks(what, p, r->locks, r->n_locks);
    }
    case TIKV__REQ_KV_CHECK_TXN_STATUS:
      return check_txn_status(what, p, (const Kvrpcpb__CheckTxnStatusResponse *)resp);
    case TIKV__REQ_KV_PESSIMISTIC_LOCK: {
      const Kvrpcpb__PessimisticLockResponse *r = (const Kvrpcpb__PessimisticLockResponse *)resp;
      if (r->n_values > p->n || r->n_not_founds > p->n)
        return tikv__bad_reply(what, "%zu values and %zu not-founds for %zu keys", r->n_values,
                               r->n_not_founds, p->n);
      return NULL;
    }
    default:
      return NULL;
  }
}

tikv_error_t *tikv__check_reply(tikv__req_id id, const ProtobufCMessage *resp,
                                const tikv__part_t *part) {
  char what[48];
  snprintf(what, sizeof(what), "TiKV %s", tikv__req(id)->method);
  const ProtobufCFieldDescriptor *fd = field(resp, "region_error");
  const Errorpb__Error *re =
      fd ? *(const Errorpb__Error *const *)((const char *)resp + fd->offset) : NULL;
  if (re) return tikv__check_region_error(what, re);
  tikv_error_t *e = check_key_errors(what, part, resp);
  if (!e) e = check_raw(id, what, resp, part);
  if (!e) e = check_txn(id, what, resp, part);
  return e;
}
