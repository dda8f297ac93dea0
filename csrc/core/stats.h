/* What the client met, counted and told: the counters behind
 * tikv_client_stats and the event callback of tikv_config_set_event_callback.
 * Counters are atomics (read from any thread); events are emitted on the I/O
 * thread. Every layer reaches the one tikv__stats_t through its PD
 * (pd->stats, NULL when none: then nothing is counted). */
#ifndef TIKV_CORE_STATS_H
#define TIKV_CORE_STATS_H

#include "core/core.h"

typedef enum {
  TIKV__RETRY_REGION,        /* err: a region error (its detail kind is the kind) */
  TIKV__RETRY_TRANSPORT,     /* a store's transport error / unreadable reply */
  TIKV__RETRY_PD_TRANSPORT,  /* a PD call or Tso stream broke */
  TIKV__RETRY_PD_NOT_LEADER, /* a PD member said it does not lead */
  TIKV__RETRY_LOCK_RESOLVED, /* backoff_ms: how many locks (not a sleep) */
  TIKV__RETRY_LOCK_BACKOFF,  /* a wait for locks before sending again */
  TIKV__STAT_PD_LEADER_CHANGE,
} tikv__retry_cause;

enum {
  TIKV__ST_NOT_LEADER, TIKV__ST_EPOCH, TIKV__ST_BUSY, TIKV__ST_REGION_NOT_FOUND,
  TIKV__ST_STORE_NOT_MATCH, TIKV__ST_REGION_OTHER, TIKV__ST_TRANSPORT, TIKV__ST_PD_TRANSPORT,
  TIKV__ST_PD_NOT_LEADER, TIKV__ST_LOCKS_RESOLVED, TIKV__ST_LOCK_BACKOFFS, TIKV__ST_BACKOFF_MS,
  TIKV__ST_PD_LEADER_CHANGES, TIKV__ST__COUNT
};

typedef struct tikv__stats {
  atomic_uint_fast64_t n[TIKV__ST__COUNT];
  tikv_event_cb cb; /* set before the I/O thread starts; read-only after */
  void *cb_arg;
} tikv__stats_t;

/* Counts one retry of `cause` (err: the error retried after, may be NULL;
 * backoff_ms: the sleep before it, or the count for LOCK_RESOLVED) and, for
 * a region error, emits REGION_ERROR. Any thread; s NULL: no-op. */
void tikv__stats_retry(tikv__stats_t *s, tikv__retry_cause cause, const tikv_error_t *err,
                       int backoff_ms);
/* Calls the event callback, if any, with a printf-style message. I/O thread. */
void tikv__event_emit(tikv__stats_t *s, tikv_event_kind kind, uint64_t region_id,
                      uint64_t store_id, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void tikv__stats_read(tikv__stats_t *s, tikv_stats_t *out);

#endif
