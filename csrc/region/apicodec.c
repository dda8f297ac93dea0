/* API v1 and v2 keys (region/apicodec.h). */
#include "region/apicodec.h"

#include <stdio.h>

static const uint8_t MODE[2] = {[TIKV__KS_RAW] = 'r', [TIKV__KS_TXN] = 'x'};

static bool v2(const tikv__apicodec_t *c) { return c->api_version == 2; }

void tikv__apicodec_init(tikv__apicodec_t *c, int api_version) {
  memset(c, 0, sizeof(*c));
  c->api_version = api_version == 2 ? 2 : 1;
}

/* mode, id in 3 bytes big-endian: the 4-byte big-endian number mode<<24|id */
static void put_prefix(uint8_t out[TIKV__KEYSPACE_PREFIX_LEN], uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

void tikv__apicodec_set_keyspace(tikv__apicodec_t *c, uint32_t id) {
  c->keyspace_id = id;
  for (int ks = 0; ks < 2; ks++) {
    uint32_t p = (uint32_t)MODE[ks] << 24 | id;
    put_prefix(c->prefix[ks], p);
    /* the last id's end is the next mode byte's first key, as client-go's */
    put_prefix(c->end[ks], p + 1);
  }
  atomic_store(&c->ready, true);
}

const char *tikv__apicodec_unready(const tikv__apicodec_t *c) {
  if (!v2(c) || atomic_load(&c->ready)) return NULL;
  return "API v2: the keyspace is not loaded yet (wait for tikv_client_connect)";
}

size_t tikv__apicodec_prefix_len(const tikv__apicodec_t *c) {
  return v2(c) ? TIKV__KEYSPACE_PREFIX_LEN : 0;
}

size_t tikv__apicodec_encode_into(const tikv__apicodec_t *c, tikv__keyspace ks, const uint8_t *key,
                                  size_t len, uint8_t *buf) {
  size_t p = tikv__apicodec_prefix_len(c);
  if (p) memcpy(buf, c->prefix[ks], p);
  if (len) memcpy(buf + p, key, len);
  return p + len;
}

int tikv__apicodec_encode(const tikv__apicodec_t *c, tikv__keyspace ks, const uint8_t *key,
                          size_t len, tikv__bytes_t *out) {
  uint8_t *buf = tikv__malloc(tikv__apicodec_prefix_len(c) + len + 1);
  if (!buf) return -1;
  tikv__bytes_free(out);
  out->len = tikv__apicodec_encode_into(c, ks, key, len, buf);
  out->data = buf;
  return 0;
}

int tikv__apicodec_range(const tikv__apicodec_t *c, tikv__keyspace ks, const uint8_t *start,
                         size_t start_len, const uint8_t *end, size_t end_len, tikv__bytes_t *ws,
                         tikv__bytes_t *we) {
  if (tikv__apicodec_encode(c, ks, start, start_len, ws)) return -1;
  if (end_len || !v2(c)) return tikv__apicodec_encode(c, ks, end, end_len, we);
  return tikv__bytes_set(we, c->end[ks], TIKV__KEYSPACE_PREFIX_LEN);
}

bool tikv__apicodec_owns(const tikv__apicodec_t *c, tikv__keyspace ks, const uint8_t *key,
                         size_t len) {
  return !v2(c) ||
         (len >= TIKV__KEYSPACE_PREFIX_LEN && !memcmp(key, c->prefix[ks], TIKV__KEYSPACE_PREFIX_LEN));
}

int tikv__apicodec_decode(const tikv__apicodec_t *c, tikv__keyspace ks, uint8_t *key, size_t *len) {
  if (!tikv__apicodec_owns(c, ks, key, *len)) return -1;
  size_t p = tikv__apicodec_prefix_len(c);
  if (p) memmove(key, key + p, *len - p);
  *len -= p;
  return 0;
}

tikv_error_t *tikv__apicodec_decode_kvs(const tikv__apicodec_t *c, tikv__keyspace ks,
                                        tikv__kvs_t *kvs) {
  for (size_t i = 0; v2(c) && i < kvs->count; i++) {
    tikv_kv_t *kv = &kvs->items[i];
    if (tikv__apicodec_decode(c, ks, (uint8_t *)kv->key, &kv->key_len))
      return tikv__error_new(TIKV_ERR_PROTOCOL,
                             "TiKV returned a key of %zu bytes outside keyspace %u (%s)",
                             kv->key_len, c->keyspace_id, ks == TIKV__KS_RAW ? "raw" : "txn");
  }
  return NULL;
}

void tikv__apicodec_decode_error(const tikv__apicodec_t *c, tikv__keyspace ks, tikv_error_t *e) {
  if (!e || !v2(c)) return;
  tikv__apicodec_decode(c, ks, e->key.data, &e->key.len);
  tikv__apicodec_decode(c, ks, e->primary.data, &e->primary.len);
}

tikv__keyspace tikv__apicodec_routing(const tikv__apicodec_t *c, tikv__keyspace ks) {
  return v2(c) ? TIKV__KS_TXN : ks;
}

void tikv__apicodec_context(const tikv__apicodec_t *c, Kvrpcpb__Context *ctx) {
  if (!v2(c)) return;
  ctx->api_version = KVRPCPB__APIVERSION__V2;
  ctx->keyspace_id = c->keyspace_id;
}
