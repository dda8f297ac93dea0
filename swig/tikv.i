/* SWIG interface of the tikv-client Node addon (Node-API).
 *
 *   scripts/swig.sh -javascript -napi -c++ -Iinclude -o gen/tikv_wrap.cxx swig/tikv.i
 *   (npm run build:swig; scripts/swig.sh finds SWIG >= 4.2)
 *
 * SWIG's Node-API backend (C++ over node-addon-api) wraps the synchronous
 * functions of include/tikv/*.h. The rest is hand-written in bridge.h and
 * bridge.cc beside this file: the argument conversions these typemaps call,
 * the handles JS holds, and the completion bridge. Futures never reach
 * JavaScript: every function returning a tikv_future_t * hands the future to
 * tikvjs_submit at once and returns a numeric operation id; its result is
 * delivered later to the one dispatcher registered with setDispatcher(fn),
 * as dispatch(id, error | null, result) (see bridge.h).
 *
 * To bind more future-returning functions, %include the header and give each
 * a result kind: TIKVJS_FUTURE(tikv_txn_get, TIKVJS_VALUE), ... Functions
 * without one resolve to undefined.
 *
 * Inputs: (const uint8_t *, size_t) from a Uint8Array/Buffer (borrowed for the
 * call), (const tikv_slice_t *, size_t) from an array of them, uint64_t from a
 * BigInt or a safe-integer Number, other integers from integral Numbers in
 * range (or booleans), strings from strings only, handles from the handles
 * the bridge made. A bad argument throws TypeError/RangeError, never crashes.
 */
%module tikv

%{
#include "bridge.h"
%}

%include <stdint.i>

/* ---- errors: SWIG's own argument errors become TypeError / RangeError ---- */
%header %{
static int tikvjs_swig_error_kind(int code) {
  if (code == SWIG_OverflowError || code == SWIG_ValueError || code == SWIG_IndexError)
    return TIKVJS_RANGE_ERROR;
  if (code == SWIG_RuntimeError || code == SWIG_MemoryError || code == SWIG_SystemError)
    return TIKVJS_ERROR;
  return TIKVJS_TYPE_ERROR; /* SWIG_TypeError, and SWIG_ERROR for a wrong argument count */
}
#undef SWIG_Error
#define SWIG_Error(code, msg) do { tikvjs_throw(env, tikvjs_swig_error_kind(code), msg); SWIG_fail; } while (0)
#define TIKVJS_FAIL(kind, msg) do { tikvjs_throw(env, kind, msg); SWIG_fail; } while (0)
%}

/* C has no overloads, so SWIG's typecheck typemaps never run; these
 * replace the library's, whose conversion fragments would be compiled for
 * nothing (and SWIG 4.5's unsigned long long one does not compile without
 * C++ exceptions). */
%typemap(typecheck, precedence=SWIG_TYPECHECK_INTEGER) int, unsigned, unsigned int, uint32_t, uint64_t, size_t "$1 = 1;"
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const char * "$1 = 1;"

/* ---- integers ---- */
%define TIKVJS_INT_TYPEMAP(TYPE, LO, HI, DESC)
%typemap(in) TYPE {
  double d_;
  int rc_ = tikvjs_to_int(env, $input, LO, HI, &d_);
  if (rc_) TIKVJS_FAIL(rc_, "argument $argnum of $symname must be " DESC);
  $1 = (TYPE)d_;
}
%typemap(out) TYPE "$result = Napi::Value(env, tikvjs_from_double(env, (double)$1));"
%enddef
TIKVJS_INT_TYPEMAP(int, -2147483648.0, 2147483647.0, "an integer in int32 range")
TIKVJS_INT_TYPEMAP(unsigned, 0, 4294967295.0, "an integer in uint32 range")
TIKVJS_INT_TYPEMAP(unsigned int, 0, 4294967295.0, "an integer in uint32 range")
TIKVJS_INT_TYPEMAP(uint32_t, 0, 4294967295.0, "an integer in uint32 range")

%typemap(in) uint64_t {
  int rc_ = tikvjs_to_u64(env, $input, &$1);
  if (rc_) TIKVJS_FAIL(rc_, "argument $argnum of $symname must be a non-negative integer (bigint, or a safe-integer number)");
}
%typemap(out) uint64_t "$result = Napi::Value(env, tikvjs_from_u64(env, $1));"

/* ---- strings: from JS strings only (copied for the call); null for NULL out ---- */
%typemap(in) const char * (std::string str_) {
  if (tikvjs_to_string(env, $input, &str_)) TIKVJS_FAIL(TIKVJS_TYPE_ERROR, "argument $argnum of $symname must be a string");
  $1 = ($1_ltype)str_.c_str();
}
%typemap(freearg) const char * ""
%typemap(out) const char * "$result = Napi::Value(env, tikvjs_from_cstring(env, $1));"

/* ---- bytes ---- */
%typemap(in) (const uint8_t *BYTES, size_t BYTES_LEN) {
  if (tikvjs_to_bytes(env, $input, (const uint8_t **)&$1, &$2))
    TIKVJS_FAIL(TIKVJS_TYPE_ERROR, "argument $argnum of $symname must be a Buffer or Uint8Array");
}
%apply (const uint8_t *BYTES, size_t BYTES_LEN) {
  (const uint8_t *key, size_t key_len), (const uint8_t *value, size_t value_len),
  (const uint8_t *start, size_t start_len), (const uint8_t *end, size_t end_len),
  (const uint8_t *previous, size_t previous_len), (const uint8_t *split_key, size_t len),
  (const uint8_t *key, size_t len)
}

%typemap(in) (const tikv_slice_t *SLICES, size_t N_SLICES) (std::vector<tikv_slice_t> slices_, int bad_ = 0) {
  if (tikvjs_to_slices(env, $input, &slices_, &bad_))
    TIKVJS_FAIL(TIKVJS_TYPE_ERROR, bad_ ? "argument $argnum of $symname: [data, lengths] must be a Uint8Array and a Uint32Array of lengths adding up to its length"
                                        : "argument $argnum of $symname must be [data, lengths] (packBytes in lib/args.js)");
  $1 = ($1_ltype)(slices_.empty() ? NULL : slices_.data());
  $2 = slices_.size();
}
%apply (const tikv_slice_t *SLICES, size_t N_SLICES) {
  (const tikv_slice_t *keys, size_t n_keys), (const tikv_slice_t *values, size_t n_values),
  (const tikv_slice_t *ranges, size_t n_bounds)
}

/* ---- per-call options: undefined (the client's defaults) or
 * [timeoutMs (0: the client's), columnFamily (string | null), cancellable]
 * (lib/call.js); a cancellable operation can be cancelled by id
 * (cancelOp) ---- */
%typemap(in) const tikv_call_opts_t *opts (tikv_call_opts_t o_, std::string cf_, int rc_) {
  rc_ = tikvjs_to_call_opts(env, $input, &o_, &cf_);
  if (rc_ < 0) TIKVJS_FAIL(TIKVJS_TYPE_ERROR, "argument $argnum of $symname must be undefined or [timeoutMs, columnFamily, cancellable]");
  $1 = rc_ ? &o_ : NULL;
}
%typemap(freearg) const tikv_call_opts_t *opts ""
%ignore tikv_call_opts_s;
%ignore tikv_call_opts_init;
%ignore tikv_future_cancel;

/* ---- handles: checked against the bridge's live set on every call ---- */
%define TIKVJS_HANDLE(TYPE, KIND)
%typemap(in) TYPE * {
  $1 = (TYPE *)tikvjs_handle_in(env, $input, KIND, "argument $argnum of $symname");
  if (!$1) SWIG_fail;
}
%enddef
TIKVJS_HANDLE(tikv_client_t, TIKVJS_CLIENT)
TIKVJS_HANDLE(tikv_txn_t, TIKVJS_TXN)
TIKVJS_HANDLE(tikv_mock_cluster_t, TIKVJS_MOCK)

/* the functions that make handles (bridge.h); a transaction's owner is its client */
%define TIKVJS_HANDLE_OUT(TYPE, FUNC, KIND, OWNER)
%typemap(out) TYPE *FUNC {
  napi_value h_ = tikvjs_handle_out(env, KIND, $1, OWNER);
  if (!h_) SWIG_fail;
  $result = Napi::Value(env, h_);
}
%enddef
TIKVJS_HANDLE_OUT(tikv_client_t, tikvjs_client_new, TIKVJS_CLIENT, NULL)
/* one wrapper taking 11 to 13 arguments (batch_commands defaults to 1,
 * idle_spin_us to tikv_config_set_idle_spin_us's default) */
%feature("compactdefaultargs") tikvjs_client_new;
TIKVJS_HANDLE_OUT(tikv_txn_t, tikvjs_txn_new, TIKVJS_TXN, arg1)
TIKVJS_HANDLE_OUT(tikv_mock_cluster_t, tikvjs_mock_start, TIKVJS_MOCK, NULL)

/* ---- futures: a future-returning function returns the operation id; its
 * result is delivered to the dispatcher converted as KIND says ---- */
%define TIKVJS_FUTURE(FUNC, KIND)
%typemap(out) tikv_future_t *FUNC {
  napi_value id_ = tikvjs_submit(env, $1, KIND);
  if (!id_) SWIG_fail;
  $result = Napi::Value(env, id_);
}
%enddef
/* the default (connect and anything without a more specific rule) */
TIKVJS_FUTURE(, TIKVJS_VOID)
TIKVJS_FUTURE(tikv_raw_get, TIKVJS_VALUE)
TIKVJS_FUTURE(tikv_raw_batch_get, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_raw_batch_get_values, TIKVJS_VALUES)
TIKVJS_FUTURE(tikv_raw_scan, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_raw_batch_scan, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_raw_get_key_ttl, TIKVJS_U64)
TIKVJS_FUTURE(tikv_raw_compare_and_swap, TIKVJS_CAS)
TIKVJS_FUTURE(tikv_raw_checksum, TIKVJS_CHECKSUM)
TIKVJS_FUTURE(tikv_txn_begin, TIKVJS_U64)
TIKVJS_FUTURE(tikv_txn_get, TIKVJS_VALUE)
TIKVJS_FUTURE(tikv_txn_batch_get, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_txn_scan, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_txn_get_for_update, TIKVJS_VALUE)
TIKVJS_FUTURE(tikv_txn_batch_get_for_update, TIKVJS_KVS)
TIKVJS_FUTURE(tikv_txn_commit, TIKVJS_U64)
TIKVJS_FUTURE(tikv_client_current_timestamp, TIKVJS_U64)
TIKVJS_FUTURE(tikv_client_gc, TIKVJS_BOOL)

/* ---- what is wrapped ---- */

/* futures are the bridge's; errors are read by the bridge */
%ignore tikv_future_is_ready;
%ignore tikv_future_wait;
%ignore tikv_future_set_callback;
%ignore tikv_future_destroy;
%ignore tikv_future_get_error_code;
%ignore tikv_future_get_error;
%ignore tikv_future_get_value;
%ignore tikv_future_get_kvs;
%ignore tikv_future_get_u64;
%ignore tikv_future_get_bool;
%ignore tikv_future_get_checksum;
%ignore tikv_checksum_s;
/* the bridge's own wakeup machinery */
%ignore tikv_set_idle_hook;
%ignore tikv_on_io_thread;
%ignore tikv_error_code_of;
%ignore tikv_error_message;
%ignore tikv_error_retryable;
%ignore tikv_error_detail_kind;
%ignore tikv_error_key;
%ignore tikv_error_primary;
%ignore tikv_error_start_ts;
%ignore tikv_error_conflict_ts;
%ignore tikv_error_lock_ttl;
%ignore tikv_error_region_id;
%ignore tikv_error_grpc_status;
/* configs and lifetimes go through tikvjs_* below */
%ignore tikv_config_new;
%ignore tikv_config_free;
%ignore tikv_config_add_pd_endpoint;
%ignore tikv_config_set_timeout_ms;
%ignore tikv_config_set_column_family;
%ignore tikv_config_set_atomic;
%ignore tikv_config_set_batch_commands;
%ignore tikv_config_set_grpc_connections;
%ignore tikv_config_set_tls;
%ignore tikv_config_set_tls_files;
%ignore tikv_config_set_api_version;
%ignore tikv_config_set_keyspace;
%ignore tikv_config_error;
%ignore tikv_client_new;
%ignore tikv_client_close;
%ignore tikv_client_free;
/* events and counters reach JS through the bridge (setEventDispatcher,
 * clientStats) */
%ignore tikv_config_set_event_callback;
%ignore tikv_client_stats;
%ignore tikv_stats_s;
%ignore tikv_event_s;
%ignore tikv_mock_options_s;
%ignore tikv_mock_options_t;
%ignore tikv_mock_keyspace_s;
%ignore tikv_mock_keyspace_t;
%ignore tikv_mock_options_init;
%ignore tikv_mock_cluster_start;
%ignore tikv_mock_cluster_stop;
%ignore tikv_mock_region_bounds;
%ignore tikv_mock_region_epoch;
%ignore tikv_slice_s;
%ignore tikv_kv_s;
%ignore tikv_error_code;
/* transactions are created and freed through tikvjs_txn_new / freeTxn */
%ignore tikv_txn_options_s;
%ignore tikv_txn_options_t;
%ignore tikv_txn_options_init;
%ignore tikv_txn_new;
%ignore tikv_txn_free;

%include "tikv/common.h"
%include "tikv/error.h"
%include "tikv/future.h"
%include "tikv/client.h"
%include "tikv/raw.h"
%include "tikv/txn.h"
%include "tikv/mock.h"

/* made and checked by the bridge (bridge.h) */
tikv_client_t *tikvjs_client_new(const char *endpoints, uint32_t timeout_ms, const char *cf,
                                 int atomic, int tls_mode, const char *tls_ca,
                                 const char *tls_cert, const char *tls_key, int api_version,
                                 const char *keyspace, uint32_t attempt_timeout_ms,
                                 int batch_commands = 1, uint32_t idle_spin_us = 250);
tikv_txn_t *tikvjs_txn_new(tikv_client_t *c, int pessimistic, int async_commit, int try_one_pc,
                           int lock_wait_timeout_ms, uint64_t start_ts, int read_only);
tikv_mock_cluster_t *tikvjs_mock_start(int stores, int regions, int enable_ttl, int api_version,
                                       const char *tls_cert, const char *tls_key,
                                       const char *tls_ca);

/* the bridge's own natives: setDispatcher, closeClient, freeTxn, stopMock,
 * bridgeStats, mockRegionInfo, cancelOp (bridge.h) */
%init %{
  if (!tikvjs_bridge_register(env, exports)) return Napi::Object();
%}
