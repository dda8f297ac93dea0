/* The configuration builder (include/tikv/client.h). */
#include "client/client.h"
#include "region/request.h"
#include "rpc/batch.h"

#include <ctype.h>
#include <stdio.h>

tikv_config_t *tikv_config_new(void) {
  tikv_config_t *cfg = tikv__calloc(1, sizeof(*cfg));
  if (!cfg) return NULL;
  cfg->timeout_ms = 20000;
  cfg->attempt_timeout_ms = TIKV__ATTEMPT_TIMEOUT_MS;
  strcpy(cfg->cf, "default");
  cfg->api_version = 1;
  cfg->batch_commands = true;
  cfg->grpc_connections = TIKV__BATCH_STREAMS;
  /* a Node thread takes ~40 us (median, this machine) to run a get's
   * completion and call again, 100-150 between a transaction's begin and
   * its commit (ten buffered puts between them): 250 catches nearly all
   * (bench/README.md, "Idle spin") */
  cfg->idle_spin_us = 250;
  return cfg;
}

void tikv__config_clear(tikv_config_t *cfg) {
  for (size_t i = 0; i < cfg->n_pd; i++) free(cfg->pd_endpoints[i]);
  free(cfg->pd_endpoints);
  cfg->pd_endpoints = NULL;
  cfg->n_pd = 0;
  tikv__tls_clear(&cfg->tls);
}

int tikv__config_copy(tikv_config_t *dst, const tikv_config_t *src) {
  *dst = *src;
  dst->n_pd = 0;
  dst->pd_endpoints = tikv__calloc(src->n_pd, sizeof(char *));
  if (tikv__tls_copy(&dst->tls, &src->tls) || !dst->pd_endpoints) return -1;
  for (size_t i = 0; i < src->n_pd; i++) {
    if (!(dst->pd_endpoints[i] = tikv__strdup(src->pd_endpoints[i]))) return -1;
    dst->n_pd++;
  }
  return 0;
}

void tikv_config_free(tikv_config_t *cfg) {
  if (!cfg) return;
  tikv__config_clear(cfg);
  free(cfg);
}

int tikv_config_add_pd_endpoint(tikv_config_t *cfg, const char *endpoint) {
  if (!cfg || !endpoint) return TIKV_ERR_INVALID_ARGUMENT;
  const char *p = endpoint;
  unsigned scheme = 0;
  if (strncmp(p, "http://", 7) == 0) {
    p += 7;
    scheme = TIKV__SCHEME_HTTP;
  } else if (strncmp(p, "https://", 8) == 0) {
    p += 8;
    scheme = TIKV__SCHEME_HTTPS;
  }
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
  cfg->schemes |= scheme;
  return TIKV_ERR_OK;
}

int tikv_config_set_timeout_ms(tikv_config_t *cfg, uint32_t ms) {
  if (!cfg || ms == 0) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->timeout_ms = ms;
  return TIKV_ERR_OK;
}

int tikv_config_set_attempt_timeout_ms(tikv_config_t *cfg, uint32_t ms) {
  if (!cfg || ms == 0) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->attempt_timeout_ms = ms;
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

int tikv_config_set_batch_commands(tikv_config_t *cfg, int enabled) {
  if (!cfg) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->batch_commands = enabled != 0;
  return TIKV_ERR_OK;
}

int tikv_config_set_grpc_connections(tikv_config_t *cfg, int n) {
  if (!cfg || n < 1 || n > 64) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->grpc_connections = n;
  return TIKV_ERR_OK;
}

int tikv_config_set_idle_spin_us(tikv_config_t *cfg, uint32_t us) {
  if (!cfg || us > 10000) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->idle_spin_us = us;
  return TIKV_ERR_OK;
}

int tikv_config_set_atomic(tikv_config_t *cfg, int atomic) {
  if (!cfg) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->atomic = atomic != 0;
  return TIKV_ERR_OK;
}

int tikv_config_set_event_callback(tikv_config_t *cfg, tikv_event_cb cb, void *arg) {
  if (!cfg) return TIKV_ERR_INVALID_ARGUMENT;
  cfg->event_cb = cb;
  cfg->event_arg = cb ? arg : NULL;
  return TIKV_ERR_OK;
}


/* The setters' answer: rc, with the reason kept for tikv_config_error. */
static int refuse(tikv_config_t *cfg, int rc, const char *why) {
  snprintf(cfg->error, sizeof(cfg->error), "%s", rc ? why : "");
  return rc;
}

int tikv_config_set_tls(tikv_config_t *cfg, const char *ca_pem, size_t ca_len,
                        const char *cert_pem, size_t cert_len, const char *key_pem,
                        size_t key_len) {
  if (!cfg) return TIKV_ERR_INVALID_ARGUMENT;
  if ((!ca_pem && ca_len) || (!cert_pem && cert_len) || (!key_pem && key_len))
    return refuse(cfg, TIKV_ERR_INVALID_ARGUMENT, "a TLS piece is NULL but has a length");
  char why[sizeof(cfg->error)];
  int rc = tikv__tls_set(&cfg->tls, false, ca_pem, ca_len, cert_pem, cert_len, key_pem, key_len,
                         why, sizeof(why));
  return refuse(cfg, rc, why);
}

int tikv_config_set_tls_files(tikv_config_t *cfg, const char *ca_path, const char *cert_path,
                              const char *key_path) {
  if (!cfg) return TIKV_ERR_INVALID_ARGUMENT;
  char why[sizeof(cfg->error)];
  int rc = tikv__tls_set(&cfg->tls, true, ca_path, 0, cert_path, 0, key_path, 0, why, sizeof(why));
  return refuse(cfg, rc, why);
}

int tikv_config_set_api_version(tikv_config_t *cfg, int version) {
  if (!cfg) return TIKV_ERR_INVALID_ARGUMENT;
  if (version != 1 && version != 2)
    return refuse(cfg, TIKV_ERR_INVALID_ARGUMENT, "the API version is 1 or 2");
  cfg->api_version = version;
  return refuse(cfg, TIKV_ERR_OK, NULL);
}

/* PD's rule for keyspace names (pkg/keyspace: namePattern). */
static bool keyspace_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n < 1 || n > 20) return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_') return false;
  return true;
}

int tikv_config_set_keyspace(tikv_config_t *cfg, const char *name) {
  if (!cfg || !name) return TIKV_ERR_INVALID_ARGUMENT;
  if (!keyspace_name_ok(name))
    return refuse(cfg, TIKV_ERR_INVALID_ARGUMENT,
                  "a keyspace name is 1 to 20 of A-Z, a-z, 0-9, '-' and '_' (PD's rule)");
  snprintf(cfg->keyspace, sizeof(cfg->keyspace), "%s", name);
  return refuse(cfg, TIKV_ERR_OK, NULL);
}

const char *tikv_config_error(const tikv_config_t *cfg) { return cfg ? cfg->error : ""; }

int tikv__config_check(const tikv_config_t *cfg, char *why, size_t len) {
  const char *msg = NULL;
  if (cfg->tls.on && (cfg->schemes & TIKV__SCHEME_HTTP))
    msg = "an http:// PD endpoint with TLS configured: write https:// (never a plaintext downgrade)";
  else if (!cfg->tls.on && (cfg->schemes & TIKV__SCHEME_HTTPS))
    msg = "an https:// PD endpoint needs TLS (tikv_config_set_tls or tikv_config_set_tls_files)";
  else if (cfg->keyspace[0] && cfg->api_version != 2)
    msg = "a keyspace needs API v2 (tikv_config_set_api_version(cfg, 2))";
  else if (cfg->api_version == 2 && cfg->cf[0] && strcmp(cfg->cf, "default") != 0)
    msg = "API v2 has no column families (TiKV: cf is deprecated in API V2)";
  if (msg) snprintf(why, len, "%s", msg);
  return msg ? TIKV_ERR_INVALID_ARGUMENT : TIKV_ERR_OK;
}
