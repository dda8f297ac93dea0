/* The completion bridge of the Node addon on Node-API: see bridge.h. */
#include "bridge.h"

#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace {

struct op_t {
  tikv_future_t *f;
  double id;
  int kind;
  op_t *next;
};

/* What a JS handle points at. `ptr` is NULL once the object is closed or
 * freed; the cell itself lives until both that and its JS value's
 * finalizer have happened (whichever comes last deletes it), so a closed
 * handle still says "closed" and a collected one is still closed at
 * teardown. */
struct handle_t {
  int kind;
  void *ptr;
  void *owner;    /* a transaction's client (tikv_client_t *), else NULL */
  bool collected; /* the JS value was finalized */
};

const char *const kind_name[] = {"client", "transaction", "mock cluster"};
const char *const closed_msg[] = {"tikv: client is closed", "tikv: transaction is freed",
                                  "tikv: mock cluster is stopped"};

/* The one bridge. Fields marked (mu) are guarded by `mu`; the atomics are
 * touched from any thread; everything else on the JS thread of `env` only.
 *
 * Waking the JS thread: a completion on a client's I/O thread is only queued
 * and marks `unsignaled`; the I/O thread's idle hook (run once it has
 * handled every ready completion) then sends one wakeup for the whole
 * burst: a byte down the wake pipe (see wake_pipe). A completion on any
 * other thread (the core's deferred-callback thread) signals at once. An
 * I/O thread that is stopping does not run the hook, so closeClient signals
 * what the stopped thread left unsignaled. The write runs outside `mu`,
 * inside send(), which cleanup waits out before it closes the pipe. */
struct bridge_t {
  uv_mutex_t mu;
  op_t *head, *tail;  /* finished, not yet delivered (mu) */
  double queued;      /* how many of them (mu) */
  bool closing;       /* environment torn down (mu) */
  std::atomic<bool> unsignaled;  /* queued on an I/O thread, no wakeup sent yet */
  std::atomic<bool> send_closed; /* set before cleanup closes the handle */
  std::atomic<int> senders;      /* threads inside send() */
  uv_poll_t wake;  /* the read end of the wake pipe is readable: on_wake */
  int wake_fd[2];  /* the wake pipe: read end (JS thread), write end (send) */
  bool started, torn_down;
  napi_env env;
  napi_ref dispatcher;
  napi_async_context async_ctx;
  double next_id;
  double submitted, delivered; /* in flight = submitted - delivered */
  double wakeups;              /* wakeups that delivered something */
  double signals;              /* wakeups: on_wake calls, empty or not */
  double checkpoints;          /* extra microtask checkpoints (CHECKPOINT_PAIRS) */
  std::unordered_set<handle_t *> *handles; /* every cell not yet deleted */
  size_t open[3];                          /* open handles of each kind */
  int last_err;                            /* why the last creation failed */
  std::string *last_msg;
  /* operations that may be cancelled (cancelOp), id -> future, until
   * delivered; next_cancellable: the call being converted asked to be */
  std::unordered_map<double, tikv_future_t *> *cancellable;
  bool next_cancellable;
} b;

/* Client events (tikv_config_set_event_callback) on their way to JS: queued
 * on the client's I/O thread under b.mu, woken like completions, delivered
 * by on_async to the event dispatcher as (clientId, kind, regionId, storeId,
 * message). A client's id is its own number, never reused: an event of a
 * client freed meanwhile finds no JS client and is dropped there. */
struct event_t {
  double client;
  int kind;
  uint64_t region_id, store_id;
  char message[512]; /* cut there: the C core's messages are shorter */
  event_t *next;
};
struct events_t {
  event_t *head, *tail;                       /* (b.mu) */
  napi_ref dispatcher;                        /* JS thread */
  double next_id;                             /* JS thread */
  std::unordered_map<void *, double> *ids;    /* client -> id; JS thread */
} ev;

/* The value made by a Node-API function f(env, args..., &result); NULL when
 * it fails (any napi_* call it is then passed to fails too). */
template <typename F, typename... A>
napi_value make(F f, napi_env env, A... args) {
  napi_value v = NULL;
  f(env, args..., &v);
  return v;
}

napi_value str(napi_env env, const char *s) {
  return make(napi_create_string_utf8, env, s ? s : "", (size_t)NAPI_AUTO_LENGTH);
}
napi_value null_value(napi_env env) { return make(napi_get_null, env); }
napi_value boolean(napi_env env, bool x) { return make(napi_get_boolean, env, x); }
napi_value int32(napi_env env, int x) { return make(napi_create_int32, env, (int32_t)x); }

/* ---- errors ---- */

void throw_with_code(napi_env env, const char *msg, int code) {
  const char *name = tikv_err_name(code);
  napi_value err = NULL;
  if (napi_create_error(env, str(env, name ? name : "INTERNAL"), str(env, msg), &err) != napi_ok)
    return;
  napi_set_named_property(env, err, "errno", int32(env, code));
  napi_throw(env, err);
}

/* ---- handles ---- */

void handle_closed(handle_t *h) {
  h->ptr = NULL;
  b.open[h->kind]--;
  if (h->collected) {
    b.handles->erase(h);
    delete h;
  }
}

void handle_finalize(napi_env, void *data, void *) {
  handle_t *h = (handle_t *)data;
  h->collected = true;
  if (!h->ptr) {
    b.handles->erase(h);
    delete h;
  }
}

/* The cell behind v when v is one of our handles, else NULL. (Node-API's
 * getters check the value's type themselves: no napi_typeof first, here and
 * in the conversions below, one call less per argument.) */
handle_t *handle_of(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL; /* not an external */
  handle_t *h = (handle_t *)data;
  return b.handles->count(h) ? h : NULL;
}

void free_object(int kind, void *p) {
  if (kind == TIKVJS_CLIENT && ev.ids) ev.ids->erase(p);
  if (kind == TIKVJS_CLIENT)
    tikv_client_free((tikv_client_t *)p);
  else if (kind == TIKVJS_TXN)
    tikv_txn_free((tikv_txn_t *)p);
  else
    tikv_mock_cluster_stop((tikv_mock_cluster_t *)p);
}

/* Closes the open handles of `kind` (those owned by `owner` when it is not
 * NULL). Collected first: closing may delete a cell. */
void close_all(int kind, void *owner) {
  std::vector<handle_t *> todo;
  for (handle_t *h : *b.handles)
    if (h->kind == kind && h->ptr && (!owner || h->owner == owner)) todo.push_back(h);
  for (handle_t *h : todo) {
    free_object(kind, h->ptr);
    handle_closed(h);
  }
}

/* ---- completions ---- */

/* Wakes the JS thread, from any thread, outside `mu`. A sender announces
 * itself in `senders` before it looks at `send_closed`, and cleanup sets
 * `send_closed` before it waits for `senders` to reach 0 (both sequentially
 * consistent): either the sender sees the flag and does not send, or cleanup
 * sees the sender and waits for it. So the handle is never closed under a
 * send. */
void send() {
  b.senders.fetch_add(1);
  if (!b.send_closed.load()) {
    char byte = 0;
    /* EAGAIN: the pipe is full of wakeups not yet read, so one is coming */
    while (write(b.wake_fd[1], &byte, 1) < 0 && errno == EINTR) {
    }
  }
  b.senders.fetch_sub(1);
}

/* The idle hook: on a client's I/O thread, after it has handled every ready
 * completion and before it waits. One wakeup per burst. */
int idle_hook(void *) {
  if (!b.unsignaled.load(std::memory_order_relaxed) || !b.unsignaled.exchange(false)) return 0;
  send();
  return 1;
}

/* A future's callback, on a C library thread: queue and wake, nothing more. */
void on_complete(tikv_future_t *f, void *arg) {
  op_t *op = (op_t *)arg;
  bool io_thread = tikv_on_io_thread() != 0;
  uv_mutex_lock(&b.mu);
  if (b.closing) {
    uv_mutex_unlock(&b.mu);
    tikv_future_destroy(f);
    delete op;
    return;
  }
  op->next = NULL;
  if (b.tail)
    b.tail->next = op;
  else
    b.head = op;
  b.tail = op;
  b.queued++;
  /* set after the op is queued: whoever clears it sends for this op too */
  if (io_thread) b.unsignaled.store(true);
  uv_mutex_unlock(&b.mu);
  if (!io_thread) send(); /* no idle hook follows on this thread */
}

void set(napi_env env, napi_value o, const char *name, napi_value v) {
  napi_set_named_property(env, o, name, v);
}

napi_value buffer_copy(napi_env env, const uint8_t *p, size_t len) {
  napi_value v = NULL;
  if (napi_create_buffer_copy(env, len, len ? (const void *)p : "", NULL, &v) != napi_ok)
    return null_value(env);
  return v;
}

napi_value error_value(napi_env env, tikv_future_t *f, int code) {
  const tikv_error_t *e = tikv_future_get_error(f);
  napi_value o = NULL, d = NULL;
  napi_create_object(env, &o);
  const char *name = tikv_err_name(code);
  set(env, o, "code", str(env, name ? name : "INTERNAL"));
  set(env, o, "errno", int32(env, code));
  set(env, o, "message", str(env, e ? tikv_error_message(e) : tikv_strerror(code)));
  set(env, o, "retryable",
      boolean(env, e ? tikv_error_retryable(e) != 0 : tikv_err_retryable(code) != 0));
  napi_create_object(env, &d);
  if (e) {
    size_t len = 0;
    const uint8_t *p;
    set(env, d, "kind", str(env, tikv_error_detail_kind(e)));
    p = tikv_error_key(e, &len);
    set(env, d, "key", p ? buffer_copy(env, p, len) : null_value(env));
    p = tikv_error_primary(e, &len);
    set(env, d, "primary", p ? buffer_copy(env, p, len) : null_value(env));
    set(env, d, "startTs", tikvjs_from_u64(env, tikv_error_start_ts(e)));
    set(env, d, "conflictTs", tikvjs_from_u64(env, tikv_error_conflict_ts(e)));
    set(env, d, "lockTtl", tikvjs_from_u64(env, tikv_error_lock_ttl(e)));
    set(env, d, "regionId", tikvjs_from_u64(env, tikv_error_region_id(e)));
    set(env, d, "grpcStatus", int32(env, tikv_error_grpc_status(e)));
  }
  set(env, o, "details", d);
  return o;
}

/* One copy of every key and value into one Buffer (key 0, value 0, key 1,
 * ...) and their lengths in the same order, as [data, lengths]: kvPairs in
 * lib/native.js makes the pairs of views, which is cheaper than one Buffer
 * per key and per value. values_only: the values alone and a length per
 * value (TIKVJS_NO_VALUE for none), as [data, lengths, true]. [null] when
 * the whole exceeds one Buffer. */
napi_value kvs_value(napi_env env, tikv_future_t *f, bool values_only, size_t *pairs) {
  const tikv_kv_t *kvs = NULL;
  size_t n = 0;
  if (tikv_future_get_kvs(f, &kvs, &n) != TIKV_ERR_OK) n = 0;
  *pairs = n;
  size_t total = 0, per = values_only ? 1 : 2;
  for (size_t i = 0; i < n; i++) total += (values_only ? 0 : kvs[i].key_len) + kvs[i].value_len;
  napi_value arr = NULL, data = NULL, lab = NULL, lengths = NULL;
  napi_create_array_with_length(env, values_only ? 3 : 2, &arr);
  void *dp = NULL, *lp = NULL;
  if (total >= UINT32_MAX || napi_create_buffer(env, total, &dp, &data) != napi_ok ||
      napi_create_arraybuffer(env, per * n * sizeof(uint32_t), &lp, &lab) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, per * n, lab, 0, &lengths) != napi_ok) {
    napi_set_element(env, arr, 0, null_value(env));
    return arr;
  }
  uint8_t *p = (uint8_t *)dp;
  uint32_t *lens = (uint32_t *)lp;
  for (size_t i = 0; i < n; i++) {
    if (!values_only) {
      if (kvs[i].key_len) memcpy(p, kvs[i].key, kvs[i].key_len);
      p += kvs[i].key_len;
      *lens++ = (uint32_t)kvs[i].key_len;
    }
    if (kvs[i].value_len) memcpy(p, kvs[i].value, kvs[i].value_len);
    p += kvs[i].value_len;
    *lens++ = values_only && !kvs[i].value ? TIKVJS_NO_VALUE : (uint32_t)kvs[i].value_len;
  }
  napi_set_element(env, arr, 0, data);
  napi_set_element(env, arr, 1, lengths);
  if (values_only) napi_set_element(env, arr, 2, boolean(env, true));
  return arr;
}

/* *pairs: the key/value pairs the result holds (0 for other kinds). */
napi_value result_value(napi_env env, tikv_future_t *f, int kind, size_t *pairs) {
  const uint8_t *v = NULL;
  size_t len = 0;
  uint64_t u = 0;
  napi_value r = NULL;
  switch (kind) {
  case TIKVJS_VALUE:
    return tikv_future_get_value(f, &v, &len) == 1 ? buffer_copy(env, v, len) : null_value(env);
  case TIKVJS_KVS:
  case TIKVJS_VALUES:
    return kvs_value(env, f, kind == TIKVJS_VALUES, pairs);
  case TIKVJS_U64:
    return tikv_future_get_u64(f, &u) == 1 ? tikvjs_from_u64(env, u) : null_value(env);
  case TIKVJS_CAS:
    napi_create_object(env, &r);
    set(env, r, "swapped", boolean(env, tikv_future_get_bool(f) == 1));
    set(env, r, "previous",
        tikv_future_get_value(f, &v, &len) == 1 ? buffer_copy(env, v, len) : null_value(env));
    return r;
  case TIKVJS_BOOL:
    return boolean(env, tikv_future_get_bool(f) == 1);
  case TIKVJS_CHECKSUM: {
    tikv_checksum_t c = {0, 0, 0};
    tikv_future_get_checksum(f, &c);
    napi_create_object(env, &r);
    set(env, r, "crc64Xor", tikvjs_from_u64(env, c.crc64_xor));
    set(env, r, "totalKvs", tikvjs_from_u64(env, c.total_kvs));
    set(env, r, "totalBytes", tikvjs_from_u64(env, c.total_bytes));
    return r;
  }
  default:
    napi_get_undefined(env, &r);
    return r;
  }
}

/* An exception the dispatcher let escape is reported as uncaught. */
void report_escaped(napi_env env) {
  bool pending = false;
  napi_value e;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &e) == napi_ok)
    napi_fatal_exception(env, e);
}

/* The client's event callback, on its I/O thread: copy, queue, and let the
 * idle hook wake the JS thread. Never blocks beyond b.mu. */
void on_client_event(const tikv_event_t *e, void *arg) {
  event_t *x = new (std::nothrow) event_t{(double)(uintptr_t)arg, e->kind, e->region_id,
                                          e->store_id, "", NULL};
  if (!x) return; /* an event is news, not state: dropped when memory is short */
  snprintf(x->message, sizeof(x->message), "%s", e->message ? e->message : "");
  uv_mutex_lock(&b.mu);
  if (b.closing) {
    uv_mutex_unlock(&b.mu);
    delete x;
    return;
  }
  if (ev.tail)
    ev.tail->next = x;
  else
    ev.head = x;
  ev.tail = x;
  b.unsignaled.store(true);
  uv_mutex_unlock(&b.mu);
}

void free_events(event_t *x) {
  while (x) {
    event_t *next = x->next;
    delete x;
    x = next;
  }
}

/* On the JS thread: every queued event to the event dispatcher. */
void deliver_events() {
  uv_mutex_lock(&b.mu);
  event_t *x = ev.head;
  ev.head = ev.tail = NULL;
  uv_mutex_unlock(&b.mu);
  if (!x) return;
  napi_env env = b.env;
  napi_value fn = NULL, recv = NULL, resource = NULL;
  napi_handle_scope hs;
  napi_callback_scope cs;
  napi_open_handle_scope(env, &hs);
  if (ev.dispatcher) napi_get_reference_value(env, ev.dispatcher, &fn);
  napi_get_undefined(env, &recv);
  napi_create_object(env, &resource);
  napi_open_callback_scope(env, resource, b.async_ctx, &cs);
  for (event_t *e = x; e && fn; e = e->next) {
    napi_handle_scope inner;
    napi_open_handle_scope(env, &inner);
    napi_value argv[5] = {tikvjs_from_double(env, e->client), int32(env, e->kind),
                          tikvjs_from_u64(env, e->region_id), tikvjs_from_u64(env, e->store_id),
                          str(env, e->message)};
    if (napi_call_function(env, recv, fn, 5, argv, NULL) != napi_ok) report_escaped(env);
    napi_close_handle_scope(env, inner);
  }
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
  free_events(x);
}

/* Pairs of key/value results after which the completions still queued wait
 * for the promise reactions of those delivered (a microtask checkpoint).
 * Without it a burst of large results (16 batch gets of 1,000 keys: 48,000
 * JS objects) is alive at once, and the young-generation GC that comes in
 * the middle of it copies all of it; with it, at most about this many pairs
 * are. Small results stay in one scope: one checkpoint per burst. */
constexpr size_t CHECKPOINT_PAIRS = 1024;

/* On the JS thread: deliver every queued completion, in one callback scope
 * (promise reactions run once, after the whole batch), or in several when
 * key/value results pass CHECKPOINT_PAIRS. */
void on_wake(uv_poll_t *, int, int) {
  char buf[256];
  b.signals++;
  /* drained first: a wakeup sent from here on calls this again */
  for (;;) {
    ssize_t n = read(b.wake_fd[0], buf, sizeof buf);
    if (n <= 0 && !(n < 0 && errno == EINTR)) break;
  }
  deliver_events();
  uv_mutex_lock(&b.mu);
  op_t *op = b.head;
  b.head = b.tail = NULL;
  b.queued = 0;
  uv_mutex_unlock(&b.mu);
  if (!op) return;
  b.wakeups++;

  napi_env env = b.env;
  napi_handle_scope hs;
  napi_callback_scope cs;
  napi_value fn = NULL, recv = NULL, resource = NULL;
  napi_open_handle_scope(env, &hs);
  napi_get_reference_value(env, b.dispatcher, &fn);
  napi_get_undefined(env, &recv);
  napi_create_object(env, &resource);
  napi_open_callback_scope(env, resource, b.async_ctx, &cs);
  size_t pairs = 0; /* delivered in this callback scope */
  while (op) {
    op_t *next = op->next;
    size_t op_pairs = 0;
    napi_handle_scope inner;
    napi_open_handle_scope(env, &inner);
    int code = tikv_future_get_error_code(op->f);
    napi_value argv[3];
    argv[0] = tikvjs_from_double(env, op->id);
    if (code != TIKV_ERR_OK) {
      argv[1] = error_value(env, op->f, code);
      napi_get_undefined(env, &argv[2]);
    } else {
      argv[1] = null_value(env);
      argv[2] = result_value(env, op->f, op->kind, &op_pairs);
    }
    if (!b.cancellable->empty()) b.cancellable->erase(op->id);
    tikv_future_destroy(op->f);
    delete op;
    b.delivered++;
    if (b.submitted == b.delivered) uv_unref((uv_handle_t *)&b.wake);
    if (fn && napi_call_function(env, recv, fn, 3, argv, NULL) != napi_ok) report_escaped(env);
    napi_close_handle_scope(env, inner);
    pairs += op_pairs;
    if (next && pairs >= CHECKPOINT_PAIRS) {
      napi_close_callback_scope(env, cs); /* runs the reactions */
      napi_open_callback_scope(env, resource, b.async_ctx, &cs);
      pairs = 0;
      b.checkpoints++;
    }
    op = next;
  }
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
}

/* The JS thread's wakeup is a byte written to a pipe that Node's loop
 * watches (uv_poll_t), not a uv_async_t: both cost the waking thread one
 * write(2), but a pipe's write wakes its reader as a synchronous wakeup (the
 * waker is expected to wait next), which lets Linux run the JS thread on the
 * core of the I/O thread that woke it (that thread spins and yields to it)
 * when no core is idle; the eventfd behind uv_async_t gives a plain wakeup,
 * after which the JS thread stays on its own core. Threads on two cores pay
 * an interrupt to the other core at each handoff, on a virtual machine often
 * the waking of a halted virtual CPU. Node raw put, one operation in flight,
 * 2 cores, 6 runs alternating: an eventfd watched the same way 15,700-25,200
 * ops/s (39-67 us of CPU per op; half the runs in the slow mode), this pipe
 * 21,300-26,800 (36-46): bench/README.md, "One core for the handoff".
 * Both ends non-blocking, closed on exec. */
bool wake_pipe(int fd[2]) {
  if (pipe(fd) != 0) return false;
  for (int i = 0; i < 2; i++) {
    int fl = fcntl(fd[i], F_GETFL);
    if (fl < 0 || fcntl(fd[i], F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd[i], F_SETFD, FD_CLOEXEC) < 0) {
      close(fd[0]);
      close(fd[1]);
      return false;
    }
  }
  return true;
}

/* The environment goes away (process exit): close what is still open, and
 * make late completions destroy their futures themselves. */
void cleanup(void *) {
  tikv_set_idle_hook(NULL, NULL);
  uv_mutex_lock(&b.mu);
  b.closing = true;
  op_t *op = b.head;
  b.head = b.tail = NULL;
  b.queued = 0;
  uv_mutex_unlock(&b.mu);
  while (op) {
    op_t *next = op->next;
    tikv_future_destroy(op->f);
    delete op;
    op = next;
  }
  b.cancellable->clear();
  free_events(ev.head);
  ev.head = ev.tail = NULL;
  close_all(TIKVJS_TXN, NULL); /* transactions go before their clients */
  close_all(TIKVJS_CLIENT, NULL);
  close_all(TIKVJS_MOCK, NULL);
  if (b.dispatcher) napi_delete_reference(b.env, b.dispatcher);
  b.dispatcher = NULL;
  if (ev.dispatcher) napi_delete_reference(b.env, ev.dispatcher);
  ev.dispatcher = NULL;
  napi_async_destroy(b.env, b.async_ctx);
  /* the I/O threads are joined, but a deferred callback or a hook call that
   * loaded the hook before it was removed may still be sending */
  b.send_closed.store(true);
  while (b.senders.load() != 0) std::this_thread::yield();
  uv_poll_stop(&b.wake);
  uv_close((uv_handle_t *)&b.wake, [](uv_handle_t *) {
    close(b.wake_fd[0]);
    close(b.wake_fd[1]);
  });
  b.torn_down = true;
}

/* The bridge serves the first environment that loads the addon. */
bool same_env(napi_env env) {
  if (b.started && !b.torn_down && env == b.env) return true;
  tikvjs_throw(env, TIKVJS_ERROR, "tikv: the addon can be used from one thread (the main one) only");
  return false;
}

bool start(napi_env env) {
  uv_loop_t *loop = NULL;
  napi_value name = str(env, "tikv-client");
  napi_value resource = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop ||
      napi_create_object(env, &resource) != napi_ok ||
      napi_async_init(env, resource, name, &b.async_ctx) != napi_ok)
    return false;
  if (uv_mutex_init(&b.mu) != 0) return false;
  if (!wake_pipe(b.wake_fd) || uv_poll_init(loop, &b.wake, b.wake_fd[0]) != 0 ||
      uv_poll_start(&b.wake, UV_READABLE, on_wake) != 0)
    return false;
  uv_unref((uv_handle_t *)&b.wake);
  b.handles = new std::unordered_set<handle_t *>();
  b.cancellable = new std::unordered_map<double, tikv_future_t *>();
  b.last_msg = new std::string();
  b.env = env;
  if (napi_add_env_cleanup_hook(env, cleanup, NULL) != napi_ok) return false;
  tikv_set_idle_hook(idle_hook, NULL);
  b.started = true;
  return true;
}

void fail_creation(int code, const std::string &msg) {
  b.last_err = code;
  *b.last_msg = msg;
}

/* ---- natives ---- */

/* Exactly `n` arguments into argv, else NULL after throwing TypeError `usage`. */
bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv,
              const char *usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != n) {
    tikvjs_throw(env, TIKVJS_TYPE_ERROR, usage);
    return false;
  }
  return true;
}

napi_value native_set_dispatcher(napi_env env, napi_callback_info info) {
  napi_value fn;
  napi_valuetype t;
  const char *usage = "setDispatcher(fn): fn must be a function";
  if (!get_args(env, info, 1, &fn, usage)) return NULL;
  if (napi_typeof(env, fn, &t) != napi_ok || t != napi_function) {
    tikvjs_throw(env, TIKVJS_TYPE_ERROR, usage);
    return NULL;
  }
  if (!same_env(env)) return NULL;
  napi_ref ref;
  if (napi_create_reference(env, fn, 1, &ref) != napi_ok) return NULL;
  if (b.dispatcher) napi_delete_reference(env, b.dispatcher);
  b.dispatcher = ref;
  return NULL;
}

/* The live cell of handle argument 0 of a native named `fn`, else NULL
 * after throwing TypeError. */
handle_t *native_handle(napi_env env, napi_callback_info info, int kind, const char *usage) {
  napi_value v;
  if (!get_args(env, info, 1, &v, usage) || !same_env(env)) return NULL;
  handle_t *h = handle_of(env, v);
  if (!h || h->kind != kind) tikvjs_throw(env, TIKVJS_TYPE_ERROR, usage);
  return h && h->kind == kind ? h : NULL;
}

/* closeClient(handle), freeTxn(handle), stopMock(handle): close the object
 * behind a handle of `kind`; true if it was open, false if already closed.
 * A client's transactions are freed before it, and its operations in flight
 * complete with CLOSED; a transaction neither committed nor rolled back is
 * rolled back in the background. */
napi_value close_native(napi_env env, napi_callback_info info, int kind, const char *usage) {
  handle_t *h = native_handle(env, info, kind, usage);
  if (!h) return NULL;
  bool open = h->ptr != NULL;
  if (open) {
    if (kind == TIKVJS_CLIENT) close_all(TIKVJS_TXN, h->ptr);
    free_object(kind, h->ptr);
    handle_closed(h);
    /* a client's I/O thread is joined; while stopping it ran no idle hook,
     * so the CLOSED completions it queued may still wait for their wakeup */
    if (kind == TIKVJS_CLIENT && b.unsignaled.exchange(false)) send();
  }
  return boolean(env, open);
}

napi_value native_close_client(napi_env env, napi_callback_info info) {
  return close_native(env, info, TIKVJS_CLIENT, "closeClient(handle): handle must be a client handle");
}

napi_value native_free_txn(napi_env env, napi_callback_info info) {
  return close_native(env, info, TIKVJS_TXN, "freeTxn(handle): handle must be a transaction handle");
}

napi_value native_stop_mock(napi_env env, napi_callback_info info) {
  return close_native(env, info, TIKVJS_MOCK, "stopMock(handle): handle must be a mock cluster handle");
}

/* cancelOp(id): asks the operation to stop (tikv_future_cancel); true when
 * it was in flight and cancellable, false otherwise (already settled, or
 * submitted without asking to be). */
napi_value native_cancel_op(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "cancelOp(id)") || !same_env(env)) return NULL;
  double id = 0;
  if (napi_get_value_double(env, argv[0], &id) != napi_ok) {
    tikvjs_throw(env, TIKVJS_TYPE_ERROR, "cancelOp(id): id must be a number");
    return NULL;
  }
  auto it = b.cancellable->find(id);
  bool found = it != b.cancellable->end();
  if (found) tikv_future_cancel(it->second);
  return boolean(env, found);
}

/* bridgeStats(): {submitted, delivered, queued, wakeups, signals, checkpoints,
 * clients, mocks, txns}, for tests. queued: finished, waiting for the JS
 * thread; signals: wakeups of the JS thread, with or without something to
 * deliver (wakeups: those with). */
napi_value native_stats(napi_env env, napi_callback_info) {
  napi_value o = NULL;
  napi_create_object(env, &o);
  uv_mutex_lock(&b.mu);
  double queued = b.queued;
  uv_mutex_unlock(&b.mu);
  set(env, o, "submitted", tikvjs_from_double(env, b.submitted));
  set(env, o, "delivered", tikvjs_from_double(env, b.delivered));
  set(env, o, "queued", tikvjs_from_double(env, queued));
  set(env, o, "wakeups", tikvjs_from_double(env, b.wakeups));
  set(env, o, "signals", tikvjs_from_double(env, b.signals));
  set(env, o, "checkpoints", tikvjs_from_double(env, b.checkpoints));
  set(env, o, "clients", tikvjs_from_double(env, (double)b.open[TIKVJS_CLIENT]));
  set(env, o, "mocks", tikvjs_from_double(env, (double)b.open[TIKVJS_MOCK]));
  set(env, o, "txns", tikvjs_from_double(env, (double)b.open[TIKVJS_TXN]));
  return o;
}

/* setEventDispatcher(fn): fn(clientId, kind, regionId, storeId, message)
 * receives every client event. */
napi_value native_set_event_dispatcher(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, "setEventDispatcher(fn)") || !same_env(env)) return NULL;
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) {
    tikvjs_throw(env, TIKVJS_TYPE_ERROR, "setEventDispatcher(fn): fn must be a function");
    return NULL;
  }
  if (ev.dispatcher) napi_delete_reference(env, ev.dispatcher);
  ev.dispatcher = NULL;
  napi_create_reference(env, argv[0], 1, &ev.dispatcher);
  return NULL;
}

/* clientEventId(handle): the id the client's events carry. */
napi_value native_client_event_id(napi_env env, napi_callback_info info) {
  handle_t *h = native_handle(env, info, TIKVJS_CLIENT, "clientEventId(client)");
  if (!h) return NULL;
  double id = 0;
  if (ev.ids && ev.ids->count(h->ptr)) id = (*ev.ids)[h->ptr];
  return tikvjs_from_double(env, id);
}

/* clientStats(handle): tikv_client_stats as an object (camelCase numbers). */
napi_value native_client_stats(napi_env env, napi_callback_info info) {
  handle_t *h = native_handle(env, info, TIKVJS_CLIENT, "clientStats(client)");
  if (!h) return NULL;
  if (!h->ptr) {
    tikvjs_throw(env, TIKVJS_ERROR, closed_msg[TIKVJS_CLIENT]);
    return NULL;
  }
  tikv_stats_t st;
  tikv_client_stats((tikv_client_t *)h->ptr, &st);
  napi_value o = NULL;
  napi_create_object(env, &o);
  const struct {
    const char *name;
    uint64_t v;
  } F[] = {{"regionNotLeader", st.region_not_leader},
           {"regionEpochNotMatch", st.region_epoch_not_match},
           {"regionServerIsBusy", st.region_server_is_busy},
           {"regionNotFound", st.region_not_found},
           {"regionStoreNotMatch", st.region_store_not_match},
           {"regionOther", st.region_other},
           {"tikvTransport", st.tikv_transport},
           {"pdTransport", st.pd_transport},
           {"pdNotLeader", st.pd_not_leader},
           {"locksResolved", st.locks_resolved},
           {"lockBackoffs", st.lock_backoffs},
           {"backoffMs", st.backoff_ms},
           {"pdLeaderChanges", st.pd_leader_changes},
           {"ioWakeups", st.io_wakeups},
           {"ioReplySpinsMissed", st.io_reply_spins_missed}};
  for (const auto &f : F) set(env, o, f.name, tikvjs_from_double(env, (double)f.v));
  return o;
}

/* mockRegionInfo(handle, regionId): {start, end, confVer, version} of a mock
 * region (end empty = unbounded), or null if there is no such region. */
napi_value native_mock_region_info(napi_env env, napi_callback_info info) {
  const char *usage = "mockRegionInfo(handle, regionId): a mock cluster handle and a region id";
  napi_value argv[2];
  uint64_t rid = 0;
  if (!get_args(env, info, 2, argv, usage)) return NULL;
  handle_t *h = handle_of(env, argv[0]);
  if (!h || h->kind != TIKVJS_MOCK || tikvjs_to_u64(env, argv[1], &rid) != TIKVJS_OK) {
    tikvjs_throw(env, TIKVJS_TYPE_ERROR, usage);
    return NULL;
  }
  tikv_mock_cluster_t *m = (tikv_mock_cluster_t *)tikvjs_handle_in(env, argv[0], TIKVJS_MOCK, "");
  if (!m) return NULL;
  std::vector<uint8_t> start(64), end(64);
  size_t sl = 0, el = 0;
  int rc = tikv_mock_region_bounds(m, rid, start.data(), start.size(), &sl, end.data(), end.size(), &el);
  if (rc != 0 && (sl > start.size() || el > end.size())) {
    start.resize(sl + 1);
    end.resize(el + 1);
    rc = tikv_mock_region_bounds(m, rid, start.data(), start.size(), &sl, end.data(), end.size(), &el);
  }
  uint64_t conf_ver = 0, version = 0;
  if (rc != 0 || tikv_mock_region_epoch(m, rid, &conf_ver, &version) != 0) return null_value(env);
  napi_value o = NULL;
  napi_create_object(env, &o);
  set(env, o, "start", buffer_copy(env, start.data(), sl));
  set(env, o, "end", buffer_copy(env, end.data(), el));
  set(env, o, "confVer", tikvjs_from_u64(env, conf_ver));
  set(env, o, "version", tikvjs_from_u64(env, version));
  return o;
}

} // namespace

/* ---- bridge.h ---- */

void tikvjs_throw(napi_env env, int kind, const char *msg) {
  if (kind == TIKVJS_RANGE_ERROR)
    napi_throw_range_error(env, NULL, msg);
  else if (kind == TIKVJS_TYPE_ERROR)
    napi_throw_type_error(env, NULL, msg);
  else
    napi_throw_error(env, NULL, msg);
}

int tikvjs_to_int(napi_env env, napi_value v, double lo, double hi, double *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) { /* not a number */
    bool x = false;
    if (napi_get_value_bool(env, v, &x) != napi_ok) return TIKVJS_TYPE_ERROR;
    *out = x ? 1 : 0;
    return TIKVJS_OK;
  }
  if (!std::isfinite(d) || std::trunc(d) != d || d < lo || d > hi) return TIKVJS_RANGE_ERROR;
  *out = d;
  return TIKVJS_OK;
}

int tikvjs_to_u64(napi_env env, napi_value v, uint64_t *out) {
  bool lossless = false;
  uint64_t x = 0;
  if (napi_get_value_bigint_uint64(env, v, &x, &lossless) == napi_ok) {
    if (!lossless) return TIKVJS_RANGE_ERROR; /* negative or >= 2^64 */
    *out = x;
    return TIKVJS_OK;
  }
  double d;
  int rc = tikvjs_to_int(env, v, 0, 9007199254740991.0, &d);
  if (rc) return rc;
  *out = (uint64_t)d;
  return TIKVJS_OK;
}

int tikvjs_to_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len) {
  napi_typedarray_type t;
  void *p = NULL;
  if (napi_get_typedarray_info(env, v, &t, len, &p, NULL, NULL) != napi_ok || t != napi_uint8_array)
    return TIKVJS_TYPE_ERROR; /* not a typed array, or not of bytes */
  *data = p ? (const uint8_t *)p : (const uint8_t *)""; /* a detached buffer has no data */
  return TIKVJS_OK;
}

int tikvjs_to_string(napi_env env, napi_value v, std::string *out) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return TIKVJS_TYPE_ERROR;
  out->resize(n + 1);
  if (napi_get_value_string_utf8(env, v, &(*out)[0], n + 1, &n) != napi_ok) return TIKVJS_TYPE_ERROR;
  out->resize(n);
  return TIKVJS_OK;
}

int tikvjs_to_slices(napi_env env, napi_value v, std::vector<tikv_slice_t> *out, int *bad_element) {
  /* [data, lengths] (packBytes in lib/args.js): one Uint8Array holding the
   * byte strings one after the other and a Uint32Array of their lengths.
   * Two N-API calls for any number of keys: reading an Array of Buffers
   * element by element cost ~0.7 us per key, most of a thousand-key batch
   * get's JS time. */
  bool is_array = false;
  uint32_t n = 0;
  *bad_element = 0;
  napi_value data, lengths;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, v, &n) != napi_ok || n != 2 ||
      napi_get_element(env, v, 0, &data) != napi_ok || napi_get_element(env, v, 1, &lengths) != napi_ok)
    return TIKVJS_TYPE_ERROR;
  const uint8_t *bytes = NULL;
  size_t total = 0, count = 0;
  napi_typedarray_type t;
  void *lp = NULL;
  *bad_element = 1;
  if (tikvjs_to_bytes(env, data, &bytes, &total) != TIKVJS_OK ||
      napi_get_typedarray_info(env, lengths, &t, &count, &lp, NULL, NULL) != napi_ok ||
      t != napi_uint32_array)
    return TIKVJS_TYPE_ERROR;
  const uint32_t *lens = (const uint32_t *)lp;
  out->resize(count);
  size_t off = 0;
  for (size_t i = 0; i < count; i++) {
    if (lens[i] > total - off) return TIKVJS_TYPE_ERROR; /* lengths beyond the data */
    (*out)[i] = tikv_slice_t{bytes + off, lens[i]};
    off += lens[i];
  }
  if (off != total) return TIKVJS_TYPE_ERROR;
  *bad_element = 0;
  return TIKVJS_OK;
}

int tikvjs_to_call_opts(napi_env env, napi_value v, tikv_call_opts_t *out, std::string *cf) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined) return 0;
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, v, &n) != napi_ok || n != 3)
    return -1;
  napi_value el[3];
  for (uint32_t i = 0; i < 3; i++)
    if (napi_get_element(env, v, i, &el[i]) != napi_ok) return -1;
  double ms = 0;
  bool cancellable = false;
  if (tikvjs_to_int(env, el[0], 0, 4294967295.0, &ms) != TIKVJS_OK ||
      napi_get_value_bool(env, el[2], &cancellable) != napi_ok)
    return -1;
  *out = tikv_call_opts_t{(uint32_t)ms, NULL};
  if (napi_typeof(env, el[1], &t) != napi_ok) return -1;
  if (t != napi_null) {
    if (tikvjs_to_string(env, el[1], cf) != TIKVJS_OK) return -1;
    out->column_family = cf->c_str();
  }
  b.next_cancellable = cancellable;
  return 1;
}

napi_value tikvjs_from_u64(napi_env env, uint64_t v) { return make(napi_create_bigint_uint64, env, v); }

napi_value tikvjs_from_double(napi_env env, double v) { return make(napi_create_double, env, v); }

napi_value tikvjs_from_cstring(napi_env env, const char *s) {
  return s ? str(env, s) : null_value(env);
}

void *tikvjs_handle_in(napi_env env, napi_value v, int kind, const char *what) {
  handle_t *h = handle_of(env, v);
  if (!h || h->kind != kind) {
    std::string msg = std::string(what) + " must be a " + kind_name[kind] + " handle";
    tikvjs_throw(env, TIKVJS_TYPE_ERROR, msg.c_str());
    return NULL;
  }
  if (!h->ptr) {
    tikvjs_throw(env, TIKVJS_ERROR, closed_msg[kind]);
    return NULL;
  }
  return h->ptr;
}

napi_value tikvjs_handle_out(napi_env env, int kind, void *p, void *owner) {
  if (p && !same_env(env)) { /* made in another thread's environment: not ours to track */
    free_object(kind, p);
    return NULL;
  }
  if (!p) {
    throw_with_code(env, b.last_msg->c_str(), b.last_err ? b.last_err : TIKV_ERR_INTERNAL);
    return NULL;
  }
  handle_t *h = new (std::nothrow) handle_t{kind, p, owner, false};
  napi_value v = NULL;
  if (!h || napi_create_external(env, h, handle_finalize, NULL, &v) != napi_ok) {
    delete h;
    free_object(kind, p);
    tikvjs_throw(env, TIKVJS_ERROR, "tikv: out of memory");
    return NULL;
  }
  b.handles->insert(h);
  b.open[kind]++;
  return v;
}

napi_value tikvjs_submit(napi_env env, tikv_future_t *f, int kind) {
  bool cancellable = b.next_cancellable; /* set by this call's options */
  b.next_cancellable = false;
  if (!f) {
    tikvjs_throw(env, TIKVJS_ERROR, "tikv: out of memory");
    return NULL;
  }
  if (!same_env(env) || !b.dispatcher) {
    tikv_future_destroy(f);
    if (!b.dispatcher && !b.torn_down)
      tikvjs_throw(env, TIKVJS_ERROR, "tikv: no dispatcher registered (call setDispatcher first)");
    return NULL;
  }
  if (kind == TIKVJS_VOID && tikv_future_is_ready(f) && tikv_future_get_error_code(f) == TIKV_ERR_OK) {
    /* done before the call returned (a buffered transactional write): no
     * round trip through the completion queue; id 0 resolves at once */
    tikv_future_destroy(f);
    return tikvjs_from_double(env, 0);
  }
  op_t *op = new (std::nothrow) op_t{f, ++b.next_id, kind, NULL};
  if (!op) {
    tikv_future_destroy(f);
    tikvjs_throw(env, TIKVJS_ERROR, "tikv: out of memory");
    return NULL;
  }
  double id = op->id;
  if (cancellable) (*b.cancellable)[id] = f; /* ids are never reused */
  if (b.submitted == b.delivered) uv_ref((uv_handle_t *)&b.wake);
  b.submitted++;
  int rc = tikv_future_set_callback(f, on_complete, op);
  if (rc != TIKV_ERR_OK) {
    if (cancellable) b.cancellable->erase(id);
    b.submitted--;
    if (b.submitted == b.delivered) uv_unref((uv_handle_t *)&b.wake);
    tikv_future_destroy(f);
    delete op;
    std::string msg = std::string("tikv: cannot watch future: ") + tikv_strerror(rc);
    tikvjs_throw(env, TIKVJS_ERROR, msg.c_str());
    return NULL;
  }
  return tikvjs_from_double(env, id);
}

/* TLS (tls_mode 0 none, 1 PEM texts, 2 files; "" for a piece absent), the
 * API version and the keyspace ("": none) into cfg; the option refused goes
 * to *what, why in tikv_config_error(cfg). */
static int set_cluster(tikv_config_t *cfg, int tls_mode, const char *ca, const char *cert,
                       const char *key, int api_version, const char *keyspace, std::string *what) {
  int rc = tls_mode >= 0 && tls_mode <= 2 ? TIKV_ERR_OK : TIKV_ERR_INVALID_ARGUMENT;
  if (tls_mode == 1)
    rc = tikv_config_set_tls(cfg, ca, strlen(ca), cert, strlen(cert), key, strlen(key));
  else if (tls_mode == 2)
    rc = tikv_config_set_tls_files(cfg, ca, cert[0] ? cert : NULL, key[0] ? key : NULL);
  if (rc != TIKV_ERR_OK) *what = "tls";
  if (rc == TIKV_ERR_OK && (rc = tikv_config_set_api_version(cfg, api_version)) != TIKV_ERR_OK)
    *what = "apiVersion";
  if (rc == TIKV_ERR_OK && keyspace[0] && (rc = tikv_config_set_keyspace(cfg, keyspace)) != TIKV_ERR_OK)
    *what = "keyspace";
  return rc;
}

tikv_client_t *tikvjs_client_new(const char *endpoints, uint32_t timeout_ms, const char *cf,
                                 int atomic, int tls_mode, const char *tls_ca,
                                 const char *tls_cert, const char *tls_key, int api_version,
                                 const char *keyspace, uint32_t attempt_timeout_ms,
                                 int batch_commands, uint32_t idle_spin_us) {
  tikv_config_t *cfg = tikv_config_new();
  if (!cfg) {
    fail_creation(TIKV_ERR_NO_MEMORY, "tikv: out of memory");
    return NULL;
  }
  int rc = TIKV_ERR_OK;
  std::string eps(endpoints), what = "configuration";
  size_t pos = 0;
  while (rc == TIKV_ERR_OK && pos <= eps.size()) {
    size_t comma = eps.find(',', pos);
    if (comma == std::string::npos) comma = eps.size();
    std::string one = eps.substr(pos, comma - pos);
    rc = tikv_config_add_pd_endpoint(cfg, one.c_str());
    if (rc != TIKV_ERR_OK) what = "PD endpoint '" + one + "'";
    pos = comma + 1;
  }
  if (rc == TIKV_ERR_OK && timeout_ms > 0 && (rc = tikv_config_set_timeout_ms(cfg, timeout_ms)) != TIKV_ERR_OK)
    what = "timeoutMs";
  if (rc == TIKV_ERR_OK && attempt_timeout_ms > 0 &&
      (rc = tikv_config_set_attempt_timeout_ms(cfg, attempt_timeout_ms)) != TIKV_ERR_OK)
    what = "attemptTimeoutMs";
  if (rc == TIKV_ERR_OK && (rc = tikv_config_set_column_family(cfg, cf)) != TIKV_ERR_OK)
    what = "columnFamily";
  if (rc == TIKV_ERR_OK && (rc = tikv_config_set_atomic(cfg, atomic)) != TIKV_ERR_OK)
    what = "atomic";
  if (rc == TIKV_ERR_OK &&
      (rc = tikv_config_set_batch_commands(cfg, batch_commands)) != TIKV_ERR_OK)
    what = "batchCommands";
  if (rc == TIKV_ERR_OK && (rc = tikv_config_set_idle_spin_us(cfg, idle_spin_us)) != TIKV_ERR_OK)
    what = "idleSpinUs";
  if (rc == TIKV_ERR_OK)
    rc = set_cluster(cfg, tls_mode, tls_ca, tls_cert, tls_key, api_version, keyspace, &what);
  tikv_client_t *c = NULL;
  double event_id = ++ev.next_id;
  if (rc == TIKV_ERR_OK)
    rc = tikv_config_set_event_callback(cfg, on_client_event, (void *)(uintptr_t)event_id);
  if (rc == TIKV_ERR_OK) {
    c = tikv_client_new(cfg, &rc);
    if (!c && rc == TIKV_ERR_OK) rc = TIKV_ERR_INTERNAL;
    what = "client";
  }
  if (c && !ev.ids) ev.ids = new (std::nothrow) std::unordered_map<void *, double>();
  if (c && ev.ids) (*ev.ids)[c] = event_id; /* without it: no events for this client */
  if (!c) {
    if (what == "client")
      fail_creation(rc, std::string("tikv: cannot create client: ") + tikv_strerror(rc));
    else
      fail_creation(rc, "tikv: invalid " + what + ": " +
                            (tikv_config_error(cfg)[0] ? tikv_config_error(cfg) : tikv_strerror(rc)));
  }
  tikv_config_free(cfg);
  return c;
}

tikv_txn_t *tikvjs_txn_new(tikv_client_t *c, int pessimistic, int async_commit, int try_one_pc,
                           int lock_wait_timeout_ms, uint64_t start_ts, int read_only) {
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  o.pessimistic = pessimistic;
  o.async_commit = async_commit;
  o.try_one_pc = try_one_pc;
  if (lock_wait_timeout_ms >= 0) o.lock_wait_timeout_ms = lock_wait_timeout_ms;
  o.start_ts = start_ts;
  o.read_only = read_only;
  int rc = TIKV_ERR_OK;
  tikv_txn_t *t = tikv_txn_new(c, &o, &rc);
  if (!t) {
    rc = rc != TIKV_ERR_OK ? rc : TIKV_ERR_INTERNAL;
    fail_creation(rc, std::string("tikv: cannot create transaction: ") + tikv_strerror(rc));
  }
  return t;
}

tikv_mock_cluster_t *tikvjs_mock_start(int stores, int regions, int enable_ttl, int api_version,
                                       const char *tls_cert, const char *tls_key,
                                       const char *tls_ca) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  if (stores > 0) o.stores = stores;
  if (regions > 0) o.regions = regions;
  o.enable_ttl = enable_ttl;
  o.api_version = api_version;
  o.tls_cert_pem = tls_cert[0] ? tls_cert : NULL;
  o.tls_key_pem = tls_key[0] ? tls_key : NULL;
  o.tls_ca_pem = tls_ca[0] ? tls_ca : NULL;
  char errbuf[256] = "";
  tikv_mock_cluster_t *m = tikv_mock_cluster_start(&o, errbuf, sizeof errbuf);
  if (!m)
    fail_creation(TIKV_ERR_INTERNAL, std::string("tikv: cannot start mock cluster: ") +
                                         (errbuf[0] ? errbuf : "unknown error"));
  return m;
}

bool tikvjs_bridge_register(napi_env env, napi_value exports) {
  if (!b.started && !start(env)) {
    tikvjs_throw(env, TIKVJS_ERROR, "tikv: cannot start the completion bridge");
    return false;
  }
  napi_property_descriptor props[] = {
      {"setDispatcher", NULL, native_set_dispatcher, NULL, NULL, NULL, napi_default, NULL},
      {"closeClient", NULL, native_close_client, NULL, NULL, NULL, napi_default, NULL},
      {"freeTxn", NULL, native_free_txn, NULL, NULL, NULL, napi_default, NULL},
      {"stopMock", NULL, native_stop_mock, NULL, NULL, NULL, napi_default, NULL},
      {"bridgeStats", NULL, native_stats, NULL, NULL, NULL, napi_default, NULL},
      {"mockRegionInfo", NULL, native_mock_region_info, NULL, NULL, NULL, napi_default, NULL},
      {"setEventDispatcher", NULL, native_set_event_dispatcher, NULL, NULL, NULL, napi_default, NULL},
      {"clientEventId", NULL, native_client_event_id, NULL, NULL, NULL, napi_default, NULL},
      {"clientStats", NULL, native_client_stats, NULL, NULL, NULL, napi_default, NULL},
      {"cancelOp", NULL, native_cancel_op, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
