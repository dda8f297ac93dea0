/* One key, straight to its region's leader: the cache (or PD) names the
 * region, the send goes out, a region error locates the key again. No
 * grouping, no copies: the point lives in its owner's state. */
#include "region/request.h"

static const size_t ONLY_ITEM = 0;

static void point_done(tikv__send_t *s, tikv_error_t *err) {
  tikv__point_t *p = (tikv__point_t *)s;
  tikv__retries_clear(&p->retries);
  p->done(s->arg, err);
}

static void point_step(tikv__point_t *p);
static void point_retry(tikv__send_t *s) { point_step((tikv__point_t *)s); }

static const tikv__send_ops_t POINT_OPS = {point_done, point_retry};

static void located(void *arg, tikv_error_t *err, const tikv__route_t *route) {
  tikv__point_t *p = arg;
  if (err)
    point_done(&p->send, err);
  else
    tikv__send_start(&p->send, route);
}

static void point_step(tikv__point_t *p) {
  tikv__send_t *s = &p->send;
  tikv__route_t route;
  if (tikv__locate_cached(s->rt, s->kind->ks, p->key, p->key_len, false, false, &route))
    tikv__send_start(s, &route);
  else
    tikv__locate(s->rt, s->kind->ks, p->key, p->key_len, false, s->scope, located, p);
}

void tikv__point_run(tikv__point_t *p, tikv__router_t *rt, const tikv__kind_t *kind, void *arg,
                     const uint8_t *key, size_t key_len, tikv__scope_t *scope,
                     void (*done)(void *arg, tikv_error_t *err)) {
  p->send = (tikv__send_t){.rt = rt,
                           .kind = kind,
                           .arg = arg,
                           .part = {.keys = &p->one, .idx = &ONLY_ITEM, .n = 1},
                           .scope = scope,
                           .retries = &p->retries,
                           .ops = &POINT_OPS};
  p->retries = (tikv__retries_t){0};
  p->key = key;
  p->key_len = key_len;
  p->one = (tikv__bytes_t){(uint8_t *)key, key_len};
  p->done = done;
  point_step(p);
}
