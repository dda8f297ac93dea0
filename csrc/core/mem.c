/* Allocation helpers, owned byte strings and key/value arrays. */
#include "core/core.h"

void *tikv__calloc(size_t n, size_t size) { return calloc(n ? n : 1, size ? size : 1); }
void *tikv__malloc(size_t size) { return malloc(size ? size : 1); }
void *tikv__realloc(void *p, size_t size) { return realloc(p, size ? size : 1); }

int tikv__grow(void *items, size_t *cap, size_t need, size_t elem_size) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  void *old, *p;
  memcpy(&old, items, sizeof(old)); /* items points at some T *, read as void * */
  if (!(p = tikv__realloc(old, n * elem_size))) return -1;
  memcpy(items, &p, sizeof(p));
  *cap = n;
  return 0;
}

struct tikv__chunk {
  tikv__chunk_t *next;
  size_t used, cap;
  max_align_t data[];
};

enum { ARENA_ALIGN = _Alignof(max_align_t), ARENA_MIN = 256, ARENA_MAX = 1 << 20 };

void *tikv__arena_alloc(tikv__arena_t *a, size_t n, size_t size_hint) {
  size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need < n) return NULL;
  tikv__chunk_t *c = a->chunks;
  if (!c || c->cap - c->used < need) {
    /* each chunk twice the last (to a limit): a few chunks for any reply */
    size_t cap = c ? (c->cap < ARENA_MAX ? 2 * c->cap : c->cap) : size_hint;
    if (cap < ARENA_MIN) cap = ARENA_MIN;
    if (cap < need) cap = need;
    if (cap > SIZE_MAX - sizeof(*c) || !(c = tikv__malloc(sizeof(*c) + cap))) return NULL;
    *c = (tikv__chunk_t){a->chunks, 0, cap};
    a->chunks = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += need;
  return p;
}

void tikv__arena_take(tikv__arena_t *dst, tikv__arena_t *src) {
  if (!src->chunks) return;
  if (!dst->chunks) {
    *dst = *src;
  } else {
    /* behind dst's newest chunk, which keeps taking allocations */
    tikv__chunk_t *last = src->chunks;
    while (last->next) last = last->next;
    last->next = dst->chunks->next;
    dst->chunks->next = src->chunks;
  }
  src->chunks = NULL;
}

size_t tikv__arena_chunks(const tikv__arena_t *a) {
  size_t n = 0;
  for (const tikv__chunk_t *c = a->chunks; c; c = c->next) n++;
  return n;
}

void tikv__arena_free(tikv__arena_t *a) {
  for (tikv__chunk_t *c = a->chunks, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  a->chunks = NULL;
}

void tikv__list_push(tikv__link_t **head, tikv__link_t *l) {
  l->prev = NULL;
  l->next = *head;
  if (*head) (*head)->prev = l;
  *head = l;
}

void tikv__list_remove(tikv__link_t **head, tikv__link_t *l) {
  if (l->prev)
    l->prev->next = l->next;
  else
    *head = l->next;
  if (l->next) l->next->prev = l->prev;
}

uint8_t *tikv__memdup(const void *p, size_t len) {
  uint8_t *d = malloc(len + 1);
  if (!d) return NULL;
  if (len) memcpy(d, p, len);
  d[len] = 0;
  return d;
}

char *tikv__strdup(const char *s) { return (char *)tikv__memdup(s, strlen(s)); }

int tikv__bytes_set(tikv__bytes_t *b, const void *p, size_t len) {
  uint8_t *d = tikv__memdup(p, len);
  if (!d) return -1;
  free(b->data);
  b->data = d;
  b->len = len;
  return 0;
}

void tikv__bytes_free(tikv__bytes_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

int tikv__bytes_copy_all(tikv__bytes_t **views, uint8_t **bytes, tikv__bytes_t *const *src,
                         size_t n) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += src[i]->len;
  tikv__bytes_t *v = tikv__calloc(n ? n : 1, sizeof(*v));
  uint8_t *p = tikv__malloc(total);
  if (!v || !p) {
    free(v);
    free(p);
    return -1;
  }
  *views = v;
  *bytes = p;
  for (size_t i = 0; i < n; i++) {
    if (src[i]->len) memcpy(p, src[i]->data, src[i]->len);
    v[i] = (tikv__bytes_t){p, src[i]->len};
    p += src[i]->len;
  }
  return 0;
}

int tikv__key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

int tikv__kvs_push(tikv__kvs_t *a, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                   bool has_value) {
  if (tikv__grow(&a->items, &a->cap, a->count + 1, sizeof(*a->items))) return -1;
  size_t vn = has_value ? vl : 0;
  if (kl > SIZE_MAX / 2 || vn > SIZE_MAX / 2) return -1;
  /* key, NUL, value, NUL: both stay NUL-terminated as memdup made them */
  uint8_t *kc = tikv__arena_alloc(&a->bytes, kl + vn + 2, 64 * (kl + vn + 2));
  if (!kc) return -1;
  if (kl) memcpy(kc, k, kl);
  kc[kl] = 0;
  uint8_t *vc = NULL;
  if (has_value) {
    vc = kc + kl + 1;
    if (vl) memcpy(vc, v, vl);
    vc[vl] = 0;
  }
  a->items[a->count++] = (tikv_kv_t){kc, kl, vc, vn};
  return 0;
}

int tikv__kvs_append(tikv__kvs_t *dst, tikv__kvs_t *src) {
  if (!src->count) return 0;
  if (tikv__grow(&dst->items, &dst->cap, dst->count + src->count, sizeof(*dst->items))) return -1;
  memcpy(dst->items + dst->count, src->items, src->count * sizeof(tikv_kv_t));
  dst->count += src->count;
  src->count = 0;
  tikv__arena_take(&dst->bytes, &src->bytes);
  return 0;
}

static int kv_cmp_asc(const void *a, const void *b) {
  const tikv_kv_t *x = a, *y = b;
  return tikv__key_cmp(x->key, x->key_len, y->key, y->key_len);
}
static int kv_cmp_desc(const void *a, const void *b) { return kv_cmp_asc(b, a); }

void tikv__kvs_sort(tikv__kvs_t *a, bool descending) {
  int (*cmp)(const void *, const void *) = descending ? kv_cmp_desc : kv_cmp_asc;
  /* replies mostly come in order already: one pass instead of n log n */
  size_t i = 1;
  while (i < a->count && cmp(&a->items[i - 1], &a->items[i]) <= 0) i++;
  if (i < a->count) qsort(a->items, a->count, sizeof(tikv_kv_t), cmp);
}

void tikv__kvs_truncate(tikv__kvs_t *a, size_t n) {
  if (a->count > n) a->count = n; /* their bytes go with the arena */
}

void tikv__kvs_free(tikv__kvs_t *a) {
  free(a->items);
  tikv__arena_free(&a->bytes);
  *a = (tikv__kvs_t){0};
}
