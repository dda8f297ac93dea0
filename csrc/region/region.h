/* The region layer: where a key lives (the region cache, filled from PD) and
 * which store serves it. Sending requests to regions: region/request.h.
 * Everything here runs on the I/O thread. */
#ifndef TIKV_REGION_H
#define TIKV_REGION_H

#include "errorpb.pb-c.h"
#include "kvrpcpb.pb-c.h"
#include "pd/pd.h"
#include "region/apicodec.h"
#include "region/cache.h"

typedef struct tikv__store {
  uint64_t id;
  char *address;
  tikv__conn_t *conn;
  /* failed at transport level: no request goes to it until the gRPC health
   * service says it serves again (a probe is then running) */
  bool down;
} tikv__store_t;

/* The region layer's state: the cache and the stores, and the PD and rpc it
 * asks (borrowed). */
typedef struct tikv__router {
  tikv__rpc_t *rpc;
  tikv__pd_t *pd;
  tikv__region_cache_t cache;
  tikv__store_t *stores;
  size_t n_stores;
  tikv__apicodec_t codec; /* the keys' form: API v1, or v2 and the keyspace */
  uint32_t attempt_timeout_ms; /* one attempt's at most (region/send.c) */
} tikv__router_t;

void tikv__router_init(tikv__router_t *r, tikv__rpc_t *rpc, tikv__pd_t *pd);
/* After the loop has stopped. */
void tikv__router_free(tikv__router_t *r);

/* ---- a route: what one request needs to know about its region ---- */
typedef struct tikv__route {
  uint64_t region_id, conf_ver, version;
  tikv__peer_t leader;
  /* the region's range in the caller's key space (decoded for txn) */
  tikv__bytes_t start, end;
} tikv__route_t;
void tikv__route_free(tikv__route_t *r);
int tikv__route_copy(tikv__route_t *dst, const tikv__route_t *src);
/* true when key lies in the route's range */
bool tikv__route_contains(const tikv__route_t *r, const uint8_t *key, size_t len);

/* TiKV cannot reverse-scan from +inf: a reverse scan's upper bound must lie
 * inside the region (it checks key-in-region, and "" is not in the last
 * region). This key sorts after every key TiKV accepts (keys are at most
 * 8 KiB), so it stands for +inf in the last region. */
#define TIKV__KEY_SENTINEL_LEN 8193
const uint8_t *tikv__key_sentinel(void);


/* ---- locating keys and stores (csrc/region/locate.c) ---- */
typedef void (*tikv__locate_cb)(void *arg, tikv_error_t *err, const tikv__route_t *route);
/* Route of the region containing key (reverse=false) or of the region
 * holding the keys just below `key` as an exclusive end (reverse=true; empty
 * key = the last region). Calls cb synchronously on a cache hit. */
void tikv__locate(tikv__router_t *r, tikv__keyspace ks, const uint8_t *key, size_t len,
                  bool reverse, tikv__scope_t *scope, tikv__locate_cb cb, void *arg);
/* Like tikv__locate (forward), for an operation that will walk [key, end):
 * a cache miss loads the next regions with one ScanRegions. */
void tikv__locate_range(tikv__router_t *r, tikv__keyspace ks, const uint8_t *key, size_t len,
                        const uint8_t *end, size_t end_len, tikv__scope_t *scope,
                        tikv__locate_cb cb, void *arg);
/* Reloads a region and its leader from PD (GetRegionByID) in the
 * background; the cached entry is dropped if PD no longer knows it. */
void tikv__refresh_region(tikv__router_t *r, uint64_t region_id, int64_t deadline);
/* Synchronous cache lookup; true and *route filled on a hit, with the
 * region's boundaries when `bounds` (else they are left empty, and nothing
 * is allocated). */
bool tikv__locate_cached(tikv__router_t *r, tikv__keyspace ks, const uint8_t *key, size_t len,
                         bool reverse, bool bounds, tikv__route_t *route);
/* Connection to a store, resolving its address through PD when unknown. */
typedef void (*tikv__store_cb)(void *arg, tikv_error_t *err, tikv__conn_t *conn);
void tikv__resolve_store(tikv__router_t *r, uint64_t store_id, tikv__scope_t *scope,
                         tikv__store_cb cb, void *arg);
/* The connection to store_id at address (from PD: GetStore, GetAllStores),
 * kept for the requests that follow; a new address replaces the old
 * connection. NULL on OOM. */
tikv__conn_t *tikv__store_conn(tikv__router_t *r, uint64_t store_id, const char *address);
/* Forgets the store's address and connection, so the next request asks PD
 * anew; with conn, only when that is still the store's connection (a failure
 * on a connection already replaced says nothing of the new one). */
void tikv__store_forget(tikv__router_t *r, uint64_t store_id, const tikv__conn_t *conn);
/* A request to store_id over conn failed at transport level: unless conn
 * is no longer the store's, the store is down until a health check
 * (grpc.health.v1.Health/Check, every TIKV__PROBE_INTERVAL_MS) finds it
 * serving, and the cached regions it leads are reloaded from PD. */
void tikv__store_mark_down(tikv__router_t *r, uint64_t store_id, const tikv__conn_t *conn);
bool tikv__store_is_down(tikv__router_t *r, uint64_t store_id);
#define TIKV__PROBE_INTERVAL_MS 300
#define TIKV__PROBE_TIMEOUT_MS 1000

#endif
