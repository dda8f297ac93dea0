/* Futures: the one completion mechanism of every network operation.
 *
 * An operation returns a tikv_future_t at once. The future is completed
 * exactly once with a result or an error: on the client's I/O thread, or
 * already before the call returns when nothing needs the network (a bad
 * argument, a closed client, an optimistic transaction's buffered write).
 * Either way a callback never runs inside the call that registered it or
 * created the future. Read results with the getters below once it is ready;
 * memory they hand out belongs to the future and stays valid until
 * tikv_future_destroy(). Futures outlive the client that made them. */
#ifndef TIKV_FUTURE_H
#define TIKV_FUTURE_H

#include "common.h"
#include "error.h"

TIKV_BEGIN_DECLS

typedef struct tikv_future_s tikv_future_t;

/* Called once, on the client's I/O thread, when the future completes. Keep it
 * short: hand the future to your own thread and return. The callback may
 * destroy the future. */
typedef void (*tikv_future_cb)(tikv_future_t *f, void *arg);

/* 1 when completed (with a result or an error), else 0. Any thread. */
TIKV_EXTERN int tikv_future_is_ready(tikv_future_t *f);

/* Blocks the calling thread until the future completes; returns its error
 * code (TIKV_ERR_OK on success). Must not be called on the I/O thread, i.e.
 * from inside a future callback. */
TIKV_EXTERN int tikv_future_wait(tikv_future_t *f);

/* Registers the one callback. If the future is already complete the callback
 * is still run on the I/O thread, never inside this call. Returns
 * TIKV_ERR_INVALID_ARGUMENT (and never calls cb) if a callback was already set
 * or cb is NULL. */
TIKV_EXTERN int tikv_future_set_callback(tikv_future_t *f, tikv_future_cb cb, void *arg);

/* Releases the future and everything its getters returned. A pending future
 * may be destroyed: the operation goes on, its callback is not called. Do not
 * destroy it from another thread while its callback may be running.
 * NULL is a no-op. */
TIKV_EXTERN void tikv_future_destroy(tikv_future_t *f);

/* Asks the operation to stop: what it waits on (gRPC calls in flight,
 * backoff sleeps, timestamp requests) is cancelled at once, and the future
 * completes soon after with TIKV_ERR_ABORTED, unless the outcome was already
 * decided: it may still succeed, or a commit whose decisive request may have
 * been applied completes with TIKV_ERR_UNDETERMINED. A write that aborts
 * may or may not have been applied. A no-op for a completed future. Any
 * thread; not after the client that made the future was closed. Returns
 * TIKV_ERR_OK (TIKV_ERR_INVALID_ARGUMENT for NULL). */
TIKV_EXTERN int tikv_future_cancel(tikv_future_t *f);

/* TIKV_ERR_NOT_READY while pending, then the operation's error code. */
TIKV_EXTERN int tikv_future_get_error_code(tikv_future_t *f);
/* The error with its details, or NULL when pending or successful. */
TIKV_EXTERN const tikv_error_t *tikv_future_get_error(tikv_future_t *f);

/* Single-value results (get, compare-and-swap's previous value). Returns
 * 1 when the key was found (value and len set; an empty value has len 0),
 * 0 when not found, -1 when the future is not ready or failed. */
TIKV_EXTERN int tikv_future_get_value(tikv_future_t *f, const uint8_t **value, size_t *len);

/* Key/value array results (batch get, scans), in key order (descending for
 * reverse scans). Returns the error code; on success kvs and count are set. */
TIKV_EXTERN int tikv_future_get_kvs(tikv_future_t *f, const tikv_kv_t **kvs, size_t *count);

/* Integer results: TTL in seconds, timestamps, commit ts. Returns 1 when
 * present, 0 when absent (e.g. the TTL of a missing key), -1 when not ready
 * or failed. */
TIKV_EXTERN int tikv_future_get_u64(tikv_future_t *f, uint64_t *v);

/* Boolean results (compare-and-swap: swapped). -1 when not ready or failed. */
TIKV_EXTERN int tikv_future_get_bool(tikv_future_t *f);

/* For bindings that hand completions to their own thread (an event loop):
 * the hook runs on a client's I/O thread each time it has handled every
 * ready completion and is about to wait. A binding can queue completions
 * from its future callbacks and wake its own thread once in the hook, one
 * wakeup per burst instead of one per completion; it also runs when a
 * closing client's I/O thread exits, after its last completions.
 * Process-wide; NULL removes it. The hook must be quick and must not block.
 * It returns nonzero when it woke its thread: the I/O thread then stays
 * awake a few tens of microseconds for the calls that thread is likely to
 * make next (a caller awaiting one operation at a time submits the next
 * as soon as it ran the last one's callback), which then need no wakeup of
 * the I/O thread. */
typedef int (*tikv_idle_hook)(void *arg);
TIKV_EXTERN void tikv_set_idle_hook(tikv_idle_hook hook, void *arg);
/* 1 when the calling thread is a client's I/O thread (where future
 * callbacks usually run, and where the idle hook will follow), else 0. */
TIKV_EXTERN int tikv_on_io_thread(void);

TIKV_END_DECLS

#endif
