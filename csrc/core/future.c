/* Futures: completed once by the producer on the I/O thread; waited on,
 * polled or called back by the user. */
#include "core/core.h"

enum { FUTURE_SIZE = (sizeof(tikv_future_t) + _Alignof(max_align_t) - 1) &
                     ~(size_t)(_Alignof(max_align_t) - 1) };

tikv_future_t *tikv__future_new(void) { return tikv__future_new_with(0, NULL); }

tikv_future_t *tikv__future_new_with(size_t extra, void **extra_out) {
  if (extra > SIZE_MAX - FUTURE_SIZE) return NULL;
  tikv_future_t *f = tikv__calloc(1, FUTURE_SIZE + extra);
  if (!f) return NULL;
  if (extra_out) *extra_out = (char *)f + FUTURE_SIZE;
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cv, NULL);
  f->refs = 2;
  return f;
}

static void future_release_result(tikv_future_t *f) {
  tikv__error_free(f->error);
  f->error = NULL;
  tikv__bytes_free(&f->value);
  tikv__kvs_free(&f->kvs);
}

static void future_unref(tikv_future_t *f) {
  pthread_mutex_lock(&f->mu);
  int refs = --f->refs;
  pthread_mutex_unlock(&f->mu);
  if (refs) return;
  future_release_result(f);
  pthread_mutex_destroy(&f->mu);
  pthread_cond_destroy(&f->cv);
  free(f);
}

void tikv__future_set_scope(tikv_future_t *f, tikv__loop_t *loop, uint32_t timeout_ms) {
  tikv__scope_init(&f->scope, loop, tikv__now_ms() + timeout_ms);
}

/* What a cancelled operation's expiry is to its caller: it gave up, the
 * cluster did not fail. Other outcomes (success, UNDETERMINED, a server's
 * answer) are reported as they are. */
static tikv_error_t *aborted(tikv_error_t *err) {
  bool gave_up = err->code == TIKV_ERR_TIMEOUT || err->code == TIKV_ERR_CANCELLED ||
                 (err->code == TIKV_ERR_UNAVAILABLE && err->grpc_status == GRPC_STATUS_CANCELLED);
  if (!gave_up) return err;
  tikv_error_t *e = tikv__error_new(TIKV_ERR_ABORTED, "operation aborted: %s", err->message);
  tikv__error_free(err);
  return e;
}

void tikv__future_complete(tikv_future_t *f, tikv_error_t *err) {
  /* the operation is over: nothing it waited on may reach its scope now */
  tikv__scope_detach(&f->scope);
  if (err && f->scope.cancelled) err = aborted(err);
  pthread_mutex_lock(&f->mu);
  if (err) {
    /* a failed future exposes no partial result */
    tikv__bytes_free(&f->value);
    tikv__kvs_free(&f->kvs);
    f->found = false;
    f->has_u64 = false;
    f->error = err;
  }
  f->state = TIKV__F_DONE;
  tikv__loop_note_future_completed();
  tikv_future_cb cb = f->user_released ? NULL : f->cb;
  void *arg = f->cb_arg;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
  if (cb) cb(f, arg);
  future_unref(f);
}

tikv_future_t *tikv__future_failed(tikv_error_t *err) {
  tikv_future_t *f = tikv__future_new();
  if (!f) {
    tikv__error_free(err);
    return NULL;
  }
  tikv__future_complete(f, err);
  return f;
}

/* On the I/O thread, which completes the future: a future still pending
 * there has its operation running, and the scope is the operation's. */
static void cancel_on_loop(void *p) {
  tikv_future_t *f = p;
  pthread_mutex_lock(&f->mu);
  bool done = f->state == TIKV__F_DONE;
  pthread_mutex_unlock(&f->mu);
  if (!done && !f->scope.cancelled) tikv__scope_cancel(&f->scope);
  future_unref(f);
}

int tikv_future_cancel(tikv_future_t *f) {
  if (!f) return TIKV_ERR_INVALID_ARGUMENT;
  pthread_mutex_lock(&f->mu);
  bool pending = f->state != TIKV__F_DONE && f->scope.loop;
  if (pending) f->refs++; /* held by the posted task */
  pthread_mutex_unlock(&f->mu);
  if (!pending) return TIKV_ERR_OK;
  if (tikv__loop_post(f->scope.loop, cancel_on_loop, f) != 0) future_unref(f); /* closing: it ends anyway */
  return TIKV_ERR_OK;
}

int tikv_future_is_ready(tikv_future_t *f) {
  pthread_mutex_lock(&f->mu);
  int r = f->state == TIKV__F_DONE;
  pthread_mutex_unlock(&f->mu);
  return r;
}

int tikv_future_wait(tikv_future_t *f) {
  pthread_mutex_lock(&f->mu);
  while (f->state != TIKV__F_DONE) pthread_cond_wait(&f->cv, &f->mu);
  int code = f->error ? f->error->code : TIKV_ERR_OK;
  pthread_mutex_unlock(&f->mu);
  return code;
}

typedef struct {
  tikv_future_t *f;
  tikv_future_cb cb;
  void *arg;
} late_cb;

static void run_late_cb(void *p) {
  late_cb *l = p;
  bool released;
  pthread_mutex_lock(&l->f->mu);
  released = l->f->user_released;
  pthread_mutex_unlock(&l->f->mu);
  if (!released) l->cb(l->f, l->arg);
  future_unref(l->f);
  free(l);
}

int tikv_future_set_callback(tikv_future_t *f, tikv_future_cb cb, void *arg) {
  if (!f || !cb) return TIKV_ERR_INVALID_ARGUMENT;
  pthread_mutex_lock(&f->mu);
  if (f->cb) {
    pthread_mutex_unlock(&f->mu);
    return TIKV_ERR_INVALID_ARGUMENT;
  }
  f->cb = cb;
  f->cb_arg = arg;
  bool done = f->state == TIKV__F_DONE;
  if (done) f->refs++; /* held by the deferred call */
  pthread_mutex_unlock(&f->mu);
  if (!done) return TIKV_ERR_OK;
  late_cb *l = tikv__malloc(sizeof(*l));
  if (l) *l = (late_cb){f, cb, arg};
  if (!l || tikv__defer(run_late_cb, l) != 0) {
    free(l);
    pthread_mutex_lock(&f->mu);
    f->cb = NULL;
    f->refs--;
    pthread_mutex_unlock(&f->mu);
    return TIKV_ERR_NO_MEMORY;
  }
  return TIKV_ERR_OK;
}

void tikv_future_destroy(tikv_future_t *f) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  f->user_released = true;
  pthread_mutex_unlock(&f->mu);
  future_unref(f);
}

int tikv_future_get_error_code(tikv_future_t *f) {
  pthread_mutex_lock(&f->mu);
  int code = f->state != TIKV__F_DONE ? TIKV_ERR_NOT_READY
             : f->error               ? f->error->code
                                      : TIKV_ERR_OK;
  pthread_mutex_unlock(&f->mu);
  return code;
}

const tikv_error_t *tikv_future_get_error(tikv_future_t *f) {
  pthread_mutex_lock(&f->mu);
  const tikv_error_t *e = f->state == TIKV__F_DONE ? f->error : NULL;
  pthread_mutex_unlock(&f->mu);
  return e;
}

/* Results are immutable once DONE, so reading them needs only the state check. */
static bool ok_done(tikv_future_t *f) {
  pthread_mutex_lock(&f->mu);
  bool ok = f->state == TIKV__F_DONE && !f->error;
  pthread_mutex_unlock(&f->mu);
  return ok;
}

int tikv_future_get_value(tikv_future_t *f, const uint8_t **value, size_t *len) {
  if (!ok_done(f)) return -1;
  if (!f->found) {
    if (value) *value = NULL;
    if (len) *len = 0;
    return 0;
  }
  if (value) *value = f->value.data ? f->value.data : (const uint8_t *)"";
  if (len) *len = f->value.len;
  return 1;
}

int tikv_future_get_kvs(tikv_future_t *f, const tikv_kv_t **kvs, size_t *count) {
  int code = tikv_future_get_error_code(f);
  if (code != TIKV_ERR_OK) return code;
  if (kvs) *kvs = f->kvs.items;
  if (count) *count = f->kvs.count;
  return TIKV_ERR_OK;
}

int tikv_future_get_u64(tikv_future_t *f, uint64_t *v) {
  if (!ok_done(f)) return -1;
  if (v) *v = f->has_u64 ? f->u64 : 0;
  return f->has_u64 ? 1 : 0;
}

int tikv_future_get_bool(tikv_future_t *f) {
  if (!ok_done(f)) return -1;
  return f->flag ? 1 : 0;
}

/* ---- the deferred-callback thread ----
 * Callbacks set on futures that already completed run here, so that no
 * callback ever runs inside the call that registered it. */
typedef struct defer_item {
  void (*fn)(void *);
  void *arg;
  struct defer_item *next;
} defer_item;

static pthread_mutex_t defer_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t defer_cv = PTHREAD_COND_INITIALIZER;
static defer_item *defer_head, *defer_tail;
static bool defer_started;

static void *defer_main(void *unused) {
  for (;;) {
    pthread_mutex_lock(&defer_mu);
    while (!defer_head) pthread_cond_wait(&defer_cv, &defer_mu);
    defer_item *it = defer_head;
    defer_head = it->next;
    if (!defer_head) defer_tail = NULL;
    pthread_mutex_unlock(&defer_mu);
    it->fn(it->arg);
    free(it);
  }
  return NULL;
}

int tikv__defer(void (*fn)(void *), void *arg) {
  defer_item *it = tikv__malloc(sizeof(*it));
  if (!it) return -1;
  *it = (defer_item){fn, arg, NULL};
  pthread_mutex_lock(&defer_mu);
  if (!defer_started) {
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, defer_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      pthread_mutex_unlock(&defer_mu);
      free(it);
      return -1;
    }
    defer_started = true;
  }
  if (defer_tail)
    defer_tail->next = it;
  else
    defer_head = it;
  defer_tail = it;
  pthread_cond_signal(&defer_cv);
  pthread_mutex_unlock(&defer_mu);
  return 0;
}
