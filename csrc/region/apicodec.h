/* The key codec of TiKV's API versions, in one place (client-go's
 * internal/apicodec, TiKV's api_version). In API v1 keys go to TiKV as the
 * caller gives them. In API v2 every key carries its keyspace's prefix: the
 * mode ('r' raw, 'x' transactional) and the keyspace id in 3 bytes,
 * big-endian; a keyspace owns [prefix, the next id's prefix) of each mode;
 * and PD reports every region boundary memcomparable-encoded, for raw and
 * transactional keys alike.
 *
 * Inside the client keys are in their wire form: the caller's keys get the
 * prefix where they are copied (raw.c, txn.c), so routing, lock resolution
 * (whose locks name prefixed keys) and retries see what TiKV sees; results
 * and errors lose it when the operation completes. */
#ifndef TIKV_REGION_APICODEC_H
#define TIKV_REGION_APICODEC_H

#include "core/core.h"
#include "kvrpcpb.pb-c.h"

/* Key spaces of the request kinds: raw keys are compared with PD's
 * boundaries as they are in API v1; transactional keys (and in API v2 raw
 * keys too) are memcomparable-encoded first. */
typedef enum { TIKV__KS_RAW = 0, TIKV__KS_TXN = 1 } tikv__keyspace;

#define TIKV__KEYSPACE_PREFIX_LEN 4
#define TIKV__KEYSPACE_ID_MAX 0xffffffu /* 3 bytes */

typedef struct tikv__apicodec {
  int api_version; /* 1 or 2, from the configuration */
  /* API v2: the keyspace was loaded from PD (at connect) and the prefixes
   * below are valid; set once, on the I/O thread, read by any */
  atomic_bool ready;
  uint32_t keyspace_id;
  uint8_t prefix[2][TIKV__KEYSPACE_PREFIX_LEN]; /* by tikv__keyspace */
  uint8_t end[2][TIKV__KEYSPACE_PREFIX_LEN];    /* the next id's prefix */
} tikv__apicodec_t;

void tikv__apicodec_init(tikv__apicodec_t *c, int api_version);
/* API v2: the keyspace's id (<= TIKV__KEYSPACE_ID_MAX) is known. */
void tikv__apicodec_set_keyspace(tikv__apicodec_t *c, uint32_t id);

/* NULL when keys can be encoded; else why not (API v2 before connect). */
const char *tikv__apicodec_unready(const tikv__apicodec_t *c);
/* Bytes the prefix adds to a key: 0 in API v1, 4 in API v2. */
size_t tikv__apicodec_prefix_len(const tikv__apicodec_t *c);
/* Writes key's wire form into buf (prefix_len + len bytes); returns its
 * length. */
size_t tikv__apicodec_encode_into(const tikv__apicodec_t *c, tikv__keyspace ks, const uint8_t *key,
                                  size_t len, uint8_t *buf);
/* key's wire form into *out (owned). 0 / -1 (OOM). */
int tikv__apicodec_encode(const tikv__apicodec_t *c, tikv__keyspace ks, const uint8_t *key,
                          size_t len, tikv__bytes_t *out);
/* The wire form of the caller's range [start, end) into *ws, *we (owned):
 * in API v2 clipped to the keyspace, an empty end being the keyspace's end,
 * so that scans and delete-ranges always send one (TiKV gives a range
 * without an end no mode). 0 / -1 (OOM). */
int tikv__apicodec_range(const tikv__apicodec_t *c, tikv__keyspace ks, const uint8_t *start,
                         size_t start_len, const uint8_t *end, size_t end_len, tikv__bytes_t *ws,
                         tikv__bytes_t *we);
/* Whether a wire key lies in the keyspace (always in API v1). */
bool tikv__apicodec_owns(const tikv__apicodec_t *c, tikv__keyspace ks, const uint8_t *key,
                         size_t len);
/* The caller's form of a reply's key, in place. -1 (key unchanged) when it
 * is not the keyspace's. */
int tikv__apicodec_decode(const tikv__apicodec_t *c, tikv__keyspace ks, uint8_t *key, size_t *len);
/* Every key of a result in the caller's form: NULL, or a PROTOCOL error
 * naming a key that is not the keyspace's (TiKV never returns one). */
tikv_error_t *tikv__apicodec_decode_kvs(const tikv__apicodec_t *c, tikv__keyspace ks,
                                        tikv__kvs_t *kvs);
/* The keys an error names (key, primary) in the caller's form. */
void tikv__apicodec_decode_error(const tikv__apicodec_t *c, tikv__keyspace ks, tikv_error_t *e);

/* The key space kind ks's keys are routed in: in API v2 raw keys are
 * compared with PD's boundaries memcomparable-encoded too. */
tikv__keyspace tikv__apicodec_routing(const tikv__apicodec_t *c, tikv__keyspace ks);
/* The request context's api_version and keyspace_id. */
void tikv__apicodec_context(const tikv__apicodec_t *c, Kvrpcpb__Context *ctx);

#endif
