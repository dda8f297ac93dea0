/* The error table and error objects. */
#include <stdio.h>

#include "core/core.h"

typedef struct {
  const char *name;
  const char *desc;
  int retryable;
} err_info;

static const err_info ERR_TABLE[] = {
#define TIKV__ERR_ROW(name, num, retry, desc) [num] = {#name, desc, retry},
    TIKV_ERROR_MAP(TIKV__ERR_ROW)
#undef TIKV__ERR_ROW
};

static const err_info *info_of(int code) {
  if (code < 0 || code >= (int)(sizeof(ERR_TABLE) / sizeof(ERR_TABLE[0]))) return NULL;
  return ERR_TABLE[code].name ? &ERR_TABLE[code] : NULL;
}

const char *tikv_strerror(int code) {
  const err_info *i = info_of(code);
  return i ? i->desc : "unknown error";
}
const char *tikv_err_name(int code) {
  const err_info *i = info_of(code);
  return i ? i->name : NULL;
}
int tikv_err_retryable(int code) {
  const err_info *i = info_of(code);
  return i ? i->retryable : 0;
}

const char *tikv_version_string(void) { return "0.1.0"; }
unsigned tikv_version(void) { return TIKV_VERSION_HEX; }

/* Returned when even the error cannot be allocated. */
static tikv_error_t OOM_ERROR = {.code = TIKV_ERR_NO_MEMORY,
                                 .message = "out of memory",
                                 .detail_kind = ""};

tikv_error_t *tikv__error_newv(int code, const char *fmt, va_list ap) {
  tikv_error_t *e = tikv__calloc(1, sizeof(*e));
  if (!e) return &OOM_ERROR;
  e->code = code;
  if (vasprintf(&e->message, fmt, ap) < 0) e->message = NULL;
  e->detail_kind = tikv__strdup("");
  if (!e->message || !e->detail_kind) {
    free(e->message);
    free(e->detail_kind);
    free(e);
    return &OOM_ERROR;
  }
  return e;
}

tikv_error_t *tikv__error_new(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tikv_error_t *e = tikv__error_newv(code, fmt, ap);
  va_end(ap);
  return e;
}

tikv_error_t *tikv__oom(void) { return tikv__error_new(TIKV_ERR_NO_MEMORY, "out of memory"); }

int tikv__error_set_kind(tikv_error_t *e, const char *kind) {
  if (e == &OOM_ERROR) return -1;
  char *k = tikv__strdup(kind);
  if (!k) return -1;
  free(e->detail_kind);
  e->detail_kind = k;
  return 0;
}

tikv_error_t *tikv__error_dup(const tikv_error_t *src) {
  if (src == &OOM_ERROR) return &OOM_ERROR;
  tikv_error_t *e = tikv__error_new(src->code, "%s", src->message);
  if (e == &OOM_ERROR) return e;
  if (tikv__error_set_kind(e, src->detail_kind) ||
      (src->key.data && tikv__bytes_set(&e->key, src->key.data, src->key.len)) ||
      (src->primary.data && tikv__bytes_set(&e->primary, src->primary.data, src->primary.len))) {
    tikv__error_free(e);
    return &OOM_ERROR;
  }
  e->start_ts = src->start_ts;
  e->conflict_ts = src->conflict_ts;
  e->lock_ttl = src->lock_ttl;
  e->region_id = src->region_id;
  e->grpc_status = src->grpc_status;
  return e;
}

void tikv__error_prefix(tikv_error_t *e, const char *fmt, ...) {
  if (e == &OOM_ERROR) return;
  char *pre = NULL, *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&pre, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (asprintf(&msg, "%s: %s", pre, e->message) >= 0) {
    free(e->message);
    e->message = msg;
  }
  free(pre);
}

void tikv__error_free(tikv_error_t *e) {
  if (!e || e == &OOM_ERROR) return;
  free(e->message);
  free(e->detail_kind);
  tikv__bytes_free(&e->key);
  tikv__bytes_free(&e->primary);
  free(e);
}

void tikv__error_keep(tikv_error_t **first, tikv_error_t *err) {
  if (!*first)
    *first = err;
  else
    tikv__error_free(err);
}

int tikv_error_code_of(const tikv_error_t *e) { return e ? e->code : TIKV_ERR_OK; }
const char *tikv_error_message(const tikv_error_t *e) { return e ? e->message : ""; }
int tikv_error_retryable(const tikv_error_t *e) { return e ? tikv_err_retryable(e->code) : 0; }
const char *tikv_error_detail_kind(const tikv_error_t *e) { return e ? e->detail_kind : ""; }
const uint8_t *tikv_error_key(const tikv_error_t *e, size_t *len) {
  *len = e ? e->key.len : 0;
  return e ? e->key.data : NULL;
}
const uint8_t *tikv_error_primary(const tikv_error_t *e, size_t *len) {
  *len = e ? e->primary.len : 0;
  return e ? e->primary.data : NULL;
}
uint64_t tikv_error_start_ts(const tikv_error_t *e) { return e ? e->start_ts : 0; }
uint64_t tikv_error_conflict_ts(const tikv_error_t *e) { return e ? e->conflict_ts : 0; }
uint64_t tikv_error_lock_ttl(const tikv_error_t *e) { return e ? e->lock_ttl : 0; }
uint64_t tikv_error_region_id(const tikv_error_t *e) { return e ? e->region_id : 0; }
int tikv_error_grpc_status(const tikv_error_t *e) { return e ? e->grpc_status : 0; }

const char *tikv__grpc_status_name(int s) {
  static const char *names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                "UNAUTHENTICATED"};
  return s >= 0 && s < (int)(sizeof(names) / sizeof(names[0])) ? names[s] : "UNKNOWN";
}
