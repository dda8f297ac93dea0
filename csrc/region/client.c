/* Configuration and client lifetime. */
#include <stdio.h>

#include "region/cluster.h"

tikv_config_t *tikv_config_new(void) {
  tikv_config_t *cfg = tikv__calloc(1, sizeof(*cfg));
  if (!cfg) return NULL;
  cfg->timeout_ms = 20000;
  strcpy(cfg->cf, "default");
  return cfg;
}

void tikv_config_free(tikv_config_t *cfg) {
  if (!cfg) return;
  for (size_t i = 0; i < cfg->n_pd; i++) free(cfg->pd_endpoints[i]);
  free(cfg->pd_endpoints);
  free(cfg);
}

int tikv_config_add_pd_endpoint(tikv_config_t *cfg, const char *endpoint) {
  if (!cfg || !endpoint) return TIKV_ERR_INVALID_ARGUMENT;
  const char *p = endpoint;
  if (strncmp(p, "http://", 7) == 0) p += 7;
  if (strncmp(p, "https://", 8) == 0) return TIKV_ERR_UNSUPPORTED; /* TLS: not yet */
  size_t n = strlen(p);
  while (n && p[n - 1] == '/') n--;
  if (n == 0 || !memchr(p, ':', n)) return TIKV_ERR_INVALID_ARGUMENT;
  char *e = (char *)tikv__memdup(p, n);
  char **list = e ? tikv__realloc(cfg->pd_endpoints, (cfg->n_pd + 1) * sizeof(char *)) : NULL;
  if (!list) {
    free(e);
    return TIKV_ERR_NO_MEMORY;
  }
  cfg->pd_endpoints = list;
  list[cfg->n_pd++] = e;
  return TIKV_ERR_OK;
}

int tikv_config_set_timeout_ms(tikv_config_t *cfg, uint32_t ms) {
  if (!cfg || ms == 0) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->timeout_ms = ms;
  return TIKV_ERR_OK;
}

int tikv_config_set_column_family(tikv_config_t *cfg, const char *cf) {
  if (!cfg || !cf) return TIKV_ERR_INVALID_ARGUMENT;
  if (cf[0] == 0) cf = "default";
  if (strcmp(cf, "default") && strcmp(cf, "lock") && strcmp(cf, "write"))
    return TIKV_ERR_INVALID_ARGUMENT;
  strcpy(cfg->cf, cf);
  return TIKV_ERR_OK;
}

int tikv_config_set_atomic(tikv_config_t *cfg, int atomic) {
  if (!cfg) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->atomic = atomic != 0;
  return TIKV_ERR_OK;
}

static void set_err(int *err, int code) {
  if (err) *err = code;
}

tikv_client_t *tikv_client_new(const tikv_config_t *cfg, int *err) {
  if (!cfg || cfg->n_pd == 0) {
    set_err(err, TIKV_ERR_INVALID_ARGUMENT);
    return NULL;
  }
  tikv_client_t *c = tikv__calloc(1, sizeof(*c));
  if (!c) goto oom;
  c->cfg = *cfg;
  c->cfg.pd_endpoints = tikv__calloc(cfg->n_pd, sizeof(char *));
  c->pd_conns = tikv__calloc(cfg->n_pd, sizeof(tikv__conn_t *));
  if (!c->cfg.pd_endpoints || !c->pd_conns) goto oom_free;
  c->cfg.n_pd = 0;
  for (size_t i = 0; i < cfg->n_pd; i++) {
    c->cfg.pd_endpoints[i] = tikv__strdup(cfg->pd_endpoints[i]);
    if (!c->cfg.pd_endpoints[i]) goto oom_free;
    c->cfg.n_pd++;
  }
  pthread_mutex_init(&c->close_mu, NULL);
  tikv__cache_init(&c->cache);
  tikv__backoff_init(&c->pd_bo, 100, 1000);
  tikv__timer_init(&c->tso_timer);
  c->loop = tikv__loop_new();
  if (!c->loop) goto oom_free;
  c->rpc.loop = c->loop;
  for (size_t i = 0; i < c->cfg.n_pd; i++) {
    c->pd_conns[i] = tikv__conn_new(&c->rpc, c->cfg.pd_endpoints[i]);
    if (!c->pd_conns[i]) {
      tikv_client_free(c);
      goto oom;
    }
  }
  set_err(err, TIKV_ERR_OK);
  return c;
oom_free:
  if (c) {
    if (c->cfg.pd_endpoints)
      for (size_t i = 0; i < c->cfg.n_pd; i++) free(c->cfg.pd_endpoints[i]);
    free(c->cfg.pd_endpoints);
    free(c->pd_conns);
    free(c);
  }
oom:
  set_err(err, TIKV_ERR_NO_MEMORY);
  return NULL;
}

int tikv__client_post(tikv_client_t *c, tikv__task_fn fn, void *arg) {
  if (atomic_load(&c->closed)) return -1;
  return tikv__loop_post(c->loop, fn, arg);
}

int64_t tikv__client_deadline(tikv_client_t *c) { return tikv__now_ms() + c->cfg.timeout_ms; }

uint64_t tikv_client_cluster_id(tikv_client_t *c) { return c ? atomic_load(&c->cluster_id) : 0; }

typedef struct {
  tikv_client_t *c;
  tikv_future_t *f;
} connect_t;

static void connect_done(void *arg, tikv_error_t *err) {
  connect_t *k = arg;
  tikv__future_complete(k->f, err);
  free(k);
}

static void connect_start(void *arg) {
  connect_t *k = arg;
  tikv__pd_connect(k->c, tikv__client_deadline(k->c), connect_done, k);
}

tikv_future_t *tikv_client_connect(tikv_client_t *c) {
  if (!c) return tikv__future_failed(tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "no client"));
  tikv_future_t *f = tikv__future_new();
  connect_t *k = tikv__calloc(1, sizeof(*k));
  if (!f || !k) {
    free(k);
    if (f) {
      tikv__future_complete(f, tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"));
      return f;
    }
    return NULL;
  }
  *k = (connect_t){c, f};
  if (tikv__client_post(c, connect_start, k) != 0) {
    free(k);
    tikv__future_complete(f, tikv__error_new(TIKV_ERR_CLOSED, "client is closed"));
  }
  return f;
}

static void drain(void *arg) {
  tikv_client_t *c = arg;
  tikv__rpc_cancel_all(&c->rpc);
  tikv__pd_close(c);
}

void tikv_client_close(tikv_client_t *c) {
  if (!c) return;
  pthread_mutex_lock(&c->close_mu);
  if (!atomic_exchange(&c->closed, true)) {
    tikv__loop_stop(c->loop, drain, c);
    tikv__pd_free(c);
    tikv__stores_free(c);
    tikv__cache_destroy(&c->cache);
  }
  pthread_mutex_unlock(&c->close_mu);
}

void tikv_client_free(tikv_client_t *c) {
  if (!c) return;
  tikv_client_close(c);
  tikv__loop_free(c->loop);
  for (size_t i = 0; i < c->cfg.n_pd; i++) free(c->cfg.pd_endpoints[i]);
  free(c->cfg.pd_endpoints);
  pthread_mutex_destroy(&c->close_mu);
  free(c);
}
