/* The error table shared by the C core and the JavaScript layer.
 *
 * TIKV_ERROR_MAP(X) expands X(NAME, number, retryable, "description") once per
 * code. Numbers are stable and never reused; append new codes at the end.
 * scripts that generate the JS/TS code list parse this table. */
#ifndef TIKV_ERROR_H
#define TIKV_ERROR_H

#include "common.h"

#define TIKV_ERROR_MAP(X)                                                                  \
  X(OK, 0, 0, "success")                                                                   \
  X(INVALID_ARGUMENT, 1, 0, "invalid argument")                                            \
  X(NO_MEMORY, 2, 0, "out of memory")                                                      \
  X(CLOSED, 3, 0, "client is closed")                                                      \
  X(TIMEOUT, 4, 1, "operation deadline exceeded")                                          \
  X(UNAVAILABLE, 5, 1, "server unavailable (transport error)")                             \
  X(GRPC, 6, 0, "gRPC call failed")                                                        \
  X(PD, 7, 1, "PD returned an error")                                                      \
  X(REGION, 8, 1, "region error")                                                          \
  X(PROTOCOL, 9, 0, "malformed or unexpected reply")                                       \
  X(SERVER, 10, 0, "server returned an error")                                             \
  X(UNSUPPORTED, 11, 0, "operation not supported in this mode")                            \
  X(NOT_READY, 12, 0, "future is not ready")                                               \
  X(CANCELLED, 13, 0, "operation cancelled")                                               \
  X(KEY_LOCKED, 14, 1, "key is locked by another transaction")                             \
  X(WRITE_CONFLICT, 15, 1, "write conflict")                                               \
  X(ALREADY_EXIST, 16, 0, "key already exists")                                            \
  X(DEADLOCK, 17, 1, "deadlock detected")                                                  \
  X(COMMIT_TS_EXPIRED, 18, 0, "commit timestamp expired")                                  \
  X(TXN_NOT_FOUND, 19, 0, "transaction not found")                                         \
  X(TXN_ABORTED, 20, 0, "transaction aborted")                                             \
  X(TXN_FINISHED, 21, 0, "transaction already committed or rolled back")                   \
  X(LOCK_WAIT_TIMEOUT, 22, 1, "pessimistic lock wait timed out")                           \
  X(UNDETERMINED, 23, 0, "commit result undetermined")                                     \
  X(ASSERTION_FAILED, 24, 0, "mutation assertion failed")                                  \
  X(TXN_RETRYABLE, 25, 1, "transaction must be retried")                                   \
  X(INTERNAL, 26, 0, "internal error")                                                     \
  X(TLS, 27, 0, "TLS handshake failed")                                                    \
  X(ABORTED, 28, 0, "operation aborted by the caller")

typedef enum tikv_error_code {
#define TIKV__ERR_ENUM(name, num, retry, desc) TIKV_ERR_##name = num,
  TIKV_ERROR_MAP(TIKV__ERR_ENUM)
#undef TIKV__ERR_ENUM
  TIKV_ERR__COUNT
} tikv_error_code;

TIKV_BEGIN_DECLS

/* Description of a code, e.g. "write conflict"; static storage. Unknown codes
 * give "unknown error". */
TIKV_EXTERN const char *tikv_strerror(int code);
/* Name of a code, e.g. "WRITE_CONFLICT"; static storage; NULL if unknown. */
TIKV_EXTERN const char *tikv_err_name(int code);
/* 1 if an operation failing with this code may succeed when retried. */
TIKV_EXTERN int tikv_err_retryable(int code);

/* An error with its context. Owned by whatever returned it (a future), read
 * with the getters below, valid as long as its owner. */
typedef struct tikv_error_s tikv_error_t;

TIKV_EXTERN int tikv_error_code_of(const tikv_error_t *err);
/* Human readable message, never NULL. */
TIKV_EXTERN const char *tikv_error_message(const tikv_error_t *err);
TIKV_EXTERN int tikv_error_retryable(const tikv_error_t *err);
/* The kind of server detail: a TiKV region error field name ("not_leader",
 * "epoch_not_match", ...), a key error field ("conflict", "locked", ...), a PD
 * error type ("NOT_BOOTSTRAPPED", ...) or a gRPC status name ("UNAVAILABLE").
 * "" when there is none. */
TIKV_EXTERN const char *tikv_error_detail_kind(const tikv_error_t *err);
/* The key the server named (conflicting, locked, existing key); *len = 0 and
 * NULL when none. */
TIKV_EXTERN const uint8_t *tikv_error_key(const tikv_error_t *err, size_t *len);
/* The primary key of the lock or conflicting transaction, if any. */
TIKV_EXTERN const uint8_t *tikv_error_primary(const tikv_error_t *err, size_t *len);
/* Timestamps the server named: the lock's or conflict's start_ts, a conflicting
 * commit_ts, the lock TTL (ms). 0 when not applicable. */
TIKV_EXTERN uint64_t tikv_error_start_ts(const tikv_error_t *err);
TIKV_EXTERN uint64_t tikv_error_conflict_ts(const tikv_error_t *err);
TIKV_EXTERN uint64_t tikv_error_lock_ttl(const tikv_error_t *err);
/* The region the error concerns, 0 when none. */
TIKV_EXTERN uint64_t tikv_error_region_id(const tikv_error_t *err);
/* gRPC status code of the failed call (0 when the error did not come from a call). */
TIKV_EXTERN int tikv_error_grpc_status(const tikv_error_t *err);

TIKV_END_DECLS

#endif
