/* Unit tests of the core: error table, futures, I/O loop and timers,
 * backoff, key codec, region cache, protobuf wire facts. */
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "core/core.h"
#include "region/cache.h"
#include "rpc/rpc.h"

/* ---- error table ---- */
START_TEST(error_table_complete) {
  int count = 0;
#define COUNT(name, num, retry, desc) count++;
  TIKV_ERROR_MAP(COUNT)
#undef COUNT
  ck_assert_int_eq(count, TIKV_ERR__COUNT);
  for (int i = 0; i < TIKV_ERR__COUNT; i++) {
    ck_assert_msg(tikv_err_name(i) != NULL, "code %d has no name", i);
    ck_assert_str_ne(tikv_strerror(i), "unknown error");
    for (int j = 0; j < i; j++) ck_assert_str_ne(tikv_err_name(i), tikv_err_name(j));
  }
  ck_assert_ptr_null(tikv_err_name(TIKV_ERR__COUNT));
  ck_assert_ptr_null(tikv_err_name(-1));
  ck_assert_str_eq(tikv_strerror(9999), "unknown error");
  ck_assert_str_eq(tikv_err_name(TIKV_ERR_WRITE_CONFLICT), "WRITE_CONFLICT");
  ck_assert_int_eq(tikv_err_retryable(TIKV_ERR_TIMEOUT), 1);
  ck_assert_int_eq(tikv_err_retryable(TIKV_ERR_INVALID_ARGUMENT), 0);
  ck_assert_str_eq(tikv_version_string(), "0.1.0");
  ck_assert_uint_eq(tikv_version(), TIKV_VERSION_HEX);
}
END_TEST

START_TEST(error_objects) {
  tikv_error_t *e = tikv__error_new(TIKV_ERR_REGION, "region %d", 7);
  ck_assert_int_eq(tikv_error_code_of(e), TIKV_ERR_REGION);
  ck_assert_str_eq(tikv_error_message(e), "region 7");
  ck_assert_str_eq(tikv_error_detail_kind(e), "");
  tikv__error_set_kind(e, "not_leader");
  tikv__bytes_set(&e->key, "k\0y", 3);
  e->start_ts = 42;
  tikv__error_prefix(e, "RawGet");
  tikv_error_t *d = tikv__error_dup(e);
  tikv__error_free(e);
  ck_assert_str_eq(tikv_error_message(d), "RawGet: region 7");
  ck_assert_str_eq(tikv_error_detail_kind(d), "not_leader");
  size_t len;
  const uint8_t *k = tikv_error_key(d, &len);
  ck_assert_uint_eq(len, 3);
  ck_assert_mem_eq(k, "k\0y", 3);
  ck_assert_uint_eq(tikv_error_start_ts(d), 42);
  ck_assert_int_eq(tikv_error_retryable(d), 1);
  tikv__error_free(d);
  tikv__error_free(NULL);
}
END_TEST

/* ---- futures ---- */
typedef struct {
  atomic_int calls;
  pthread_t thread;
  tikv_future_t *seen;
} cb_rec;

static void record_cb(tikv_future_t *f, void *arg) {
  cb_rec *r = arg;
  r->thread = pthread_self();
  r->seen = f;
  atomic_fetch_add(&r->calls, 1);
}

START_TEST(future_wait_and_getters) {
  tikv_future_t *f = tikv__future_new();
  ck_assert_int_eq(tikv_future_is_ready(f), 0);
  ck_assert_int_eq(tikv_future_get_error_code(f), TIKV_ERR_NOT_READY);
  ck_assert_int_eq(tikv_future_get_value(f, NULL, NULL), -1);
  tikv__bytes_set(&f->value, "v", 1);
  f->found = true;
  f->u64 = 9;
  f->has_u64 = true;
  tikv__future_complete(f, NULL);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  const uint8_t *v;
  size_t len;
  ck_assert_int_eq(tikv_future_get_value(f, &v, &len), 1);
  ck_assert_uint_eq(len, 1);
  uint64_t u;
  ck_assert_int_eq(tikv_future_get_u64(f, &u), 1);
  ck_assert_uint_eq(u, 9);
  ck_assert_ptr_null(tikv_future_get_error(f));
  tikv_future_destroy(f);
}
END_TEST

START_TEST(future_error_hides_partial_result) {
  tikv_future_t *f = tikv__future_new();
  tikv__bytes_set(&f->value, "partial", 7);
  f->found = true;
  tikv__future_complete(f, tikv__error_new(TIKV_ERR_TIMEOUT, "late"));
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_TIMEOUT);
  ck_assert_int_eq(tikv_future_get_value(f, NULL, NULL), -1);
  ck_assert_str_eq(tikv_error_message(tikv_future_get_error(f)), "late");
  size_t n;
  const tikv_kv_t *kvs;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kvs, &n), TIKV_ERR_TIMEOUT);
  tikv_future_destroy(f);
}
END_TEST

typedef struct {
  tikv_future_t *f;
  pthread_t self;
} completer;

static void *complete_it(void *arg) {
  completer *c = arg;
  c->self = pthread_self();
  tikv__future_complete(c->f, NULL);
  return NULL;
}

START_TEST(future_callback_once_on_completing_thread) {
  cb_rec rec = {0};
  tikv_future_t *f = tikv__future_new();
  ck_assert_int_eq(tikv_future_set_callback(f, record_cb, &rec), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_future_set_callback(f, record_cb, &rec), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_int_eq(atomic_load(&rec.calls), 0);
  completer c = {f, 0};
  pthread_t th;
  pthread_create(&th, NULL, complete_it, &c);
  pthread_join(th, NULL);
  /* called once, by the completing thread itself, before complete returned */
  ck_assert_int_eq(atomic_load(&rec.calls), 1);
  ck_assert(pthread_equal(rec.thread, c.self));
  ck_assert(!pthread_equal(rec.thread, pthread_self()));
  ck_assert_ptr_eq(rec.seen, f);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  ck_assert_int_eq(atomic_load(&rec.calls), 1);
  tikv_future_destroy(f);
}
END_TEST

START_TEST(future_late_callback_never_synchronous) {
  cb_rec rec = {0};
  tikv_future_t *f = tikv__future_failed(tikv__error_new(TIKV_ERR_CLOSED, "closed"));
  ck_assert_int_eq(tikv_future_is_ready(f), 1);
  ck_assert_int_eq(tikv_future_set_callback(f, record_cb, &rec), TIKV_ERR_OK);
  /* the set_callback call returned; the callback runs on another thread */
  for (int i = 0; i < 500 && atomic_load(&rec.calls) == 0; i++) usleep(2000);
  ck_assert_int_eq(atomic_load(&rec.calls), 1);
  ck_assert(!pthread_equal(rec.thread, pthread_self()));
  usleep(20000);
  ck_assert_int_eq(atomic_load(&rec.calls), 1);
  tikv_future_destroy(f);
}
END_TEST

START_TEST(future_destroy_pending_suppresses_callback) {
  cb_rec rec = {0};
  tikv_future_t *f = tikv__future_new();
  tikv_future_set_callback(f, record_cb, &rec);
  tikv_future_destroy(f);                      /* the user lets go */
  tikv__future_complete(f, NULL);              /* the producer finishes later */
  ck_assert_int_eq(atomic_load(&rec.calls), 0); /* freed without calling back */
  ck_assert_int_eq(tikv_future_set_callback(NULL, record_cb, NULL), TIKV_ERR_INVALID_ARGUMENT);
  tikv_future_destroy(NULL);
}
END_TEST

/* ---- loop ---- */
typedef struct {
  tikv__loop_t *l;
  int order[8];
  atomic_int n;
  bool on_thread;
  tikv__timer_t t[3];
  pthread_mutex_t mu;
  pthread_cond_t cv;
} loop_rec;

static void mark(loop_rec *r, int v) {
  pthread_mutex_lock(&r->mu);
  r->order[atomic_fetch_add(&r->n, 1)] = v;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}
static void t1(void *a) { mark(a, 1); }
static void t2(void *a) { mark(a, 2); }
static void t3(void *a) { mark(a, 3); }

static void start_timers(void *a) {
  loop_rec *r = a;
  r->on_thread = tikv__loop_on_thread(r->l);
  for (int i = 0; i < 3; i++) tikv__timer_init(&r->t[i]);
  tikv__timer_start(r->l, &r->t[0], 60, t3, r);
  tikv__timer_start(r->l, &r->t[1], 5, t1, r);
  tikv__timer_start(r->l, &r->t[2], 30, t2, r);
  tikv__timer_cancel(r->l, &r->t[2]); /* cancelled timers never fire */
  tikv__timer_start(r->l, &r->t[2], 30, t2, r);
}

static void wait_n(loop_rec *r, int n) {
  pthread_mutex_lock(&r->mu);
  while (atomic_load(&r->n) < n) pthread_cond_wait(&r->cv, &r->mu);
  pthread_mutex_unlock(&r->mu);
}

START_TEST(loop_posts_and_timers) {
  loop_rec r = {0};
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  r.l = tikv__loop_new();
  ck_assert_ptr_nonnull(r.l);
  ck_assert(!tikv__loop_on_thread(r.l));
  ck_assert_int_eq(tikv__loop_post(r.l, start_timers, &r), 0);
  wait_n(&r, 3);
  ck_assert(r.on_thread);
  ck_assert_int_eq(r.order[0], 1);
  ck_assert_int_eq(r.order[1], 2);
  ck_assert_int_eq(r.order[2], 3);
  tikv__loop_stop(r.l, NULL, NULL);
  ck_assert_int_eq(tikv__loop_post(r.l, t1, &r), -1); /* refused after stop */
  tikv__loop_stop(r.l, NULL, NULL);                    /* idempotent */
  tikv__loop_free(r.l);
  ck_assert_int_eq(atomic_load(&r.n), 3);
}
END_TEST

typedef struct {
  tikv__loop_t *l;
  atomic_int ran, off_thread;
} post_rec;

static void count_task(void *a) {
  post_rec *r = a;
  if (!tikv__loop_on_thread(r->l)) atomic_fetch_add(&r->off_thread, 1);
  atomic_fetch_add(&r->ran, 1);
}

enum { POSTERS = 4, POSTS_EACH = 2500 };

static void *poster(void *a) {
  post_rec *r = a;
  for (int i = 0; i < POSTS_EACH; i++) ck_assert_int_eq(tikv__loop_post(r->l, count_task, r), 0);
  return NULL;
}

START_TEST(loop_many_posts_from_threads) {
  post_rec r = {tikv__loop_new(), 0, 0};
  pthread_t th[POSTERS];
  for (int i = 0; i < POSTERS; i++) pthread_create(&th[i], NULL, poster, &r);
  for (int i = 0; i < POSTERS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 5000 && atomic_load(&r.ran) < POSTERS * POSTS_EACH; i++) usleep(1000);
  ck_assert_int_eq(atomic_load(&r.ran), POSTERS * POSTS_EACH); /* none lost */
  ck_assert_int_eq(atomic_load(&r.off_thread), 0);            /* all on the loop thread */
  tikv__loop_stop(r.l, NULL, NULL);
  tikv__loop_free(r.l);
  ck_assert_int_eq(atomic_load(&r.ran), POSTERS * POSTS_EACH); /* none run twice */
}
END_TEST

static void stop_fires(void *a) { mark(a, 7); }
static void long_timer(void *a) {
  loop_rec *r = a;
  tikv__timer_init(&r->t[0]);
  tikv__timer_start(r->l, &r->t[0], 3600 * 1000, stop_fires, r);
}

START_TEST(loop_stop_fires_pending_timers) {
  loop_rec r = {0};
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  r.l = tikv__loop_new();
  tikv__loop_post(r.l, long_timer, &r);
  int64_t t0 = tikv__now_ms();
  tikv__loop_stop(r.l, NULL, NULL);
  /* a timer an hour away fired at stop, so nothing waiting on it hangs */
  ck_assert_int_eq(atomic_load(&r.n), 1);
  ck_assert_int_eq(r.order[0], 7);
  ck_assert_int_lt(tikv__now_ms() - t0, 5000);
  tikv__loop_free(r.l);
}
END_TEST

/* A task posted from the loop's own thread (no wakeup is sent for those)
 * still runs before the loop goes to sleep. */
typedef struct {
  tikv__loop_t *l;
  loop_rec *r;
} chain_arg;
static void chained(void *a) { mark(((chain_arg *)a)->r, 2); }
static void first(void *a) {
  chain_arg *c = a;
  mark(c->r, 1);
  tikv__loop_post(c->l, chained, c);
}

START_TEST(loop_runs_tasks_posted_from_itself) {
  loop_rec r = {0};
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  r.l = tikv__loop_new();
  chain_arg c = {r.l, &r};
  for (int i = 0; i < 100; i++) {
    atomic_store(&r.n, 0);
    tikv__loop_post(r.l, first, &c);
    wait_n(&r, 2); /* hangs (test timeout) if the chained task is stranded */
  }
  tikv__loop_stop(r.l, NULL, NULL);
  tikv__loop_free(r.l);
}
END_TEST

/* The idle hook runs on the I/O thread after the callbacks of a burst. The
 * test waits for what it can observe, whatever the scheduling: the loop may
 * run the hook before the task (when it first goes idle), and the waiter
 * may return before the callback has run. */
static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cv = PTHREAD_COND_INITIALIZER;
static int hook_calls, cb_on_io;
static int hooks_before_cb; /* hook calls the callback saw: one must follow */
static int count_hook(void *arg) {
  if (!tikv_on_io_thread()) return 0;
  pthread_mutex_lock(&hook_mu);
  hook_calls++;
  pthread_cond_broadcast(&hook_cv);
  pthread_mutex_unlock(&hook_mu);
  return 0;
}
static void complete_task(void *a) {
  tikv_future_t *f = a;
  tikv__future_complete(f, NULL);
}
static void io_cb(tikv_future_t *f, void *arg) {
  if (!tikv_on_io_thread()) return;
  pthread_mutex_lock(&hook_mu);
  hooks_before_cb = hook_calls;
  cb_on_io++;
  pthread_cond_broadcast(&hook_cv);
  pthread_mutex_unlock(&hook_mu);
}

START_TEST(idle_hook_follows_callbacks) {
  ck_assert_int_eq(tikv_on_io_thread(), 0);
  tikv_set_idle_hook(count_hook, NULL);
  tikv__loop_t *l = tikv__loop_new();
  tikv_future_t *f = tikv__future_new();
  tikv_future_set_callback(f, io_cb, NULL);
  tikv__loop_post(l, complete_task, f);
  ck_assert_int_eq(tikv_future_wait(f), TIKV_ERR_OK);
  /* the callback on the I/O thread, then a hook after it (a hang here is
   * the test case's timeout) */
  pthread_mutex_lock(&hook_mu);
  while (cb_on_io == 0 || hook_calls <= hooks_before_cb) pthread_cond_wait(&hook_cv, &hook_mu);
  ck_assert_int_eq(cb_on_io, 1);
  /* and once more when the loop exits, after the completions of its close */
  int before = hook_calls;
  pthread_mutex_unlock(&hook_mu);
  tikv__loop_stop(l, NULL, NULL); /* joins the I/O thread */
  pthread_mutex_lock(&hook_mu);
  ck_assert_int_gt(hook_calls, before);
  pthread_mutex_unlock(&hook_mu);
  tikv_set_idle_hook(NULL, NULL);
  tikv_future_destroy(f);
  tikv__loop_free(l);
}
END_TEST

/* A hook that says it woke its thread once per arming: the loop then stays
 * awake for the posts of that window (tikv_config_set_idle_spin_us), which
 * need no wakeup. */
static atomic_int wake_armed, waking_hooks;
static int waking_hook(void *arg) {
  if (!tikv_on_io_thread()) return 0;
  int woke = atomic_exchange(&wake_armed, 0);
  atomic_fetch_add(&waking_hooks, 1);
  return woke;
}
static void bump_task(void *arg) { atomic_fetch_add((atomic_int *)arg, 1); }
static atomic_int hooks_at_tick;
static void tick_task(void *arg) {
  atomic_store(&hooks_at_tick, atomic_load(&waking_hooks));
  atomic_fetch_add((atomic_int *)arg, 1);
}

/* Windows opened by a hook that woke its thread, each given `per_window`
 * posts one after the other, until `want` windows had every post taken
 * without a wakeup or `tries` windows were tried: how many had. *woken
 * counts the posts that needed a wakeup. */
static int clean_windows(uint32_t spin_us, int tries, int want, int per_window, int *woken) {
  tikv__loop_t *l = tikv__loop_new();
  tikv__loop_set_idle_spin(l, spin_us);
  atomic_int ran = 0, ticks = 0;
  int clean = 0;
  *woken = 0;
  for (int i = 0; i < tries && clean < want; i++) {
    /* a turn of the loop that ends with the hook waking "its thread" */
    atomic_store(&wake_armed, 1);
    ck_assert_int_eq(tikv__loop_post(l, tick_task, &ticks), 0);
    while (atomic_load(&ticks) <= i || atomic_load(&waking_hooks) <= atomic_load(&hooks_at_tick) ||
           atomic_load(&wake_armed))
      sched_yield();
    int missed = 0;
    for (int j = 0; j < per_window; j++) {
      /* as a caller would: it takes a while to come back (the loop, after
       * running the last post, has to get back into its wait for the next) */
      usleep(300);
      long w = tikv__loop_wakeups(l);
      int want_ran = atomic_load(&ran) + 1;
      ck_assert_int_eq(tikv__loop_post(l, bump_task, &ran), 0);
      while (atomic_load(&ran) < want_ran) sched_yield();
      missed += tikv__loop_wakeups(l) > w;
    }
    clean += missed == 0;
    *woken += missed;
  }
  tikv__loop_stop(l, NULL, NULL);
  tikv__loop_free(l);
  return clean;
}

START_TEST(idle_spin_takes_posts_without_wakeup) {
  tikv_set_idle_hook(waking_hook, NULL);
  /* the second and third post of a window are taken awake too (it lasts
   * from the wakeup, not from the last post). A window is missed only when
   * the spinning thread is kept off the CPU for its 10 ms, which a loaded
   * machine (the sanitizer suites running beside this one) does to a third
   * of them: some windows, not all, must be clean */
  int woken;
  ck_assert_int_eq(clean_windows(10000, 40, 3, 3, &woken), 3);
  /* off: every post to a sleeping loop wakes it */
  ck_assert_int_eq(clean_windows(0, 5, 5, 2, &woken), 0);
  ck_assert_int_eq(woken, 10);
  tikv_set_idle_hook(NULL, NULL);
}
END_TEST

/* ---- backoff ---- */
START_TEST(backoff_grows_and_caps) {
  tikv__backoff_t b;
  tikv__backoff_init(&b, 10, 200);
  int prev_max = 0;
  for (int i = 0; i < 12; i++) {
    int s = tikv__backoff_next(&b);
    int step = 10 << i;
    if (step > 200) step = 200;
    ck_assert_int_ge(s, step / 2);
    ck_assert_int_le(s, step);
    prev_max = s > prev_max ? s : prev_max;
  }
  ck_assert_int_le(prev_max, 200);
  ck_assert_int_eq(b.attempts, 12);
}
END_TEST

/* ---- codec: TiKV's memcomparable bytes ---- */
START_TEST(codec_vectors) {
  uint8_t *out;
  size_t len;
  ck_assert_int_eq(tikv__codec_encode_bytes((const uint8_t *)"", 0, &out, &len), 0);
  const uint8_t empty[] = {0, 0, 0, 0, 0, 0, 0, 0, 0xf7};
  ck_assert_uint_eq(len, 9);
  ck_assert_mem_eq(out, empty, 9);
  free(out);
  ck_assert_int_eq(tikv__codec_encode_bytes((const uint8_t *)"abc", 3, &out, &len), 0);
  const uint8_t abc[] = {'a', 'b', 'c', 0, 0, 0, 0, 0, 0xfa};
  ck_assert_mem_eq(out, abc, 9);
  free(out);
  ck_assert_int_eq(tikv__codec_encode_bytes((const uint8_t *)"12345678", 8, &out, &len), 0);
  const uint8_t eight[] = {'1', '2', '3', '4', '5', '6', '7', '8', 0xff,
                           0,   0,   0,   0,   0,   0,   0,   0,   0xf7};
  ck_assert_uint_eq(len, 18);
  ck_assert_mem_eq(out, eight, 18);
  /* round trip, and the encoded form is followed by extra bytes (a ts) */
  uint8_t with_ts[26];
  memcpy(with_ts, out, 18);
  memset(with_ts + 18, 0xaa, 8);
  free(out);
  uint8_t *dec;
  size_t dl, used;
  ck_assert_int_eq(tikv__codec_decode_bytes(with_ts, 26, &dec, &dl, &used), 0);
  ck_assert_uint_eq(dl, 8);
  ck_assert_uint_eq(used, 18);
  ck_assert_mem_eq(dec, "12345678", 8);
  free(dec);
  const uint8_t bad[] = {'a', 0, 0, 0, 0, 0, 0, 1, 0xf8}; /* padding must be zero */
  ck_assert_int_eq(tikv__codec_decode_bytes(bad, 9, &dec, &dl, &used), -1);
  ck_assert_int_eq(tikv__codec_decode_bytes(bad, 5, &dec, &dl, &used), -1);
}
END_TEST

START_TEST(codec_preserves_order) {
  const char *keys[] = {"", "\x00", "a", "a\x00", "ab", "abcdefgh", "abcdefgh\x00", "b", "\xff"};
  size_t lens[] = {0, 1, 1, 2, 2, 8, 9, 1, 1};
  for (int i = 0; i + 1 < 9; i++) {
    uint8_t *a, *b;
    size_t al, bl;
    tikv__codec_encode_bytes((const uint8_t *)keys[i], lens[i], &a, &al);
    tikv__codec_encode_bytes((const uint8_t *)keys[i + 1], lens[i + 1], &b, &bl);
    ck_assert_int_lt(tikv__key_cmp(a, al, b, bl), 0);
    free(a);
    free(b);
  }
}
END_TEST

/* ---- region cache ---- */
static Metapb__Region *mk_region(uint64_t id, const char *s, const char *e, uint64_t ver,
                                 int peers) {
  Metapb__Region *r = calloc(1, sizeof(*r));
  metapb__region__init(r);
  r->id = id;
  r->start_key = (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
  r->end_key = (ProtobufCBinaryData){strlen(e), (uint8_t *)e};
  r->region_epoch = calloc(1, sizeof(Metapb__RegionEpoch));
  metapb__region_epoch__init(r->region_epoch);
  r->region_epoch->version = ver;
  r->region_epoch->conf_ver = 1;
  r->n_peers = peers;
  r->peers = calloc(peers, sizeof(Metapb__Peer *));
  for (int i = 0; i < peers; i++) {
    r->peers[i] = calloc(1, sizeof(Metapb__Peer));
    metapb__peer__init(r->peers[i]);
    r->peers[i]->id = id * 10 + i;
    r->peers[i]->store_id = i + 1;
  }
  return r;
}

static void free_region(Metapb__Region *r) {
  for (size_t i = 0; i < r->n_peers; i++) free(r->peers[i]);
  free(r->peers);
  free(r->region_epoch);
  free(r);
}

static uint64_t find_id(tikv__region_cache_t *rc, const char *k) {
  tikv__region_t *r = tikv__cache_find(rc, (const uint8_t *)k, strlen(k));
  return r ? r->id : 0;
}
static uint64_t find_end_id(tikv__region_cache_t *rc, const char *k) {
  tikv__region_t *r = tikv__cache_find_end(rc, (const uint8_t *)k, strlen(k));
  return r ? r->id : 0;
}

START_TEST(region_cache_lookup_and_heal) {
  tikv__region_cache_t rc;
  tikv__cache_init(&rc);
  Metapb__Region *a = mk_region(1, "", "g", 1, 3), *b = mk_region(2, "g", "p", 1, 3),
                 *c = mk_region(3, "p", "", 1, 3);
  ck_assert_ptr_nonnull(tikv__cache_insert(&rc, c, 31));
  ck_assert_ptr_nonnull(tikv__cache_insert(&rc, a, 10));
  ck_assert_ptr_nonnull(tikv__cache_insert(&rc, b, 0));
  ck_assert_uint_eq(rc.count, 3);
  ck_assert_uint_eq(find_id(&rc, ""), 1);
  ck_assert_uint_eq(find_id(&rc, "f\xff"), 1);
  ck_assert_uint_eq(find_id(&rc, "g"), 2);
  ck_assert_uint_eq(find_id(&rc, "zzz"), 3);
  /* end keys: exclusive */
  ck_assert_uint_eq(find_end_id(&rc, "g"), 1);
  ck_assert_uint_eq(find_end_id(&rc, "g\x01"), 2);
  ck_assert_uint_eq(find_end_id(&rc, ""), 3);
  ck_assert_uint_eq(tikv__cache_by_id(&rc, 3)->peers[tikv__cache_by_id(&rc, 3)->leader].id, 31);
  ck_assert_uint_eq(tikv__cache_by_id(&rc, 2)->leader, SIZE_MAX);
  ck_assert(tikv__cache_set_leader(&rc, 2, 3, 0));
  ck_assert_uint_eq(tikv__cache_by_id(&rc, 2)->peers[tikv__cache_by_id(&rc, 2)->leader].store_id, 3);
  ck_assert(!tikv__cache_set_leader(&rc, 2, 9, 0));
  /* a split of region 2 at "k" (newer version) replaces it */
  Metapb__Region *b1 = mk_region(2, "g", "k", 2, 3), *b2 = mk_region(4, "k", "p", 2, 3);
  ck_assert_ptr_nonnull(tikv__cache_insert(&rc, b1, 0));
  ck_assert_uint_eq(find_id(&rc, "m"), 0); /* the right half is unknown until loaded */
  ck_assert_ptr_nonnull(tikv__cache_insert(&rc, b2, 0));
  ck_assert_uint_eq(find_id(&rc, "m"), 4);
  ck_assert_uint_eq(find_id(&rc, "h"), 2);
  /* a stale report of the old region 2 does not undo the split */
  ck_assert_ptr_null(tikv__cache_insert(&rc, b, 0));
  ck_assert_uint_eq(find_id(&rc, "m"), 4);
  tikv__cache_remove(&rc, 4);
  ck_assert_uint_eq(find_id(&rc, "m"), 0);
  ck_assert_uint_eq(rc.count, 3);
  tikv__cache_destroy(&rc);
  free_region(a);
  free_region(b);
  free_region(c);
  free_region(b1);
  free_region(b2);
}
END_TEST

START_TEST(kvs_sort_and_append) {
  tikv__kvs_t a = {0}, b = {0};
  tikv__kvs_push(&a, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1, true);
  tikv__kvs_push(&a, (const uint8_t *)"a", 1, NULL, 0, false);
  tikv__kvs_push(&b, (const uint8_t *)"c", 1, (const uint8_t *)"", 0, true);
  ck_assert_int_eq(tikv__kvs_append(&a, &b), 0);
  ck_assert_uint_eq(b.count, 0);
  tikv__kvs_sort(&a, false);
  ck_assert_mem_eq(a.items[0].key, "a", 1);
  ck_assert_ptr_null(a.items[0].value);
  ck_assert_mem_eq(a.items[2].key, "c", 1);
  ck_assert_ptr_nonnull(a.items[2].value);
  ck_assert_uint_eq(a.items[2].value_len, 0);
  tikv__kvs_sort(&a, true);
  ck_assert_mem_eq(a.items[0].key, "c", 1);
  tikv__kvs_truncate(&a, 1);
  ck_assert_uint_eq(a.count, 1);
  tikv__kvs_free(&a);
  tikv__kvs_free(&b);
}
END_TEST

START_TEST(arena_blocks_aligned_and_kept) {
  tikv__arena_t a = {0}, b = {0};
  uint8_t *blocks[600];
  for (size_t i = 0; i < 600; i++) {
    size_t n = 1 + (i * 37) % 3000; /* across many chunks, some bigger than a chunk */
    blocks[i] = tikv__arena_alloc(i % 2 ? &a : &b, n, 0);
    ck_assert_ptr_nonnull(blocks[i]);
    ck_assert_uint_eq((uintptr_t)blocks[i] % _Alignof(max_align_t), 0);
    memset(blocks[i], (int)(i & 0xff), n);
  }
  size_t na = tikv__arena_chunks(&a), nb = tikv__arena_chunks(&b);
  ck_assert_uint_gt(na, 2);
  ck_assert_uint_gt(nb, 2);
  tikv__arena_take(&a, &b);
  ck_assert_ptr_null(b.chunks);
  ck_assert_uint_eq(tikv__arena_chunks(&a), na + nb); /* none lost, none twice */
  ck_assert_ptr_nonnull(tikv__arena_alloc(&a, 100, 0)); /* a keeps allocating */
  for (size_t i = 0; i < 600; i++) {
    size_t n = 1 + (i * 37) % 3000;
    for (size_t j = 0; j < n; j += 97) ck_assert_uint_eq(blocks[i][j], i & 0xff);
  }
  tikv__arena_take(&b, &a); /* into an empty one */
  ck_assert_ptr_null(a.chunks);
  ck_assert_uint_eq(blocks[599][0], 599 & 0xff);
  tikv__arena_free(&b);
  tikv__arena_free(&a);
}
END_TEST

/* Thousands of pairs, appended from kvs that are freed before they are
 * read: the bytes moved with the pairs. */
START_TEST(kvs_many_pairs_outlive_their_source) {
  tikv__kvs_t all = {0};
  char k[32], v[64];
  for (int part = 0; part < 4; part++) {
    tikv__kvs_t src = {0};
    for (int i = 0; i < 1000; i++) {
      int n = part * 1000 + i;
      int kl = snprintf(k, sizeof(k), "key%06d", 3999 - n), vl = snprintf(v, sizeof(v), "%0*d", n % 50, n);
      ck_assert_int_eq(tikv__kvs_push(&src, (uint8_t *)k, (size_t)kl, (uint8_t *)v, (size_t)vl, true), 0);
    }
    ck_assert_int_eq(tikv__kvs_append(&all, &src), 0);
    tikv__kvs_free(&src);
    /* what src's chunks were is handed out again and overwritten */
    void *reuse[8];
    for (int i = 0; i < 8; i++) memset(reuse[i] = malloc(4096), 0xAA, 4096);
    for (int i = 0; i < 8; i++) free(reuse[i]);
  }
  ck_assert_uint_eq(all.count, 4000);
  tikv__kvs_sort(&all, false); /* pushed in descending order: sorting reverses it */
  for (int i = 0; i < 4000; i++) {
    int n = 3999 - i, vl = snprintf(v, sizeof(v), "%0*d", n % 50, n);
    snprintf(k, sizeof(k), "key%06d", i);
    ck_assert_uint_eq(all.items[i].key_len, 9);
    ck_assert_mem_eq(all.items[i].key, k, 9);
    ck_assert_uint_eq(all.items[i].value_len, (size_t)vl);
    ck_assert_mem_eq(all.items[i].value, v, (size_t)vl);
  }
  tikv__kvs_sort(&all, true);
  ck_assert_mem_eq(all.items[0].key, "key003999", 9);
  ck_assert_mem_eq(all.items[3999].key, "key000000", 9);
  tikv__kvs_free(&all);
}
END_TEST

/* A BatchCommands sub-reply handed on alone keeps the envelope's arena. */
START_TEST(reply_part_keeps_its_arena) {
  Kvrpcpb__RawGetResponse g = KVRPCPB__RAW_GET_RESPONSE__INIT;
  g.value = (ProtobufCBinaryData){5, (uint8_t *)"hello"};
  Tikvpb__BatchCommandsResponse__Response one = TIKVPB__BATCH_COMMANDS_RESPONSE__RESPONSE__INIT,
                                          *ones[2] = {&one, &one};
  one.cmd_case = TIKVPB__BATCH_COMMANDS_RESPONSE__RESPONSE__CMD_RAW_GET;
  one.rawget = &g;
  uint64_t ids[2] = {7, 8};
  Tikvpb__BatchCommandsResponse env = TIKVPB__BATCH_COMMANDS_RESPONSE__INIT;
  env.n_responses = 2;
  env.responses = ones;
  env.n_request_ids = 2;
  env.request_ids = ids;
  uint8_t wire[256];
  size_t len = protobuf_c_message_pack(&env.base, wire);
  ck_assert_uint_lt(len, sizeof(wire));
  size_t live = tikv__reply_live();
  ck_assert_ptr_null(tikv__reply_unpack(&tikvpb__batch_commands_response__descriptor, wire, len - 1));
  ck_assert_uint_eq(tikv__reply_live(), live);
  Tikvpb__BatchCommandsResponse *r = (Tikvpb__BatchCommandsResponse *)tikv__reply_unpack(
      &tikvpb__batch_commands_response__descriptor, wire, len);
  ck_assert_ptr_nonnull(r);
  ck_assert_uint_eq(tikv__reply_live(), live + 1);
  ProtobufCMessage *a = &r->responses[0]->rawget->base, *b = &r->responses[1]->rawget->base;
  tikv__reply_keep(a);
  tikv__reply_keep(b);
  tikv__reply_free(&r->base);
  tikv__reply_free(a);
  ck_assert_uint_eq(tikv__reply_live(), live + 1);
  ck_assert_mem_eq(((Kvrpcpb__RawGetResponse *)b)->value.data, "hello", 5);
  tikv__reply_free(b);
  ck_assert_uint_eq(tikv__reply_live(), live);
}
END_TEST

Suite *core_suite(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, error_table_complete);
  tcase_add_test(tc, error_objects);
  tcase_add_test(tc, future_wait_and_getters);
  tcase_add_test(tc, future_error_hides_partial_result);
  tcase_add_test(tc, future_callback_once_on_completing_thread);
  tcase_add_test(tc, future_late_callback_never_synchronous);
  tcase_add_test(tc, future_destroy_pending_suppresses_callback);
  tcase_add_test(tc, loop_posts_and_timers);
  tcase_add_test(tc, loop_many_posts_from_threads);
  tcase_add_test(tc, loop_stop_fires_pending_timers);
  tcase_add_test(tc, loop_runs_tasks_posted_from_itself);
  tcase_add_test(tc, idle_hook_follows_callbacks);
  tcase_add_test(tc, backoff_grows_and_caps);
  tcase_add_test(tc, codec_vectors);
  tcase_add_test(tc, codec_preserves_order);
  tcase_add_test(tc, region_cache_lookup_and_heal);
  tcase_add_test(tc, kvs_sort_and_append);
  tcase_add_test(tc, idle_spin_takes_posts_without_wakeup);
  tcase_add_test(tc, arena_blocks_aligned_and_kept);
  tcase_add_test(tc, kvs_many_pairs_outlive_their_source);
  tcase_add_test(tc, reply_part_keeps_its_arena);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(core_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
