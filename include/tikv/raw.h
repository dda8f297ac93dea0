/* Raw key-value operations (TiKV's RawKV API, API v1).
 *
 * Keys and values are arbitrary bytes, borrowed only during the call. Every
 * function returns a future (NULL only when out of memory); argument errors
 * are reported through the future, which then completes with
 * TIKV_ERR_INVALID_ARGUMENT. Ranges are [start, end); an empty end means the
 * end of the key space. Every function takes the call's options last
 * (client.h tikv_call_opts_t; NULL: the client's): its timeout and its
 * column family (the client's by default; atomic mode is the client's). Work spanning regions is split per region, sent in
 * parallel and merged in key order. */
#ifndef TIKV_RAW_H
#define TIKV_RAW_H

#include "client.h"

TIKV_BEGIN_DECLS

/* Largest limit a scan accepts, as TiKV's clients have it. */
#define TIKV_RAW_MAX_SCAN_LIMIT 10240

/* Result: tikv_future_get_value (found or not). */
TIKV_EXTERN tikv_future_t *tikv_raw_get(tikv_client_t *c, const uint8_t *key, size_t key_len,
                                        const tikv_call_opts_t *opts);

/* Result: tikv_future_get_kvs with the pairs found, in key order. */
TIKV_EXTERN tikv_future_t *tikv_raw_batch_get(tikv_client_t *c, const tikv_slice_t *keys,
                                              size_t n_keys, const tikv_call_opts_t *opts);

/* Result: tikv_future_get_kvs with one pair per key, in the order of keys
 * (a key given twice has two), value NULL where the key has no value (an
 * empty value is not NULL): client-go's RawKV BatchGet. */
TIKV_EXTERN tikv_future_t *tikv_raw_batch_get_values(tikv_client_t *c, const tikv_slice_t *keys,
                                                     size_t n_keys,
                                                     const tikv_call_opts_t *opts);

/* ttl_seconds 0 means no TTL (needs TiKV's storage.enable-ttl otherwise).
 * An empty value is stored as one (as client-go does): tikv_raw_get finds it
 * with length 0, while a missing key is not found. */
TIKV_EXTERN tikv_future_t *tikv_raw_put(tikv_client_t *c, const uint8_t *key, size_t key_len,
                                        const uint8_t *value, size_t value_len,
                                        uint64_t ttl_seconds, const tikv_call_opts_t *opts);

/* keys[i] gets values[i]; n_keys must equal n_values. */
TIKV_EXTERN tikv_future_t *tikv_raw_batch_put(tikv_client_t *c, const tikv_slice_t *keys,
                                              size_t n_keys, const tikv_slice_t *values,
                                              size_t n_values, uint64_t ttl_seconds,
                                              const tikv_call_opts_t *opts);

TIKV_EXTERN tikv_future_t *tikv_raw_delete(tikv_client_t *c, const uint8_t *key, size_t key_len,
                                           const tikv_call_opts_t *opts);

TIKV_EXTERN tikv_future_t *tikv_raw_batch_delete(tikv_client_t *c, const tikv_slice_t *keys,
                                                 size_t n_keys, const tikv_call_opts_t *opts);

/* Deletes every key in [start, end). */
TIKV_EXTERN tikv_future_t *tikv_raw_delete_range(tikv_client_t *c, const uint8_t *start,
                                                 size_t start_len, const uint8_t *end,
                                                 size_t end_len, const tikv_call_opts_t *opts);

/* Up to limit pairs of [start, end) (1..TIKV_RAW_MAX_SCAN_LIMIT), ascending,
 * or descending from end when reverse is set. key_only leaves values empty.
 * Result: tikv_future_get_kvs. */
TIKV_EXTERN tikv_future_t *tikv_raw_scan(tikv_client_t *c, const uint8_t *start,
                                         size_t start_len, const uint8_t *end, size_t end_len,
                                         uint32_t limit, int key_only, int reverse,
                                         const tikv_call_opts_t *opts);

/* Scans several ranges: ranges holds start0, end0, start1, end1, ... (n_bounds
 * even). Up to each_limit pairs per range; the result concatenates the ranges'
 * pairs in the order given. */
TIKV_EXTERN tikv_future_t *tikv_raw_batch_scan(tikv_client_t *c, const tikv_slice_t *ranges,
                                               size_t n_bounds, uint32_t each_limit,
                                               int key_only, const tikv_call_opts_t *opts);

/* Result: tikv_future_get_u64: 1 with the seconds left (0 for a key without
 * TTL), 0 when the key does not exist. */
TIKV_EXTERN tikv_future_t *tikv_raw_get_key_ttl(tikv_client_t *c, const uint8_t *key,
                                                size_t key_len, const tikv_call_opts_t *opts);

/* Sets key to value if its current value equals previous (or, with
 * previous_not_exist set, if it does not exist). Needs atomic mode
 * (TIKV_ERR_UNSUPPORTED otherwise). Results: tikv_future_get_bool (swapped)
 * and tikv_future_get_value (the value before, found or not). */
TIKV_EXTERN tikv_future_t *tikv_raw_compare_and_swap(tikv_client_t *c, const uint8_t *key,
                                                     size_t key_len, const uint8_t *previous,
                                                     size_t previous_len,
                                                     int previous_not_exist,
                                                     const uint8_t *value, size_t value_len,
                                                     uint64_t ttl_seconds,
                                                     const tikv_call_opts_t *opts);

/* TiKV's RawChecksum over [start, end) (end empty: to the end of the key
 * space) of the default column family (the request names none), region by
 * region, combined as client-go does: the regions' CRC-64 XORs XORed, their
 * pairs and bytes summed. The XOR is over the CRC-64 (ECMA-182, reflected:
 * TiKV's crc64fast) of each pair's key followed by its value; bytes count
 * keys and values. Result: tikv_future_get_checksum. */
typedef struct tikv_checksum_s {
  uint64_t crc64_xor, total_kvs, total_bytes;
} tikv_checksum_t;
TIKV_EXTERN tikv_future_t *tikv_raw_checksum(tikv_client_t *c, const uint8_t *start,
                                             size_t start_len, const uint8_t *end, size_t end_len,
                                             const tikv_call_opts_t *opts);
/* The checksum of a completed tikv_raw_checksum; its error code (TIKV_ERR_OK
 * and *out set on success). */
TIKV_EXTERN int tikv_future_get_checksum(tikv_future_t *f, tikv_checksum_t *out);

TIKV_END_DECLS

#endif
