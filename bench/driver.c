/* The C-only benchmark driver: the same workloads as bench/driver.js, over
 * the core directly, so that the Node/C ratio isolates the cost of the addon
 * and the JS layer. Keeps `inflight` operations going with future callbacks
 * (each completion submits the next), for a fixed time, and prints one JSON
 * line: ops/s and latency percentiles.
 *
 *   tikv-bench --pd HOST:PORT --op get|put|batchget|txn --inflight N
 *              --value-size B --seconds S [--keys N] [--txn-keys K] [--pessimistic]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tikv/tikv.h"

typedef struct {
  const char *pd, *op;
  int inflight, value_size, keys, txn_keys, pessimistic;
  double seconds;
} opts_t;

static opts_t O = {NULL, "get", 1, 16, 10000, 1, 0, 3.0};
static tikv_client_t *client;
static uint8_t *value;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static double *lat;
static size_t n_lat, cap_lat;
static atomic_long errors;
static atomic_bool stopping;
static int active;
static tikv_slice_t *batch_keys;
static char (*key_buf)[32];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void key_of(unsigned long i, char *out) { snprintf(out, 32, "bench/%08lu", i % (unsigned long)O.keys); }

typedef struct worker {
  double t0;
  unsigned seed;
  /* transactions */
  tikv_txn_t *txn;
  int step;
} worker_t;

static void record(double ms) {
  pthread_mutex_lock(&mu);
  if (n_lat == cap_lat) {
    cap_lat = cap_lat ? cap_lat * 2 : 1 << 16;
    lat = realloc(lat, cap_lat * sizeof(double));
  }
  lat[n_lat++] = ms;
  pthread_mutex_unlock(&mu);
}

static void finish_worker(void) {
  pthread_mutex_lock(&mu);
  active--;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

static void submit(worker_t *w);

static void on_done(tikv_future_t *f, void *arg) {
  worker_t *w = arg;
  int code = tikv_future_get_error_code(f);
  tikv_future_destroy(f);
  if (code) {
    atomic_fetch_add(&errors, 1);
    if (atomic_fetch_add(&errors, 0) < 5) fprintf(stderr, "error: %s\n", tikv_err_name(code));
  }
  if (O.op[0] == 't') {
    /* txn: begin -> put x K -> commit */
    if (code || w->step == 2 + O.txn_keys) {
      if (!code) record((now_s() - w->t0) * 1000);
      tikv_txn_free(w->txn);
      w->txn = NULL;
      w->step = 0;
    } else {
      w->step++;
      submit(w);
      return;
    }
  } else {
    record((now_s() - w->t0) * 1000);
  }
  if (atomic_load(&stopping)) {
    finish_worker();
    return;
  }
  w->step = 0;
  submit(w);
}

static void submit(worker_t *w) {
  char key[32];
  tikv_future_t *f = NULL;
  if (O.op[0] == 't') {
    if (w->step == 0) {
      tikv_txn_options_t o;
      tikv_txn_options_init(&o);
      o.pessimistic = O.pessimistic;
      w->t0 = now_s();
      w->txn = tikv_txn_new(client, &o, NULL);
      w->step = 1;
      f = tikv_txn_begin(w->txn);
    } else if (w->step <= 1 + O.txn_keys) {
      key_of(rand_r(&w->seed), key);
      f = tikv_txn_put(w->txn, (const uint8_t *)key, strlen(key), value, O.value_size);
    } else {
      f = tikv_txn_commit(w->txn);
    }
  } else {
    w->t0 = now_s();
    key_of(rand_r(&w->seed), key);
    if (!strcmp(O.op, "get"))
      f = tikv_raw_get(client, (const uint8_t *)key, strlen(key));
    else if (!strcmp(O.op, "put"))
      f = tikv_raw_put(client, (const uint8_t *)key, strlen(key), value, O.value_size, 0);
    else
      f = tikv_raw_batch_get(client, batch_keys, 1000);
  }
  tikv_future_set_callback(f, on_done, w);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void wait_ok(tikv_future_t *f, const char *what) {
  int code = tikv_future_wait(f);
  if (code) {
    fprintf(stderr, "%s: %s\n", what, tikv_error_message(tikv_future_get_error(f)));
    exit(1);
  }
  tikv_future_destroy(f);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--pd")) O.pd = v, i++;
    else if (!strcmp(a, "--op")) O.op = v, i++;
    else if (!strcmp(a, "--inflight")) O.inflight = atoi(v), i++;
    else if (!strcmp(a, "--value-size")) O.value_size = atoi(v), i++;
    else if (!strcmp(a, "--seconds")) O.seconds = atof(v), i++;
    else if (!strcmp(a, "--keys")) O.keys = atoi(v), i++;
    else if (!strcmp(a, "--txn-keys")) O.txn_keys = atoi(v), i++;
    else if (!strcmp(a, "--pessimistic")) O.pessimistic = 1;
    else {
      fprintf(stderr, "unknown argument %s\n", a);
      return 2;
    }
  }
  if (!O.pd || O.inflight < 1 || O.value_size < 1) {
    fprintf(stderr, "usage: tikv-bench --pd HOST:PORT --op get|put|batchget|txn ...\n");
    return 2;
  }
  value = malloc(O.value_size);
  memset(value, 'v', O.value_size);
  tikv_config_t *cfg = tikv_config_new();
  tikv_config_add_pd_endpoint(cfg, O.pd);
  client = tikv_client_new(cfg, NULL);
  tikv_config_free(cfg);
  wait_ok(tikv_client_connect(client), "connect");
  /* load the keys the reads will hit */
  if (!strcmp(O.op, "get") || !strcmp(O.op, "batchget")) {
    int chunk = 500;
    tikv_slice_t *ks = calloc(chunk, sizeof(*ks)), *vs = calloc(chunk, sizeof(*vs));
    char(*kb)[32] = calloc(chunk, 32);
    for (int i = 0; i < O.keys; i += chunk) {
      int n = O.keys - i < chunk ? O.keys - i : chunk;
      for (int j = 0; j < n; j++) {
        key_of(i + j, kb[j]);
        ks[j] = (tikv_slice_t){(const uint8_t *)kb[j], strlen(kb[j])};
        vs[j] = (tikv_slice_t){value, (size_t)O.value_size};
      }
      wait_ok(tikv_raw_batch_put(client, ks, n, vs, n, 0), "load");
    }
    free(ks);
    free(vs);
    free(kb);
  }
  if (!strcmp(O.op, "batchget")) {
    batch_keys = calloc(1000, sizeof(*batch_keys));
    key_buf = calloc(1000, 32);
    for (int i = 0; i < 1000; i++) {
      key_of((unsigned long)i * 7, key_buf[i]);
      batch_keys[i] = (tikv_slice_t){(const uint8_t *)key_buf[i], strlen(key_buf[i])};
    }
  }
  worker_t *ws = calloc(O.inflight, sizeof(*ws));
  double t0 = now_s();
  active = O.inflight;
  for (int i = 0; i < O.inflight; i++) {
    ws[i].seed = 1234 + i;
    submit(&ws[i]);
  }
  struct timespec d = {(time_t)O.seconds, (long)((O.seconds - (time_t)O.seconds) * 1e9)};
  nanosleep(&d, NULL);
  atomic_store(&stopping, true);
  pthread_mutex_lock(&mu);
  while (active > 0) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  double elapsed = now_s() - t0;
  qsort(lat, n_lat, sizeof(double), cmp_d);
  double p50 = n_lat ? lat[n_lat / 2] : 0, p99 = n_lat ? lat[(size_t)(n_lat * 0.99)] : 0;
  printf("{\"driver\":\"c\",\"op\":\"%s\",\"inflight\":%d,\"valueSize\":%d,\"txnKeys\":%d,"
         "\"pessimistic\":%s,\"ops\":%zu,\"seconds\":%.3f,\"opsPerSec\":%.1f,\"p50Ms\":%.3f,"
         "\"p99Ms\":%.3f,\"errors\":%ld}\n",
         O.op, O.inflight, O.value_size, O.txn_keys, O.pessimistic ? "true" : "false", n_lat,
         elapsed, n_lat / elapsed, p50, p99, atomic_load(&errors));
  tikv_client_free(client);
  free(ws);
  free(lat);
  free(value);
  return atomic_load(&errors) ? 1 : 0;
}
