/* The I/O loop: one thread per client drives the gRPC completion queue, a
 * timer heap and a queue of tasks posted from other threads. Every state
 * machine step of the core runs here. */
#include <sched.h>
#include <time.h>

#include "core/core.h"

typedef tikv__task_t task;

struct tikv__loop {
  grpc_completion_queue *cq;
  pthread_t thread;
  bool thread_started;

  pthread_mutex_t mu; /* guards the fields up to the I/O-thread-only ones */
  task *head, *tail;
  bool accepting;
  bool wake_pending;
  bool stop_requested;
  tikv__task_fn drain;
  void *drain_arg;
  atomic_long wakes_outstanding;
  /* The I/O thread is awake for posts that follow the completions it just
   * handed to the binding (see spin_for_posts): they need no wakeup. */
  atomic_bool spinning;
  atomic_bool has_tasks; /* head != NULL, readable without the lock */
  atomic_uint spin_us;
  atomic_long wakeups;
  atomic_long reply_spins_missed; /* spins for replies that ran out (reply_wait_open) */

  /* A channel that never connects: watching its connectivity with a stale
   * state completes at once, which is how other threads wake the loop out of
   * grpc_completion_queue_next (the C core has no user-triggered event). */
  grpc_channel *wake_channel;
  tikv__tag_t wake_tag;

  /* I/O thread only */
  tikv__timer_t **heap;
  size_t heap_len, heap_cap;
  long tags_outstanding;
  bool stopping;
  bool spun_event; /* the last spin_for_posts completed a future (a new window, without a hook) */
  int64_t reply_spin_ns;   /* how long a spin for replies may last (reply_spin_end) */
  int64_t reply_wait_from; /* when the spin for replies that ran out began; 0: none open */
};

static void grpc_init_once(void) { grpc_init(); }
static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t tikv__now_ms(void) { return now_ns() / 1000000; }

gpr_timespec tikv__deadline_ms(int64_t abs_ms) {
  int64_t left = abs_ms - tikv__now_ms();
  if (left < 0) left = 0;
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(left, GPR_TIMESPAN));
}

/* ---- timer heap (min-heap on `when`) ---- */
static void heap_swap(tikv__loop_t *l, size_t a, size_t b) {
  tikv__timer_t *t = l->heap[a];
  l->heap[a] = l->heap[b];
  l->heap[b] = t;
  l->heap[a]->heap_index = a;
  l->heap[b]->heap_index = b;
}
static void heap_up(tikv__loop_t *l, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (l->heap[p]->when <= l->heap[i]->when) break;
    heap_swap(l, p, i);
    i = p;
  }
}
static void heap_down(tikv__loop_t *l, size_t i) {
  for (;;) {
    size_t m = i, a = 2 * i + 1, b = a + 1;
    if (a < l->heap_len && l->heap[a]->when < l->heap[m]->when) m = a;
    if (b < l->heap_len && l->heap[b]->when < l->heap[m]->when) m = b;
    if (m == i) return;
    heap_swap(l, m, i);
    i = m;
  }
}

void tikv__timer_init(tikv__timer_t *t) {
  memset(t, 0, sizeof(*t));
  t->heap_index = SIZE_MAX;
}

bool tikv__timer_active(const tikv__timer_t *t) { return t->heap_index != SIZE_MAX; }

void tikv__timer_cancel(tikv__loop_t *l, tikv__timer_t *t) {
  tikv__wait_remove(&t->wait);
  size_t i = t->heap_index;
  if (i == SIZE_MAX) return;
  t->heap_index = SIZE_MAX;
  l->heap_len--;
  if (i != l->heap_len) {
    l->heap[i] = l->heap[l->heap_len];
    l->heap[i]->heap_index = i;
    heap_down(l, i);
    heap_up(l, i);
  }
}

void tikv__timer_start(tikv__loop_t *l, tikv__timer_t *t, int64_t delay_ms,
                       void (*fn)(void *), void *arg) {
  tikv__timer_cancel(l, t);
  /* A timer that cannot be queued would leave its operation hanging for
   * good, with nothing to tell it: no memory for the heap is fatal here. */
  if (tikv__grow(&l->heap, &l->heap_cap, l->heap_len + 1, sizeof(*l->heap))) abort();
  t->when = tikv__now_ms() + (delay_ms > 0 ? delay_ms : 0);
  t->fn = fn;
  t->arg = arg;
  t->heap_index = l->heap_len;
  l->heap[l->heap_len++] = t;
  heap_up(l, t->heap_index);
}

static void timer_wake(tikv__wait_t *w) {
  tikv__timer_t *t = (tikv__timer_t *)((char *)w - offsetof(tikv__timer_t, wait));
  tikv__timer_start(t->loop, t, 0, t->fn, t->arg);
}

void tikv__timer_start_in(tikv__loop_t *l, tikv__timer_t *t, tikv__scope_t *scope,
                          int64_t delay_ms, void (*fn)(void *), void *arg) {
  tikv__timer_start(l, t, delay_ms, fn, arg);
  t->loop = l;
  tikv__wait_add(scope, &t->wait, timer_wake);
}

/* ---- scopes ---- */
void tikv__scope_init(tikv__scope_t *s, tikv__loop_t *loop, int64_t deadline) {
  *s = (tikv__scope_t){.deadline = deadline, .loop = loop};
}

bool tikv__scope_expired(const tikv__scope_t *s) { return tikv__now_ms() >= s->deadline; }

void tikv__wait_add(tikv__scope_t *s, tikv__wait_t *w, void (*wake)(tikv__wait_t *w)) {
  tikv__wait_remove(w);
  if (!s) return;
  w->scope = s;
  w->wake = wake;
  tikv__list_push(&s->waits, &w->link);
}

void tikv__wait_remove(tikv__wait_t *w) {
  if (!w->scope) return;
  tikv__list_remove(&w->scope->waits, &w->link);
  w->scope = NULL;
}

void tikv__scope_cancel(tikv__scope_t *s) {
  s->cancelled = true;
  s->deadline = tikv__now_ms() - 1;
  /* one at a time: a wake may end other waits of the scope (or add some,
   * which see the passed deadline and do not wait) */
  while (s->waits) {
    tikv__wait_t *w = (tikv__wait_t *)s->waits;
    tikv__wait_remove(w);
    w->wake(w);
  }
}

void tikv__scope_detach(tikv__scope_t *s) {
  while (s->waits) tikv__wait_remove((tikv__wait_t *)s->waits);
}

static void run_timers(tikv__loop_t *l) {
  int64_t now = tikv__now_ms();
  while (l->heap_len && (l->stopping || l->heap[0]->when <= now)) {
    tikv__timer_t *t = l->heap[0];
    tikv__timer_cancel(l, t);
    t->fn(t->arg);
  }
}

/* ---- posted tasks ---- */
static void wake_done(tikv__tag_t *tag, bool ok) {
  tikv__loop_t *l = (tikv__loop_t *)((char *)tag - offsetof(tikv__loop_t, wake_tag));
  atomic_fetch_sub(&l->wakes_outstanding, 1);
}

/* The kick that wakes the loop out of grpc_completion_queue_next, once
 * wake_pending was set for it (under l->mu). */
static void kick(tikv__loop_t *l) {
  atomic_fetch_add_explicit(&l->wakeups, 1, memory_order_relaxed);
  grpc_channel_watch_connectivity_state(l->wake_channel, GRPC_CHANNEL_SHUTDOWN,
                                        gpr_inf_future(GPR_CLOCK_MONOTONIC), l->cq, &l->wake_tag);
}

/* Called with l->mu held. */
static void wake_locked(tikv__loop_t *l) {
  if (l->wake_pending || tikv__loop_on_thread(l)) return;
  l->wake_pending = true;
  atomic_fetch_add(&l->wakes_outstanding, 1);
  kick(l);
}

int tikv__loop_post_task(tikv__loop_t *l, task *t) {
  t->next = NULL;
  pthread_mutex_lock(&l->mu);
  if (!l->accepting) {
    pthread_mutex_unlock(&l->mu);
    return -1;
  }
  if (l->tail)
    l->tail->next = t;
  else
    l->head = t;
  l->tail = t;
  atomic_store(&l->has_tasks, true);
  /* decide under the lock, wake after it: the woken loop takes the lock at
   * once, and should not find it held by the poster */
  /* seq_cst against spin_for_posts: either it sees this task, or this
   * sees it no longer spinning and wakes it */
  bool wake = !l->wake_pending && !tikv__loop_on_thread(l) && !atomic_load(&l->spinning);
  if (wake) {
    l->wake_pending = true;
    atomic_fetch_add(&l->wakes_outstanding, 1);
  }
  pthread_mutex_unlock(&l->mu);
  if (wake) kick(l);
  return 0;
}

void tikv__loop_set_idle_spin(tikv__loop_t *l, uint32_t us) { atomic_store(&l->spin_us, us); }

long tikv__loop_wakeups(tikv__loop_t *l) { return atomic_load(&l->wakeups); }
long tikv__loop_reply_spins_missed(tikv__loop_t *l) { return atomic_load(&l->reply_spins_missed); }

int tikv__loop_post(tikv__loop_t *l, tikv__task_fn fn, void *arg) {
  task *t = tikv__malloc(sizeof(*t));
  if (!t) return -1;
  *t = (task){.fn = fn, .arg = arg, .heap = true};
  if (tikv__loop_post_task(l, t) == 0) return 0;
  free(t);
  return -1;
}

static bool run_tasks(tikv__loop_t *l) {
  pthread_mutex_lock(&l->mu);
  task *t = l->head;
  l->head = l->tail = NULL;
  atomic_store_explicit(&l->has_tasks, false, memory_order_relaxed);
  l->wake_pending = false;
  tikv__task_fn drain = NULL;
  void *drain_arg = NULL;
  /* read under the lock once: a stop requested after this turn is seen on
   * the next one, with its drain */
  bool stop_now = l->stop_requested && !l->stopping;
  if (stop_now) {
    drain = l->drain;
    drain_arg = l->drain_arg;
  }
  pthread_mutex_unlock(&l->mu);
  bool ran = t != NULL;
  while (t) {
    /* an owner's task may be gone once it ran: read it all first */
    task *next = t->next;
    task *own = t->heap ? t : NULL;
    t->fn(t->arg);
    free(own);
    t = next;
  }
  if (stop_now) {
    /* tasks queued before the stop ran above; now cancel what is in flight */
    l->stopping = true;
    if (drain) drain(drain_arg);
    ran = true;
  }
  return ran;
}

/* The binding's idle hook (see tikv_set_idle_hook) and which threads are
 * I/O threads. */
static _Atomic(tikv_idle_hook) idle_hook;
static void *_Atomic idle_hook_arg;
static _Thread_local bool on_io_thread;

void tikv_set_idle_hook(tikv_idle_hook hook, void *arg) {
  atomic_store(&idle_hook_arg, arg);
  atomic_store(&idle_hook, hook);
}

int tikv_on_io_thread(void) { return on_io_thread; }

/* Whether a future completed on this thread since the loop last asked: for
 * C callers, what opens a window (reply_spin_end). */
static _Thread_local bool future_completed;
void tikv__loop_note_future_completed(void) { future_completed = true; }
static bool take_future_completed(void) {
  bool c = future_completed;
  future_completed = false;
  return c;
}

static bool tasks_queued(tikv__loop_t *l) {
  pthread_mutex_lock(&l->mu);
  bool more = l->head != NULL;
  pthread_mutex_unlock(&l->mu);
  return more;
}

/* The end of an idle-spin window opened now (0 when the spin is off). */
static int64_t window_from_now(tikv__loop_t *l) {
  uint32_t spin_us = atomic_load_explicit(&l->spin_us, memory_order_relaxed);
  return spin_us ? now_ns() + (int64_t)spin_us * 1000 : 0;
}

/* Before the loop blocks: a post that saw it marked awake gave no wakeup,
 * so once it is unmarked, whether one came (then it must not block). */
static bool no_longer_awake(tikv__loop_t *l) {
  if (!atomic_load(&l->spinning)) return false;
  atomic_store(&l->spinning, false);
  return tasks_queued(l);
}

/* A window opens when the loop hands completions over (the binding's
 * thread woken, a C caller's future completed): its spin waits for that
 * caller's next call, which comes within microseconds. Once the loop has
 * taken the calls and sent their requests, the rest of the window waits for
 * replies, and whether that pays depends on the round trip: on loopback the
 * reply comes within the window and saves the loop a wakeup; from a server
 * a network away it comes after the window, and the spin was CPU for
 * nothing (at one operation in flight, the whole window per operation). So
 * that part of the window lasts at most reply_spin_ns, which adapts much as
 * Linux's haltpoll cpuidle governor sizes its poll. A spin for replies that
 * runs out opens a wait (counted), and nothing is spun for while it is
 * open. A reply ends it (a completion from the network that completed a
 * future; the gRPC core's own, such as a message written, do not): if a
 * spin of the window's length would have covered it, the length doubles
 * (from REPLY_SPIN_MIN_NS); if not, it becomes 0,
 * since the replies come from a server a network away and even part of the
 * window is spent for nothing. A spin that finds work changes nothing. The
 * caller's calls (tasks) and timers end it too, resizing nothing: that wait
 * was the caller's time, not a round trip (at many operations in flight,
 * the JS thread's turn through a burst of results, ended by its posts).
 * `fresh`: the window was opened since the loop last took tasks (a spin
 * that handled a completion of the gRPC core's own leaves it so). */
#define REPLY_SPIN_MIN_NS 8000
static int64_t reply_spin_end(tikv__loop_t *l, int64_t window_end, bool fresh, int64_t now) {
  if (fresh) return window_end;
  if (l->reply_wait_from) return now;
  int64_t end = now + l->reply_spin_ns;
  return end < window_end ? end : window_end;
}
static void reply_wait_open(tikv__loop_t *l, int64_t spin_start, bool spun) {
  if (l->reply_wait_from) return;
  l->reply_wait_from = spin_start;
  if (spun) atomic_fetch_add_explicit(&l->reply_spins_missed, 1, memory_order_relaxed);
}
static void reply_wait_over(tikv__loop_t *l, bool resize) {
  if (!l->reply_wait_from) return;
  int64_t waited = now_ns() - l->reply_wait_from;
  l->reply_wait_from = 0;
  if (!resize) return;
  int64_t window = (int64_t)atomic_load_explicit(&l->spin_us, memory_order_relaxed) * 1000;
  int64_t d = l->reply_spin_ns < window ? l->reply_spin_ns : window;
  if (waited > window)
    d = 0;
  else
    d = d * 2 < REPLY_SPIN_MIN_NS ? REPLY_SPIN_MIN_NS : d * 2 > window ? window : d * 2;
  l->reply_spin_ns = d;
}

/* After a completion's callback (`network`: not the wake channel's): whether
 * it completed a future (a window, for C callers); if so, a reply ended the
 * wait for replies. */
static bool completed_for_caller(tikv__loop_t *l, bool network) {
  if (!take_future_completed()) return false;
  reply_wait_over(l, network);
  return true;
}
static bool from_network(tikv__loop_t *l, void *tag) { return tag != (void *)&l->wake_tag; }

/* After the binding's hook woke the binding's thread (without a hook: after
 * a completion), the I/O thread stays awake for about what that thread
 * takes to wake, run the completions' callbacks and submit again
 * (tikv_config_set_idle_spin_us). A caller
 * awaiting one operation at a time then posts to an awake loop: no
 * grpc_channel_watch_connectivity_state kick, no wakeup of this thread, no
 * stall on the lock the kick holds. Replies that arrive meanwhile are
 * handled as they come (the queue is polled between yields).
 * Called with l->spinning set (before the hook woke that thread, which may
 * run and post before this one gets here: its post then gave no wakeup
 * and is found queued); clears it. true when there is work: a task
 * posted, or a completion handled. */
static bool spin_for_posts(tikv__loop_t *l, int64_t until) {
  int64_t now = now_ns();
  bool posted = atomic_load_explicit(&l->has_tasks, memory_order_relaxed), handled = false;
  l->spun_event = false;
  while (!posted && !handled && now < until) {
    for (int i = 0; i < 64 && !posted; i++) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      posted = atomic_load_explicit(&l->has_tasks, memory_order_relaxed);
    }
    if (posted) break;
    /* a thread that could run on this core (the binding's, the server's
     * on a small machine) goes first: the spin takes only idle CPU */
    sched_yield();
    /* the queue on every round, not every few microseconds: a reply taken
     * while the server that sent it is still on its core wakes the
     * binding's thread when no core is idle, and a synchronous wakeup
     * (the bridge's pipe) then brings it onto this core, which yields to
     * it: no interrupt to another core (bench/README.md, "One core for the
     * handoff") */
    grpc_event ev = grpc_completion_queue_next(l->cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_OP_COMPLETE) {
      bool network = from_network(l, ev.tag);
      ((tikv__tag_t *)ev.tag)->fn(ev.tag, ev.success != 0);
      handled = true;
      l->spun_event = completed_for_caller(l, network);
    }
    now = now_ns();
  }
  atomic_store(&l->spinning, false);
  /* a post that saw spinning set gave no wakeup: it is queued by now */
  return tasks_queued(l) || handled;
}

static void *loop_main(void *arg) {
  tikv__loop_t *l = arg;
  on_io_thread = true;
  int64_t spin_until = 0; /* see spin_for_posts */
  bool fresh = false;     /* see reply_spin_end */
  for (;;) {
    /* without a binding, awake through the window after a completion: work
     * it completes on the way (in tasks, in timers) wakes callers too */
    if (!atomic_load(&idle_hook) && spin_until && !l->stopping) {
      if (spin_until > now_ns())
        atomic_store(&l->spinning, true);
      else
        spin_until = 0;
    }
    bool ran = run_tasks(l);
    if (ran) fresh = false; /* the calls the window waited for, taken */
    run_timers(l);
    bool done = take_future_completed();
    if (ran || done) reply_wait_over(l, false); /* the caller's time (reply_spin_end) */
    if (done && !atomic_load(&idle_hook)) {
      spin_until = window_from_now(l); /* callers woken on the way: see the top */
      fresh = true;
    }
    if (l->stopping) {
      pthread_mutex_lock(&l->mu);
      bool idle = !l->head;
      pthread_mutex_unlock(&l->mu);
      if (idle && l->heap_len == 0 && l->tags_outstanding == 0 &&
          atomic_load(&l->wakes_outstanding) == 0)
        break;
    }
    gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    if (l->heap_len) deadline = tikv__deadline_ms(l->heap[0]->when);
    /* tasks posted from this very thread while run_tasks ran got no wake:
     * they must run before the loop blocks */
    if (tasks_queued(l)) deadline = gpr_inf_past(GPR_CLOCK_MONOTONIC);
    if (l->stopping) /* poll: completions of cancelled calls are on their way */
      deadline = tikv__deadline_ms(tikv__now_ms() + 10);
    grpc_event ev;
    tikv_idle_hook hook = atomic_load(&idle_hook);
    if (hook) {
      /* everything ready is handled first; only then does the binding get
       * its one wakeup for the whole burst */
      ev = grpc_completion_queue_next(l->cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
      if (ev.type == GRPC_QUEUE_TIMEOUT) {
        /* awake until the window after the last wakeup of the binding's
         * thread closes, however many posts it brings; marked awake before
         * the hook: the thread it wakes may run first (on this core) */
        uint32_t spin_us = atomic_load_explicit(&l->spin_us, memory_order_relaxed);
        bool may_spin = spin_us && !l->stopping;
        if (may_spin) atomic_store(&l->spinning, true);
        if (hook(atomic_load(&idle_hook_arg))) {
          spin_until = window_from_now(l);
          fresh = true;
        }
        int64_t start = now_ns(), until = reply_spin_end(l, spin_until, fresh, start);
        bool for_replies = may_spin && !fresh && spin_until > start;
        if (may_spin && spin_for_posts(l, until)) continue;
        if (!may_spin && no_longer_awake(l)) continue; /* a hook set since */
        if (for_replies) reply_wait_open(l, start, until > start);
        ev = grpc_completion_queue_next(l->cq, deadline, NULL);
      }
    } else {
      /* no binding (a C program): what a completion's callback does next
       * comes from this thread or from a thread it woke (a future waiter),
       * and the next reply from the network. The loop stays awake for the
       * window after its last completion: neither needs a wakeup. */
      ev = grpc_completion_queue_next(l->cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
      if (ev.type == GRPC_QUEUE_TIMEOUT) {
        int64_t start = now_ns(), until = reply_spin_end(l, spin_until, fresh, start);
        bool may_spin = !l->stopping && spin_until > start;
        bool for_replies = may_spin && !fresh;
        if (may_spin) atomic_store(&l->spinning, true);
        if (may_spin && spin_for_posts(l, until)) {
          if (l->spun_event) {
            spin_until = window_from_now(l);
            fresh = true;
          }
          continue;
        }
        if (!may_spin && no_longer_awake(l)) continue;
        if (for_replies) reply_wait_open(l, start, until > start);
        ev = grpc_completion_queue_next(l->cq, deadline, NULL);
      }
    }
    if (ev.type == GRPC_OP_COMPLETE) {
      tikv__tag_t *tag = ev.tag;
      bool network = from_network(l, tag);
      /* awake before the callback: a thread it wakes (a future's waiter)
       * may run at once on the other core and call before we get back */
      if (!hook && atomic_load_explicit(&l->spin_us, memory_order_relaxed) && !l->stopping)
        atomic_store(&l->spinning, true);
      tag->fn(tag, ev.success != 0);
      if (completed_for_caller(l, network) && !hook) {
        spin_until = window_from_now(l);
        fresh = true;
      }
    }
  }
  /* completions delivered while stopping (CLOSED errors) get their wakeup */
  tikv_idle_hook hook = atomic_load(&idle_hook);
  if (hook) hook(atomic_load(&idle_hook_arg));
  grpc_channel_destroy(l->wake_channel);
  l->wake_channel = NULL;
  grpc_completion_queue_shutdown(l->cq);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(l->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) ((tikv__tag_t *)ev.tag)->fn(ev.tag, false);
  }
  return NULL;
}

tikv__loop_t *tikv__loop_new(void) {
  pthread_once(&grpc_once, grpc_init_once);
  tikv__loop_t *l = tikv__calloc(1, sizeof(*l));
  if (!l) return NULL;
  pthread_mutex_init(&l->mu, NULL);
  l->accepting = true;
  l->reply_spin_ns = INT64_MAX / 2; /* the window's length, until a wait says otherwise */
  l->wake_tag.fn = wake_done;
  l->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  if (l->cq && creds) l->wake_channel = grpc_channel_create("127.0.0.1:1", creds, NULL);
  if (creds) grpc_channel_credentials_release(creds);
  if (!l->cq || !l->wake_channel ||
      pthread_create(&l->thread, NULL, loop_main, l) != 0) {
    if (l->wake_channel) grpc_channel_destroy(l->wake_channel);
    if (l->cq) {
      grpc_completion_queue_shutdown(l->cq);
      while (grpc_completion_queue_next(l->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
             GRPC_QUEUE_SHUTDOWN) {
      }
      grpc_completion_queue_destroy(l->cq);
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
    return NULL;
  }
  l->thread_started = true;
  return l;
}

grpc_completion_queue *tikv__loop_cq(tikv__loop_t *l) { return l->cq; }

bool tikv__loop_on_thread(tikv__loop_t *l) {
  return l->thread_started && pthread_equal(pthread_self(), l->thread);
}

void tikv__loop_tag_started(tikv__loop_t *l) { l->tags_outstanding++; }
void tikv__loop_tag_finished(tikv__loop_t *l) { l->tags_outstanding--; }
bool tikv__loop_stopping(tikv__loop_t *l) { return l->stopping; }

void tikv__loop_stop(tikv__loop_t *l, tikv__task_fn drain, void *arg) {
  pthread_mutex_lock(&l->mu);
  if (!l->thread_started || l->stop_requested) {
    pthread_mutex_unlock(&l->mu);
    return;
  }
  l->stop_requested = true;
  l->accepting = false;
  l->drain = drain;
  l->drain_arg = arg;
  wake_locked(l);
  pthread_mutex_unlock(&l->mu);
  pthread_join(l->thread, NULL);
  grpc_completion_queue_destroy(l->cq);
  l->cq = NULL;
}

void tikv__loop_free(tikv__loop_t *l) {
  if (!l) return;
  free(l->heap);
  pthread_mutex_destroy(&l->mu);
  free(l);
}
