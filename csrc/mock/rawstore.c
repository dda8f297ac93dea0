/* The mock's ordered map: a skiplist with a back pointer on level 0, so both
 * directions of a scan are cheap. See rawstore.h. */
#include "mock/rawstore.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define MAX_LEVEL 24

typedef struct node {
  mock_kventry_t e; /* first: an entry pointer is a node pointer */
  struct node *prev;
  int level;
  struct node *next[];
} node;

struct mock_kvmap {
  node *head; /* sentinel, MAX_LEVEL links, no entry */
  int level;
  size_t count;
  uint64_t rng;
};

static int rand_level(mock_kvmap_t *s) {
  /* xorshift64; one level per two coin flips (p = 1/4) */
  int lvl = 1;
  for (;;) {
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    if ((x & 3) != 0 || lvl >= MAX_LEVEL) break;
    lvl++;
  }
  return lvl;
}

mock_kvmap_t *mock_kvmap_new(void) {
  mock_kvmap_t *s = tikv__calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->head = tikv__calloc(1, sizeof(node) + MAX_LEVEL * sizeof(node *));
  if (!s->head) {
    free(s);
    return NULL;
  }
  s->head->level = MAX_LEVEL;
  s->level = 1;
  s->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)s;
  return s;
}

static void node_free(node *n) {
  free(n->e.key);
  free(n->e.value);
  free(n);
}

void mock_kvmap_free(mock_kvmap_t *s) {
  if (!s) return;
  node *n = s->head->next[0];
  while (n) {
    node *next = n->next[0];
    node_free(n);
    n = next;
  }
  free(s->head);
  free(s);
}

size_t mock_kvmap_count(const mock_kvmap_t *s) { return s->count; }

static int cmp(const node *n, const uint8_t *key, size_t len) {
  return tikv__key_cmp(n->e.key, n->e.key_len, key, len);
}

/* Fills update[i] with the last node on level i whose key is < key. */
static node *find_less(mock_kvmap_t *s, const uint8_t *key, size_t len, node **update) {
  node *x = s->head;
  for (int i = s->level - 1; i >= 0; i--) {
    while (x->next[i] && cmp(x->next[i], key, len) < 0) x = x->next[i];
    if (update) update[i] = x;
  }
  return x;
}

mock_kventry_t *mock_kvmap_get(mock_kvmap_t *s, const uint8_t *key, size_t len) {
  node *x = find_less(s, key, len, NULL)->next[0];
  if (x && cmp(x, key, len) == 0) return &x->e;
  return NULL;
}

mock_kventry_t *mock_kvmap_get_near(mock_kvmap_t *s, const uint8_t *key, size_t len,
                                    mock_kventry_t **near) {
  node *x = (node *)*near; /* the first entry >= the last key looked up */
  if (x && cmp(x, key, len) <= 0)
    for (int i = 0; i < 8 && x && cmp(x, key, len) < 0; i++) x = x->next[0];
  if (!x || cmp(x, key, len) < 0 || (x->prev && cmp(x->prev, key, len) >= 0))
    x = find_less(s, key, len, NULL)->next[0];
  *near = x ? &x->e : NULL;
  return x && cmp(x, key, len) == 0 ? &x->e : NULL;
}

int mock_kvmap_put(mock_kvmap_t *s, const uint8_t *key, size_t klen, const uint8_t *val,
                   size_t vlen, int64_t tag) {
  node *update[MAX_LEVEL];
  node *x = find_less(s, key, klen, update)->next[0];
  uint8_t *v = tikv__memdup(val, vlen);
  if (!v) return -1;
  if (x && cmp(x, key, klen) == 0) {
    free(x->e.value);
    x->e.value = v;
    x->e.value_len = vlen;
    x->e.tag = tag;
    return 0;
  }
  int lvl = rand_level(s);
  node *n = tikv__calloc(1, sizeof(node) + (size_t)lvl * sizeof(node *));
  uint8_t *k = tikv__memdup(key, klen);
  if (!n || !k) {
    free(n);
    free(k);
    free(v);
    return -1;
  }
  n->e = (mock_kventry_t){k, klen, v, vlen, tag};
  n->level = lvl;
  if (lvl > s->level) {
    for (int i = s->level; i < lvl; i++) update[i] = s->head;
    s->level = lvl;
  }
  for (int i = 0; i < lvl; i++) {
    n->next[i] = update[i]->next[i];
    update[i]->next[i] = n;
  }
  n->prev = update[0] == s->head ? NULL : update[0];
  if (n->next[0]) n->next[0]->prev = n;
  s->count++;
  return 0;
}

static void unlink_node(mock_kvmap_t *s, node *x, node **update) {
  for (int i = 0; i < x->level; i++) update[i]->next[i] = x->next[i];
  if (x->next[0]) x->next[0]->prev = x->prev;
  while (s->level > 1 && !s->head->next[s->level - 1]) s->level--;
  s->count--;
  node_free(x);
}

int mock_kvmap_delete(mock_kvmap_t *s, const uint8_t *key, size_t len) {
  node *update[MAX_LEVEL];
  node *x = find_less(s, key, len, update)->next[0];
  if (!x || cmp(x, key, len) != 0) return 0;
  unlink_node(s, x, update);
  return 1;
}

size_t mock_kvmap_delete_range(mock_kvmap_t *s, const uint8_t *start, size_t slen,
                               const uint8_t *end, size_t elen, bool end_unbounded) {
  node *update[MAX_LEVEL];
  size_t n = 0;
  find_less(s, start, slen, update);
  for (;;) {
    node *x = update[0]->next[0];
    if (!x) break;
    if (!end_unbounded && cmp(x, end, elen) >= 0) break;
    /* update[] still holds x's predecessors on every level x is on */
    unlink_node(s, x, update);
    n++;
  }
  return n;
}

mock_kventry_t *mock_kvmap_seek(mock_kvmap_t *s, const uint8_t *key, size_t len) {
  node *x = find_less(s, key, len, NULL)->next[0];
  return x ? &x->e : NULL;
}

mock_kventry_t *mock_kvmap_seek_before(mock_kvmap_t *s, const uint8_t *key, size_t len,
                                       bool unbounded) {
  node *x;
  if (unbounded) {
    x = s->head;
    for (int i = s->level - 1; i >= 0; i--)
      while (x->next[i]) x = x->next[i];
  } else {
    x = find_less(s, key, len, NULL);
  }
  return x == s->head ? NULL : &x->e;
}

mock_kventry_t *mock_kvmap_next(mock_kvmap_t *s, mock_kventry_t *e) {
  node *n = ((node *)e)->next[0];
  return n ? &n->e : NULL;
}

mock_kventry_t *mock_kvmap_prev(mock_kvmap_t *s, mock_kventry_t *e) {
  node *n = ((node *)e)->prev;
  return n ? &n->e : NULL;
}
