/* Configuration and lifetime of a client: one connection to a TiKV cluster
 * (PD leader, region cache, one channel per store) driven by its own I/O
 * thread. Raw (raw.h) and transactional (txn.h) operations run on a client. */
#ifndef TIKV_CLIENT_H
#define TIKV_CLIENT_H

#include "common.h"
#include "error.h"
#include "future.h"

TIKV_BEGIN_DECLS

typedef struct tikv_config_s tikv_config_t;
typedef struct tikv_client_s tikv_client_t;

/* A configuration with defaults: no PD endpoints, 20 s operation timeout,
 * column family "default", atomic mode off. NULL when out of memory. */
TIKV_EXTERN tikv_config_t *tikv_config_new(void);
/* NULL is a no-op. */
TIKV_EXTERN void tikv_config_free(tikv_config_t *cfg);
/* Adds a PD endpoint "host:port" (an "http://" prefix is accepted and
 * dropped). Returns an error code. */
TIKV_EXTERN int tikv_config_add_pd_endpoint(tikv_config_t *cfg, const char *endpoint);
/* Deadline of each operation, retries and backoff included (ms, > 0). */
TIKV_EXTERN int tikv_config_set_timeout_ms(tikv_config_t *cfg, uint32_t ms);
/* Column family for raw operations: "default", "lock" or "write". */
TIKV_EXTERN int tikv_config_set_column_family(tikv_config_t *cfg, const char *cf);
/* Atomic mode for raw operations (needed by compare-and-swap): writes take
 * TiKV's atomic path. */
TIKV_EXTERN int tikv_config_set_atomic(tikv_config_t *cfg, int atomic);

/* Creates a client and starts its I/O thread. Does not touch the network:
 * call tikv_client_connect(). The configuration is copied. Returns NULL and
 * sets *err (if err is not NULL) on failure. */
TIKV_EXTERN tikv_client_t *tikv_client_new(const tikv_config_t *cfg, int *err);

/* Finds the PD leader and the cluster id. Completes with OK, or with the error
 * of the last endpoint tried once the timeout passes. Operations issued before
 * it completes wait for it. */
TIKV_EXTERN tikv_future_t *tikv_client_connect(tikv_client_t *client);

/* Closes the client: operations in flight complete with TIKV_ERR_CLOSED,
 * later ones fail with it at once; the I/O thread is joined. Idempotent.
 * Must not be called from a future callback. */
TIKV_EXTERN void tikv_client_close(tikv_client_t *client);

/* Closes (if needed) and frees the client. NULL is a no-op. */
TIKV_EXTERN void tikv_client_free(tikv_client_t *client);

/* The cluster id reported by PD, 0 before connect completed. */
TIKV_EXTERN uint64_t tikv_client_cluster_id(tikv_client_t *client);

TIKV_END_DECLS

#endif
