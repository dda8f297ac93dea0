/* The PD client: finds the leader among the configured endpoints, sends
 * unary calls to it with the cluster id, follows it when it moves, and
 * batches timestamp requests over the Tso stream. I/O thread only, except
 * tikv__pd_cluster_id. */
#ifndef TIKV_PD_H
#define TIKV_PD_H

#include "pdpb.pb-c.h"
#include "rpc/rpc.h"

typedef struct tikv__tso_waiter tikv__tso_waiter_t;

typedef struct tikv__pd {
  tikv__rpc_t *rpc;
  char *const *endpoints; /* "host:port", borrowed from the client's configuration */
  size_t n_endpoints;
  atomic_uint_fast64_t cluster_id;
  tikv__conn_t **conns;      /* one per endpoint, for GetMembers */
  tikv__conn_t *leader;      /* NULL until members are known */
  bool discovering;
  tikv__link_t *waiters;      /* wait for a leader */
  tikv_error_t *last_err;
  tikv__backoff_t bo;         /* between rounds over every endpoint */

  /* TSO */
  tikv__stream_t *tso_stream;
  bool tso_inflight;
  tikv__tso_waiter_t *tso_queue, **tso_queue_end; /* not yet sent; end: the last next */
  tikv__tso_waiter_t *tso_sent;                   /* sent, awaiting reply (FIFO) */
  size_t tso_sent_count;
  uint64_t tso_last;
  tikv__timer_t tso_timer; /* deadline of the batch in flight */
  bool tso_timed_out;
} tikv__pd_t;

/* One connection per endpoint; nothing is sent yet. 0, or -1 on OOM (then
 * tikv__pd_free cleans up). */
int tikv__pd_init(tikv__pd_t *pd, tikv__rpc_t *rpc, char *const *endpoints, size_t n);
/* After the loop has stopped. */
void tikv__pd_free(tikv__pd_t *pd);
/* Any thread; 0 until a leader answered. */
uint64_t tikv__pd_cluster_id(tikv__pd_t *pd);

/* Completion of a PD call: err or resp (owned by the callee). */
typedef void (*tikv__pd_cb)(void *arg, tikv_error_t *err, ProtobufCMessage *resp);
/* A PD unary call (row `id` of the request table) of msg (borrowed until
 * cb; its header is filled for each attempt) to the leader, found (again) as
 * needed, retried with backoff until the deadline. A reply whose header
 * carries an error fails. */
void tikv__pd_call(tikv__pd_t *pd, tikv__req_id id, ProtobufCMessage *msg, int64_t deadline,
                   tikv__pd_cb cb, void *arg);
/* Waits until the PD leader is known (or the deadline passes). */
void tikv__pd_connect(tikv__pd_t *pd, int64_t deadline,
                      void (*cb)(void *arg, tikv_error_t *err), void *arg);
/* A timestamp from the TSO stream; concurrent requests share round trips. */
void tikv__pd_get_ts(tikv__pd_t *pd, int64_t deadline,
                     void (*cb)(void *arg, tikv_error_t *err, uint64_t ts), void *arg);
/* Drops the leader so the next call rediscovers it. */
void tikv__pd_reset_leader(tikv__pd_t *pd);

#endif
