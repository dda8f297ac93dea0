/* Shared definitions of the tikv-client C API: export marker, version, byte slices. */
#ifndef TIKV_COMMON_H
#define TIKV_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define TIKV_BEGIN_DECLS extern "C" {
#define TIKV_END_DECLS }
#else
#define TIKV_BEGIN_DECLS
#define TIKV_END_DECLS
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define TIKV_EXTERN __attribute__((visibility("default")))
#else
#define TIKV_EXTERN
#endif

#define TIKV_VERSION_MAJOR 0
#define TIKV_VERSION_MINOR 1
#define TIKV_VERSION_PATCH 0
#define TIKV_VERSION_HEX \
  ((TIKV_VERSION_MAJOR << 16) | (TIKV_VERSION_MINOR << 8) | TIKV_VERSION_PATCH)

TIKV_BEGIN_DECLS

/* A borrowed run of bytes. Used for arrays of keys/values passed into the API;
 * the bytes are only read during the call that receives them. */
typedef struct tikv_slice_s {
  const uint8_t *data;
  size_t len;
} tikv_slice_t;

/* A key/value pair owned by a future (see future.h). value is NULL and
 * value_len 0 for key-only results. */
typedef struct tikv_kv_s {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
} tikv_kv_t;

/* "0.1.0"; static storage. */
TIKV_EXTERN const char *tikv_version_string(void);
/* TIKV_VERSION_HEX of the library actually linked. */
TIKV_EXTERN unsigned tikv_version(void);

TIKV_END_DECLS

#endif
