/* The request table: every RPC the client or the mock uses, in one place.
 * For each: its service and method (the path is "/<service>/<method>"), the
 * request and response descriptors, the BatchCommands oneof case that carries
 * it (0 when it has none: it only travels as a unary call), and its class:
 *   READ   no effect on the server; safe to resend at any time
 *   WRITE  has effects; resending after an unknown outcome needs the
 *          operation's own judgement (see the failure-handling rules)
 *   STREAM a bidirectional stream (no unary call)
 * check_core pins every row to the protobuf-c service descriptors generated
 * from proto/, so a path, a descriptor pairing or a batch case that drifts
 * from kvproto fails a test. Add an RPC here and nowhere else. */
#ifndef TIKV_RPC_REQUESTS_H
#define TIKV_RPC_REQUESTS_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "health.pb-c.h"
#include "keyspacepb.pb-c.h"
#include "kvrpcpb.pb-c.h"
#include "pdpb.pb-c.h"
#include "tikvpb.pb-c.h"

/* X(ID, service, method, request type, response type, batch case, class)
 * `request type`/`response type` are protobuf-c's lower-case names (the
 * descriptor is <name>__descriptor); `batch case` is the suffix of
 * TIKVPB__BATCH_COMMANDS_{REQUEST,RESPONSE}__{...}__CMD_<case>, or _NOT_SET. */
#define TIKV__TIKV_REQUESTS(X)                                                                   \
  /* transactional KV */                                                                         \
  X(KV_GET, Tikv, KvGet, kvrpcpb__get_request, kvrpcpb__get_response, GET, READ)                 \
  X(KV_SCAN, Tikv, KvScan, kvrpcpb__scan_request, kvrpcpb__scan_response, SCAN, READ)            \
  X(KV_BATCH_GET, Tikv, KvBatchGet, kvrpcpb__batch_get_request, kvrpcpb__batch_get_response,     \
    BATCH_GET, READ)                                                                             \
  X(KV_PREWRITE, Tikv, KvPrewrite, kvrpcpb__prewrite_request, kvrpcpb__prewrite_response,        \
    PREWRITE, WRITE)                                                                             \
  X(KV_PESSIMISTIC_LOCK, Tikv, KvPessimisticLock, kvrpcpb__pessimistic_lock_request,             \
    kvrpcpb__pessimistic_lock_response, PESSIMISTIC_LOCK, WRITE)                                 \
  /* upstream spells this one with an upper-case "KV" */                                         \
  X(KV_PESSIMISTIC_ROLLBACK, Tikv, KVPessimisticRollback, kvrpcpb__pessimistic_rollback_request, \
    kvrpcpb__pessimistic_rollback_response, PESSIMISTIC_ROLLBACK, WRITE)                         \
  X(KV_TXN_HEART_BEAT, Tikv, KvTxnHeartBeat, kvrpcpb__txn_heart_beat_request,                    \
    kvrpcpb__txn_heart_beat_response, TXN_HEART_BEAT, WRITE)                                     \
  X(KV_CHECK_TXN_STATUS, Tikv, KvCheckTxnStatus, kvrpcpb__check_txn_status_request,              \
    kvrpcpb__check_txn_status_response, CHECK_TXN_STATUS, WRITE)                                 \
  X(KV_CHECK_SECONDARY_LOCKS, Tikv, KvCheckSecondaryLocks,                                       \
    kvrpcpb__check_secondary_locks_request, kvrpcpb__check_secondary_locks_response,             \
    CHECK_SECONDARY_LOCKS, WRITE)                                                                \
  X(KV_COMMIT, Tikv, KvCommit, kvrpcpb__commit_request, kvrpcpb__commit_response, COMMIT, WRITE) \
  X(KV_CLEANUP, Tikv, KvCleanup, kvrpcpb__cleanup_request, kvrpcpb__cleanup_response, CLEANUP,   \
    WRITE)                                                                                       \
  X(KV_BATCH_ROLLBACK, Tikv, KvBatchRollback, kvrpcpb__batch_rollback_request,                   \
    kvrpcpb__batch_rollback_response, BATCH_ROLLBACK, WRITE)                                     \
  X(KV_SCAN_LOCK, Tikv, KvScanLock, kvrpcpb__scan_lock_request, kvrpcpb__scan_lock_response,     \
    SCAN_LOCK, READ)                                                                             \
  X(KV_RESOLVE_LOCK, Tikv, KvResolveLock, kvrpcpb__resolve_lock_request,                         \
    kvrpcpb__resolve_lock_response, RESOLVE_LOCK, WRITE)                                         \
  X(KV_GC, Tikv, KvGC, kvrpcpb__gcrequest, kvrpcpb__gcresponse, GC, WRITE)                       \
  X(KV_DELETE_RANGE, Tikv, KvDeleteRange, kvrpcpb__delete_range_request,                         \
    kvrpcpb__delete_range_response, DELETE_RANGE, WRITE)                                         \
  /* raw KV */                                                                                   \
  X(RAW_GET, Tikv, RawGet, kvrpcpb__raw_get_request, kvrpcpb__raw_get_response, RAW_GET, READ)   \
  X(RAW_BATCH_GET, Tikv, RawBatchGet, kvrpcpb__raw_batch_get_request,                            \
    kvrpcpb__raw_batch_get_response, RAW_BATCH_GET, READ)                                        \
  X(RAW_PUT, Tikv, RawPut, kvrpcpb__raw_put_request, kvrpcpb__raw_put_response, RAW_PUT, WRITE)  \
  X(RAW_BATCH_PUT, Tikv, RawBatchPut, kvrpcpb__raw_batch_put_request,                            \
    kvrpcpb__raw_batch_put_response, RAW_BATCH_PUT, WRITE)                                       \
  X(RAW_DELETE, Tikv, RawDelete, kvrpcpb__raw_delete_request, kvrpcpb__raw_delete_response,      \
    RAW_DELETE, WRITE)                                                                           \
  X(RAW_BATCH_DELETE, Tikv, RawBatchDelete, kvrpcpb__raw_batch_delete_request,                   \
    kvrpcpb__raw_batch_delete_response, RAW_BATCH_DELETE, WRITE)                                 \
  X(RAW_SCAN, Tikv, RawScan, kvrpcpb__raw_scan_request, kvrpcpb__raw_scan_response, RAW_SCAN,    \
    READ)                                                                                        \
  X(RAW_DELETE_RANGE, Tikv, RawDeleteRange, kvrpcpb__raw_delete_range_request,                   \
    kvrpcpb__raw_delete_range_response, RAW_DELETE_RANGE, WRITE)                                 \
  X(RAW_BATCH_SCAN, Tikv, RawBatchScan, kvrpcpb__raw_batch_scan_request,                         \
    kvrpcpb__raw_batch_scan_response, RAW_BATCH_SCAN, READ)                                      \
  X(RAW_GET_KEY_TTL, Tikv, RawGetKeyTTL, kvrpcpb__raw_get_key_ttlrequest,                        \
    kvrpcpb__raw_get_key_ttlresponse, _NOT_SET, READ)                                            \
  X(RAW_CAS, Tikv, RawCompareAndSwap, kvrpcpb__raw_casrequest, kvrpcpb__raw_casresponse,         \
    _NOT_SET, WRITE)                                                                             \
  X(RAW_CHECKSUM, Tikv, RawChecksum, kvrpcpb__raw_checksum_request,                              \
    kvrpcpb__raw_checksum_response, _NOT_SET, READ)                                              \
  /* store-wide */                                                                                \
  X(GET_STORE_SAFE_TS, Tikv, GetStoreSafeTS, kvrpcpb__store_safe_tsrequest,                      \
    kvrpcpb__store_safe_tsresponse, _NOT_SET, READ)                                              \
  X(UNSAFE_DESTROY_RANGE, Tikv, UnsafeDestroyRange, kvrpcpb__unsafe_destroy_range_request,       \
    kvrpcpb__unsafe_destroy_range_response, _NOT_SET, WRITE)                                     \
  /* the envelope itself */                                                                      \
  X(BATCH_COMMANDS, Tikv, BatchCommands, tikvpb__batch_commands_request,                         \
    tikvpb__batch_commands_response, _NOT_SET, STREAM)

#define TIKV__PD_REQUESTS(X)                                                                     \
  X(PD_GET_CLUSTER_INFO, PD, GetClusterInfo, pdpb__get_cluster_info_request,                     \
    pdpb__get_cluster_info_response, _NOT_SET, READ)                                             \
  X(PD_GET_MEMBERS, PD, GetMembers, pdpb__get_members_request, pdpb__get_members_response,       \
    _NOT_SET, READ)                                                                              \
  X(PD_TSO, PD, Tso, pdpb__tso_request, pdpb__tso_response, _NOT_SET, STREAM)                    \
  X(PD_IS_BOOTSTRAPPED, PD, IsBootstrapped, pdpb__is_bootstrapped_request,                       \
    pdpb__is_bootstrapped_response, _NOT_SET, READ)                                              \
  X(PD_ALLOC_ID, PD, AllocID, pdpb__alloc_idrequest, pdpb__alloc_idresponse, _NOT_SET, WRITE)    \
  X(PD_GET_STORE, PD, GetStore, pdpb__get_store_request, pdpb__get_store_response, _NOT_SET,     \
    READ)                                                                                        \
  X(PD_GET_ALL_STORES, PD, GetAllStores, pdpb__get_all_stores_request,                           \
    pdpb__get_all_stores_response, _NOT_SET, READ)                                               \
  X(PD_GET_REGION, PD, GetRegion, pdpb__get_region_request, pdpb__get_region_response, _NOT_SET, \
    READ)                                                                                        \
  X(PD_GET_PREV_REGION, PD, GetPrevRegion, pdpb__get_region_request, pdpb__get_region_response,  \
    _NOT_SET, READ)                                                                              \
  X(PD_GET_REGION_BY_ID, PD, GetRegionByID, pdpb__get_region_by_idrequest,                       \
    pdpb__get_region_response, _NOT_SET, READ)                                                   \
  X(PD_SCAN_REGIONS, PD, ScanRegions, pdpb__scan_regions_request, pdpb__scan_regions_response,   \
    _NOT_SET, READ)                                                                              \
  X(PD_GET_CLUSTER_CONFIG, PD, GetClusterConfig, pdpb__get_cluster_config_request,               \
    pdpb__get_cluster_config_response, _NOT_SET, READ)                                           \
  X(PD_GET_GC_SAFE_POINT, PD, GetGCSafePoint, pdpb__get_gcsafe_point_request,                    \
    pdpb__get_gcsafe_point_response, _NOT_SET, READ)                                             \
  X(PD_UPDATE_GC_SAFE_POINT, PD, UpdateGCSafePoint, pdpb__update_gcsafe_point_request,           \
    pdpb__update_gcsafe_point_response, _NOT_SET, WRITE)                                         \
  X(PD_UPDATE_SERVICE_GC_SAFE_POINT, PD, UpdateServiceGCSafePoint,                               \
    pdpb__update_service_gcsafe_point_request, pdpb__update_service_gcsafe_point_response,       \
    _NOT_SET, WRITE)

/* PD's keyspace service (API v2) */
#define TIKV__KEYSPACE_REQUESTS(X)                                                               \
  X(PD_LOAD_KEYSPACE, Keyspace, LoadKeyspace, keyspacepb__load_keyspace_request,                 \
    keyspacepb__load_keyspace_response, _NOT_SET, READ)

#define TIKV__HEALTH_REQUESTS(X)                                                                 \
  X(HEALTH_CHECK, Health, Check, grpc__health__v1__health_check_request,                         \
    grpc__health__v1__health_check_response, _NOT_SET, READ)

#define TIKV__REQUESTS(X)                                                                        \
  TIKV__TIKV_REQUESTS(X) TIKV__PD_REQUESTS(X) TIKV__KEYSPACE_REQUESTS(X) TIKV__HEALTH_REQUESTS(X)

typedef enum {
#define TIKV__REQ_ENUM(id, svc, method, req, resp, bc, cls) TIKV__REQ_##id,
  TIKV__REQUESTS(TIKV__REQ_ENUM)
#undef TIKV__REQ_ENUM
  TIKV__REQ_COUNT
} tikv__req_id;

typedef enum { TIKV__REQ_CLASS_READ, TIKV__REQ_CLASS_WRITE, TIKV__REQ_CLASS_STREAM } tikv__req_class;

typedef struct tikv__req_info {
  const char *path;   /* "/tikvpb.Tikv/RawGet" */
  const char *method; /* "RawGet" (also the mock's call counter name) */
  const ProtobufCServiceDescriptor *service;
  const ProtobufCMessageDescriptor *req, *resp;
  /* Tikvpb__BatchCommandsRequest__Request__CmdCase; the response's case has
   * the same number. 0: no batch case. */
  int batch_case;
  tikv__req_class cls;
} tikv__req_info_t;

extern const tikv__req_info_t tikv__reqs[TIKV__REQ_COUNT];

static inline const tikv__req_info_t *tikv__req(tikv__req_id id) { return &tikv__reqs[id]; }
static inline bool tikv__req_is_read(tikv__req_id id) {
  return tikv__reqs[id].cls == TIKV__REQ_CLASS_READ;
}

/* Lookups for a server (the mock): by method name within a service
 * ("tikvpb.Tikv", "pdpb.PD", "grpc.health.v1.Health"), or by batch case.
 * -1 when unknown. */
int tikv__req_by_method(const char *service, const char *method);
int tikv__req_by_batch_case(int batch_case);

#endif
