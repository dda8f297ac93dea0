/* A C program on the installed library: raw put/get/scan and one
 * transaction against a PD endpoint, blocking on each future.
 *
 *   make install PREFIX=$HOME/tikv
 *   cc examples/hello.c -o hello $(PKG_CONFIG_PATH=$HOME/tikv/lib/pkgconfig pkg-config --cflags --libs tikv)
 *   $HOME/tikv/bin/tikv-mock-server --regions 4 &     # prints "PD 127.0.0.1:PORT"
 *   LD_LIBRARY_PATH=$HOME/tikv/lib ./hello 127.0.0.1:PORT
 *
 * Prints what it reads and exits 0, or names the failing step and exits 1. */
#include <stdio.h>
#include <string.h>

#include <tikv/tikv.h>

#define BYTES(s) (const uint8_t *)(s), strlen(s)

/* Waits for f; on error prints it with `what` and returns 0. Destroys f
 * unless keep is set (the caller then reads the result and destroys it). */
static int wait_ok(tikv_future_t *f, const char *what, int keep) {
  if (!f) {
    fprintf(stderr, "%s: out of memory\n", what);
    return 0;
  }
  int rc = tikv_future_wait(f);
  if (rc != TIKV_ERR_OK) {
    const tikv_error_t *e = tikv_future_get_error(f);
    fprintf(stderr, "%s: %s (%s)\n", what, tikv_err_name(rc), e ? tikv_error_message(e) : tikv_strerror(rc));
    tikv_future_destroy(f);
    return 0;
  }
  if (!keep) tikv_future_destroy(f);
  return 1;
}

static int raw_demo(tikv_client_t *c) {
  if (!wait_ok(tikv_raw_put(c, BYTES("hello/c"), BYTES("from C"), 0, NULL), "raw put", 0)) return 0;
  if (!wait_ok(tikv_raw_put(c, BYTES("hello/d"), BYTES("also C"), 0, NULL), "raw put", 0)) return 0;
  tikv_future_t *f = tikv_raw_get(c, BYTES("hello/c"), NULL);
  if (!wait_ok(f, "raw get", 1)) return 0;
  const uint8_t *v;
  size_t n;
  if (tikv_future_get_value(f, &v, &n) != 1) {
    fprintf(stderr, "raw get: hello/c not found\n");
    tikv_future_destroy(f);
    return 0;
  }
  printf("raw get hello/c -> %.*s\n", (int)n, (const char *)v);
  tikv_future_destroy(f);

  f = tikv_raw_scan(c, BYTES("hello/"), BYTES("hello0"), 10, 0, 0, NULL);
  if (!wait_ok(f, "raw scan", 1)) return 0;
  const tikv_kv_t *kvs;
  size_t count = 0;
  tikv_future_get_kvs(f, &kvs, &count);
  printf("raw scan hello/ -> %zu pairs:", count);
  for (size_t i = 0; i < count; i++)
    printf(" %.*s=%.*s", (int)kvs[i].key_len, (const char *)kvs[i].key, (int)kvs[i].value_len,
           (const char *)kvs[i].value);
  printf("\n");
  tikv_future_destroy(f);
  return count == 2;
}

static int txn_demo(tikv_client_t *c) {
  int err = TIKV_ERR_OK;
  tikv_txn_options_t o;
  tikv_txn_options_init(&o);
  tikv_txn_t *t = tikv_txn_new(c, &o, &err);
  if (!t) {
    fprintf(stderr, "txn new: %s\n", tikv_strerror(err));
    return 0;
  }
  int ok = wait_ok(tikv_txn_begin(t, NULL), "txn begin", 0) &&
           wait_ok(tikv_txn_put(t, BYTES("account/a"), BYTES("90"), NULL), "txn put", 0) &&
           wait_ok(tikv_txn_put(t, BYTES("account/b"), BYTES("10"), NULL), "txn put", 0);
  tikv_future_t *f = ok ? tikv_txn_commit(t, NULL) : NULL;
  uint64_t commit_ts = 0;
  if (ok && (ok = wait_ok(f, "txn commit", 1))) {
    tikv_future_get_u64(f, &commit_ts);
    tikv_future_destroy(f);
    printf("txn committed account/a, account/b at ts %llu\n", (unsigned long long)commit_ts);
  }
  tikv_txn_free(t);
  return ok && commit_ts > 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PD_HOST:PORT\n", argv[0]);
    return 2;
  }
  printf("libtikv %s\n", tikv_version_string());
  tikv_config_t *cfg = tikv_config_new();
  if (!cfg || tikv_config_add_pd_endpoint(cfg, argv[1]) != TIKV_ERR_OK) {
    fprintf(stderr, "bad PD endpoint %s\n", argv[1]);
    tikv_config_free(cfg);
    return 1;
  }
  int err = TIKV_ERR_OK;
  tikv_client_t *c = tikv_client_new(cfg, &err);
  tikv_config_free(cfg);
  if (!c) {
    fprintf(stderr, "client: %s\n", tikv_strerror(err));
    return 1;
  }
  int ok = wait_ok(tikv_client_connect(c), "connect", 0);
  if (ok) printf("connected to cluster %llu\n", (unsigned long long)tikv_client_cluster_id(c));
  ok = ok && raw_demo(c) && txn_demo(c);
  tikv_client_free(c);
  return ok ? 0 : 1;
}
