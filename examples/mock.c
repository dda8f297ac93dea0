/* A C test's fixture: a mock cluster in process (pkg-config tikv-mock), one
 * client on it, one raw round trip.
 *
 *   cc examples/mock.c -o mock $(PKG_CONFIG_PATH=$HOME/tikv/lib/pkgconfig pkg-config --cflags --libs tikv-mock)
 *   ./mock
 *
 * tikv-mock links the core statically (the mock is built on its internals),
 * so a program uses tikv-mock instead of tikv, not both. */
#include <stdio.h>
#include <string.h>

#include <tikv/mock.h>
#include <tikv/tikv.h>

int main(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 3;
  o.regions = 4;
  char errbuf[256] = "";
  tikv_mock_cluster_t *m = tikv_mock_cluster_start(&o, errbuf, sizeof errbuf);
  if (!m) {
    fprintf(stderr, "mock cluster: %s\n", errbuf);
    return 1;
  }
  printf("mock cluster: PD %s, %d stores, %d regions\n", tikv_mock_pd_address(m),
         tikv_mock_store_count(m), tikv_mock_region_count(m));
  tikv_config_t *cfg = tikv_config_new();
  tikv_config_add_pd_endpoint(cfg, tikv_mock_pd_address(m));
  int err = TIKV_ERR_OK, ok = 0;
  tikv_client_t *c = tikv_client_new(cfg, &err);
  tikv_config_free(cfg);
  if (c) {
    tikv_future_t *f = tikv_client_connect(c);
    ok = tikv_future_wait(f) == TIKV_ERR_OK;
    tikv_future_destroy(f);
    f = ok ? tikv_raw_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1, 0, NULL) : NULL;
    ok = ok && tikv_future_wait(f) == TIKV_ERR_OK;
    tikv_future_destroy(f);
    f = ok ? tikv_raw_get(c, (const uint8_t *)"k", 1, NULL) : NULL;
    const uint8_t *v = NULL;
    size_t n = 0;
    ok = ok && tikv_future_wait(f) == TIKV_ERR_OK && tikv_future_get_value(f, &v, &n) == 1 &&
         n == 1 && v[0] == 'v';
    tikv_future_destroy(f);
    printf("raw put k=v, get k -> %s (raw calls served: %llu)\n", ok ? "v" : "FAILED",
           (unsigned long long)tikv_mock_call_count(m, "*"));
    tikv_client_free(c);
  }
  tikv_mock_cluster_stop(m);
  return ok ? 0 : 1;
}
