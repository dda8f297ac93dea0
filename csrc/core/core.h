/* Internals of the core shared by every module: errors, futures, the I/O
 * loop with its timers, byte buffers, backoff and the key codec. */
#ifndef TIKV_CORE_H
#define TIKV_CORE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "tikv/tikv.h"

/* ---- memory ---- */
/* calloc/malloc wrappers: every allocation is checked by the caller; these
 * only exist so failure injection in tests has one place to hook. */
void *tikv__calloc(size_t n, size_t size);
void *tikv__malloc(size_t size);
void *tikv__realloc(void *p, size_t size);
/* Copy of [p, p+len) with a trailing NUL (not counted); NULL on OOM.
 * len 0 gives a valid 1-byte allocation. */
uint8_t *tikv__memdup(const void *p, size_t len);
char *tikv__strdup(const char *s);

/* Grows the array *items (of elements of elem_size bytes, capacity *cap) to
 * hold at least `need` elements, doubling. items is the address of the
 * array pointer. 0 / -1 (OOM; the array is left as it was). */
int tikv__grow(void *items, size_t *cap, size_t need, size_t elem_size);

/* A bump allocator: what it hands out lives until tikv__arena_free, which
 * frees it all at once (a reply's thousand pairs are a few chunks, not
 * thousands of mallocs). Blocks are aligned for any type. */
typedef struct tikv__chunk tikv__chunk_t;
typedef struct tikv__arena {
  tikv__chunk_t *chunks; /* the newest first: allocation bumps in it */
} tikv__arena_t;
/* size_hint: the first chunk's size when there is none yet (0: a default).
 * NULL on OOM. */
void *tikv__arena_alloc(tikv__arena_t *a, size_t n, size_t size_hint);
/* Moves src's chunks into dst (what was allocated stays valid, now owned
 * by dst); src is left empty. */
void tikv__arena_take(tikv__arena_t *dst, tikv__arena_t *src);
void tikv__arena_free(tikv__arena_t *a);
size_t tikv__arena_chunks(const tikv__arena_t *a); /* how many allocations it holds */

/* Intrusive doubly linked lists: a tikv__link_t in each element. */
typedef struct tikv__link {
  struct tikv__link *prev, *next;
} tikv__link_t;
void tikv__list_push(tikv__link_t **head, tikv__link_t *l); /* at the front */
void tikv__list_remove(tikv__link_t **head, tikv__link_t *l);

/* An owned byte string. */
typedef struct tikv__bytes {
  uint8_t *data;
  size_t len;
} tikv__bytes_t;
int tikv__bytes_set(tikv__bytes_t *b, const void *p, size_t len); /* 0 / -1 (OOM) */
void tikv__bytes_free(tikv__bytes_t *b);
/* Copies *src[0..n) into one buffer (*bytes) and views of it (*views), both
 * malloc'ed. 0 / -1 (OOM; nothing allocated). */
int tikv__bytes_copy_all(tikv__bytes_t **views, uint8_t **bytes, tikv__bytes_t *const *src,
                         size_t n);
/* memcmp order; shorter prefix sorts first. */
int tikv__key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* A growable array of key/value pairs; their bytes are in its arena. */
typedef struct tikv__kvs {
  tikv_kv_t *items;
  size_t count, cap;
  tikv__arena_t bytes;
} tikv__kvs_t;
int tikv__kvs_push(tikv__kvs_t *a, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                   bool has_value);
/* Moves every pair of src to the end of dst; src is left empty. */
int tikv__kvs_append(tikv__kvs_t *dst, tikv__kvs_t *src);
void tikv__kvs_sort(tikv__kvs_t *a, bool descending);
void tikv__kvs_truncate(tikv__kvs_t *a, size_t n);
void tikv__kvs_free(tikv__kvs_t *a);

/* ---- errors ---- */
struct tikv_error_s {
  int code;
  char *message;
  char *detail_kind; /* "" when none */
  tikv__bytes_t key, primary;
  uint64_t start_ts, conflict_ts, lock_ttl, region_id;
  int grpc_status;
};
/* A new error with a printf-style message; never returns NULL (falls back to
 * a static out-of-memory error, which tikv__error_free ignores). */
tikv_error_t *tikv__error_new(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
tikv_error_t *tikv__error_newv(int code, const char *fmt, va_list ap);
/* NO_MEMORY, "out of memory". */
tikv_error_t *tikv__oom(void);
int tikv__error_set_kind(tikv_error_t *e, const char *kind);
/* Copy of an error (for fanning one cause out to several operations). */
tikv_error_t *tikv__error_dup(const tikv_error_t *e);
/* Prefixes the message: "ctx: old message". */
void tikv__error_prefix(tikv_error_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tikv__error_free(tikv_error_t *e);
/* Keeps the first of several failures in *first: err (consumed) becomes it
 * when there is none yet. */
void tikv__error_keep(tikv_error_t **first, tikv_error_t *err);
const char *tikv__grpc_status_name(int status);

/* ---- scopes: one caller's operation's deadline and cancellation ----
 * Everything done on behalf of an operation reads the deadline from its
 * scope (never a copy) and registers what it waits on: a gRPC call, a
 * backoff timer, a timestamp request. Cancelling moves the deadline into the
 * past and wakes every wait at once; each then ends as a passed deadline
 * ends it, so the rules for an expired operation decide the outcome
 * (TIMEOUT, or UNDETERMINED for a commit that may have been applied), and
 * the future reports a TIMEOUT of a cancelled scope as ABORTED. A future
 * holds its operation's scope; work that outlives the future (background
 * rollbacks, secondaries' commits) has its own. I/O thread only. */
typedef struct tikv__loop tikv__loop_t;
typedef struct tikv__scope tikv__scope_t;
typedef struct tikv__wait {
  tikv__link_t link;
  tikv__scope_t *scope; /* NULL when not registered */
  void (*wake)(struct tikv__wait *w);
} tikv__wait_t;
struct tikv__scope {
  int64_t deadline; /* monotonic ms */
  bool cancelled;
  tikv__loop_t *loop; /* the client's; NULL for a future no loop serves */
  tikv__link_t *waits;
};
void tikv__scope_init(tikv__scope_t *s, tikv__loop_t *loop, int64_t deadline);
/* The deadline has passed (or the scope was cancelled). */
bool tikv__scope_expired(const tikv__scope_t *s);
/* Registers w (wake runs once, at cancel, after w was unregistered).
 * s NULL: nothing to register with (a wait nothing cancels). */
void tikv__wait_add(tikv__scope_t *s, tikv__wait_t *w, void (*wake)(tikv__wait_t *w));
void tikv__wait_remove(tikv__wait_t *w); /* no-op when not registered */
/* Cancels: the deadline becomes "now - 1" and every wait is woken. */
void tikv__scope_cancel(tikv__scope_t *s);
/* Unregisters every wait without waking it (the scope's owner is done). */
void tikv__scope_detach(tikv__scope_t *s);

/* ---- tasks ---- */
typedef void (*tikv__task_fn)(void *arg);

/* A task queued to the I/O thread. One that lives in its owner (an
 * operation's future, a stream) costs no allocation; it may be queued once
 * at a time and its owner must outlive its run. */
typedef struct tikv__task {
  tikv__task_fn fn;
  void *arg;
  struct tikv__task *next;
  bool heap; /* tikv__loop_post's own: freed after it ran */
} tikv__task_t;

/* ---- futures ---- */
typedef enum { TIKV__F_PENDING = 0, TIKV__F_DONE = 1 } tikv__fstate;

struct tikv_future_s {
  tikv__task_t start; /* the operation's first step, posted to the I/O thread */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  tikv__fstate state;
  int refs;             /* user + producer */
  bool user_released;
  tikv_future_cb cb;
  void *cb_arg;
  /* result */
  tikv_error_t *error;
  bool found;
  tikv__bytes_t value;
  tikv__kvs_t kvs;
  uint64_t u64;
  bool has_u64;
  int flag;
  uint64_t counts[2]; /* a checksum's pairs and bytes (its CRC in u64) */
  tikv__scope_t scope;  /* the operation's deadline and cancellation */
};
/* A pending future with one reference held by the user and one by the
 * producer (released by tikv__future_complete). NULL on OOM. */
tikv_future_t *tikv__future_new(void);
/* The same with `extra` zeroed bytes at *extra_out (aligned for any type)
 * in the future's own allocation: an operation's state that then costs no
 * allocation of its own, and lives until the future's last reference. */
tikv_future_t *tikv__future_new_with(size_t extra, void **extra_out);
/* Sets the operation's scope: deadline now + timeout_ms, cancelled through
 * loop (before the future is handed out). */
void tikv__future_set_scope(tikv_future_t *f, tikv__loop_t *loop, uint32_t timeout_ms);
/* Completes with the result fields already filled by the producer (the
 * producer owns them until this call), or with err (consumed) if non-NULL.
 * A TIMEOUT (or a call cancelled) of a cancelled scope becomes ABORTED.
 * Runs the callback on the calling thread (the I/O thread) and drops the
 * producer's reference. Exactly once per future. */
void tikv__future_complete(tikv_future_t *f, tikv_error_t *err);
/* Convenience: completes at once with err (used when an operation cannot
 * even start; no callback can have been set yet), or with success and no
 * result when err is NULL. */
tikv_future_t *tikv__future_failed(tikv_error_t *err);

/* Runs fn(arg) on the library's deferred-callback thread, never the caller's.
 * Returns 0, or -1 when the thread cannot be started. */
int tikv__defer(void (*fn)(void *), void *arg);

/* ---- time ---- */
int64_t tikv__now_ms(void); /* monotonic */
gpr_timespec tikv__deadline_ms(int64_t abs_ms); /* monotonic ms -> gRPC deadline */

/* ---- the I/O loop ---- */
/* Every completion-queue tag starts with this: the loop calls fn(tag, ok). */
typedef struct tikv__tag {
  void (*fn)(struct tikv__tag *tag, bool ok);
} tikv__tag_t;

typedef struct tikv__timer {
  int64_t when;
  void (*fn)(void *arg);
  void *arg;
  size_t heap_index; /* SIZE_MAX when not scheduled */
  tikv__wait_t wait; /* tikv__timer_start_in: cancelling the scope fires it now */
  tikv__loop_t *loop;
} tikv__timer_t;


/* Creates the completion queue and starts the I/O thread. NULL on failure. */
tikv__loop_t *tikv__loop_new(void);
grpc_completion_queue *tikv__loop_cq(tikv__loop_t *l);
bool tikv__loop_on_thread(tikv__loop_t *l);
/* See tikv_config_set_idle_spin_us (0: never). Any thread. */
void tikv__loop_set_idle_spin(tikv__loop_t *l, uint32_t us);
/* Wakeups of the I/O thread from other threads so far (the kicks that
 * posting to a sleeping loop costs). */
long tikv__loop_wakeups(tikv__loop_t *l);
/* tikv__future_complete tells the loop (on its thread: a window for C callers) */
void tikv__loop_note_future_completed(void);
/* spins for replies that ended without work (each resizes the next: loop.c, reply_spin_end) */
long tikv__loop_reply_spins_missed(tikv__loop_t *l);
/* Queues fn(arg) to run on the I/O thread. Any thread. Returns 0, or -1 when
 * the loop no longer accepts work (stopping). */
int tikv__loop_post(tikv__loop_t *l, tikv__task_fn fn, void *arg);
/* The same with a task the caller owns (fn, arg set; not queued already). */
int tikv__loop_post_task(tikv__loop_t *l, tikv__task_t *t);
/* I/O thread only. A scheduled timer is rescheduled. */
void tikv__timer_init(tikv__timer_t *t);
void tikv__timer_start(tikv__loop_t *l, tikv__timer_t *t, int64_t delay_ms,
                       void (*fn)(void *), void *arg);
void tikv__timer_cancel(tikv__loop_t *l, tikv__timer_t *t);
/* A timer of an operation: cancelling scope (NULL: none) fires it at once. */
void tikv__timer_start_in(tikv__loop_t *l, tikv__timer_t *t, tikv__scope_t *scope,
                          int64_t delay_ms, void (*fn)(void *), void *arg);
bool tikv__timer_active(const tikv__timer_t *t);
/* I/O thread only: count of outstanding completion-queue tags, kept by
 * whoever starts gRPC operations (rpc layer), so shutdown can wait for them. */
void tikv__loop_tag_started(tikv__loop_t *l);
void tikv__loop_tag_finished(tikv__loop_t *l);
/* Stops accepting posts, runs `drain` on the I/O thread (it must cancel what
 * is in flight), fires remaining timers, waits until no tag is outstanding and
 * no timer is left, then shuts the queue down and joins the thread. Must be
 * called from another thread. Idempotent. */
void tikv__loop_stop(tikv__loop_t *l, tikv__task_fn drain, void *arg);
bool tikv__loop_stopping(tikv__loop_t *l); /* I/O thread */
void tikv__loop_free(tikv__loop_t *l);

/* ---- backoff (client-go's exponential backoff with equal jitter) ---- */
typedef struct tikv__backoff {
  int base_ms, cap_ms;
  int attempts;
  int last_ms;
} tikv__backoff_t;
void tikv__backoff_init(tikv__backoff_t *b, int base_ms, int cap_ms);
/* Next sleep in ms (grows exponentially, jittered, capped). */
int tikv__backoff_next(tikv__backoff_t *b);

/* ---- memcomparable key codec (TiKV's codec::bytes) ---- */
/* The encoded length of a key of n bytes: groups of 8 bytes + marker. */
#define TIKV__CODEC_ENCODED_LEN(n) (((n) / 8 + 1) * 9)
/* Encodes key into buf (TIKV__CODEC_ENCODED_LEN(len) bytes); returns the
 * length written. */
size_t tikv__codec_encode_bytes_into(const uint8_t *key, size_t len, uint8_t *buf);
/* The same into a malloc'ed *out. 0 / -1. */
int tikv__codec_encode_bytes(const uint8_t *key, size_t len, uint8_t **out, size_t *out_len);
/* Decodes a prefix of buf; *consumed = encoded bytes used. 0 / -1 if malformed. */
int tikv__codec_decode_bytes(const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len,
                             size_t *consumed);

#endif
