/* Keyspaces (API v2), as PD keeps them (tikv/pd pkg/keyspace): names of 1
 * to 20 characters from [-A-Za-z0-9_], ids of 24 bits, DEFAULT (id 0)
 * made at bootstrap, the others numbered from 1 unless given. Creating one
 * splits the regions as PD's keyspace manager does, so that its raw and its
 * transactional range each start a region: at the memcomparable encoding
 * of 'r' / 'x' + the 3-byte id (pkg/codec EncodeKeyspaceBoundary), and of
 * the next id; inside each range the regions split again at the user-key
 * characters of the `regions` option (the same characters as API v1's
 * layout, after the prefix). PD's LoadKeyspace (pd.c) reads them. */
#include <stdio.h>
#include <time.h>

#include "mock/mock_internal.h"

#define MAX_KEYSPACE_ID 0xFFFFFFu
#define DEFAULT_KEYSPACE "DEFAULT"

mock_keyspace_t *mock_keyspace_by_name(mock_cluster_t *m, const char *name) {
  for (mock_keyspace_t *k = m->keyspaces; k; k = k->next)
    if (name && strcmp(k->name, name) == 0) return k;
  return NULL;
}

static mock_keyspace_t *by_id(mock_cluster_t *m, uint32_t id) {
  for (mock_keyspace_t *k = m->keyspaces; k; k = k->next)
    if (k->id == id) return k;
  return NULL;
}

/* PD's namePattern, ^[-A-Za-z0-9_]{1,20}$ */
static bool valid_name(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n < 1 || n > 20) return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_'))
      return false;
  }
  return true;
}

/* Splits at the encoding of prefix (4 bytes) + suffix, unless a region
 * starts there already (a neighbour's bound). */
static int split_at(mock_cluster_t *m, const uint8_t prefix[4], const uint8_t *suffix, size_t sl) {
  uint8_t raw[6];
  memcpy(raw, prefix, 4);
  if (sl) memcpy(raw + 4, suffix, sl);
  uint8_t *enc;
  size_t el;
  if (tikv__codec_encode_bytes(raw, 4 + sl, &enc, &el)) return -1;
  const mock_region_t *r = m->regions[mock_region_index_for_key(m, enc, el)];
  bool exists = tikv__key_cmp(r->start.data, r->start.len, enc, el) == 0;
  int rc = exists || mock_region_split(m, enc, el) ? 0 : -1;
  free(enc);
  return rc;
}

/* The regions of [lo, hi) get their leaders in turn over their peers
 * (index order), so that one keyspace is served by several stores. */
static void spread_leaders(mock_cluster_t *m, const uint8_t lo[4], const uint8_t hi[4]) {
  uint8_t *enc;
  size_t el;
  if (tikv__codec_encode_bytes(lo, 4, &enc, &el)) return;
  int i = mock_region_index_for_key(m, enc, el);
  free(enc);
  if (tikv__codec_encode_bytes(hi, 4, &enc, &el)) return;
  for (int k = 0; i < m->nregions; i++, k++) {
    mock_region_t *r = m->regions[i];
    if (tikv__key_cmp(r->start.data, r->start.len, enc, el) >= 0) break;
    int lead = k % r->npeers;
    if (!r->electing && !mock_store_is_down(m, r->peer_store[lead])) r->leader = lead;
  }
  free(enc);
}

/* The keyspace's raw and transactional ranges start regions, split inside
 * at the layout's characters. */
static int split_keyspace(mock_cluster_t *m, uint32_t id) {
  static const uint8_t modes[] = {'r', 'x'};
  int n = m->opts.regions;
  for (size_t k = 0; k < sizeof(modes); k++) {
    uint8_t p[4] = {modes[k], (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    /* the next id's prefix; past the last id, the mode's successor byte */
    uint8_t next[4] = {modes[k], (uint8_t)((id + 1) >> 16), (uint8_t)((id + 1) >> 8),
                       (uint8_t)(id + 1)};
    if (id == MAX_KEYSPACE_ID) memcpy(next, (uint8_t[4]){(uint8_t)(modes[k] + 1), 0, 0, 0}, 4);
    if (split_at(m, p, NULL, 0)) return -1;
    for (int i = 1; i < n; i++) {
      uint8_t ch[2];
      size_t cl = mock_split_chars(n, i, ch);
      if (split_at(m, p, ch, cl)) return -1;
    }
    if (split_at(m, next, NULL, 0)) return -1;
    spread_leaders(m, p, next);
  }
  return 0;
}

static int keyspace_new(mock_cluster_t *m, const char *name, uint32_t id, int state, char *err,
                        size_t errlen) {
  mock_keyspace_t *k = tikv__calloc(1, sizeof(*k));
  if (!k || split_keyspace(m, id)) {
    free(k);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  snprintf(k->name, sizeof(k->name), "%s", name);
  k->id = id;
  k->state = state;
  k->created_at = k->state_changed_at = (int64_t)time(NULL);
  MOCK_LIST_APPEND(m->keyspaces, k);
  return (int)id;
}

int mock_keyspaces_bootstrap(mock_cluster_t *m, char *err, size_t errlen) {
  if (m->opts.api_version != 2) return 0;
  if (keyspace_new(m, DEFAULT_KEYSPACE, 0, TIKV_MOCK_KEYSPACE_ENABLED, err, errlen) < 0) return -1;
  for (int i = 0; i < m->opts.n_keyspaces; i++) {
    const tikv_mock_keyspace_t *ks = &m->opts.keyspaces[i];
    if (mock_keyspace_create(m, ks->name, ks->id, ks->state, err, errlen) < 0) return -1;
  }
  m->opts.keyspaces = NULL; /* the caller's array: not kept */
  m->opts.n_keyspaces = 0;
  return 0;
}

int mock_keyspace_create(mock_cluster_t *m, const char *name, int id, int state, char *err,
                         size_t errlen) {
  if (m->opts.api_version != 2) {
    snprintf(err, errlen, "keyspaces need API v2 (api_version 2)");
    return -1;
  }
  if (!valid_name(name) || strcmp(name, DEFAULT_KEYSPACE) == 0) {
    snprintf(err, errlen, "illegal keyspace name %s: 1 to 20 of [-A-Za-z0-9_], not DEFAULT",
             name ? name : "(null)");
    return -1;
  }
  if (mock_keyspace_by_name(m, name)) {
    snprintf(err, errlen, "keyspace %s already exists", name);
    return -1;
  }
  if (state < TIKV_MOCK_KEYSPACE_ENABLED || state > TIKV_MOCK_KEYSPACE_TOMBSTONE) {
    snprintf(err, errlen, "keyspace %s: no state %d", name, state);
    return -1;
  }
  if (id < 0) { /* PD's allocator: the next id not taken */
    while (by_id(m, m->next_keyspace_id)) m->next_keyspace_id++;
    id = (int)m->next_keyspace_id;
  }
  if (id < 1 || id > (int)MAX_KEYSPACE_ID || by_id(m, (uint32_t)id)) {
    snprintf(err, errlen, "keyspace %s: id %d is %s", name, id,
             id < 1 || id > (int)MAX_KEYSPACE_ID ? "not in 1..16777215" : "taken");
    return -1;
  }
  if ((uint32_t)id >= m->next_keyspace_id) m->next_keyspace_id = (uint32_t)id + 1;
  return keyspace_new(m, name, (uint32_t)id, state, err, errlen);
}

/* ---- public API ---- */
int tikv_mock_api_version(tikv_mock_cluster_t *m) { return m->opts.api_version; }

int tikv_mock_add_keyspace(tikv_mock_cluster_t *m, const char *name, int id) {
  char err[128];
  pthread_mutex_lock(&m->mu);
  int got = mock_keyspace_create(m, name, id, TIKV_MOCK_KEYSPACE_ENABLED, err, sizeof(err));
  pthread_mutex_unlock(&m->mu);
  if (got < 0 && m->opts.verbose) fprintf(stderr, "tikv-mock: %s\n", err);
  return got;
}

int tikv_mock_set_keyspace_state(tikv_mock_cluster_t *m, const char *name, int state) {
  if (state < TIKV_MOCK_KEYSPACE_ENABLED || state > TIKV_MOCK_KEYSPACE_TOMBSTONE) return -1;
  pthread_mutex_lock(&m->mu);
  mock_keyspace_t *k = mock_keyspace_by_name(m, name);
  if (k && k->state != state) {
    k->state = state;
    k->state_changed_at = (int64_t)time(NULL);
  }
  pthread_mutex_unlock(&m->mu);
  return k ? 0 : -1;
}

int tikv_mock_keyspace_id(tikv_mock_cluster_t *m, const char *name) {
  pthread_mutex_lock(&m->mu);
  mock_keyspace_t *k = mock_keyspace_by_name(m, name);
  int id = k ? (int)k->id : -1;
  pthread_mutex_unlock(&m->mu);
  return id;
}

int tikv_mock_get_keyspace_state(tikv_mock_cluster_t *m, const char *name) {
  pthread_mutex_lock(&m->mu);
  mock_keyspace_t *k = mock_keyspace_by_name(m, name);
  int state = k ? k->state : -1;
  pthread_mutex_unlock(&m->mu);
  return state;
}

int tikv_mock_keyspace_count(tikv_mock_cluster_t *m) {
  pthread_mutex_lock(&m->mu);
  int n = 0;
  for (mock_keyspace_t *k = m->keyspaces; k; k = k->next) n++;
  pthread_mutex_unlock(&m->mu);
  return n;
}

const char *tikv_mock_keyspace_name(tikv_mock_cluster_t *m, int index) {
  pthread_mutex_lock(&m->mu);
  mock_keyspace_t *k = m->keyspaces;
  for (int i = 0; k && i < index; i++) k = k->next;
  pthread_mutex_unlock(&m->mu);
  return index >= 0 && k ? k->name : NULL; /* keyspaces are never removed: the name stays */
}
