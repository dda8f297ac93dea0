/* The PD client: finds the leader among the configured endpoints, sends
 * unary calls to it with the cluster id, follows it when it moves, and
 * batches timestamp requests over the Tso stream. I/O thread only, except
 * tikv__pd_cluster_id. */
#ifndef TIKV_PD_H
#define TIKV_PD_H

#include "pdpb.pb-c.h"
#include "core/stats.h"
#include "rpc/rpc.h"

typedef struct tikv__tso_waiter tikv__tso_waiter_t;

typedef struct tikv__pd_endpoint {
  char *addr; /* "host:port" */
  tikv__conn_t *conn; /* for GetMembers */
} tikv__pd_endpoint_t;

typedef struct tikv__pd {
  tikv__rpc_t *rpc;
  tikv__stats_t *stats; /* the client's (NULL: not counted) */
  /* where discovery looks: the configured endpoints, then every member's
   * client URL learned from GetMembers (owned) */
  tikv__pd_endpoint_t *eps;
  size_t n_eps, cap_eps;
  atomic_uint_fast64_t cluster_id;
  tikv__conn_t *leader;      /* NULL until members are known */
  uint64_t leader_id;        /* member id of the last leader found, 0: none yet */
  uint64_t leader_gen;       /* counts leaders set: a refresh answers for the one it asked */
  bool discovering;
  tikv__link_t *waiters;      /* wait for a leader */
  tikv_error_t *last_err;
  tikv__backoff_t bo;         /* between rounds over every endpoint */
  tikv__timer_t refresh_timer; /* GetMembers now and then, as client-go does */
  bool refreshing;

  /* TSO */
  tikv__stream_t *tso_stream;
  bool tso_inflight;
  tikv__tso_waiter_t *tso_queue, **tso_queue_end; /* not yet sent; end: the last next */
  tikv__tso_waiter_t *tso_sent;                   /* sent, awaiting reply (FIFO) */
  size_t tso_sent_count;
  uint64_t tso_last;
  tikv__timer_t tso_timer; /* deadline of the batch in flight */
  bool tso_dropped;        /* we ended the stream ourselves; tso_cause says why */
  tikv_error_t *tso_cause; /* why the last stream ended: named by a request timing out */
  tikv__backoff_t tso_bo;  /* between streams that break */
  tikv__timer_t tso_retry_timer;
} tikv__pd_t;

/* One connection per endpoint (copied); nothing is sent yet. 0, or -1 on
 * OOM (then tikv__pd_free cleans up). */
int tikv__pd_init(tikv__pd_t *pd, tikv__rpc_t *rpc, char *const *endpoints, size_t n);
/* After the loop has stopped. */
void tikv__pd_free(tikv__pd_t *pd);
/* Any thread; 0 until a leader answered. */
uint64_t tikv__pd_cluster_id(tikv__pd_t *pd);

/* Completion of a PD call: err or resp (owned by the callee). */
typedef void (*tikv__pd_cb)(void *arg, tikv_error_t *err, ProtobufCMessage *resp);
/* A PD unary call (row `id` of the request table) of msg (borrowed until
 * cb; its header is filled for each attempt) to the leader, found (again) as
 * needed, retried with backoff until the deadline: after transport errors
 * and after a member's "not leader" (as gRPC status or header error). Any
 * other header error fails. */
void tikv__pd_call(tikv__pd_t *pd, tikv__req_id id, ProtobufCMessage *msg, tikv__scope_t *scope,
                   tikv__pd_cb cb, void *arg);
/* Waits until the PD leader is known (or the scope's deadline passes). */
void tikv__pd_connect(tikv__pd_t *pd, tikv__scope_t *scope,
                      void (*cb)(void *arg, tikv_error_t *err), void *arg);
/* A timestamp from the TSO stream; concurrent requests share round trips.
 * A stream that breaks or whose member does not lead is opened again on the
 * leader found anew, with the requests it carried; each fails only at its
 * deadline (TIMEOUT naming the last cause). */
void tikv__pd_get_ts(tikv__pd_t *pd, tikv__scope_t *scope,
                     void (*cb)(void *arg, tikv_error_t *err, uint64_t ts), void *arg);
/* Drops the leader so the next call rediscovers it. */
void tikv__pd_reset_leader(tikv__pd_t *pd);

#endif
