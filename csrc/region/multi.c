/* A batch of keys: grouped by region, each group sent in chunks, all groups
 * in parallel; a group that meets a region error (or whose locks the layer
 * resolved) is grouped again from the cache. */
#include "region/request.h"

typedef struct {
  tikv__router_t *rt;
  const tikv__kind_t *kind;
  void *arg;
  const tikv__bytes_t *keys;
  tikv__scope_t *scope;
  void (*done)(void *arg, tikv_error_t *err);
  int pending; /* groupings and parts in flight, +1 while starting */
  tikv_error_t *err;
  tikv__retries_t retries;
} multi_t;

typedef struct {
  tikv__send_t send; /* first: the send is the part */
  multi_t *m;
  size_t *idx;
} part_t;

typedef struct {
  multi_t *m;
  size_t *idx;
  size_t n, pos;
} grouping_t;

static void group(multi_t *m, size_t *idx, size_t n);

static void settle(multi_t *m) {
  if (--m->pending > 0) return;
  void (*done)(void *, tikv_error_t *) = m->done;
  void *arg = m->arg;
  tikv_error_t *err = m->err;
  tikv__retries_clear(&m->retries);
  free(m);
  done(arg, err);
}

static void part_done(tikv__send_t *s, tikv_error_t *err) {
  part_t *p = (part_t *)s;
  multi_t *m = p->m;
  if (err) tikv__error_keep(&m->err, err);
  free(p->idx);
  free(p);
  settle(m);
}

static void part_retry(tikv__send_t *s) {
  part_t *p = (part_t *)s;
  multi_t *m = p->m;
  size_t *idx = p->idx;
  size_t n = s->part.n;
  free(p);
  if (m->err) {
    free(idx); /* the operation failed already: no point in more requests */
  } else {
    group(m, idx, n);
  }
  settle(m);
}

static const tikv__send_ops_t PART_OPS = {part_done, part_retry};

static void send_part(multi_t *m, const tikv__route_t *route, const size_t *idx, size_t n) {
  part_t *p = tikv__calloc(1, sizeof(*p));
  size_t *copy = tikv__malloc(n * sizeof(size_t));
  if (!p || !copy) {
    free(p);
    free(copy);
    tikv__error_keep(&m->err, tikv__oom());
    return;
  }
  memcpy(copy, idx, n * sizeof(size_t));
  p->m = m;
  p->idx = copy;
  p->send = (tikv__send_t){.rt = m->rt,
                           .kind = m->kind,
                           .arg = m->arg,
                           .part = {.keys = m->keys, .idx = copy, .n = n},
                           .scope = m->scope,
                           .retries = &m->retries,
                           .ops = &PART_OPS};
  m->pending++;
  tikv__send_start(&p->send, route);
}

/* Sends idx[from, to), all in route's region, in chunks. */
static void send_chunks(multi_t *m, const tikv__route_t *route, const size_t *idx, size_t from,
                        size_t to) {
  const tikv__kind_t *kind = m->kind;
  while (from < to) {
    size_t end = from, bytes = 0;
    while (end < to && (!kind->max_keys || end - from < kind->max_keys)) {
      size_t sz = kind->size_of ? kind->size_of(m->arg, idx[end]) : m->keys[idx[end]].len;
      if (kind->max_bytes && end > from && bytes + sz > kind->max_bytes) break;
      bytes += sz;
      end++;
    }
    send_part(m, route, idx + from, end - from);
    from = end;
  }
}

static void grouping_continue(grouping_t *g);

static size_t run_end(multi_t *m, const tikv__route_t *route, const size_t *idx, size_t from,
                      size_t n) {
  size_t end = from;
  while (end < n && tikv__route_contains(route, m->keys[idx[end]].data, m->keys[idx[end]].len))
    end++;
  return end;
}

static void grouping_located(void *arg, tikv_error_t *err, const tikv__route_t *route) {
  grouping_t *g = arg;
  multi_t *m = g->m;
  if (err) {
    tikv__error_keep(&m->err, err);
    free(g->idx);
    free(g);
    settle(m);
    return;
  }
  size_t end = run_end(m, route, g->idx, g->pos, g->n);
  if (end == g->pos) end++; /* the key must be in the region PD gave; never loop */
  send_chunks(m, route, g->idx, g->pos, end);
  g->pos = end;
  grouping_continue(g);
}

static void grouping_continue(grouping_t *g) {
  multi_t *m = g->m;
  while (g->pos < g->n && !m->err) {
    tikv__route_t route;
    const tikv__bytes_t *k = &m->keys[g->idx[g->pos]];
    if (!tikv__locate_cached(m->rt, m->kind->ks, k->data, k->len, false, true, &route)) {
      tikv__locate(m->rt, m->kind->ks, k->data, k->len, false, m->scope, grouping_located, g);
      return;
    }
    size_t end = run_end(m, &route, g->idx, g->pos, g->n);
    send_chunks(m, &route, g->idx, g->pos, end);
    tikv__route_free(&route);
    g->pos = end;
  }
  free(g->idx);
  free(g);
  settle(m);
}

static int cmp_idx(const void *a, const void *b, void *ctx) {
  const tikv__bytes_t *keys = ctx;
  const tikv__bytes_t *x = &keys[*(const size_t *)a], *y = &keys[*(const size_t *)b];
  return tikv__key_cmp(x->data, x->len, y->data, y->len);
}

/* Takes ownership of idx. */
static void group(multi_t *m, size_t *idx, size_t n) {
  grouping_t *g = tikv__calloc(1, sizeof(*g));
  if (!g) {
    free(idx);
    tikv__error_keep(&m->err, tikv__oom());
    return;
  }
  /* keys mostly come in order (ranges, batches of neighbours): one pass
   * finds out */
  size_t i = 1;
  while (i < n && cmp_idx(&idx[i - 1], &idx[i], (void *)m->keys) <= 0) i++;
  if (i < n) qsort_r(idx, n, sizeof(size_t), cmp_idx, (void *)m->keys);
  *g = (grouping_t){m, idx, n, 0};
  m->pending++;
  grouping_continue(g);
}

void tikv__multi_run(tikv__router_t *rt, const tikv__kind_t *kind, void *arg,
                     const tikv__bytes_t *keys, const size_t *idx, size_t n, tikv__scope_t *scope,
                     void (*done)(void *arg, tikv_error_t *err)) {
  multi_t *m = tikv__calloc(1, sizeof(*m));
  size_t *copy = tikv__malloc((n ? n : 1) * sizeof(size_t));
  if (!m || !copy) {
    free(m);
    free(copy);
    done(arg, tikv__oom());
    return;
  }
  for (size_t i = 0; i < n; i++) copy[i] = idx ? idx[i] : i;
  *m = (multi_t){.rt = rt, .kind = kind, .arg = arg, .keys = keys, .scope = scope,
                 .done = done, .pending = 1};
  group(m, copy, n);
  settle(m);
}

int tikv__pack_keys(ProtobufCMessage *m, const tikv__bytes_t *keys, const tikv__part_t *part,
                    grpc_slice *out) {
  ProtobufCBinaryData *pb = tikv__calloc(part->n ? part->n : 1, sizeof(*pb));
  if (!pb) return -1;
  for (size_t i = 0; i < part->n; i++) {
    const tikv__bytes_t *k = &keys[part->idx[i]];
    pb[i] = (ProtobufCBinaryData){k->len, k->data};
  }
  tikv__pb_set_repeated(m, "keys", part->n, pb);
  int rc = tikv__pack(m, out);
  free(pb);
  return rc;
}
