/* Multi-key requests: a set of keys is grouped by region, each group sent as
 * one request (split into chunks of max_keys / max_bytes), all groups in
 * parallel. A group that meets a region error is grouped again from the
 * cache. The owner judges each response and says what becomes of its keys:
 * done, failed, or sent again (e.g. after resolving locks). I/O thread only. */
#ifndef TIKV_MULTI_H
#define TIKV_MULTI_H

#include "region/region.h"

typedef struct tikv__multi tikv__multi_t;
typedef struct tikv__multi_part tikv__multi_part_t;

typedef struct tikv__multi_ops {
  tikv__req_id req;
  tikv__keyspace ks;
  size_t max_keys;  /* per request; 0: unlimited */
  size_t max_bytes; /* per request, by size_of; 0: unlimited */
  /* bytes item i adds to a request (NULL: its key length) */
  size_t (*size_of)(void *arg, size_t i);
  /* Packs the request for items idx[0..n), all in route's region. */
  int (*build)(void *arg, const tikv__route_t *route, const size_t *idx, size_t n,
               Kvrpcpb__Context *ctx, grpc_slice *out);
  /* A response without region error (owned by the callee). The callee must
   * eventually call exactly one of tikv__multi_part_ok/_fail/_resend. */
  void (*on_response)(void *arg, tikv__multi_part_t *part, ProtobufCMessage *resp);
  /* Every part is over: err is the first failure (owned by the callee), or
   * NULL. Called once; the multi is freed after it returns. */
  void (*done)(void *arg, tikv_error_t *err);
} tikv__multi_ops_t;

/* Starts sending keys[0..n) (borrowed until done). done may run before this
 * returns when nothing needs the network (n == 0 or an early failure). */
void tikv__multi_run(tikv__router_t *rt, const tikv__multi_ops_t *ops, void *arg,
                     const tikv__bytes_t *keys, size_t n, int64_t deadline);
/* Same, for a subset of the keys: idx[0..n) (copied). */
void tikv__multi_run_idx(tikv__router_t *rt, const tikv__multi_ops_t *ops, void *arg,
                         const tikv__bytes_t *keys, const size_t *idx, size_t n,
                         int64_t deadline);

/* keys[idx[0..n)] as protobuf bytes fields, for a request's repeated keys:
 * a malloc'ed array of views (free() it; the bytes stay the caller's). NULL
 * on OOM. */
ProtobufCBinaryData *tikv__pb_keys(const tikv__bytes_t *keys, const size_t *idx, size_t n);

const size_t *tikv__multi_part_items(const tikv__multi_part_t *p, size_t *n);
const tikv__route_t *tikv__multi_part_route(const tikv__multi_part_t *p);
int64_t tikv__multi_deadline(const tikv__multi_part_t *p);
void tikv__multi_part_ok(tikv__multi_part_t *p);
/* Fails the whole operation with err (consumed); other parts finish. */
void tikv__multi_part_fail(tikv__multi_part_t *p, tikv_error_t *err);
/* Groups the part's items again and sends them after delay_ms (the
 * operation's deadline still holds). */
void tikv__multi_part_resend(tikv__multi_part_t *p, int delay_ms);

#endif
