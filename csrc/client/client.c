/* Client lifetime: creating the layers, connecting, closing. */
#include "client/client.h"

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
  if (tikv__config_copy(&c->cfg, cfg) || !(c->loop = tikv__loop_new())) {
    tikv__config_clear(&c->cfg);
    free(c);
    goto oom;
  }
  pthread_mutex_init(&c->close_mu, NULL);
  c->rpc.loop = c->loop;
  tikv__loop_set_idle_spin(c->loop, c->cfg.idle_spin_us);
  c->rpc.batch_streams = c->cfg.batch_commands ? c->cfg.grpc_connections : 0;
  tikv__router_init(&c->router, &c->rpc, &c->pd);
  tikv__apicodec_init(&c->router.codec, c->cfg.api_version);
  c->router.attempt_timeout_ms = c->cfg.attempt_timeout_ms;
  /* API v2 raw requests name no column family ("default" is all there is) */
  if (c->cfg.api_version == 2 && !strcmp(c->cfg.cf, "default")) c->cfg.cf[0] = 0;
  if ((c->cfg.tls.on && !(c->rpc.creds = tikv__tls_credentials(&c->cfg.tls))) ||
      tikv__pd_init(&c->pd, &c->rpc, c->cfg.pd_endpoints, c->cfg.n_pd)) {
    tikv_client_free(c);
    goto oom;
  }
  c->stats.cb = c->cfg.event_cb;
  c->stats.cb_arg = c->cfg.event_arg;
  c->pd.stats = &c->stats;
  set_err(err, TIKV_ERR_OK);
  return c;
oom:
  set_err(err, TIKV_ERR_NO_MEMORY);
  return NULL;
}

int tikv__client_post(tikv_client_t *c, tikv__task_fn fn, void *arg) {
  if (atomic_load(&c->closed)) return -1;
  return tikv__loop_post(c->loop, fn, arg);
}

tikv_future_t *tikv__client_submit(tikv_client_t *c, const tikv_call_opts_t *opts,
                                   tikv_future_t **slot, void *op, tikv__task_fn start,
                                   void (*drop)(void *op)) {
  tikv_future_t *f = *slot ? *slot : tikv__future_new();
  if (!f) {
    drop(op);
    return NULL;
  }
  tikv__future_set_scope(f, c->loop, opts && opts->timeout_ms ? opts->timeout_ms : c->cfg.timeout_ms);
  *slot = f;
  f->start = (tikv__task_t){.fn = start, .arg = op};
  if (atomic_load(&c->closed) || tikv__loop_post_task(c->loop, &f->start) != 0) {
    if (drop) drop(op);
    tikv__future_complete(f, tikv__error_new(TIKV_ERR_CLOSED, "client is closed"));
  }
  return f;
}

int64_t tikv__client_deadline(tikv_client_t *c) { return tikv__now_ms() + c->cfg.timeout_ms; }

void tikv_call_opts_init(tikv_call_opts_t *opts) {
  if (opts) *opts = (tikv_call_opts_t){0};
}

int tikv_client_stats(tikv_client_t *c, tikv_stats_t *out) {
  if (!c || !out) return TIKV_ERR_INVALID_ARGUMENT;
  tikv__stats_read(&c->stats, out);
  out->io_wakeups = (uint64_t)tikv__loop_wakeups(c->loop);
  out->io_reply_spins_missed = (uint64_t)tikv__loop_reply_spins_missed(c->loop);
  return TIKV_ERR_OK;
}

uint64_t tikv_client_cluster_id(tikv_client_t *c) { return c ? tikv__pd_cluster_id(&c->pd) : 0; }

typedef struct {
  tikv_client_t *c;
  tikv_future_t *f;
} connect_t;

static void connect_finish(void *arg, tikv_error_t *err) {
  connect_t *k = arg;
  tikv__future_complete(k->f, err);
  free(k);
}

static void connect_done(void *arg, tikv_error_t *err) {
  connect_t *k = arg;
  if (!err && tikv__apicodec_unready(&k->c->router.codec)) {
    tikv__client_load_keyspace(k->c, &k->f->scope, connect_finish, k);
    return;
  }
  connect_finish(k, err);
}

static void connect_start(void *arg) {
  connect_t *k = arg;
  tikv__pd_connect(&k->c->pd, &k->f->scope, connect_done, k);
}

tikv_future_t *tikv_client_connect(tikv_client_t *c) {
  if (!c) return tikv__future_failed(tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "no client"));
  char why[256];
  if (tikv__config_check(&c->cfg, why, sizeof(why)))
    return tikv__future_failed(tikv__error_new(TIKV_ERR_INVALID_ARGUMENT, "%s", why));
  tikv_future_t *f = tikv__future_new();
  connect_t *k = tikv__calloc(1, sizeof(*k));
  if (!f || !k) {
    free(k);
    if (f) {
      tikv__future_complete(f, tikv__oom());
      return f;
    }
    return NULL;
  }
  *k = (connect_t){c, f};
  tikv__future_set_scope(f, c->loop, c->cfg.timeout_ms);
  if (tikv__client_post(c, connect_start, k) != 0) {
    free(k);
    tikv__future_complete(f, tikv__error_new(TIKV_ERR_CLOSED, "client is closed"));
  }
  return f;
}

/* On the I/O thread, as the loop stops: every call and the Tso stream are
 * cancelled; waiters for a PD leader get CLOSED through their timers, which
 * the stopping loop fires at once. */
static void drain(void *arg) {
  tikv_client_t *c = arg;
  tikv__rpc_cancel_all(&c->rpc);
}

void tikv_client_close(tikv_client_t *c) {
  if (!c) return;
  pthread_mutex_lock(&c->close_mu);
  if (!atomic_exchange(&c->closed, true)) {
    tikv__loop_stop(c->loop, drain, c);
    tikv__pd_free(&c->pd);
    tikv__router_free(&c->router);
  }
  pthread_mutex_unlock(&c->close_mu);
}

void tikv_client_free(tikv_client_t *c) {
  if (!c) return;
  tikv_client_close(c);
  tikv__loop_free(c->loop);
  if (c->rpc.creds) grpc_channel_credentials_release(c->rpc.creds);
  tikv__config_clear(&c->cfg);
  pthread_mutex_destroy(&c->close_mu);
  free(c);
}
