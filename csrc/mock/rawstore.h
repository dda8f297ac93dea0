/* An ordered byte-string map (a skiplist) for the mock cluster's data: keys
 * in memcmp order, each entry with a value and one 64-bit tag the user
 * gives meaning to (raw KV: the expiry time; the MVCC store, mvcc.c: its
 * mv_key_t). O(log n) insert, delete and seek; in-order and reverse
 * iteration.
 *
 * Not thread-safe: the mock serialises access with the cluster mutex. */
#ifndef TIKV_MOCK_RAWSTORE_H
#define TIKV_MOCK_RAWSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mock_kvmap mock_kvmap_t;

typedef struct mock_kventry {
  uint8_t *key;
  size_t key_len;
  uint8_t *value;
  size_t value_len;
  int64_t tag;
} mock_kventry_t;

mock_kvmap_t *mock_kvmap_new(void);
void mock_kvmap_free(mock_kvmap_t *s); /* NULL is a no-op */
size_t mock_kvmap_count(const mock_kvmap_t *s);

/* The entry with exactly this key, or NULL. Borrowed until the next change. */
mock_kventry_t *mock_kvmap_get(mock_kvmap_t *s, const uint8_t *key, size_t len);
/* The same, for keys looked up in ascending order: *near (NULL at first) is
 * where the last lookup ended, and a key a few entries further is found by
 * walking there instead of searching from the top (a thousand-key batch of
 * neighbours: a few compares each, not a skiplist descent). */
mock_kventry_t *mock_kvmap_get_near(mock_kvmap_t *s, const uint8_t *key, size_t len,
                                    mock_kventry_t **near);
/* Inserts or replaces. The bytes are copied. 0, or -1 on OOM. */
int mock_kvmap_put(mock_kvmap_t *s, const uint8_t *key, size_t klen, const uint8_t *val,
                   size_t vlen, int64_t tag);
/* 1 when a key was removed, 0 when absent. */
int mock_kvmap_delete(mock_kvmap_t *s, const uint8_t *key, size_t len);
/* Removes every key in [start, end); end_len 0 with end NULL means no upper
 * bound. Returns the number removed. */
size_t mock_kvmap_delete_range(mock_kvmap_t *s, const uint8_t *start, size_t slen,
                               const uint8_t *end, size_t elen, bool end_unbounded);

/* Iteration. seek: first entry >= key. seek_before: last entry < key
 * (unbounded: the last entry). next/prev: neighbours; NULL at the ends. */
mock_kventry_t *mock_kvmap_seek(mock_kvmap_t *s, const uint8_t *key, size_t len);
mock_kventry_t *mock_kvmap_seek_before(mock_kvmap_t *s, const uint8_t *key, size_t len,
                                       bool unbounded);
mock_kventry_t *mock_kvmap_next(mock_kvmap_t *s, mock_kventry_t *e);
mock_kventry_t *mock_kvmap_prev(mock_kvmap_t *s, mock_kventry_t *e);

#endif
