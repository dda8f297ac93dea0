/* The client: its configuration, and the object that wires the layers
 * together (the I/O loop, rpc, PD and the region layer). raw/ and txn/ take
 * a client and reach the layers through it; nothing below includes this. */
#ifndef TIKV_CLIENT_CLIENT_H
#define TIKV_CLIENT_CLIENT_H

#include "core/stats.h"
#include "pd/pd.h"
#include "rpc/tls.h"
#include "region/region.h"

struct tikv_config_s {
  char **pd_endpoints;
  size_t n_pd;
  uint32_t timeout_ms;
  uint32_t attempt_timeout_ms; /* one RPC attempt's (region/request.h) */
  char cf[16];
  bool atomic;
  tikv__tls_t tls;
  unsigned schemes;  /* TIKV__SCHEME_* bits: how the endpoints were written */
  int api_version;   /* 1 or 2 */
  char keyspace[32]; /* API v2: its name ("": DEFAULT) */
  char error[512];   /* why the last setter refused (tikv_config_error) */
  bool batch_commands; /* tikv_config_set_batch_commands */
  int grpc_connections; /* BatchCommands streams per store */
  uint32_t idle_spin_us; /* tikv_config_set_idle_spin_us */
  tikv_event_cb event_cb; /* tikv_config_set_event_callback */
  void *event_arg;
};
enum { TIKV__SCHEME_HTTP = 1, TIKV__SCHEME_HTTPS = 2 };

/* PD's GC safe point as last read (txn/gc.c; I/O thread): reads below it
 * are refused. read_ms 0: never read. */
typedef struct tikv__safe_point {
  uint64_t value;
  int64_t read_ms;
} tikv__safe_point_t;

struct tikv_client_s {
  tikv_config_t cfg; /* a copy: the caller's may be freed */
  tikv__safe_point_t gc_safe_point;
  tikv__loop_t *loop;
  tikv__rpc_t rpc;
  tikv__pd_t pd;
  tikv__router_t router;
  tikv__stats_t stats; /* pd.stats points here */
  atomic_bool closed;
  pthread_mutex_t close_mu;
};

/* Runs fn(arg) on the client's I/O thread. If the client is closed, the task
 * is not run and -1 returned. Any thread. */
int tikv__client_post(tikv_client_t *c, tikv__task_fn fn, void *arg);
/* Submits an operation: a new future goes to *slot (the operation's), its
 * scope's deadline from opts (NULL: the client's timeout), then start(op)
 * is posted to the I/O thread. When the client is closed, drop(op)
 * frees it and the future fails with CLOSED. NULL (op dropped) when the
 * future cannot be allocated. An op that lives in its future
 * (tikv__future_new_with) comes with *slot set already and drop NULL. Any
 * thread. */
tikv_future_t *tikv__client_submit(tikv_client_t *c, const tikv_call_opts_t *opts,
                                   tikv_future_t **slot, void *op, tikv__task_fn start,
                                   void (*drop)(void *op));
/* API v2: loads the configured keyspace from PD (LoadKeyspace) into the
 * router's codec; cb(arg, err) once. I/O thread. (csrc/client/keyspace.c) */
void tikv__client_load_keyspace(tikv_client_t *c, tikv__scope_t *scope,
                                void (*cb)(void *arg, tikv_error_t *err), void *arg);
/* Deadline for work starting now that no caller waits for (its own scope). */
int64_t tikv__client_deadline(tikv_client_t *c);
/* Copies src's endpoints into dst (dst->n_pd counts those copied, also on
 * failure). 0 / -1 (OOM). */
int tikv__config_copy(tikv_config_t *dst, const tikv_config_t *src);
void tikv__config_clear(tikv_config_t *cfg);
/* Whether cfg's options fit together (TLS and the endpoints' schemes, the
 * keyspace and the API version, column families in API v2): 0, or
 * TIKV_ERR_INVALID_ARGUMENT with the reason in why. */
int tikv__config_check(const tikv_config_t *cfg, char *why, size_t len);

#endif
