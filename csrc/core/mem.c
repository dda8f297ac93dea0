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
  uint8_t *kc = tikv__memdup(k, kl);
  uint8_t *vc = has_value ? tikv__memdup(v, vl) : NULL;
  if (!kc || (has_value && !vc)) {
    free(kc);
    free(vc);
    return -1;
  }
  a->items[a->count++] = (tikv_kv_t){kc, kl, vc, has_value ? vl : 0};
  return 0;
}

int tikv__kvs_append(tikv__kvs_t *dst, tikv__kvs_t *src) {
  if (!src->count) return 0;
  if (tikv__grow(&dst->items, &dst->cap, dst->count + src->count, sizeof(*dst->items))) return -1;
  memcpy(dst->items + dst->count, src->items, src->count * sizeof(tikv_kv_t));
  dst->count += src->count;
  src->count = 0;
  return 0;
}

static int kv_cmp_asc(const void *a, const void *b) {
  const tikv_kv_t *x = a, *y = b;
  return tikv__key_cmp(x->key, x->key_len, y->key, y->key_len);
}
static int kv_cmp_desc(const void *a, const void *b) { return kv_cmp_asc(b, a); }

void tikv__kvs_sort(tikv__kvs_t *a, bool descending) {
  if (a->count > 1) qsort(a->items, a->count, sizeof(tikv_kv_t), descending ? kv_cmp_desc : kv_cmp_asc);
}

void tikv__kvs_truncate(tikv__kvs_t *a, size_t n) {
  while (a->count > n) {
    tikv_kv_t *kv = &a->items[--a->count];
    free((void *)kv->key);
    free((void *)kv->value);
  }
}

void tikv__kvs_free(tikv__kvs_t *a) {
  tikv__kvs_truncate(a, 0);
  free(a->items);
  a->items = NULL;
  a->cap = 0;
}
