/* The C benchmark driver: client-go's benchmark driver (../shared/peers/go-bench)
 * re-done over our core's futures, with the same flags, workloads,
 * measurement and JSON line, so that run.js can put the two (and
 * bench/driver.js, the same again through Node) side by side. See
 * bench/README.md for the definitions.
 *
 *   tikv-bench --pd HOST:PORT --workload W --concurrency C [--value-size S]
 *              [--duration SECONDS] [--keys N] [--warmup SECONDS] [--cpu]
 *              [--server-pid PID] [--ops N] [--marks]
 *   W: raw-get | raw-put | raw-batch-get-1000 | txn-commit-1 | txn-commit-10
 *
 * C workers each keep one operation in flight: a completion callback (on the
 * core's I/O thread) records the operation and submits the worker's next one.
 * --ops N (ours, not client-go's) ends the window after N successful
 * operations instead of after --duration, and adds the client's RSS at the
 * window's start, at every tenth of N and at its end (rss_*_kb). --marks
 * (ours too) makes three cheap, otherwise unused system calls around each
 * raw operation, for bench/trace.js to find in a kernel trace: getuid before
 * the call, getgid after it returned, geteuid when its callback starts. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "tikv/tikv.h"

enum { WARMUP, MEASURE, STOP };
enum { RAW_GET, RAW_PUT, RAW_BATCH_GET, TXN_COMMIT };
#define BATCH_GET_KEYS 1000
#define OP_TIMEOUT_MS 10000 /* client-go's driver: 10 s per operation */
#define MAX_ERROR_LOGS 5
#define RSS_SAMPLES 10

static struct {
  const char *pd, *workload;
  int kind, txn_keys, concurrency, value_size, keys, server_pid, cpu, marks;
  double duration, warmup;
  long long ops; /* 0: the window is --duration long */
  int batch_off, grpc_connections; /* --batch-commands off; 0: the default */
} O = {NULL, "", -1, 0, 1, 16, 10000, 0, 0, 0, 5.0, 1.0, 0};

typedef struct {
  uint32_t rng;
  int64_t t0_ns;  /* when the current operation was submitted */
  uint32_t *lat;  /* µs of each successful operation in the window */
  size_t n_lat, cap_lat;
  tikv_txn_t *txn;
  int start, put_i; /* txn-commit-K: first key, puts issued */
  tikv_slice_t *batch;
} worker_t;

static tikv_client_t *client;
static uint8_t *value;
static tikv_slice_t *key_table; /* "bench/%08d" of 0..keys-1, formatted once */
static atomic_int phase = WARMUP;
static atomic_long errors, error_logs;
static atomic_llong succeeded; /* in the window, for --ops */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int active;            /* workers still running (mu) */
static bool target_reached;   /* --ops: the N-th success was recorded (mu) */
static int64_t end_ns;        /* --ops: when it was */
static long rss_kb[RSS_SAMPLES + 2]; /* start, each tenth, end */
static int n_rss;
static uint32_t *counted_lat; /* --ops */

static void die(const char *what, const char *why) {
  fprintf(stderr, "tikv-bench: %s: %s\n", what, why);
  exit(1);
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) die("calloc", "out of memory");
  return p;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* mulberry32 (bench/driver.js has the same): a uniform index in [0, n). */
static uint32_t rand_index(uint32_t *s, uint32_t n) {
  uint32_t t = (*s += 0x6D2B79F5u);
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  t ^= t >> 14;
  return (uint32_t)(((uint64_t)t * n) >> 32);
}

/* utime + stime of a process in clock ticks (USER_HZ), as client-go's driver
 * reads them; -1 when unreadable. pid 0 is this process. */
static long long cpu_ticks(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, pid ? "/proc/%d/stat" : "/proc/self/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  unsigned long long ut, st;
  /* after ")": state and 10 more fields, then utime and stime */
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (long long)(ut + st);
}

static long rss_now_kb(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  int ok = fscanf(f, "%ld %ld", &pages, &resident) == 2;
  fclose(f);
  return ok ? resident * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

static void worker_exit(void) {
  pthread_mutex_lock(&mu);
  if (--active == 0) pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* --ops: the latencies go to one array allocated and touched before the
 * window, so that the RSS samples show the client's memory, not ours. */
static void record_counted(uint32_t us, int64_t t1) {
  long long n = atomic_fetch_add(&succeeded, 1) + 1;
  if (n > O.ops) return;
  counted_lat[n - 1] = us;
  long long tenth = O.ops / RSS_SAMPLES ? O.ops / RSS_SAMPLES : 1;
  if (n % tenth == 0 && n_rss <= RSS_SAMPLES)
    rss_kb[n_rss++] = rss_now_kb(); /* the client's one I/O thread: n_rss is not shared */
  if (n == O.ops) {
    atomic_store(&phase, STOP);
    pthread_mutex_lock(&mu);
    end_ns = t1;
    target_reached = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
  }
}

static void record(worker_t *w, int64_t t1) {
  uint32_t us = (uint32_t)((t1 - w->t0_ns) / 1000);
  if (O.ops) {
    record_counted(us, t1);
    return;
  }
  if (w->n_lat == w->cap_lat) {
    size_t cap = w->cap_lat ? w->cap_lat * 2 : 1 << 14;
    uint32_t *l = realloc(w->lat, cap * sizeof *l);
    if (!l) die("realloc", "out of memory");
    w->lat = l, w->cap_lat = cap;
  }
  w->lat[w->n_lat++] = us;
}

static void submit(worker_t *w);

/* Every operation ends here. Like client-go's driver: a success counts only
 * inside the window; an error counts inside the window and after it (an
 * operation still in flight at the end that fails is not hidden). */
static void op_done(worker_t *w, const char *err) {
  int64_t t1 = now_ns();
  int ph = atomic_load(&phase);
  if (err && ph != WARMUP) {
    atomic_fetch_add(&errors, 1);
    if (atomic_fetch_add(&error_logs, 1) < MAX_ERROR_LOGS) fprintf(stderr, "tikv-bench: error: %s\n", err);
  } else if (!err && ph == MEASURE) {
    record(w, t1);
  }
  if (atomic_load(&phase) == STOP) worker_exit();
  else submit(w);
}

static const char *future_error(tikv_future_t *f) {
  const tikv_error_t *e = tikv_future_get_error(f);
  return e ? tikv_error_message(e) : tikv_err_name(tikv_future_get_error_code(f));
}

static void raw_done(tikv_future_t *f, void *arg) {
  worker_t *w = arg;
  if (O.marks) (void)geteuid();
  const char *err = NULL;
  char msg[256];
  if (tikv_future_get_error_code(f)) {
    snprintf(msg, sizeof msg, "%s", future_error(f));
    err = msg;
  } else if (O.kind == RAW_GET) {
    const uint8_t *v;
    size_t len;
    if (tikv_future_get_value(f, &v, &len) != 1) err = "raw-get: key not found";
  } else if (O.kind == RAW_BATCH_GET) {
    /* a value per key, as client-go's BatchGet: counted as its driver does */
    const tikv_kv_t *kvs;
    size_t n, found = 0, want = BATCH_GET_KEYS < O.keys ? BATCH_GET_KEYS : (size_t)O.keys;
    tikv_future_get_kvs(f, &kvs, &n);
    for (size_t j = 0; j < n; j++) found += kvs[j].value != NULL;
    if (found != want)
      snprintf(msg, sizeof msg, "raw-batch-get: %zu of %zu keys found", found, want), err = msg;
  }
  tikv_future_destroy(f);
  op_done(w, err);
}

static void txn_end(worker_t *w, tikv_future_t *f) {
  char msg[256] = "";
  if (f && tikv_future_get_error_code(f)) snprintf(msg, sizeof msg, "%s", future_error(f));
  tikv_future_destroy(f);
  tikv_txn_free(w->txn); /* rolls a failed transaction back in the background */
  w->txn = NULL;
  op_done(w, msg[0] ? msg : NULL);
}

static void txn_step(tikv_future_t *f, void *arg);

/* The K buffered puts (optimistic ones complete inside the call), then the
 * commit. */
static void txn_puts(worker_t *w) {
  int n = O.txn_keys < O.keys ? O.txn_keys : O.keys;
  while (w->put_i < n) {
    const tikv_slice_t *k = &key_table[(w->start + w->put_i++) % O.keys];
    tikv_future_t *f = tikv_txn_put(w->txn, k->data, k->len, value, O.value_size, NULL);
    if (!f) die("tikv_txn_put", "out of memory");
    if (!tikv_future_is_ready(f)) {
      tikv_future_set_callback(f, txn_step, w);
      return;
    }
    if (tikv_future_get_error_code(f)) {
      txn_end(w, f);
      return;
    }
    tikv_future_destroy(f);
  }
  tikv_future_t *f = tikv_txn_commit(w->txn, NULL);
  if (!f) die("tikv_txn_commit", "out of memory");
  w->put_i++; /* n + 1: the commit is in flight */
  tikv_future_set_callback(f, txn_step, w);
}

static void txn_step(tikv_future_t *f, void *arg) {
  worker_t *w = arg;
  int n = O.txn_keys < O.keys ? O.txn_keys : O.keys;
  if (tikv_future_get_error_code(f) || w->put_i > n) {
    txn_end(w, f);
    return;
  }
  tikv_future_destroy(f);
  txn_puts(w);
}

static void submit(worker_t *w) {
  tikv_future_t *f;
  w->t0_ns = now_ns();
  if (O.kind == TXN_COMMIT) {
    int err = 0;
    w->txn = tikv_txn_new(client, NULL, &err); /* defaults: optimistic, plain 2PC */
    if (!w->txn) die("tikv_txn_new", tikv_err_name(err));
    w->start = rand_index(&w->rng, O.keys);
    w->put_i = 0;
    f = tikv_txn_begin(w->txn, NULL);
    if (!f) die("tikv_txn_begin", "out of memory");
    tikv_future_set_callback(f, txn_step, w);
    return;
  }
  uint32_t i = rand_index(&w->rng, O.keys);
  if (O.marks) (void)getuid();
  if (O.kind == RAW_GET) {
    f = tikv_raw_get(client, key_table[i].data, key_table[i].len, NULL);
  } else if (O.kind == RAW_PUT) {
    f = tikv_raw_put(client, key_table[i].data, key_table[i].len, value, O.value_size, 0, NULL);
  } else {
    size_t n = BATCH_GET_KEYS < O.keys ? BATCH_GET_KEYS : (size_t)O.keys;
    for (size_t j = 0; j < n; j++) w->batch[j] = key_table[(i + j) % O.keys];
    f = tikv_raw_batch_get_values(client, w->batch, n, NULL);
  }
  if (!f) die("submit", "out of memory");
  tikv_future_set_callback(f, raw_done, w);
  if (O.marks) (void)getgid();
}

static void wait_ok(tikv_future_t *f, const char *what) {
  if (!f) die(what, "out of memory");
  if (tikv_future_wait(f)) die(what, future_error(f));
  tikv_future_destroy(f);
}

/* The keys the reads will find, in batch puts as client-go's driver sends
 * them (not timed). */
static void preload(void) {
  int chunk = 1000000 / (O.value_size + 16);
  chunk = chunk > 1000 ? 1000 : chunk < 1 ? 1 : chunk;
  tikv_slice_t *vs = xcalloc(chunk, sizeof *vs);
  for (int j = 0; j < chunk; j++) vs[j] = (tikv_slice_t){value, (size_t)O.value_size};
  for (int i = 0; i < O.keys; i += chunk) {
    int n = O.keys - i < chunk ? O.keys - i : chunk;
    for (int attempt = 0;; attempt++) {
      tikv_future_t *f = tikv_raw_batch_put(client, key_table + i, n, vs, n, 0, NULL);
      if (!f) die("preload", "out of memory");
      int code = tikv_future_wait(f);
      if (!code || attempt == 3) {
        if (code) die("preload failed", future_error(f));
        tikv_future_destroy(f);
        break;
      }
      fprintf(stderr, "tikv-bench: preload retry after error: %s\n", future_error(f));
      tikv_future_destroy(f);
      usleep(200000);
    }
  }
  free(vs);
}

static void usage(void) {
  fprintf(stderr,
          "usage: tikv-bench --pd HOST:PORT --workload raw-get|raw-put|raw-batch-get-1000|"
          "txn-commit-1|txn-commit-10 --concurrency C [--value-size S] [--duration SECONDS] "
          "[--keys N] [--warmup SECONDS] [--cpu] [--server-pid PID] [--ops N] [--marks] "
          "[--batch-commands on|off] [--grpc-connections N]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--cpu") || !strcmp(a, "--marks")) {
      *(a[2] == 'c' ? &O.cpu : &O.marks) = 1;
      continue;
    }
    if (!v) usage();
    i++;
    if (!strcmp(a, "--pd")) O.pd = v;
    else if (!strcmp(a, "--workload")) O.workload = v;
    else if (!strcmp(a, "--concurrency")) O.concurrency = atoi(v);
    else if (!strcmp(a, "--value-size")) O.value_size = atoi(v);
    else if (!strcmp(a, "--duration")) O.duration = atof(v);
    else if (!strcmp(a, "--keys")) O.keys = atoi(v);
    else if (!strcmp(a, "--warmup")) O.warmup = atof(v);
    else if (!strcmp(a, "--server-pid")) O.server_pid = atoi(v);
    else if (!strcmp(a, "--ops")) O.ops = atoll(v);
    else if (!strcmp(a, "--batch-commands") && (!strcmp(v, "on") || !strcmp(v, "off")))
      O.batch_off = !strcmp(v, "off");
    else if (!strcmp(a, "--grpc-connections")) O.grpc_connections = atoi(v);
    else usage();
  }
  static const struct { const char *name; int kind, txn_keys; } W[] = {
      {"raw-get", RAW_GET, 0}, {"raw-put", RAW_PUT, 0}, {"raw-batch-get-1000", RAW_BATCH_GET, 0},
      {"txn-commit-1", TXN_COMMIT, 1}, {"txn-commit-10", TXN_COMMIT, 10}};
  for (size_t i = 0; i < sizeof W / sizeof W[0]; i++)
    if (!strcmp(O.workload, W[i].name)) O.kind = W[i].kind, O.txn_keys = W[i].txn_keys;
  if (!O.pd || O.kind < 0 || O.concurrency < 1 || O.keys < 1 || O.value_size < 1 || !(O.duration > 0) ||
      O.warmup < 0 || O.ops < 0 || O.server_pid < 0)
    usage();
}

static void setup(void) {
  value = xcalloc(O.value_size, 1);
  memset(value, 'v', O.value_size);
  key_table = xcalloc(O.keys, sizeof *key_table);
  char *text = xcalloc(O.keys, 24);
  for (int i = 0; i < O.keys; i++) {
    int n = snprintf(text + 24 * (size_t)i, 24, "bench/%08d", i);
    key_table[i] = (tikv_slice_t){(const uint8_t *)text + 24 * (size_t)i, (size_t)n};
  }
  tikv_config_t *cfg = tikv_config_new();
  if (!cfg) die("tikv_config_new", "out of memory");
  int code = tikv_config_add_pd_endpoint(cfg, O.pd);
  if (!code) code = tikv_config_set_timeout_ms(cfg, OP_TIMEOUT_MS);
  if (!code) code = tikv_config_set_batch_commands(cfg, !O.batch_off);
  if (!code && O.grpc_connections) code = tikv_config_set_grpc_connections(cfg, O.grpc_connections);
  if (code) die("config", tikv_err_name(code));
  client = tikv_client_new(cfg, &code);
  tikv_config_free(cfg);
  if (!client) die("tikv_client_new", tikv_err_name(code));
  wait_ok(tikv_client_connect(client), "connect");
  if (O.kind == RAW_GET || O.kind == RAW_BATCH_GET) preload();
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank, as client-go's driver computes it. */
static uint32_t percentile(const uint32_t *sorted, size_t n, double p) {
  if (!n) return 0;
  long long rank = (long long)((double)n * p / 100.0 + 0.999999999);
  rank = rank < 1 ? 1 : rank > (long long)n ? (long long)n : rank;
  return sorted[rank - 1];
}

static double round_to(double x, double unit) { return (double)(long long)(x / unit + 0.5) * unit; }

static void sleep_s(double s) {
  struct timespec d = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  while (nanosleep(&d, &d)) {
  }
}

/* The successful operations' latencies, one array. */
static uint32_t *all_latencies(worker_t *ws, size_t *count) {
  if (O.ops) {
    long long n = atomic_load(&succeeded);
    *count = (size_t)(n < O.ops ? n : O.ops);
    return counted_lat;
  }
  size_t n = 0, k = 0;
  for (int i = 0; i < O.concurrency; i++) n += ws[i].n_lat;
  uint32_t *all = xcalloc(n, sizeof *all);
  for (int i = 0; i < O.concurrency; i++) {
    if (ws[i].n_lat) memcpy(all + k, ws[i].lat, ws[i].n_lat * sizeof *all);
    k += ws[i].n_lat;
  }
  *count = n;
  return all;
}

static void report(worker_t *ws, double seconds, long long self_ticks, long long srv_ticks) {
  size_t n;
  uint32_t *all = all_latencies(ws, &n);
  qsort(all, n, sizeof *all, cmp_u32);
  printf("{\"client\":\"c\",\"workload\":\"%s\",\"concurrency\":%d,\"value_size\":%d,\"ops\":%zu,"
         "\"seconds\":%.3f,\"ops_per_s\":%.1f,\"p50_us\":%u,\"p99_us\":%u,\"errors\":%ld",
         O.workload, O.concurrency, O.value_size, n, round_to(seconds, 0.001),
         round_to(n / seconds, 0.1), percentile(all, n, 50), percentile(all, n, 99), atomic_load(&errors));
  if (O.cpu) printf(",\"client_cpu_pct\":%.1f", round_to(self_ticks / 100.0 / seconds * 100, 0.1));
  if (srv_ticks >= 0) printf(",\"server_cpu_pct\":%.1f", round_to(srv_ticks / 100.0 / seconds * 100, 0.1));
  if (O.ops) {
    printf(",\"rss_start_kb\":%ld,\"rss_end_kb\":%ld,\"rss_samples_kb\":[", rss_kb[0], rss_kb[n_rss - 1]);
    for (int i = 0; i < n_rss; i++) printf("%s%ld", i ? "," : "", rss_kb[i]);
    printf("]");
  }
  printf("}\n");
  fflush(stdout);
  if (all != counted_lat) free(all);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  setup();
  if (O.ops) {
    counted_lat = xcalloc((size_t)O.ops, sizeof *counted_lat);
    memset(counted_lat, 0xff, (size_t)O.ops * sizeof *counted_lat); /* resident before the first sample */
  }
  worker_t *ws = xcalloc(O.concurrency, sizeof *ws);
  active = O.concurrency;
  for (int i = 0; i < O.concurrency; i++) {
    ws[i].rng = 0x5eed0000u + (uint32_t)i;
    if (O.kind == RAW_BATCH_GET) ws[i].batch = xcalloc(BATCH_GET_KEYS, sizeof(tikv_slice_t));
    submit(&ws[i]);
  }
  sleep_s(O.warmup);
  long long self0 = cpu_ticks(0), srv0 = O.server_pid ? cpu_ticks(O.server_pid) : -1;
  if (O.ops) rss_kb[n_rss++] = rss_now_kb();
  int64_t t0 = now_ns(), t1;
  atomic_store(&phase, MEASURE);
  if (O.ops) {
    pthread_mutex_lock(&mu);
    while (!target_reached && active > 0) pthread_cond_wait(&cv, &mu);
    t1 = target_reached ? end_ns : now_ns();
    pthread_mutex_unlock(&mu);
  } else {
    sleep_s(O.duration);
    atomic_store(&phase, STOP);
    t1 = now_ns();
  }
  long long self1 = cpu_ticks(0), srv1 = O.server_pid ? cpu_ticks(O.server_pid) : -1;
  if (O.ops) rss_kb[n_rss++] = rss_now_kb();
  pthread_mutex_lock(&mu);
  while (active > 0) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  report(ws, (t1 - t0) / 1e9, self1 - self0, srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1);
  tikv_client_free(client);
  for (int i = 0; i < O.concurrency; i++) free(ws[i].lat), free(ws[i].batch);
  free(ws);
  free(counted_lat);
  free((void *)key_table[0].data);
  free(key_table);
  free(value);
  return 0;
}
