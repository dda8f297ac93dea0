/* The configuration builder (include/tikv/client.h). */
#include "client/client.h"

tikv_config_t *tikv_config_new(void) {
  tikv_config_t *cfg = tikv__calloc(1, sizeof(*cfg));
  if (!cfg) return NULL;
  cfg->timeout_ms = 20000;
  strcpy(cfg->cf, "default");
  return cfg;
}

void tikv__config_clear(tikv_config_t *cfg) {
  for (size_t i = 0; i < cfg->n_pd; i++) free(cfg->pd_endpoints[i]);
  free(cfg->pd_endpoints);
  cfg->pd_endpoints = NULL;
  cfg->n_pd = 0;
}

int tikv__config_copy(tikv_config_t *dst, const tikv_config_t *src) {
  *dst = *src;
  dst->n_pd = 0;
  dst->pd_endpoints = tikv__calloc(src->n_pd, sizeof(char *));
  if (!dst->pd_endpoints) return -1;
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

