/* What TiKV's storage checks of a request's API version before anything
 * else (tikv/tikv src/storage/mod.rs: check_api_version and
 * check_api_version_ranges, on the commands that call them), and where its
 * service puts a storage error (src/server/service/kv.rs):
 *  - storage V1: only V1 requests;
 *  - storage V2: V2 raw requests whose keys start with 'r', V2 transactional
 *    requests whose keys start with 'x', and V1 transactional requests on
 *    TiDB's keys ('m', 't'). A range needs both ends non-empty and of one
 *    mode (or the end the mode's successor byte alone); an absent end
 *    (a scan to the end of the key space) is no mode;
 *  - anything else is ApiVersionNotMatched.
 * Transactional keys are checked, and printed, memcomparable-encoded, as
 * TiKV holds them (Key::as_encoded); raw keys as they are.
 * On top, and not TiKV's (it never reads Context.keyspace_id): a V2
 * request's keys must lie in the keyspace its context names, so that a
 * client that encodes one keyspace and names another is caught. */
#include <stdio.h>

#include "mock/mock_internal.h"

/* How a request carries its keys. */
typedef enum {
  KEY,        /* one bytes field */
  KEYS,       /* a repeated bytes field */
  ITEM_KEYS,  /* the "key" of each message of a repeated field (mutations, pairs) */
  RANGE,      /* start and end fields; an empty end is still an end */
  RANGE_OPEN, /* start and end fields; an empty end is none (unbounded) */
  RANGES,     /* a repeated KeyRange */
} key_source;

typedef struct api_rule {
  tikv__req_id req;
  const char *cmd; /* TiKV's CommandKind, as its messages print it */
  bool raw;
  key_source src;
  const char *field, *end_field;
} api_rule;

/* The commands that check; the others (commit, rollback, cleanup, lock
 * resolution, heart beats, ScanLock: "compatible with TiDB's gc-worker")
 * take any key. */
static const api_rule rules[] = {
    {TIKV__REQ_RAW_GET, "raw_get", true, KEY, "key", NULL},
    {TIKV__REQ_RAW_BATCH_GET, "raw_batch_get", true, KEYS, "keys", NULL},
    {TIKV__REQ_RAW_PUT, "raw_put", true, KEY, "key", NULL},
    {TIKV__REQ_RAW_BATCH_PUT, "raw_batch_put", true, ITEM_KEYS, "pairs", NULL},
    {TIKV__REQ_RAW_DELETE, "raw_delete", true, KEY, "key", NULL},
    {TIKV__REQ_RAW_BATCH_DELETE, "raw_batch_delete", true, KEYS, "keys", NULL},
    {TIKV__REQ_RAW_DELETE_RANGE, "raw_delete_range", true, RANGE, "start_key", "end_key"},
    {TIKV__REQ_RAW_SCAN, "raw_scan", true, RANGE_OPEN, "start_key", "end_key"},
    {TIKV__REQ_RAW_BATCH_SCAN, "raw_batch_scan", true, RANGES, "ranges", NULL},
    {TIKV__REQ_RAW_GET_KEY_TTL, "raw_get_key_ttl", true, KEY, "key", NULL},
    {TIKV__REQ_RAW_CAS, "raw_compare_and_swap", true, KEY, "key", NULL},
    {TIKV__REQ_KV_GET, "get", false, KEY, "key", NULL},
    {TIKV__REQ_KV_BATCH_GET, "batch_get", false, KEYS, "keys", NULL},
    {TIKV__REQ_KV_SCAN, "scan", false, RANGE_OPEN, "start_key", "end_key"},
    {TIKV__REQ_KV_PREWRITE, "prewrite", false, ITEM_KEYS, "mutations", NULL},
    {TIKV__REQ_KV_PESSIMISTIC_LOCK, "acquire_pessimistic_lock", false, ITEM_KEYS, "mutations",
     NULL},
    {TIKV__REQ_KV_DELETE_RANGE, "delete_range", false, RANGE, "start_key", "end_key"},
};

/* ---- reading fields by name (every rule names its request's fields) ---- */
static const ProtobufCFieldDescriptor *field_named(const ProtobufCMessage *m, const char *name) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
  if (!f) abort(); /* a rule naming a field its message lacks */
  return f;
}

static void *at(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  return (char *)m + f->offset;
}

static size_t count_of(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  return *(const size_t *)((const char *)m + f->quantifier_offset);
}

/* One key, or one range (end NULL: none), of a request, as sent. */
typedef struct api_item {
  const ProtobufCBinaryData *start, *end;
  bool range;
} api_item;

static void push(mock_arena_t *a, api_item **items, size_t *n, size_t *cap, api_item it) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    api_item *grown = mock_arena_alloc(a, nc * sizeof(*grown));
    if (*n) memcpy(grown, *items, *n * sizeof(*grown));
    *items = grown;
    *cap = nc;
  }
  (*items)[(*n)++] = it;
}

static const ProtobufCBinaryData *range_end(const ProtobufCBinaryData *end, bool open) {
  return open && end->len == 0 ? NULL : end;
}

/* The request's keys and ranges, in the order TiKV checks them. */
static size_t items_of(mock_arena_t *a, const api_rule *r, const ProtobufCMessage *q,
                       api_item **items) {
  size_t n = 0, cap = 0;
  const ProtobufCFieldDescriptor *f = field_named(q, r->field);
  switch (r->src) {
    case KEY: push(a, items, &n, &cap, (api_item){at(q, f), NULL, false}); break;
    case KEYS:
      for (size_t i = 0; i < count_of(q, f); i++)
        push(a, items, &n, &cap,
             (api_item){&(*(ProtobufCBinaryData **)at(q, f))[i], NULL, false});
      break;
    case ITEM_KEYS:
      for (size_t i = 0; i < count_of(q, f); i++) {
        const ProtobufCMessage *sub = (*(ProtobufCMessage ***)at(q, f))[i];
        push(a, items, &n, &cap, (api_item){at(sub, field_named(sub, "key")), NULL, false});
      }
      break;
    case RANGE:
    case RANGE_OPEN: {
      const ProtobufCBinaryData *end = at(q, field_named(q, r->end_field));
      push(a, items, &n, &cap, (api_item){at(q, f), range_end(end, r->src == RANGE_OPEN), true});
      break;
    }
    case RANGES:
      for (size_t i = 0; i < count_of(q, f); i++) {
        const Kvrpcpb__KeyRange *kr = (*(Kvrpcpb__KeyRange ***)at(q, f))[i];
        push(a, items, &n, &cap, (api_item){&kr->start_key, &kr->end_key, true});
      }
      break;
  }
  return n;
}

/* ---- TiKV's key modes (components/api_version/src/api_v2.rs) ---- */
typedef enum { MODE_UNKNOWN, MODE_RAW, MODE_TXN, MODE_TIDB } key_mode;

static key_mode mode_of(const uint8_t *k, size_t len) {
  if (len == 0) return MODE_UNKNOWN;
  switch (k[0]) {
    case 'r': return MODE_RAW;
    case 'x': return MODE_TXN;
    case 'm':
    case 't': return MODE_TIDB;
    default: return MODE_UNKNOWN;
  }
}

static key_mode range_mode_of(const ProtobufCBinaryData *s, const ProtobufCBinaryData *e) {
  if (!e || s->len == 0 || e->len == 0) return MODE_UNKNOWN;
  if (s->data[0] == e->data[0] || (e->len == 1 && e->data[0] == (uint8_t)(s->data[0] + 1)))
    return mode_of(s->data, s->len);
  return MODE_UNKNOWN;
}

static const char *version_name(mock_arena_t *a, int v) {
  static const char *const names[] = {"V1", "V1ttl", "V2", "V3"};
  return v >= 0 && v < 4 ? names[v] : mock_arena_printf(a, "%d", v);
}

/* What this store's storage.api-version is: V1, V1ttl with
 * storage.enable-ttl (the mock departs there: it still takes transactional
 * requests, TiKV's V1ttl does not), or V2. */
static int storage_version(const mock_cluster_t *m) {
  if (m->opts.api_version == 2) return KVRPCPB__APIVERSION__V2;
  return m->opts.enable_ttl ? KVRPCPB__APIVERSION__V1TTL : KVRPCPB__APIVERSION__V1;
}

/* ---- TiKV's error texts: Display in a text field, Debug in a KeyError ---- */
typedef struct api_error {
  const char *display, *debug;
} api_error;

/* Key bytes as TiKV holds them: transactional keys memcomparable-encoded. */
static ProtobufCBinaryData held(mock_arena_t *a, const ProtobufCBinaryData *k, bool raw) {
  if (raw) return *k;
  uint8_t *enc;
  size_t el;
  if (tikv__codec_encode_bytes(k->data, k->len, &enc, &el)) abort();
  ProtobufCBinaryData out = {el, mock_arena_dup(a, enc, el)};
  free(enc);
  return out;
}

static const char *hex_opt(mock_arena_t *a, const ProtobufCBinaryData *k) {
  return k ? mock_arena_printf(a, "Some(\"%s\")", mock_arena_hex(a, k->data, k->len)) : "None";
}

static api_error mode_error(mock_kvctx_t *kc, const api_rule *r, const api_item *it) {
  mock_arena_t *a = kc->arena;
  const char *st = version_name(a, storage_version(kc->m));
  api_error e;
  if (!it->range) {
    ProtobufCBinaryData k = held(a, it->start, r->raw);
    const char *hex = mock_arena_hex(a, k.data, k.len);
    e.display = mock_arena_printf(
        a, "Key mode mismatched with the request mode, cmd: %s, storage: %s, key: %s", r->cmd, st,
        hex);
    e.debug = mock_arena_printf(
        a, "Error(InvalidKeyMode { cmd: %s, storage_api_version: %s, key: \"%s\" })", r->cmd, st,
        hex);
    return e;
  }
  ProtobufCBinaryData s = held(a, it->start, r->raw), end;
  if (it->end) end = held(a, it->end, r->raw);
  const char *range =
      mock_arena_printf(a, "(%s, %s)", hex_opt(a, &s), hex_opt(a, it->end ? &end : NULL));
  e.display = mock_arena_printf(
      a, "Key mode mismatched with the request mode, cmd: %s, storage: %s, range: %s", r->cmd, st,
      range);
  e.debug = mock_arena_printf(
      a, "Error(InvalidKeyRangeMode { cmd: %s, storage_api_version: %s, range: %s })", r->cmd, st,
      range);
  return e;
}

static api_error not_matched(mock_kvctx_t *kc, const char *cmd, int req_version) {
  mock_arena_t *a = kc->arena;
  const char *st = version_name(a, storage_version(kc->m)), *rq = version_name(a, req_version);
  api_error e;
  e.display = mock_arena_printf(a,
                                "Api version in request does not match with TiKV storage, cmd: "
                                "%s, storage: %s, request: %s",
                                cmd, st, rq);
  e.debug = mock_arena_printf(
      a, "Error(ApiVersionNotMatched { cmd: %s, storage_api_version: %s, req_api_version: %s })",
      cmd, st, rq);
  return e;
}

/* ---- the keyspace (the mock's own check) ---- */
/* The 4-byte prefix of keyspace id in mode ('r' / 'x'), and the next one
 * (PD's fencepost past the last id: the mode's successor byte). */
static void keyspace_prefix(uint8_t mode, uint32_t id, uint8_t p[4]) {
  if (id > 0xFFFFFF) {
    mode++;
    id = 0;
  }
  p[0] = mode;
  p[1] = (uint8_t)(id >> 16);
  p[2] = (uint8_t)(id >> 8);
  p[3] = (uint8_t)id;
}

static bool in_keyspace(const ProtobufCBinaryData *k, const uint8_t lo[4], const uint8_t hi[4],
                        bool bound) {
  if (tikv__key_cmp(k->data, k->len, lo, 4) < 0) return false;
  int c = tikv__key_cmp(k->data, k->len, hi, 4);
  return bound ? c <= 0 : c < 0;
}

static bool outside_keyspace(const api_rule *r, const api_item *it, uint32_t id) {
  uint8_t lo[4], hi[4];
  keyspace_prefix(r->raw ? 'r' : 'x', id, lo);
  keyspace_prefix(r->raw ? 'r' : 'x', id + 1, hi);
  if (!it->range) return !in_keyspace(it->start, lo, hi, false);
  /* a range's ends may reach the next keyspace's first key (exclusive) */
  return !in_keyspace(it->start, lo, hi, true) || !it->end || !in_keyspace(it->end, lo, hi, true);
}

static api_error keyspace_error(mock_kvctx_t *kc, const api_item *it, uint32_t id) {
  mock_arena_t *a = kc->arena;
  const char *what =
      it->range
          ? mock_arena_printf(a, "range (%s, %s)", hex_opt(a, it->start), hex_opt(a, it->end))
          : mock_arena_printf(a, "key %s", mock_arena_hex(a, it->start->data, it->start->len));
  const char *text = mock_arena_printf(
      a, "mock: %s lies outside keyspace %u, which the request's Context.keyspace_id names "
         "(TiKV does not check this; the mock does)",
      what, id);
  return (api_error){text, text};
}

/* ---- the check ---- */
static const api_rule *rule_for(int req) {
  for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
    if ((int)rules[i].req == req) return &rules[i];
  return NULL;
}

/* TiKV's check_api_version / _ranges on request q: NULL when it may go on.
 * The keys are read only when their modes matter (never in API v1). */
static const api_error *check(mock_kvctx_t *kc, const api_rule *r, const ProtobufCMessage *q,
                              api_error *out) {
  const Kvrpcpb__Context *ctx = *(const Kvrpcpb__Context **)mock_field_of(q, "context");
  int storage = storage_version(kc->m), req = ctx ? (int)ctx->api_version : 0;
  key_mode want;
  if (storage != KVRPCPB__APIVERSION__V2 && req == KVRPCPB__APIVERSION__V1) return NULL;
  if (storage == KVRPCPB__APIVERSION__V2 && req == KVRPCPB__APIVERSION__V1 && !r->raw)
    want = MODE_TIDB;
  else if (storage == KVRPCPB__APIVERSION__V2 && req == KVRPCPB__APIVERSION__V2)
    want = r->raw ? MODE_RAW : MODE_TXN;
  else
    return (*out = not_matched(kc, r->cmd, req), out);
  api_item *items = NULL;
  size_t n = items_of(kc->arena, r, q, &items);
  for (size_t i = 0; i < n; i++) {
    ProtobufCBinaryData s = held(kc->arena, items[i].start, r->raw), e;
    if (items[i].end) e = held(kc->arena, items[i].end, r->raw);
    key_mode got = items[i].range ? range_mode_of(&s, items[i].end ? &e : NULL)
                                  : mode_of(s.data, s.len);
    if (got != want) return (*out = mode_error(kc, r, &items[i]), out);
  }
  for (size_t i = 0; want != MODE_TIDB && i < n; i++)
    if (outside_keyspace(r, &items[i], ctx->keyspace_id))
      return (*out = keyspace_error(kc, &items[i], ctx->keyspace_id), out);
  return NULL;
}

/* The command's name: a raw write in atomic mode (for_cas) is TiKV's
 * raw_atomic_store. */
static const char *cmd_of(const api_rule *r, const ProtobufCMessage *q) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(q->descriptor, "for_cas");
  return f && *(const protobuf_c_boolean *)at(q, f) ? "raw_atomic_store" : r->cmd;
}

bool mock_api_check(mock_kvctx_t *kc, int req, const ProtobufCMessage *q, ProtobufCMessage *resp) {
  const api_rule *r = rule_for(req);
  if (!r) return false;
  api_rule named = *r;
  named.cmd = cmd_of(r, q);
  api_error e;
  if (!check(kc, &named, q, &e)) return false;
  mock_storage_error(kc, resp, e.display, e.debug);
  return true;
}

/* ---- where the service puts a storage error, by response type ---- */
static Kvrpcpb__KeyError *key_error(mock_arena_t *a, const char *debug) {
  Kvrpcpb__KeyError *ke = MOCK_NEW(a, Kvrpcpb__KeyError, KVRPCPB__KEY_ERROR__INIT);
  ke->abort = (char *)debug;
  return ke;
}

/* Sets a repeated message field to the one element p. */
static void set_one(mock_arena_t *a, ProtobufCMessage *resp, const ProtobufCFieldDescriptor *f,
                    void *p) {
  *(void ***)at(resp, f) = mock_arena_dup(a, &p, sizeof(p));
  *(size_t *)((char *)resp + f->quantifier_offset) = 1;
}

static const ProtobufCFieldDescriptor *pairs_field(const ProtobufCMessage *resp) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "pairs");
  return f ? f : protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "kvs");
}

void mock_storage_error(mock_kvctx_t *kc, ProtobufCMessage *resp, const char *display,
                        const char *debug) {
  mock_arena_t *a = kc->arena;
  const ProtobufCMessageDescriptor *d = resp->descriptor;
  const ProtobufCFieldDescriptor *error =
      protobuf_c_message_descriptor_get_field_by_name(d, "error");
  const ProtobufCFieldDescriptor *errors =
      protobuf_c_message_descriptor_get_field_by_name(d, "errors");
  const ProtobufCFieldDescriptor *pairs = pairs_field(resp);
  if (error && error->type == PROTOBUF_C_TYPE_STRING) { /* format!("{}", e) */
    *(char **)at(resp, error) = (char *)display;
    return;
  }
  if (errors) { /* extract_key_errors: one KeyError, abort = format!("{:?}", e) */
    set_one(a, resp, errors, key_error(a, debug));
    return;
  }
  if (error) *(Kvrpcpb__KeyError **)at(resp, error) = key_error(a, debug);
  if (pairs) { /* extract_kv_pairs, or a scan's first pair "for backward compatibility" */
    Kvrpcpb__KvPair *p = MOCK_NEW(a, Kvrpcpb__KvPair, KVRPCPB__KV_PAIR__INIT);
    p->error = key_error(a, debug);
    set_one(a, resp, pairs, p);
  }
  if (!error && !pairs) abort(); /* a response with nowhere to say it */
}
