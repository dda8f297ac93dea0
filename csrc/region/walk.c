/* Walking a key range region by region: locate the region at the cursor,
 * send the kind's request for the range's part inside it, move the cursor to
 * the region's boundary, until the range or the limit runs out. Forward
 * walks load the regions ahead with ScanRegions; reverse walks locate the
 * region before an exclusive end key (GetPrevRegion's rule). */
#include "region/request.h"

int tikv__walk_init(tikv__walk_t *w, const uint8_t *start, size_t start_len, const uint8_t *end,
                    size_t end_len, bool reverse, uint32_t limit) {
  memset(w, 0, sizeof(*w));
  w->reverse = reverse;
  w->left = limit;
  w->limited = limit > 0;
  if (tikv__bytes_set(&w->start, start, start_len) || tikv__bytes_set(&w->end, end, end_len) ||
      tikv__bytes_set(&w->cur, reverse ? end : start, reverse ? end_len : start_len))
    return -1;
  return 0;
}

void tikv__walk_free(tikv__walk_t *w) {
  tikv__bytes_free(&w->send.part.resume);
  tikv__bytes_free(&w->start);
  tikv__bytes_free(&w->end);
  tikv__bytes_free(&w->cur);
  tikv__route_free(&w->route);
  tikv__retries_clear(&w->retries);
}

static bool before(const tikv__bytes_t *a, const tikv__bytes_t *b) {
  return tikv__key_cmp(a->data, a->len, b->data, b->len) < 0;
}

/* The part of [start, end) inside the current region, from the cursor. */
static void clamp(tikv__walk_t *w, tikv__part_t *p) {
  const tikv__route_t *rt = &w->route;
  if (!w->reverse) {
    p->lo = w->cur;
    bool region_first = rt->end.len && (w->end.len == 0 || before(&rt->end, &w->end));
    p->hi = region_first ? rt->end : w->end;
    return;
  }
  /* upper bound: the cursor, or the region's end when the cursor is +inf
   * (TiKV checks that a reverse scan's bound lies in the region, and "" does
   * not lie in the last one: the sentinel sorts after every valid key) */
  p->hi = w->cur;
  if (w->cur.len == 0)
    p->hi = rt->end.len ? rt->end
                        : (tikv__bytes_t){(uint8_t *)tikv__key_sentinel(), TIKV__KEY_SENTINEL_LEN};
  p->lo = before(&w->start, &rt->start) ? rt->start : w->start;
}

/* After a region is done: is the walk over, and where next? true when over
 * (or out of memory for the cursor, then *err). */
static bool advance(tikv__walk_t *w, tikv_error_t **err) {
  const tikv__route_t *rt = &w->route;
  if (w->limited && w->left == 0) return true;
  const tikv__bytes_t *next;
  if (!w->reverse) {
    if (rt->end.len == 0 || (w->end.len && !before(&rt->end, &w->end))) return true;
    next = &rt->end;
  } else {
    if (rt->start.len == 0 || !before(&w->start, &rt->start)) return true;
    next = &rt->start;
  }
  if (tikv__bytes_set(&w->cur, next->data, next->len) == 0) return false;
  *err = tikv__oom();
  return true;
}

/* The reply stopped at its limit with items left out (part.resume): the
 * cursor moves just past the last key returned, in the same region. false
 * when there is nothing to resume (or out of memory, then *err). */
static bool resume(tikv__walk_t *w, tikv_error_t **err) {
  tikv__bytes_t r = w->send.part.resume;
  w->send.part.resume = (tikv__bytes_t){0};
  if (!r.data) return false;
  bool more = !w->limited || w->left > 0;
  if (more) {
    /* forward: the least key after r is r + "\0"; reverse: r is the
     * exclusive end */
    uint8_t *k = w->reverse ? r.data : tikv__realloc(r.data, r.len + 1);
    if (!k) {
      *err = tikv__oom();
      more = false;
    } else {
      if (!w->reverse) k[r.len++] = 0;
      tikv__bytes_free(&w->cur);
      w->cur = (tikv__bytes_t){k, r.len};
      return true;
    }
  }
  free(r.data);
  return more;
}

static void walk_step(tikv__walk_t *w);

static void walk_done(tikv__send_t *s, tikv_error_t *err) {
  tikv__walk_t *w = (tikv__walk_t *)s;
  if (!err) {
    size_t taken = s->part.taken;
    w->left = taken < w->left ? w->left - (uint32_t)taken : 0;
    if (resume(w, &err) || (!err && !advance(w, &err))) {
      walk_step(w);
      return;
    }
  }
  tikv__bytes_free(&s->part.resume);
  w->done(s->arg, err);
}

static void walk_retry(tikv__send_t *s) { walk_step((tikv__walk_t *)s); }

static const tikv__send_ops_t WALK_OPS = {walk_done, walk_retry};

static void located(void *arg, tikv_error_t *err, const tikv__route_t *route) {
  tikv__walk_t *w = arg;
  tikv__route_free(&w->route);
  if (!err && tikv__route_copy(&w->route, route))
    err = tikv__oom();
  if (err) {
    w->done(w->send.arg, err);
    return;
  }
  tikv__part_t *p = &w->send.part;
  tikv__bytes_free(&p->resume);
  *p = (tikv__part_t){.reverse = w->reverse, .limit = w->limited ? w->left : 0};
  clamp(w, p);
  tikv__send_start(&w->send, &w->route);
}

static void walk_step(tikv__walk_t *w) {
  tikv__send_t *s = &w->send;
  if (w->reverse)
    tikv__locate(s->rt, s->kind->ks, w->cur.data, w->cur.len, true, s->scope, located, w);
  else
    tikv__locate_range(s->rt, s->kind->ks, w->cur.data, w->cur.len, w->end.data, w->end.len,
                       s->scope, located, w);
}

void tikv__walk_start(tikv__walk_t *w, tikv__router_t *rt, const tikv__kind_t *kind, void *arg,
                      tikv__scope_t *scope, void (*done)(void *arg, tikv_error_t *err)) {
  w->send = (tikv__send_t){.rt = rt,
                           .kind = kind,
                           .arg = arg,
                           .scope = scope,
                           .retries = &w->retries,
                           .ops = &WALK_OPS};
  w->done = done;
  walk_step(w);
}
