/* SWIG interface of the tikv-client Node addon.
 *
 *   swig -javascript -node -c++ -Iinclude -o swig/tikv_wrap.cxx swig/tikv.i
 *
 * SWIG (4.1, V8 API) wraps the synchronous functions of include/tikv/*.h.
 * Futures never reach JavaScript: every function returning a tikv_future_t *
 * is wrapped so that the future is handed to the bridge (below) at once and
 * the JS call returns a numeric operation id. When the future completes, its
 * callback (on a C library thread) queues it and wakes one uv_async_t (at
 * most once per burst of completions of an I/O thread); on the
 * JS thread the bridge drains the whole queue, converts each result to JS
 * values, destroys the future and calls the registered dispatcher
 * dispatch(id, error | null, result) once per operation.
 *
 * Hand-written natives (bottom of this file): setDispatcher(fn), closeClient(h),
 * freeTxn(h) and stopMock(h) (idempotent; handles are checked against live
 * sets, so a closed handle throws instead of crashing), bridgeStats(),
 * mockRegionInfo(). A transaction handle belongs to its client: closeClient
 * frees the client's live transactions first, then the client.
 * The uv_async_t is ref'd only while operations are in flight, so a script
 * exits once its work is done; at environment teardown the bridge closes the
 * clients and mocks left open and destroys every future still queued (late
 * completions then destroy their futures themselves).
 *
 * To bind more future-returning functions, %include the header and give each
 * a result kind: TIKVJS_FUTURE(tikv_txn_get, TIKVJS_VALUE), ... Functions
 * without one resolve to undefined.
 *
 * Inputs: (const uint8_t *, size_t) from a Uint8Array/Buffer (borrowed for the
 * call), (const tikv_slice_t *, size_t) from an array of them, uint64_t from a
 * BigInt or a safe-integer Number; other integers must be integral Numbers in
 * range. A bad argument throws TypeError/RangeError, never crashes.
 */
%module tikv

%{
#include <node.h>
#include <node_buffer.h>
#include <uv.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tikv/tikv.h"
#include "tikv/mock.h"
%}

%include <stdint.i>

/* ---- errors: SWIG's own argument errors become TypeError / RangeError ---- */
%header %{
static void tikvjs_throw(int code, const char *msg) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  v8::Local<v8::String> m = v8::String::NewFromUtf8(iso, msg ? msg : "error").ToLocalChecked();
  v8::Local<v8::Value> e;
  if (code == SWIG_OverflowError || code == SWIG_ValueError || code == SWIG_IndexError)
    e = v8::Exception::RangeError(m);
  else if (code == SWIG_RuntimeError || code == SWIG_MemoryError || code == SWIG_SystemError)
    e = v8::Exception::Error(m);
  else
    e = v8::Exception::TypeError(m);
  iso->ThrowException(e);
}
#undef SWIG_Error
#define SWIG_Error(code, msg) tikvjs_throw(code, msg)
#undef SWIG_exception
#define SWIG_exception(code, msg) do { tikvjs_throw(code, msg); SWIG_fail; } while (0)
%}

/* ---- integers ---- */
%fragment("tikvjs_ints", "header") %{
/* 0 ok; else a SWIG error code with *why set. */
static int tikvjs_to_int(v8::Local<v8::Value> v, double lo, double hi, double *out) {
  if (v->IsBoolean()) {
    *out = v->BooleanValue(v8::Isolate::GetCurrent()) ? 1 : 0;
    return 0;
  }
  if (!v->IsNumber()) return SWIG_TypeError;
  double d = v.As<v8::Number>()->Value();
  if (!std::isfinite(d) || std::trunc(d) != d || d < lo || d > hi) return SWIG_OverflowError;
  *out = d;
  return 0;
}
static int tikvjs_to_u64(v8::Local<v8::Value> v, uint64_t *out) {
  if (v->IsBigInt()) {
    bool lossless = false;
    uint64_t x = v.As<v8::BigInt>()->Uint64Value(&lossless);
    if (!lossless) return SWIG_OverflowError; /* negative or >= 2^64 */
    *out = x;
    return 0;
  }
  double d;
  int rc = tikvjs_to_int(v, 0, 9007199254740991.0, &d);
  if (rc) return rc;
  *out = (uint64_t)d;
  return 0;
}
%}

%define TIKVJS_INT_TYPEMAP(TYPE, LO, HI, DESC)
%typemap(in, fragment="tikvjs_ints") TYPE {
  double d_;
  int rc_ = tikvjs_to_int($input, LO, HI, &d_);
  if (rc_) SWIG_exception_fail(rc_, "argument $argnum of $symname must be " DESC);
  $1 = (TYPE)d_;
}
%typemap(typecheck) TYPE "$1 = $input->IsNumber() ? 1 : 0;"
%typemap(out) TYPE "$result = v8::Number::New(v8::Isolate::GetCurrent(), (double)$1);"
%enddef
TIKVJS_INT_TYPEMAP(int, -2147483648.0, 2147483647.0, "an integer in int32 range")
TIKVJS_INT_TYPEMAP(unsigned, 0, 4294967295.0, "an integer in uint32 range")
TIKVJS_INT_TYPEMAP(unsigned int, 0, 4294967295.0, "an integer in uint32 range")
TIKVJS_INT_TYPEMAP(uint32_t, 0, 4294967295.0, "an integer in uint32 range")

%typemap(in, fragment="tikvjs_ints") uint64_t {
  int rc_ = tikvjs_to_u64($input, &$1);
  if (rc_) SWIG_exception_fail(rc_, "argument $argnum of $symname must be a non-negative integer (bigint, or a safe-integer number)");
}
%typemap(out) uint64_t "$result = v8::BigInt::NewFromUnsigned(v8::Isolate::GetCurrent(), $1);"

/* C strings out: null for NULL */
%typemap(out) const char * "$result = $1 ? (SWIGV8_VALUE)SWIGV8_STRING_NEW($1) : (SWIGV8_VALUE)SWIGV8_NULL();"

/* ---- bytes ---- */
%typemap(in) (const uint8_t *BYTES, size_t BYTES_LEN) {
  if (!$input->IsUint8Array())
    SWIG_exception_fail(SWIG_TypeError, "argument $argnum of $symname must be a Buffer or Uint8Array");
  $1 = ($1_ltype)node::Buffer::Data($input);
  $2 = node::Buffer::Length($input);
  if (!$1) $1 = ($1_ltype)"";
}
%typemap(typecheck) (const uint8_t *BYTES, size_t BYTES_LEN) "$1 = $input->IsUint8Array() ? 1 : 0;"
%apply (const uint8_t *BYTES, size_t BYTES_LEN) {
  (const uint8_t *key, size_t key_len), (const uint8_t *value, size_t value_len),
  (const uint8_t *start, size_t start_len), (const uint8_t *end, size_t end_len),
  (const uint8_t *previous, size_t previous_len), (const uint8_t *split_key, size_t len),
  (const uint8_t *key, size_t len)
}

%typemap(in) (const tikv_slice_t *SLICES, size_t N_SLICES) (std::vector<tikv_slice_t> slices_) {
  if (!$input->IsArray())
    SWIG_exception_fail(SWIG_TypeError, "argument $argnum of $symname must be an array of Buffers");
  v8::Local<v8::Array> arr_ = $input.As<v8::Array>();
  v8::Local<v8::Context> ctx_ = SWIGV8_CURRENT_CONTEXT();
  uint32_t n_ = arr_->Length();
  slices_.resize(n_);
  for (uint32_t i_ = 0; i_ < n_; i_++) {
    v8::Local<v8::Value> el_;
    if (!arr_->Get(ctx_, i_).ToLocal(&el_)) SWIG_fail;
    if (!el_->IsUint8Array())
      SWIG_exception_fail(SWIG_TypeError, "argument $argnum of $symname: every element must be a Buffer or Uint8Array");
    const uint8_t *p_ = (const uint8_t *)node::Buffer::Data(el_);
    slices_[i_].data = p_ ? p_ : (const uint8_t *)"";
    slices_[i_].len = node::Buffer::Length(el_);
  }
  $1 = ($1_ltype)(n_ ? slices_.data() : NULL);
  $2 = n_;
}
%apply (const tikv_slice_t *SLICES, size_t N_SLICES) {
  (const tikv_slice_t *keys, size_t n_keys), (const tikv_slice_t *values, size_t n_values),
  (const tikv_slice_t *ranges, size_t n_bounds)
}

/* ---- the bridge ---- */
%header %{
enum tikvjs_kind {
  TIKVJS_VOID = 0,  /* undefined */
  TIKVJS_VALUE = 1, /* Buffer | null */
  TIKVJS_KVS = 2,   /* [data: Buffer, lengths: Uint32Array] (lib/native.js makes the pairs) */
  TIKVJS_U64 = 3,   /* bigint | null */
  TIKVJS_CAS = 4,   /* {swapped: boolean, previous: Buffer | null} */
  TIKVJS_BOOL = 5,  /* boolean */
};

struct tikvjs_op {
  tikv_future_t *f;
  double id;
  int kind;
  tikvjs_op *next;
};

/* State of the one bridge. Everything but `mu`-guarded fields is touched on
 * the JS thread only, or atomic.
 *
 * Waking the JS thread: a completion on a client's I/O thread is only queued
 * and marks `unsignaled`; the I/O thread's idle hook (tikvjs_idle_hook, run
 * once it has handled every ready completion) then sends one uv_async for the
 * whole burst. A completion on any other thread (the core's deferred-callback
 * thread) signals at once. An I/O thread that is stopping does not run the
 * hook, so closeClient signals what the stopped thread left unsignaled.
 * uv_async_send runs outside `mu`, inside tikvjs_send, which cleanup waits
 * out before it closes the handle. */
static struct {
  uv_mutex_t mu;
  tikvjs_op *head, *tail; /* finished, not yet delivered (guarded by mu) */
  bool closing;           /* environment torn down (guarded by mu) */
  std::atomic<bool> unsignaled;  /* queued on an I/O thread, no uv_async sent yet */
  std::atomic<bool> send_closed; /* set before cleanup closes the handle */
  std::atomic<int> senders;      /* threads inside tikvjs_send */
  uv_async_t async;
  bool started;
  v8::Isolate *isolate;
  v8::Global<v8::Function> dispatcher;
  double next_id;
  double submitted, delivered; /* inflight = submitted - delivered */
  double wakeups;              /* async callbacks that delivered something */
  std::unordered_set<tikv_client_t *> *clients;
  std::unordered_set<tikv_mock_cluster_t *> *mocks;
  /* live transactions and the client each belongs to: a transaction is
   * freed before its client (closeClient frees them first) */
  std::unordered_map<tikv_txn_t *, tikv_client_t *> *txns;
} tikvjs_b;

/* Frees the live transactions of client c (all of them when c is NULL). */
static void tikvjs_free_txns(tikv_client_t *c) {
  if (!tikvjs_b.txns) return;
  for (auto it = tikvjs_b.txns->begin(); it != tikvjs_b.txns->end();) {
    if (!c || it->second == c) {
      tikv_txn_free(it->first);
      it = tikvjs_b.txns->erase(it);
    } else {
      ++it;
    }
  }
}

/* Wakes the JS thread, from any thread, outside `mu`. A sender announces
 * itself in `senders` before it looks at `send_closed`, and cleanup sets
 * `send_closed` before it waits for `senders` to reach 0 (both sequentially
 * consistent): either the sender sees the flag and does not send, or cleanup
 * sees the sender and waits for it. So the handle is never closed under a
 * send. */
static void tikvjs_send(void) {
  tikvjs_b.senders.fetch_add(1);
  if (!tikvjs_b.send_closed.load()) uv_async_send(&tikvjs_b.async);
  tikvjs_b.senders.fetch_sub(1);
}

/* The idle hook (tikv_set_idle_hook): on a client's I/O thread, after it has
 * handled every ready completion and before it waits. One wakeup per burst. */
static void tikvjs_idle_hook(void *) {
  if (tikvjs_b.unsignaled.load(std::memory_order_relaxed) && tikvjs_b.unsignaled.exchange(false))
    tikvjs_send();
}

static void tikvjs_on_complete(tikv_future_t *f, void *arg) {
  /* a C library thread: queue and wake, nothing more */
  tikvjs_op *op = (tikvjs_op *)arg;
  bool io_thread = tikv_on_io_thread() != 0;
  uv_mutex_lock(&tikvjs_b.mu);
  if (tikvjs_b.closing) {
    uv_mutex_unlock(&tikvjs_b.mu);
    tikv_future_destroy(f);
    delete op;
    return;
  }
  op->next = NULL;
  if (tikvjs_b.tail)
    tikvjs_b.tail->next = op;
  else
    tikvjs_b.head = op;
  tikvjs_b.tail = op;
  /* set after the op is queued: whoever clears it sends for this op too */
  if (io_thread) tikvjs_b.unsignaled.store(true);
  uv_mutex_unlock(&tikvjs_b.mu);
  if (!io_thread) tikvjs_send(); /* no idle hook follows on this thread */
}

static v8::Local<v8::Value> tikvjs_buffer(v8::Isolate *iso, const uint8_t *p, size_t len) {
  v8::Local<v8::Object> b;
  if (!node::Buffer::Copy(iso, (const char *)p, len).ToLocal(&b)) return v8::Null(iso);
  return b;
}

static void tikvjs_set(v8::Isolate *iso, v8::Local<v8::Context> ctx, v8::Local<v8::Object> o,
                       const char *name, v8::Local<v8::Value> v) {
  o->CreateDataProperty(ctx, v8::String::NewFromUtf8(iso, name, v8::NewStringType::kInternalized)
                                 .ToLocalChecked(), v).Check();
}

static v8::Local<v8::Value> tikvjs_error_value(v8::Isolate *iso, v8::Local<v8::Context> ctx,
                                               tikv_future_t *f, int code) {
  const tikv_error_t *e = tikv_future_get_error(f);
  v8::Local<v8::Object> o = v8::Object::New(iso);
  const char *name = tikv_err_name(code);
  tikvjs_set(iso, ctx, o, "code", v8::String::NewFromUtf8(iso, name ? name : "INTERNAL").ToLocalChecked());
  tikvjs_set(iso, ctx, o, "errno", v8::Integer::New(iso, code));
  tikvjs_set(iso, ctx, o, "message",
             v8::String::NewFromUtf8(iso, e ? tikv_error_message(e) : tikv_strerror(code)).ToLocalChecked());
  tikvjs_set(iso, ctx, o, "retryable",
             v8::Boolean::New(iso, e ? tikv_error_retryable(e) != 0 : tikv_err_retryable(code) != 0));
  v8::Local<v8::Object> d = v8::Object::New(iso);
  if (e) {
    size_t len = 0;
    const uint8_t *p;
    tikvjs_set(iso, ctx, d, "kind", v8::String::NewFromUtf8(iso, tikv_error_detail_kind(e)).ToLocalChecked());
    p = tikv_error_key(e, &len);
    tikvjs_set(iso, ctx, d, "key", p ? tikvjs_buffer(iso, p, len) : v8::Null(iso).As<v8::Value>());
    p = tikv_error_primary(e, &len);
    tikvjs_set(iso, ctx, d, "primary", p ? tikvjs_buffer(iso, p, len) : v8::Null(iso).As<v8::Value>());
    tikvjs_set(iso, ctx, d, "startTs", v8::BigInt::NewFromUnsigned(iso, tikv_error_start_ts(e)));
    tikvjs_set(iso, ctx, d, "conflictTs", v8::BigInt::NewFromUnsigned(iso, tikv_error_conflict_ts(e)));
    tikvjs_set(iso, ctx, d, "lockTtl", v8::BigInt::NewFromUnsigned(iso, tikv_error_lock_ttl(e)));
    tikvjs_set(iso, ctx, d, "regionId", v8::BigInt::NewFromUnsigned(iso, tikv_error_region_id(e)));
    tikvjs_set(iso, ctx, d, "grpcStatus", v8::Integer::New(iso, tikv_error_grpc_status(e)));
  }
  tikvjs_set(iso, ctx, o, "details", d);
  return o;
}

static v8::Local<v8::Value> tikvjs_result_value(v8::Isolate *iso, v8::Local<v8::Context> ctx,
                                                tikv_future_t *f, int kind) {
  switch (kind) {
  case TIKVJS_VALUE: {
    const uint8_t *v = NULL;
    size_t len = 0;
    if (tikv_future_get_value(f, &v, &len) != 1) return v8::Null(iso);
    return tikvjs_buffer(iso, v, len);
  }
  case TIKVJS_KVS: {
    const tikv_kv_t *kvs = NULL;
    size_t n = 0;
    if (tikv_future_get_kvs(f, &kvs, &n) != TIKV_ERR_OK) n = 0;
    /* one copy into one Buffer: key 0, value 0, key 1, ...; and the lengths
     * in the same order. The pairs of Buffer views over `data` are made in
     * JS (kvPairs in lib/native.js), which is cheaper than one Buffer::Copy
     * per key and per value. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += kvs[i].key_len + kvs[i].value_len;
    v8::Local<v8::Array> arr = v8::Array::New(iso, 2);
    if (total >= UINT32_MAX) { /* more than one Buffer holds: kvPairs rejects [null] */
      arr->Set(ctx, 0, v8::Null(iso)).Check();
      return arr;
    }
    v8::Local<v8::Object> data = node::Buffer::New(iso, total).ToLocalChecked();
    uint8_t *p = (uint8_t *)node::Buffer::Data(data);
    v8::Local<v8::ArrayBuffer> lab = v8::ArrayBuffer::New(iso, 2 * n * sizeof(uint32_t));
    uint32_t *lens = (uint32_t *)lab->Data();
    for (size_t i = 0; i < n; i++) {
      if (kvs[i].key_len) memcpy(p, kvs[i].key, kvs[i].key_len);
      p += kvs[i].key_len;
      if (kvs[i].value_len) memcpy(p, kvs[i].value, kvs[i].value_len);
      p += kvs[i].value_len;
      lens[2 * i] = (uint32_t)kvs[i].key_len;
      lens[2 * i + 1] = (uint32_t)kvs[i].value_len;
    }
    arr->Set(ctx, 0, data).Check();
    arr->Set(ctx, 1, v8::Uint32Array::New(lab, 0, 2 * n)).Check();
    return arr;
  }
  case TIKVJS_U64: {
    uint64_t v = 0;
    if (tikv_future_get_u64(f, &v) != 1) return v8::Null(iso);
    return v8::BigInt::NewFromUnsigned(iso, v);
  }
  case TIKVJS_CAS: {
    const uint8_t *v = NULL;
    size_t len = 0;
    v8::Local<v8::Object> o = v8::Object::New(iso);
    tikvjs_set(iso, ctx, o, "swapped", v8::Boolean::New(iso, tikv_future_get_bool(f) == 1));
    tikvjs_set(iso, ctx, o, "previous",
               tikv_future_get_value(f, &v, &len) == 1 ? tikvjs_buffer(iso, v, len)
                                                      : v8::Null(iso).As<v8::Value>());
    return o;
  }
  case TIKVJS_BOOL:
    return v8::Boolean::New(iso, tikv_future_get_bool(f) == 1);
  default:
    return v8::Undefined(iso);
  }
}

static void tikvjs_on_async(uv_async_t *) {
  uv_mutex_lock(&tikvjs_b.mu);
  tikvjs_op *op = tikvjs_b.head;
  tikvjs_b.head = tikvjs_b.tail = NULL;
  uv_mutex_unlock(&tikvjs_b.mu);
  if (!op) return;
  tikvjs_b.wakeups++;

  v8::Isolate *iso = tikvjs_b.isolate;
  v8::HandleScope hs(iso);
  v8::Local<v8::Function> fn = tikvjs_b.dispatcher.Get(iso);
  v8::Local<v8::Context> ctx = fn->GetCreationContextChecked();
  v8::Context::Scope cs(ctx);
  /* one callback scope for the whole batch: promise reactions run once, after it */
  node::CallbackScope scope(iso, v8::Object::New(iso), {0, 0});
  while (op) {
    tikvjs_op *next = op->next;
    v8::HandleScope inner(iso);
    int code = tikv_future_get_error_code(op->f);
    v8::Local<v8::Value> argv[3];
    argv[0] = v8::Number::New(iso, op->id);
    if (code != TIKV_ERR_OK) {
      argv[1] = tikvjs_error_value(iso, ctx, op->f, code);
      argv[2] = v8::Undefined(iso);
    } else {
      argv[1] = v8::Null(iso);
      argv[2] = tikvjs_result_value(iso, ctx, op->f, op->kind);
    }
    tikv_future_destroy(op->f);
    delete op;
    tikvjs_b.delivered++;
    if (tikvjs_b.submitted == tikvjs_b.delivered) uv_unref((uv_handle_t *)&tikvjs_b.async);
    /* the dispatcher catches its own exceptions; one that escapes is reported
     * as uncaught by the callback scope */
    if (fn->Call(ctx, v8::Undefined(iso), 3, argv).IsEmpty()) {
      /* reported by the callback scope */
    }
    op = next;
  }
}

/* The environment goes away (process exit): close what is still open, and
 * make late completions destroy their futures themselves. */
static void tikvjs_cleanup(void *) {
  tikv_set_idle_hook(NULL, NULL);
  uv_mutex_lock(&tikvjs_b.mu);
  tikvjs_b.closing = true;
  tikvjs_op *op = tikvjs_b.head;
  tikvjs_b.head = tikvjs_b.tail = NULL;
  uv_mutex_unlock(&tikvjs_b.mu);
  while (op) {
    tikvjs_op *next = op->next;
    tikv_future_destroy(op->f);
    delete op;
    op = next;
  }
  tikvjs_free_txns(NULL);
  for (tikv_client_t *c : *tikvjs_b.clients) tikv_client_free(c);
  tikvjs_b.clients->clear();
  for (tikv_mock_cluster_t *m : *tikvjs_b.mocks) tikv_mock_cluster_stop(m);
  tikvjs_b.mocks->clear();
  tikvjs_b.dispatcher.Reset();
  /* the I/O threads are joined, but a deferred callback or a hook call that
   * loaded the hook before it was removed may still be sending */
  tikvjs_b.send_closed.store(true);
  while (tikvjs_b.senders.load() != 0) std::this_thread::yield();
  uv_close((uv_handle_t *)&tikvjs_b.async, NULL);
}

/* Takes ownership of f: registers the callback and returns the operation id,
 * or throws (returns an empty handle). */
static v8::Local<v8::Value> tikvjs_submit(tikv_future_t *f, int kind) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (!f) {
    iso->ThrowException(v8::Exception::Error(v8::String::NewFromUtf8Literal(iso, "tikv: out of memory")));
    return v8::Local<v8::Value>();
  }
  if (!tikvjs_b.started || tikvjs_b.dispatcher.IsEmpty()) {
    tikv_future_destroy(f);
    iso->ThrowException(v8::Exception::Error(
        v8::String::NewFromUtf8Literal(iso, "tikv: no dispatcher registered (call setDispatcher first)")));
    return v8::Local<v8::Value>();
  }
  if (kind == TIKVJS_VOID && tikv_future_is_ready(f) && tikv_future_get_error_code(f) == TIKV_ERR_OK) {
    /* done before the call returned (a buffered transactional write): no
     * round trip through the completion queue; id 0 resolves at once */
    tikv_future_destroy(f);
    return v8::Number::New(iso, 0);
  }
  tikvjs_op *op = new tikvjs_op{f, ++tikvjs_b.next_id, kind, NULL};
  if (tikvjs_b.submitted == tikvjs_b.delivered) uv_ref((uv_handle_t *)&tikvjs_b.async);
  tikvjs_b.submitted++;
  int rc = tikv_future_set_callback(f, tikvjs_on_complete, op);
  if (rc != TIKV_ERR_OK) {
    tikvjs_b.submitted--;
    if (tikvjs_b.submitted == tikvjs_b.delivered) uv_unref((uv_handle_t *)&tikvjs_b.async);
    tikv_future_destroy(f);
    delete op;
    iso->ThrowException(v8::Exception::Error(
        v8::String::NewFromUtf8(iso, (std::string("tikv: cannot watch future: ") + tikv_strerror(rc)).c_str())
            .ToLocalChecked()));
    return v8::Local<v8::Value>();
  }
  return v8::Number::New(iso, op->id);
}

static int tikvjs_last_err;
static std::string tikvjs_last_msg;
%}

/* A future-returning function returns the operation id; its result is
 * delivered to the dispatcher converted as KIND says. */
%define TIKVJS_FUTURE(FUNC, KIND)
%typemap(out) tikv_future_t *FUNC {
  $result = tikvjs_submit($1, KIND);
  if ($result.IsEmpty()) SWIG_fail;
}
%enddef
/* the default (connect and anything without a more specific rule) */
%typemap(out) tikv_future_t * {
  $result = tikvjs_submit($1, TIKVJS_VOID);
  if ($result.IsEmpty()) SWIG_fail;
}
TIKVJS_FUTURE(tikv_raw_get, TIKVJS_VALUE)
TIKVJS_FUTURE(tikv_raw_batch_get, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_raw_scan, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_raw_batch_scan, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_raw_get_key_ttl, TIKVJS_U64)
TIKVJS_FUTURE(tikv_raw_compare_and_swap, TIKVJS_CAS)
TIKVJS_FUTURE(tikv_txn_begin, TIKVJS_U64)
TIKVJS_FUTURE(tikv_txn_get, TIKVJS_VALUE)
TIKVJS_FUTURE(tikv_txn_batch_get, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_txn_scan, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_txn_get_for_update, TIKVJS_VALUE)
TIKVJS_FUTURE(tikv_txn_batch_get_for_update, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_txn_commit, TIKVJS_U64)
TIKVJS_FUTURE(tikv_client_current_timestamp, TIKVJS_U64)
TIKVJS_FUTURE(tikv_client_gc, TIKVJS_BOOL)

/* Client and cluster handles are checked against the live set, so a handle
 * used after close throws instead of crashing. */
%typemap(in) tikv_client_t * {
  void *p_ = NULL;
  int res_ = SWIG_ConvertPtr($input, &p_, $descriptor(tikv_client_t *), 0);
  if (!SWIG_IsOK(res_) || !p_)
    SWIG_exception_fail(SWIG_TypeError, "argument $argnum of $symname must be a client handle");
  if (!tikvjs_b.clients || !tikvjs_b.clients->count((tikv_client_t *)p_))
    SWIG_exception_fail(SWIG_RuntimeError, "tikv: client is closed");
  $1 = (tikv_client_t *)p_;
}
%typemap(in) tikv_mock_cluster_t * {
  void *p_ = NULL;
  int res_ = SWIG_ConvertPtr($input, &p_, $descriptor(tikv_mock_cluster_t *), 0);
  if (!SWIG_IsOK(res_) || !p_)
    SWIG_exception_fail(SWIG_TypeError, "argument $argnum of $symname must be a mock cluster handle");
  if (!tikvjs_b.mocks || !tikvjs_b.mocks->count((tikv_mock_cluster_t *)p_))
    SWIG_exception_fail(SWIG_RuntimeError, "tikv: mock cluster is stopped");
  $1 = (tikv_mock_cluster_t *)p_;
}
/* Transaction handles likewise: a freed transaction (or one of a closed
 * client) throws. */
%typemap(in) tikv_txn_t * {
  void *p_ = NULL;
  int res_ = SWIG_ConvertPtr($input, &p_, $descriptor(tikv_txn_t *), 0);
  if (!SWIG_IsOK(res_) || !p_)
    SWIG_exception_fail(SWIG_TypeError, "argument $argnum of $symname must be a transaction handle");
  if (!tikvjs_b.txns || !tikvjs_b.txns->count((tikv_txn_t *)p_))
    SWIG_exception_fail(SWIG_RuntimeError, "tikv: transaction is freed");
  $1 = (tikv_txn_t *)p_;
}
%typemap(out) tikv_client_t *tikvjs_client_new, tikv_mock_cluster_t *tikvjs_mock_start,
    tikv_txn_t *tikvjs_txn_new {
  if (!$1) {
    v8::Isolate *iso_ = v8::Isolate::GetCurrent();
    v8::Local<v8::Object> e_ = v8::Exception::Error(
        v8::String::NewFromUtf8(iso_, tikvjs_last_msg.c_str()).ToLocalChecked()).As<v8::Object>();
    const char *n_ = tikv_err_name(tikvjs_last_err);
    e_->Set(SWIGV8_CURRENT_CONTEXT(), SWIGV8_SYMBOL_NEW("code"), SWIGV8_STRING_NEW(n_ ? n_ : "INTERNAL")).Check();
    e_->Set(SWIGV8_CURRENT_CONTEXT(), SWIGV8_SYMBOL_NEW("errno"), SWIGV8_INTEGER_NEW(tikvjs_last_err)).Check();
    iso_->ThrowException(e_);
    SWIG_fail;
  }
  $result = SWIG_NewPointerObj(SWIG_as_voidptr($1), $1_descriptor, 0);
}

/* ---- what is wrapped ---- */

/* futures are the bridge's; errors are read by the bridge */
%ignore tikv_future_is_ready;
%ignore tikv_future_wait;
%ignore tikv_future_set_callback;
%ignore tikv_future_destroy;
%ignore tikv_future_get_error_code;
%ignore tikv_future_get_error;
%ignore tikv_future_get_value;
%ignore tikv_future_get_kvs;
%ignore tikv_future_get_u64;
%ignore tikv_future_get_bool;
/* the bridge's own wakeup machinery */
%ignore tikv_set_idle_hook;
%ignore tikv_on_io_thread;
%ignore tikv_error_code_of;
%ignore tikv_error_message;
%ignore tikv_error_retryable;
%ignore tikv_error_detail_kind;
%ignore tikv_error_key;
%ignore tikv_error_primary;
%ignore tikv_error_start_ts;
%ignore tikv_error_conflict_ts;
%ignore tikv_error_lock_ttl;
%ignore tikv_error_region_id;
%ignore tikv_error_grpc_status;
/* configs and lifetimes go through tikvjs_* below */
%ignore tikv_config_new;
%ignore tikv_config_free;
%ignore tikv_config_add_pd_endpoint;
%ignore tikv_config_set_timeout_ms;
%ignore tikv_config_set_column_family;
%ignore tikv_config_set_atomic;
%ignore tikv_client_new;
%ignore tikv_client_close;
%ignore tikv_client_free;
%ignore tikv_mock_options_s;
%ignore tikv_mock_options_t;
%ignore tikv_mock_options_init;
%ignore tikv_mock_cluster_start;
%ignore tikv_mock_cluster_stop;
%ignore tikv_mock_region_bounds;
%ignore tikv_mock_region_epoch;
%ignore tikv_slice_s;
%ignore tikv_kv_s;
%ignore tikv_error_code;
/* transactions are created and freed through tikvjs_txn_new / freeTxn */
%ignore tikv_txn_options_s;
%ignore tikv_txn_options_t;
%ignore tikv_txn_options_init;
%ignore tikv_txn_new;
%ignore tikv_txn_free;

%include "tikv/common.h"
%include "tikv/error.h"
%include "tikv/future.h"
%include "tikv/client.h"
%include "tikv/raw.h"
%include "tikv/txn.h"
%include "tikv/mock.h"

%inline %{
/* Creates a client from its whole configuration; endpoints separated by ','.
 * Throws (NULL) with the C error code on failure. */
tikv_client_t *tikvjs_client_new(const char *endpoints, uint32_t timeout_ms, const char *cf,
                                 int atomic) {
  tikvjs_last_err = TIKV_ERR_OK;
  tikv_config_t *cfg = tikv_config_new();
  if (!cfg) {
    tikvjs_last_err = TIKV_ERR_NO_MEMORY;
    tikvjs_last_msg = "tikv: out of memory";
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
  if (rc == TIKV_ERR_OK && (rc = tikv_config_set_column_family(cfg, cf)) != TIKV_ERR_OK)
    what = "columnFamily";
  if (rc == TIKV_ERR_OK && (rc = tikv_config_set_atomic(cfg, atomic)) != TIKV_ERR_OK)
    what = "atomic";
  tikv_client_t *c = NULL;
  if (rc == TIKV_ERR_OK) {
    c = tikv_client_new(cfg, &rc);
    if (!c && rc == TIKV_ERR_OK) rc = TIKV_ERR_INTERNAL;
    what = "client";
  }
  tikv_config_free(cfg);
  if (!c) {
    tikvjs_last_err = rc;
    tikvjs_last_msg = "tikv: invalid " + what + ": " + tikv_strerror(rc);
    if (what == "client") tikvjs_last_msg = std::string("tikv: cannot create client: ") + tikv_strerror(rc);
    return NULL;
  }
  if (!tikvjs_b.clients) tikvjs_b.clients = new std::unordered_set<tikv_client_t *>();
  tikvjs_b.clients->insert(c);
  return c;
}

/* Creates a transaction of client c (not begun). lock_wait_timeout_ms < 0:
 * the C default (tikv_txn_options_init); start_ts 0: a fresh one at begin.
 * Throws (NULL) on failure. The transaction lives until freeTxn(handle) or
 * until its client is closed, whichever comes first. */
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
    tikvjs_last_err = rc != TIKV_ERR_OK ? rc : TIKV_ERR_INTERNAL;
    tikvjs_last_msg = std::string("tikv: cannot create transaction: ") + tikv_strerror(tikvjs_last_err);
    return NULL;
  }
  if (!tikvjs_b.txns) tikvjs_b.txns = new std::unordered_map<tikv_txn_t *, tikv_client_t *>();
  (*tikvjs_b.txns)[t] = c;
  return t;
}

/* Starts a mock cluster; NULL (throws) on failure. */
tikv_mock_cluster_t *tikvjs_mock_start(int stores, int regions, int enable_ttl) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  if (stores > 0) o.stores = stores;
  if (regions > 0) o.regions = regions;
  o.enable_ttl = enable_ttl;
  char errbuf[256] = "";
  tikv_mock_cluster_t *m = tikv_mock_cluster_start(&o, errbuf, sizeof errbuf);
  if (!m) {
    tikvjs_last_err = TIKV_ERR_INTERNAL;
    tikvjs_last_msg = std::string("tikv: cannot start mock cluster: ") + (errbuf[0] ? errbuf : "unknown error");
    return NULL;
  }
  if (!tikvjs_b.mocks) tikvjs_b.mocks = new std::unordered_set<tikv_mock_cluster_t *>();
  tikvjs_b.mocks->insert(m);
  return m;
}
%}

/* ---- hand-written natives of the bridge ---- */
%wrapper %{
/* setDispatcher(fn): registers the one JS function that receives every
 * completion as fn(id, error | null, result). Starts the bridge on first call. */
static SwigV8ReturnValue tikvjs_native_set_dispatcher(const SwigV8Arguments &args) {
  SWIGV8_HANDLESCOPE();
  v8::Isolate *iso = args.GetIsolate();
  if (args.Length() != 1 || !args[0]->IsFunction()) {
    tikvjs_throw(SWIG_TypeError, "setDispatcher(fn): fn must be a function");
    SWIGV8_RETURN(SWIGV8_UNDEFINED());
  }
  if (tikvjs_b.started && tikvjs_b.isolate != iso) {
    tikvjs_throw(SWIG_RuntimeError, "tikv: the addon can be used from one thread (the main one) only");
    SWIGV8_RETURN(SWIGV8_UNDEFINED());
  }
  if (!tikvjs_b.started) {
    uv_loop_t *loop = node::GetCurrentEventLoop(iso);
    if (!loop || uv_mutex_init(&tikvjs_b.mu) != 0 ||
        uv_async_init(loop, &tikvjs_b.async, tikvjs_on_async) != 0) {
      tikvjs_throw(SWIG_RuntimeError, "tikv: cannot start the completion bridge");
      SWIGV8_RETURN(SWIGV8_UNDEFINED());
    }
    uv_unref((uv_handle_t *)&tikvjs_b.async);
    tikv_set_idle_hook(tikvjs_idle_hook, NULL);
    tikvjs_b.isolate = iso;
    if (!tikvjs_b.clients) tikvjs_b.clients = new std::unordered_set<tikv_client_t *>();
    if (!tikvjs_b.mocks) tikvjs_b.mocks = new std::unordered_set<tikv_mock_cluster_t *>();
    node::AddEnvironmentCleanupHook(iso, tikvjs_cleanup, NULL);
    tikvjs_b.started = true;
  }
  tikvjs_b.dispatcher.Reset(iso, args[0].As<v8::Function>());
  SWIGV8_RETURN(SWIGV8_UNDEFINED());
}

static void *tikvjs_handle_ptr(v8::Local<v8::Value> v, swig_type_info *ty) {
  void *p = NULL;
  if (!v->IsObject() || !SWIG_IsOK(SWIG_ConvertPtr(v, &p, ty, 0))) return NULL;
  return p;
}

/* closeClient(handle): closes and frees a client; operations in flight
 * complete with CLOSED. true if it was open, false if already closed. */
static SwigV8ReturnValue tikvjs_native_close_client(const SwigV8Arguments &args) {
  SWIGV8_HANDLESCOPE();
  void *p = args.Length() == 1 ? tikvjs_handle_ptr(args[0], SWIGTYPE_p_tikv_client_s) : NULL;
  if (!p) {
    tikvjs_throw(SWIG_TypeError, "closeClient(handle): handle must be a client handle");
    SWIGV8_RETURN(SWIGV8_UNDEFINED());
  }
  bool open = tikvjs_b.clients && tikvjs_b.clients->erase((tikv_client_t *)p) > 0;
  if (open) {
    tikvjs_free_txns((tikv_client_t *)p); /* transactions go before their client */
    tikv_client_free((tikv_client_t *)p);
    /* its I/O thread is joined; while stopping it ran no idle hook, so the
     * CLOSED completions it queued may still wait for their wakeup */
    if (tikvjs_b.unsignaled.exchange(false)) uv_async_send(&tikvjs_b.async);
  }
  SWIGV8_RETURN(SWIGV8_BOOLEAN_NEW(open));
}

/* freeTxn(handle): frees a transaction; one neither committed nor rolled
 * back is rolled back in the background. true if it was live, false if
 * already freed (or freed with its client). */
static SwigV8ReturnValue tikvjs_native_free_txn(const SwigV8Arguments &args) {
  SWIGV8_HANDLESCOPE();
  void *p = args.Length() == 1 ? tikvjs_handle_ptr(args[0], SWIGTYPE_p_tikv_txn_s) : NULL;
  if (!p) {
    tikvjs_throw(SWIG_TypeError, "freeTxn(handle): handle must be a transaction handle");
    SWIGV8_RETURN(SWIGV8_UNDEFINED());
  }
  bool live = tikvjs_b.txns && tikvjs_b.txns->erase((tikv_txn_t *)p) > 0;
  if (live) tikv_txn_free((tikv_txn_t *)p);
  SWIGV8_RETURN(SWIGV8_BOOLEAN_NEW(live));
}

/* stopMock(handle): stops and frees a mock cluster; idempotent. */
static SwigV8ReturnValue tikvjs_native_stop_mock(const SwigV8Arguments &args) {
  SWIGV8_HANDLESCOPE();
  void *p = args.Length() == 1 ? tikvjs_handle_ptr(args[0], SWIGTYPE_p_tikv_mock_cluster_s) : NULL;
  if (!p) {
    tikvjs_throw(SWIG_TypeError, "stopMock(handle): handle must be a mock cluster handle");
    SWIGV8_RETURN(SWIGV8_UNDEFINED());
  }
  bool open = tikvjs_b.mocks && tikvjs_b.mocks->erase((tikv_mock_cluster_t *)p) > 0;
  if (open) tikv_mock_cluster_stop((tikv_mock_cluster_t *)p);
  SWIGV8_RETURN(SWIGV8_BOOLEAN_NEW(open));
}

/* bridgeStats(): {submitted, delivered, wakeups, clients, mocks, txns}, for tests. */
static SwigV8ReturnValue tikvjs_native_stats(const SwigV8Arguments &args) {
  SWIGV8_HANDLESCOPE();
  v8::Isolate *iso = args.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Object> o = v8::Object::New(iso);
  tikvjs_set(iso, ctx, o, "submitted", v8::Number::New(iso, tikvjs_b.submitted));
  tikvjs_set(iso, ctx, o, "delivered", v8::Number::New(iso, tikvjs_b.delivered));
  tikvjs_set(iso, ctx, o, "wakeups", v8::Number::New(iso, tikvjs_b.wakeups));
  tikvjs_set(iso, ctx, o, "clients", v8::Number::New(iso, tikvjs_b.clients ? (double)tikvjs_b.clients->size() : 0));
  tikvjs_set(iso, ctx, o, "mocks", v8::Number::New(iso, tikvjs_b.mocks ? (double)tikvjs_b.mocks->size() : 0));
  tikvjs_set(iso, ctx, o, "txns", v8::Number::New(iso, tikvjs_b.txns ? (double)tikvjs_b.txns->size() : 0));
  SWIGV8_RETURN(o);
}
/* mockRegionInfo(handle, regionId): {start, end, confVer, version} of a mock
 * region (end empty = unbounded), or null if there is no such region. */
static SwigV8ReturnValue tikvjs_native_mock_region_info(const SwigV8Arguments &args) {
  SWIGV8_HANDLESCOPE();
  v8::Isolate *iso = args.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  void *p = args.Length() == 2 ? tikvjs_handle_ptr(args[0], SWIGTYPE_p_tikv_mock_cluster_s) : NULL;
  uint64_t rid = 0;
  if (!p || tikvjs_to_u64(args[1], &rid) != 0) {
    tikvjs_throw(SWIG_TypeError, "mockRegionInfo(handle, regionId): a mock cluster handle and a region id");
    SWIGV8_RETURN(SWIGV8_UNDEFINED());
  }
  if (!tikvjs_b.mocks || !tikvjs_b.mocks->count((tikv_mock_cluster_t *)p)) {
    tikvjs_throw(SWIG_RuntimeError, "tikv: mock cluster is stopped");
    SWIGV8_RETURN(SWIGV8_UNDEFINED());
  }
  tikv_mock_cluster_t *m = (tikv_mock_cluster_t *)p;
  std::vector<uint8_t> start(64), end(64);
  size_t sl = 0, el = 0;
  int rc = tikv_mock_region_bounds(m, rid, start.data(), start.size(), &sl, end.data(), end.size(), &el);
  if (rc != 0 && (sl > start.size() || el > end.size())) {
    start.resize(sl + 1);
    end.resize(el + 1);
    rc = tikv_mock_region_bounds(m, rid, start.data(), start.size(), &sl, end.data(), end.size(), &el);
  }
  uint64_t conf_ver = 0, version = 0;
  if (rc != 0 || tikv_mock_region_epoch(m, rid, &conf_ver, &version) != 0) {
    SWIGV8_RETURN(SWIGV8_NULL());
  }
  v8::Local<v8::Object> o = v8::Object::New(iso);
  tikvjs_set(iso, ctx, o, "start", tikvjs_buffer(iso, start.data(), sl));
  tikvjs_set(iso, ctx, o, "end", tikvjs_buffer(iso, end.data(), el));
  tikvjs_set(iso, ctx, o, "confVer", v8::BigInt::NewFromUnsigned(iso, conf_ver));
  tikvjs_set(iso, ctx, o, "version", v8::BigInt::NewFromUnsigned(iso, version));
  SWIGV8_RETURN(o);
}

%}
%native(mockRegionInfo) void tikvjs_native_mock_region_info(void);
%native(setDispatcher) void tikvjs_native_set_dispatcher(void);
%native(closeClient) void tikvjs_native_close_client(void);
%native(freeTxn) void tikvjs_native_free_txn(void);
%native(stopMock) void tikvjs_native_stop_mock(void);
%native(bridgeStats) void tikvjs_native_stats(void);
