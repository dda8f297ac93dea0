/* Grouping keys by region and sending the groups in parallel. */
#include "region/multi.h"

struct tikv__multi {
  tikv__router_t *rt;
  const tikv__multi_ops_t *ops;
  void *arg;
  const tikv__bytes_t *keys;
  int64_t deadline;
  int pending; /* groupings and parts in flight, +1 while starting */
  tikv_error_t *err;
  tikv_error_t *last_err;
  tikv__backoff_t bo;
};

struct tikv__multi_part {
  tikv__multi_t *m;
  size_t *idx;
  size_t n;
  tikv__route_t route;
  tikv__timer_t timer;
};

typedef struct {
  tikv__multi_t *m;
  size_t *idx;
  size_t n, pos;
} grouping_t;

static void group(tikv__multi_t *m, size_t *idx, size_t n);

static void settle(tikv__multi_t *m) {
  if (--m->pending > 0) return;
  const tikv__multi_ops_t *ops = m->ops;
  void *arg = m->arg;
  tikv_error_t *err = m->err;
  tikv__error_free(m->last_err);
  free(m);
  ops->done(arg, err);
}

static void fail(tikv__multi_t *m, tikv_error_t *err) {
  if (!m->err)
    m->err = err;
  else
    tikv__error_free(err);
}

static void part_free(tikv__multi_part_t *p) {
  free(p->idx);
  tikv__route_free(&p->route);
  free(p);
}

const size_t *tikv__multi_part_items(const tikv__multi_part_t *p, size_t *n) {
  *n = p->n;
  return p->idx;
}
const tikv__route_t *tikv__multi_part_route(const tikv__multi_part_t *p) { return &p->route; }
int64_t tikv__multi_deadline(const tikv__multi_part_t *p) { return p->m->deadline; }

void tikv__multi_part_ok(tikv__multi_part_t *p) {
  tikv__multi_t *m = p->m;
  part_free(p);
  settle(m);
}

void tikv__multi_part_fail(tikv__multi_part_t *p, tikv_error_t *err) {
  fail(p->m, err);
  tikv__multi_part_ok(p);
}

static void regroup(tikv__multi_part_t *p) {
  tikv__multi_t *m = p->m;
  size_t *idx = p->idx;
  size_t n = p->n;
  p->idx = NULL;
  part_free(p);
  if (m->err || tikv__loop_stopping(m->rt->rpc->loop)) {
    if (!m->err) fail(m, tikv__error_new(TIKV_ERR_CLOSED, "client closed"));
    free(idx);
  } else {
    group(m, idx, n);
  }
  settle(m);
}

static void resend_timer(void *arg) { regroup(arg); }

void tikv__multi_part_resend(tikv__multi_part_t *p, int delay_ms) {
  tikv__multi_t *m = p->m;
  if (tikv__now_ms() + delay_ms >= m->deadline) {
    tikv_error_t *last = m->last_err;
    tikv__multi_part_fail(p, tikv__error_new(TIKV_ERR_TIMEOUT, "%s: deadline exceeded%s%s",
                                             tikv__req(m->ops->req)->path + 1,
                                             last ? "; last error: " : "",
                                             last ? last->message : ""));
    return;
  }
  if (delay_ms <= 0) {
    regroup(p);
    return;
  }
  tikv__timer_init(&p->timer);
  tikv__timer_start(m->rt->rpc->loop, &p->timer, delay_ms, resend_timer, p);
}

static int part_build(void *arg, const tikv__route_t *route, Kvrpcpb__Context *ctx,
                      grpc_slice *out) {
  tikv__multi_part_t *p = arg;
  return p->m->ops->build(p->m->arg, route, p->idx, p->n, ctx, out);
}

static void part_done(void *arg, tikv_error_t *err, ProtobufCMessage *resp) {
  tikv__multi_part_t *p = arg;
  if (err) {
    tikv__multi_part_fail(p, err);
    return;
  }
  p->m->ops->on_response(p->m->arg, p, resp);
}

static void part_retry(void *arg) { regroup(arg); }

static const tikv__send_ops_t PART_OPS = {part_build, part_done, part_retry};

static void send_part(tikv__multi_t *m, const tikv__route_t *route, const size_t *idx,
                      size_t n) {
  tikv__multi_part_t *p = tikv__calloc(1, sizeof(*p));
  size_t *copy = tikv__malloc(n * sizeof(size_t));
  if (!p || !copy || tikv__route_copy(&p->route, route)) {
    free(p);
    free(copy);
    fail(m, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  memcpy(copy, idx, n * sizeof(size_t));
  p->m = m;
  p->idx = copy;
  p->n = n;
  m->pending++;
  tikv__send(m->rt, m->ops->req, &p->route, m->deadline,
             &m->bo, &m->last_err, &PART_OPS, p);
}

/* Sends idx[from, to), all in route's region, in chunks. */
static void send_chunks(tikv__multi_t *m, const tikv__route_t *route, const size_t *idx,
                        size_t from, size_t to) {
  const tikv__multi_ops_t *ops = m->ops;
  while (from < to) {
    size_t end = from, bytes = 0;
    while (end < to && (!ops->max_keys || end - from < ops->max_keys)) {
      size_t sz = ops->size_of ? ops->size_of(m->arg, idx[end]) : m->keys[idx[end]].len;
      if (ops->max_bytes && end > from && bytes + sz > ops->max_bytes) break;
      bytes += sz;
      end++;
    }
    send_part(m, route, idx + from, end - from);
    from = end;
  }
}

static void grouping_continue(grouping_t *g);

static size_t run_end(tikv__multi_t *m, const tikv__route_t *route, const size_t *idx,
                      size_t from, size_t n) {
  size_t end = from;
  while (end < n && tikv__route_contains(route, m->keys[idx[end]].data, m->keys[idx[end]].len))
    end++;
  return end;
}

static void grouping_located(void *arg, tikv_error_t *err, const tikv__route_t *route) {
  grouping_t *g = arg;
  tikv__multi_t *m = g->m;
  if (err) {
    fail(m, err);
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
  tikv__multi_t *m = g->m;
  while (g->pos < g->n && !m->err) {
    tikv__route_t route;
    const tikv__bytes_t *k = &m->keys[g->idx[g->pos]];
    if (!tikv__locate_cached(m->rt, m->ops->ks, k->data, k->len, false, &route)) {
      tikv__locate(m->rt, m->ops->ks, k->data, k->len, false, m->deadline, grouping_located, g);
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
static void group(tikv__multi_t *m, size_t *idx, size_t n) {
  grouping_t *g = tikv__calloc(1, sizeof(*g));
  if (!g) {
    free(idx);
    fail(m, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  qsort_r(idx, n, sizeof(size_t), cmp_idx, (void *)m->keys);
  *g = (grouping_t){m, idx, n, 0};
  m->pending++;
  grouping_continue(g);
}

void tikv__multi_run_idx(tikv__router_t *rt, const tikv__multi_ops_t *ops, void *arg,
                         const tikv__bytes_t *keys, const size_t *idx, size_t n,
                         int64_t deadline) {
  tikv__multi_t *m = tikv__calloc(1, sizeof(*m));
  size_t *copy = tikv__malloc((n ? n : 1) * sizeof(size_t));
  if (!m || !copy) {
    free(m);
    free(copy);
    ops->done(arg, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  if (n) memcpy(copy, idx, n * sizeof(size_t));
  *m = (tikv__multi_t){.rt = rt, .ops = ops, .arg = arg, .keys = keys, .deadline = deadline,
                       .pending = 1};
  tikv__backoff_init(&m->bo, 2, 2000);
  group(m, copy, n);
  settle(m);
}

void tikv__multi_run(tikv__router_t *rt, const tikv__multi_ops_t *ops, void *arg,
                     const tikv__bytes_t *keys, size_t n, int64_t deadline) {
  size_t *idx = tikv__malloc((n ? n : 1) * sizeof(size_t));
  if (!idx) {
    ops->done(arg, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
    return;
  }
  for (size_t i = 0; i < n; i++) idx[i] = i;
  tikv__multi_run_idx(rt, ops, arg, keys, idx, n, deadline);
  free(idx);
}

ProtobufCBinaryData *tikv__pb_keys(const tikv__bytes_t *keys, const size_t *idx, size_t n) {
  ProtobufCBinaryData *out = tikv__calloc(n ? n : 1, sizeof(*out));
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) out[i] = (ProtobufCBinaryData){keys[idx[i]].len, keys[idx[i]].data};
  return out;
}
