/* The mock cluster's state and its public API (include/tikv/mock.h): stores,
 * regions, the id allocator, fault injection, start and stop. */
#include <stdio.h>
#include <time.h>

#include "mock/mvcc.h"

/* ---- arena ---- */
struct mock_arena_chunk {
  mock_arena_chunk *next;
  size_t used, cap;
  max_align_t data[];
};

void *mock_arena_alloc(mock_arena_t *a, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  if (n == 0) n = sizeof(max_align_t);
  mock_arena_chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 16384 ? n : 16384;
    c = malloc(sizeof(*c) + cap);
    if (!c) abort();
    c->next = a->head;
    c->used = 0;
    c->cap = cap;
    a->head = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

void *mock_arena_dup(mock_arena_t *a, const void *p, size_t n) {
  void *q = mock_arena_alloc(a, n + 1);
  if (n) memcpy(q, p, n);
  return q;
}

char *mock_arena_printf(mock_arena_t *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = mock_arena_alloc(a, (size_t)(n > 0 ? n : 0) + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

char *mock_arena_hex(mock_arena_t *a, const uint8_t *p, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  char *s = mock_arena_alloc(a, 2 * n + 1);
  for (size_t i = 0; i < n; i++) {
    s[2 * i] = hex[p[i] >> 4];
    s[2 * i + 1] = hex[p[i] & 15];
  }
  return s;
}

void mock_arena_free(mock_arena_t *a) {
  mock_arena_chunk *c = a->head;
  while (c) {
    mock_arena_chunk *n = c->next;
    free(c);
    c = n;
  }
  a->head = NULL;
}

/* ---- helpers (m->mu held) ---- */
int mock_cf_index(const char *cf) {
  if (!cf || !*cf || strcmp(cf, "default") == 0) return 0;
  if (strcmp(cf, "lock") == 0) return 1;
  if (strcmp(cf, "write") == 0) return 2;
  return -1;
}

uint64_t mock_alloc_id(mock_cluster_t *m) { return m->next_id++; }

mock_region_t *mock_region_by_id(mock_cluster_t *m, uint64_t id) {
  for (int i = 0; i < m->nregions; i++)
    if (m->regions[i]->id == id) return m->regions[i];
  return NULL;
}

int mock_region_index_for_key(mock_cluster_t *m, const uint8_t *key, size_t len) {
  /* last region whose start <= key */
  int lo = 0, hi = m->nregions - 1, ans = 0;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    mock_region_t *r = m->regions[mid];
    if (tikv__key_cmp(r->start.data, r->start.len, key, len) <= 0) {
      ans = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return ans;
}

bool mock_method_matches(const char *pattern, const char *method) {
  return strcmp(pattern, "*") == 0 || strcmp(pattern, method) == 0;
}

static const char *const fault_names[] = {"region error", "gRPC error", "lost reply",
                                           "corrupt reply"};

int mock_take_fault(mock_cluster_t *m, mock_fault_type type, const char *method, uint64_t where) {
  for (mock_fault_t **pp = &m->faults; *pp; pp = &(*pp)->next) {
    mock_fault_t *f = *pp;
    if (f->type != type || !mock_method_matches(f->method, method)) continue;
    if (f->where && f->where != where) continue;
    int value = f->value;
    if (--f->count <= 0) {
      *pp = f->next;
      free(f);
    }
    if (m->opts.verbose)
      fprintf(stderr, "tikv-mock: injected %s %d on %s (%llu)\n", fault_names[type], value, method,
              (unsigned long long)where);
    return value;
  }
  return -1;
}

/* Queues a fault for the next `count` matching calls. 0 or -1. */
static int add_fault(mock_cluster_t *m, mock_fault_type type, const char *method, uint64_t where,
                     int value, int count) {
  if (!method || count <= 0) return -1;
  mock_fault_t *f = tikv__calloc(1, sizeof(*f));
  if (!f) return -1;
  f->type = type;
  snprintf(f->method, sizeof(f->method), "%s", method);
  f->where = where;
  f->value = value;
  f->count = count;
  pthread_mutex_lock(&m->mu);
  MOCK_LIST_APPEND(m->faults, f);
  pthread_mutex_unlock(&m->mu);
  return 0;
}

uint32_t mock_latency_for(mock_cluster_t *m, const char *method) {
  uint32_t best = 0;
  for (mock_latency_t *l = m->latencies; l; l = l->next)
    if (mock_method_matches(l->method, method) && l->delay_ms > best) best = l->delay_ms;
  return best;
}

static void count_in(mock_counter_t **list, const char *method) {
  for (mock_counter_t *c = *list; c; c = c->next)
    if (strcmp(c->method, method) == 0) {
      c->count++;
      return;
    }
  mock_counter_t *c = tikv__calloc(1, sizeof(*c));
  if (!c) return;
  snprintf(c->method, sizeof(c->method), "%s", method);
  c->count = 1;
  c->next = *list;
  *list = c;
}

void mock_count_call(mock_cluster_t *m, const char *method) { count_in(&m->counters, method); }
void mock_count_pd_call(mock_cluster_t *m, const char *method) {
  count_in(&m->pd_counters, method);
}

/* ---- regions ---- */
static void region_free(mock_region_t *r) {
  if (!r) return;
  tikv__bytes_free(&r->start);
  tikv__bytes_free(&r->end);
  free(r);
}

static int regions_insert(mock_cluster_t *m, int at, mock_region_t *r) {
  if (m->nregions == m->regions_cap) {
    int cap = m->regions_cap ? m->regions_cap * 2 : 16;
    mock_region_t **nr = tikv__realloc(m->regions, (size_t)cap * sizeof(*nr));
    if (!nr) return -1;
    m->regions = nr;
    m->regions_cap = cap;
  }
  memmove(&m->regions[at + 1], &m->regions[at], (size_t)(m->nregions - at) * sizeof(*m->regions));
  m->regions[at] = r;
  m->nregions++;
  return 0;
}

static mock_region_t *region_new(mock_cluster_t *m, const uint8_t *s, size_t sl, const uint8_t *e,
                                 size_t el, int leader_store_index) {
  mock_region_t *r = tikv__calloc(1, sizeof(*r));
  if (!r) return NULL;
  if (tikv__bytes_set(&r->start, s, sl) || tikv__bytes_set(&r->end, e, el)) {
    region_free(r);
    return NULL;
  }
  r->id = mock_alloc_id(m);
  r->conf_ver = 1;
  r->version = 1;
  r->npeers = m->nstores < MOCK_MAX_PEERS ? m->nstores : MOCK_MAX_PEERS;
  for (int i = 0; i < r->npeers; i++) {
    r->peer_id[i] = mock_alloc_id(m);
    r->peer_store[i] = (uint64_t)((leader_store_index + i) % m->nstores) + 1;
  }
  r->leader = 0;
  return r;
}

static const char split_alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

size_t mock_split_chars(int n, int i, uint8_t out[2]) {
  const size_t A = sizeof(split_alphabet) - 1;
  if (n <= (int)A + 1) {
    out[0] = (uint8_t)split_alphabet[(size_t)i * A / (size_t)n];
    return 1;
  }
  size_t idx = (size_t)i * A * A / (size_t)n;
  out[0] = (uint8_t)split_alphabet[idx / A];
  out[1] = (uint8_t)split_alphabet[idx % A];
  return 2;
}

static int initial_regions(mock_cluster_t *m, int n) {
  uint8_t *prev = NULL;
  size_t prev_len = 0;
  for (int i = 0; i < n; i++) {
    uint8_t *next = NULL;
    size_t next_len = 0;
    if (i + 1 < n) {
      uint8_t raw[2];
      size_t raw_len = mock_split_chars(n, i + 1, raw);
      if (tikv__codec_encode_bytes(raw, raw_len, &next, &next_len)) {
        free(prev);
        return -1;
      }
    }
    mock_region_t *r = region_new(m, prev, prev_len, next, next_len, i % m->nstores);
    free(prev);
    prev = next;
    prev_len = next_len;
    if (!r || regions_insert(m, m->nregions, r)) {
      region_free(r);
      free(prev);
      return -1;
    }
  }
  free(prev);
  return 0;
}

/* ---- synchronous work on the loop thread ---- */
typedef struct loop_task {
  mock_cluster_t *m;
  int (*fn)(mock_cluster_t *m, void *arg);
  void *arg;
  bool done;
  int result;
} loop_task;

static void loop_task_run(void *arg) {
  loop_task *t = arg;
  t->result = t->fn(t->m, t->arg);
  pthread_mutex_lock(&t->m->mu);
  t->done = true;
  pthread_cond_broadcast(&t->m->cv);
  pthread_mutex_unlock(&t->m->mu);
}

int mock_on_loop(mock_cluster_t *m, int (*fn)(mock_cluster_t *m, void *arg), void *arg) {
  if (tikv__loop_on_thread(m->loop)) return fn(m, arg);
  loop_task t = {m, fn, arg, false, -1};
  if (tikv__loop_post(m->loop, loop_task_run, &t)) return -1;
  pthread_mutex_lock(&m->mu);
  while (!t.done) pthread_cond_wait(&m->cv, &m->mu);
  pthread_mutex_unlock(&m->mu);
  return t.result;
}

typedef struct start_args {
  char *err;
  size_t errlen;
} start_args;

static int start_servers_task(mock_cluster_t *m, void *arg) {
  start_args *a = arg;
  if (mock_pd_start(m, a->err, a->errlen)) return -1;
  for (int i = 0; i < m->nstores; i++) {
    mock_store_t *st = &m->stores[i];
    if (mock_server_start(&st->srv, m->host, 0, a->err, a->errlen)) return -1;
    snprintf(st->address, sizeof(st->address), "%s:%d", mock_advertised_host(m->host),
             st->srv.port);
  }
  return 0;
}

static void drain(void *arg) {
  mock_cluster_t *m = arg;
  pthread_mutex_lock(&m->mu);
  if (m->mvcc) mv_waiters_flush(m->mvcc, 0); /* pessimistic lock waits end now */
  pthread_mutex_unlock(&m->mu);
  tikv__timer_cancel(m->loop, &m->raft_election);
  mock_pd_stop(m);
  for (int i = 0; i < m->nstores; i++) mock_server_stop(&m->stores[i].srv);
}

static int drain_task(mock_cluster_t *m, void *arg) {
  drain(m);
  return 0;
}

/* Shuts every server down and waits until they are gone, before the loop
 * stops: the loop's own drain hook is not relied upon (it can be skipped
 * when the stop request races with a loop turn). */
static void stop_servers(mock_cluster_t *m) {
  if (mock_on_loop(m, drain_task, NULL)) return;
  for (int i = 0; i < m->npd; i++) mock_server_wait_stopped(&m->pd[i]->srv);
  for (int i = 0; i < m->nstores; i++) mock_server_wait_stopped(&m->stores[i].srv);
}

/* ---- public API ---- */
void tikv_mock_options_init(tikv_mock_options_t *opts) {
  memset(opts, 0, sizeof(*opts));
  opts->stores = 3;
  opts->regions = 1;
  opts->host = "127.0.0.1";
  opts->api_version = 1;
}

static void cluster_free(mock_cluster_t *m) {
  for (int i = 0; i < m->nregions; i++) region_free(m->regions[i]);
  free(m->regions);
  for (int i = 0; i < MOCK_CF_COUNT; i++) mock_kvmap_free(m->raw[i]);
  mock_mvcc_free(m->mvcc);
  free(m->stores);
  mock_pd_members_free(m);
  tikv_mock_clear_faults(m);
  MOCK_FREE_LIST(m->counters);
  MOCK_FREE_LIST(m->pd_counters);
  for (mock_service_sp_t *sp = m->service_sps; sp; sp = sp->next) free(sp->service_id);
  MOCK_FREE_LIST(m->service_sps);
  MOCK_FREE_LIST(m->keyspaces);
  mock_tls_free(m);
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  free(m);
}

/* The cluster's state, without servers; NULL with err filled. */
static mock_cluster_t *cluster_new(const tikv_mock_options_t *o, char *err, size_t errlen) {
  mock_cluster_t *m = tikv__calloc(1, sizeof(*m));
  if (!m) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, NULL);
  m->opts = *o;
  snprintf(m->host, sizeof(m->host), "%s", o->host);
  m->opts.host = m->host;
  m->start_unix = (int64_t)time(NULL);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* PD derives its cluster id from the bootstrap time; so do we */
  m->cluster_id = ((uint64_t)ts.tv_sec << 32) | ((uint64_t)ts.tv_nsec & 0xffffffffu);
  m->nstores = o->stores;
  m->next_id = (uint64_t)o->stores + 1;
  m->raft_election_ms = (uint32_t)o->raft_election_ms;
  m->next_keyspace_id = 1;
  tikv__timer_init(&m->raft_election);
  tikv__timer_init(&m->pd_election);
  bool ok = (m->stores = tikv__calloc((size_t)o->stores, sizeof(*m->stores))) != NULL;
  for (int i = 0; ok && i < o->stores; i++) {
    m->stores[i].id = (uint64_t)i + 1;
    m->stores[i].srv.m = m;
    m->stores[i].srv.kind = MOCK_SRV_TIKV;
    m->stores[i].srv.store_id = (uint64_t)i + 1;
  }
  for (int i = 0; ok && i < MOCK_CF_COUNT; i++) ok = (m->raw[i] = mock_kvmap_new()) != NULL;
  /* API v2: one region, split by the keyspaces into theirs */
  ok = ok && (m->mvcc = mock_mvcc_new()) != NULL &&
       initial_regions(m, o->api_version == 2 ? 1 : o->regions) == 0;
  if (!ok)
    snprintf(err, errlen, "out of memory");
  else if (mock_tls_load(m, o, err, errlen) || mock_keyspaces_bootstrap(m, err, errlen))
    ok = false;
  if (!ok) {
    cluster_free(m);
    return NULL;
  }
  return m;
}

/* Starts the loop and every server: 0, or -1 with err filled (the loop is
 * stopped again). */
static int cluster_listen(mock_cluster_t *m, char *err, size_t errlen) {
  if (!(m->loop = tikv__loop_new())) {
    snprintf(err, errlen, "cannot start the I/O loop");
    return -1;
  }
  start_args a = {err, errlen};
  if (mock_on_loop(m, start_servers_task, &a)) {
    if (!err[0]) snprintf(err, errlen, "start failed");
    stop_servers(m);
    tikv__loop_stop(m->loop, drain, m);
    tikv__loop_free(m->loop);
    return -1;
  }
  return 0;
}

/* What no cluster can start with: 0, or -1 with err filled. */
static int check_options(const tikv_mock_options_t *o, char *err, size_t errlen) {
  if (o->regions > 62 * 62 + 1)
    snprintf(err, errlen, "too many regions (max %d)", 62 * 62 + 1);
  else if (o->api_version != 1 && o->api_version != 2)
    snprintf(err, errlen, "api_version must be 1 or 2, not %d", o->api_version);
  else if (o->n_keyspaces && o->api_version != 2)
    snprintf(err, errlen, "keyspaces need API v2 (api_version 2)");
  else
    return 0;
  return -1;
}

tikv_mock_cluster_t *tikv_mock_cluster_start(const tikv_mock_options_t *opts, char *errbuf,
                                             size_t errbuf_len) {
  char err[256] = "";
  tikv_mock_options_t o;
  if (opts)
    o = *opts;
  else
    tikv_mock_options_init(&o);
  if (o.stores <= 0) o.stores = 3;
  if (o.regions <= 0) o.regions = 1;
  if (!o.host || !*o.host) o.host = "127.0.0.1";
  if (o.api_version == 0) o.api_version = 1; /* options zeroed by hand */
  mock_cluster_t *m =
      check_options(&o, err, sizeof(err)) ? NULL : cluster_new(&o, err, sizeof(err));
  if (m && cluster_listen(m, err, sizeof(err))) {
    cluster_free(m);
    m = NULL;
  }
  if (errbuf && errbuf_len) snprintf(errbuf, errbuf_len, "%s", err);
  return m;
}

void tikv_mock_cluster_stop(tikv_mock_cluster_t *m) {
  if (!m) return;
  stop_servers(m);
  tikv__loop_stop(m->loop, drain, m);
  tikv__loop_free(m->loop);
  cluster_free(m);
}

const char *tikv_mock_pd_address(tikv_mock_cluster_t *m) { return m->pd[0]->address; }
int tikv_mock_store_count(tikv_mock_cluster_t *m) { return m->nstores; }
uint64_t tikv_mock_cluster_id(tikv_mock_cluster_t *m) { return m->cluster_id; }

const char *tikv_mock_store_address(tikv_mock_cluster_t *m, uint64_t store_id) {
  if (store_id < 1 || store_id > (uint64_t)m->nstores) return NULL;
  return m->stores[store_id - 1].address;
}

int tikv_mock_region_count(tikv_mock_cluster_t *m) {
  pthread_mutex_lock(&m->mu);
  int n = m->nregions;
  pthread_mutex_unlock(&m->mu);
  return n;
}

uint64_t tikv_mock_region_id_at(tikv_mock_cluster_t *m, int index) {
  pthread_mutex_lock(&m->mu);
  uint64_t id = index >= 0 && index < m->nregions ? m->regions[index]->id : 0;
  pthread_mutex_unlock(&m->mu);
  return id;
}

uint64_t tikv_mock_region_for_key(tikv_mock_cluster_t *m, const uint8_t *key, size_t len) {
  pthread_mutex_lock(&m->mu);
  uint64_t id = m->nregions ? m->regions[mock_region_index_for_key(m, key, len)]->id : 0;
  pthread_mutex_unlock(&m->mu);
  return id;
}

uint64_t tikv_mock_region_leader_store(tikv_mock_cluster_t *m, uint64_t region_id) {
  pthread_mutex_lock(&m->mu);
  mock_region_t *r = mock_region_by_id(m, region_id);
  uint64_t s = r ? r->peer_store[r->leader] : 0;
  pthread_mutex_unlock(&m->mu);
  return s;
}

int tikv_mock_region_bounds(tikv_mock_cluster_t *m, uint64_t region_id, uint8_t *start,
                            size_t start_cap, size_t *start_len, uint8_t *end, size_t end_cap,
                            size_t *end_len) {
  pthread_mutex_lock(&m->mu);
  mock_region_t *r = mock_region_by_id(m, region_id);
  int rc = -1;
  if (r) {
    if (start_len) *start_len = r->start.len;
    if (end_len) *end_len = r->end.len;
    if (r->start.len <= start_cap && r->end.len <= end_cap) {
      if (r->start.len) memcpy(start, r->start.data, r->start.len);
      if (r->end.len) memcpy(end, r->end.data, r->end.len);
      rc = 0;
    }
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

int tikv_mock_region_epoch(tikv_mock_cluster_t *m, uint64_t region_id, uint64_t *conf_ver,
                           uint64_t *version) {
  pthread_mutex_lock(&m->mu);
  mock_region_t *r = mock_region_by_id(m, region_id);
  if (r) {
    if (conf_ver) *conf_ver = r->conf_ver;
    if (version) *version = r->version;
  }
  pthread_mutex_unlock(&m->mu);
  return r ? 0 : -1;
}

uint64_t tikv_mock_region_peer_on_store(tikv_mock_cluster_t *m, uint64_t region_id,
                                        uint64_t store_id) {
  pthread_mutex_lock(&m->mu);
  mock_region_t *r = mock_region_by_id(m, region_id);
  uint64_t id = 0;
  for (int i = 0; r && i < r->npeers; i++)
    if (r->peer_store[i] == store_id) id = r->peer_id[i];
  pthread_mutex_unlock(&m->mu);
  return id;
}

mock_region_t *mock_region_split(mock_cluster_t *m, const uint8_t *split_key, size_t len) {
  int idx = mock_region_index_for_key(m, split_key, len);
  mock_region_t *r = m->regions[idx];
  /* the split key must be strictly inside the region */
  if (tikv__key_cmp(r->start.data, r->start.len, split_key, len) >= 0 ||
      (r->end.len && tikv__key_cmp(split_key, len, r->end.data, r->end.len) >= 0))
    return NULL;
  mock_region_t *nr = tikv__calloc(1, sizeof(*nr));
  tikv__bytes_t new_end = {0};
  if (!nr || tikv__bytes_set(&nr->start, split_key, len) ||
      tikv__bytes_set(&nr->end, r->end.data, r->end.len) ||
      tikv__bytes_set(&new_end, split_key, len) || regions_insert(m, idx + 1, nr)) {
    tikv__bytes_free(&new_end);
    region_free(nr);
    return NULL;
  }
  nr->id = mock_alloc_id(m);
  nr->npeers = r->npeers;
  for (int i = 0; i < r->npeers; i++) {
    nr->peer_id[i] = mock_alloc_id(m);
    nr->peer_store[i] = r->peer_store[i];
  }
  nr->leader = r->leader;
  nr->electing = r->electing;
  nr->election_at = r->election_at;
  nr->conf_ver = r->conf_ver;
  r->version++;
  nr->version = r->version;
  nr->split_from = r->id;
  tikv__bytes_free(&r->end);
  r->end = new_end;
  return nr;
}

/* In API v2 every boundary is a memcomparable encoding (raw keys are
 * compared to the keys they encode), so a split key must be one. */
static bool split_key_ok(mock_cluster_t *m, const uint8_t *key, size_t len) {
  if (m->opts.api_version != 2) return true;
  uint8_t *dec;
  size_t dl, used;
  if (tikv__codec_decode_bytes(key, len, &dec, &dl, &used)) return false;
  free(dec);
  return used == len;
}

uint64_t tikv_mock_split_region(tikv_mock_cluster_t *m, const uint8_t *split_key, size_t len) {
  pthread_mutex_lock(&m->mu);
  mock_region_t *nr = split_key_ok(m, split_key, len) ? mock_region_split(m, split_key, len) : NULL;
  uint64_t id = nr ? nr->id : 0;
  pthread_mutex_unlock(&m->mu);
  return id;
}

static const char *const region_error_names[] = {
#define NAME(id, name, what) [TIKV_MOCK_REGION_ERROR_##id] = name,
    TIKV_MOCK_REGION_ERROR_MAP(NAME)
#undef NAME
};

const char *tikv_mock_region_error_name(int kind) {
  return kind >= 0 && kind < TIKV_MOCK_REGION_ERROR_COUNT ? region_error_names[kind] : NULL;
}

int tikv_mock_inject_region_error(tikv_mock_cluster_t *m, const char *method, uint64_t region_id,
                                  const char *kind, int count) {
  int k = 0;
  while (kind && k < TIKV_MOCK_REGION_ERROR_COUNT && strcmp(region_error_names[k], kind) != 0) k++;
  if (!kind || k == TIKV_MOCK_REGION_ERROR_COUNT) return -1;
  return add_fault(m, MOCK_FAULT_REGION_ERROR, method, region_id, k, count);
}

int tikv_mock_inject_grpc_error(tikv_mock_cluster_t *m, const char *method, int grpc_status,
                                int count) {
  if (grpc_status <= 0 || grpc_status > 16) return -1;
  return add_fault(m, MOCK_FAULT_GRPC_ERROR, method, 0, grpc_status, count);
}

int tikv_mock_inject_lost_reply(tikv_mock_cluster_t *m, uint64_t store_id, const char *method,
                                int count) {
  if (store_id > (uint64_t)m->nstores) return -1;
  return add_fault(m, MOCK_FAULT_LOST_REPLY, method, store_id, 0, count);
}

int tikv_mock_inject_corrupt_reply(tikv_mock_cluster_t *m, const char *method, int mode,
                                   int count) {
  if (!m || mode < TIKV_MOCK_CORRUPT_UNDECODABLE || mode > TIKV_MOCK_CORRUPT_STRAY) return -1;
  return add_fault(m, MOCK_FAULT_CORRUPT_REPLY, method, 0, mode, count);
}

int tikv_mock_set_latency(tikv_mock_cluster_t *m, const char *method, uint32_t delay_ms) {
  if (!method) return -1;
  pthread_mutex_lock(&m->mu);
  mock_latency_t **pp = &m->latencies;
  while (*pp && strcmp((*pp)->method, method) != 0) pp = &(*pp)->next;
  int rc = 0;
  if (*pp) {
    if (delay_ms) {
      (*pp)->delay_ms = delay_ms;
    } else {
      mock_latency_t *l = *pp;
      *pp = l->next;
      free(l);
    }
  } else if (delay_ms) {
    mock_latency_t *l = tikv__calloc(1, sizeof(*l));
    if (l) {
      snprintf(l->method, sizeof(l->method), "%s", method);
      l->delay_ms = delay_ms;
      *pp = l;
    } else {
      rc = -1;
    }
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

void tikv_mock_clear_faults(tikv_mock_cluster_t *m) {
  pthread_mutex_lock(&m->mu);
  MOCK_FREE_LIST(m->faults);
  MOCK_FREE_LIST(m->latencies);
  pthread_mutex_unlock(&m->mu);
}

static uint64_t count_of(tikv_mock_cluster_t *m, mock_counter_t *const *list, const char *method) {
  if (!method) return 0;
  uint64_t n = 0;
  pthread_mutex_lock(&m->mu);
  for (mock_counter_t *c = *list; c; c = c->next)
    if (mock_method_matches(method, c->method)) n += c->count;
  pthread_mutex_unlock(&m->mu);
  return n;
}

uint64_t tikv_mock_call_count(tikv_mock_cluster_t *m, const char *method) {
  return count_of(m, &m->counters, method);
}

uint64_t tikv_mock_pd_call_count(tikv_mock_cluster_t *m, const char *method) {
  return count_of(m, &m->pd_counters, method);
}
