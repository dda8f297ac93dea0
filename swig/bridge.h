/* The completion bridge of the Node addon, on Node-API.
 *
 * swig/tikv.i wraps the synchronous C API (SWIG's `-javascript -napi`); this
 * file and bridge.cc hold everything SWIG does not generate: argument
 * conversions the typemaps call, the handles JS sees for clients,
 * transactions and mock clusters, and the path of a future from the C core
 * back to JavaScript.
 *
 * A future never reaches JavaScript. A wrapped function returning one hands
 * it to tikvjs_submit, and the JS call returns a numeric operation id. When
 * the future completes, its callback (on a C library thread) queues it; the
 * client's I/O thread, once it has handled every ready completion, runs the
 * core's idle hook (tikv_set_idle_hook), which wakes the JS thread once for
 * the whole burst: a byte written to a pipe that Node's event loop watches
 * (a uv_poll_t on napi_get_uv_event_loop; why a pipe and not a uv_async_t:
 * wake_pipe in bridge.cc). On the JS thread the bridge drains the whole
 * queue, converts each result to JS values, destroys the future and calls the
 * registered dispatcher dispatch(id, error | null, result) once per
 * operation, all inside one callback scope. The handle is ref'd only
 * while operations are in flight, so a script exits once its work is done.
 *
 * Why our own wakeup and not a napi_threadsafe_function: the idle hook
 * already coalesces a burst into one signal and the queue is ours, so a
 * threadsafe function would add a second queue and a second lock per
 * wakeup; and the teardown protocol below (no send after the handle closes)
 * needs a handle whose closing we control.
 *
 * Handles: an external value whose data is a tikvjs_handle cell, checked on
 * every use against the set of live cells (a value that is not one of ours
 * throws TypeError; a closed one throws "closed"). A transaction belongs to
 * its client: closing the client frees its live transactions first. At
 * environment teardown the bridge closes what is still open and destroys
 * every future still queued; later completions destroy their futures
 * themselves.
 *
 * Everything here runs on the JS thread except tikvjs's future callback and
 * idle hook (bridge.cc says which state they touch).
 */
#ifndef TIKVJS_BRIDGE_H
#define TIKVJS_BRIDGE_H

#include <node_api.h>

#include <string>
#include <vector>

#include "tikv/tikv.h"
#include "tikv/mock.h"

/* How a completed future's result reaches JavaScript. */
enum tikvjs_kind {
  TIKVJS_VOID = 0,  /* undefined */
  TIKVJS_VALUE = 1, /* Buffer | null */
  TIKVJS_KVS = 2,   /* [data: Buffer, lengths: Uint32Array] (lib/native.js makes the pairs) */
  TIKVJS_U64 = 3,   /* bigint | null */
  TIKVJS_CAS = 4,   /* {swapped: boolean, previous: Buffer | null} */
  TIKVJS_BOOL = 5,  /* boolean */
  TIKVJS_CHECKSUM = 6, /* {crc64Xor, totalKvs, totalBytes}: bigints */
  TIKVJS_VALUES = 7,   /* [data: Buffer, lengths: Uint32Array, true]: one value per key,
                          TIKVJS_NO_VALUE where none (lib/native.js makes the Buffers) */
};

/* A TIKVJS_VALUES length: the key has no value. */
#define TIKVJS_NO_VALUE 0xffffffffu

/* What a JS handle stands for. */
enum tikvjs_handle_kind { TIKVJS_CLIENT = 0, TIKVJS_TXN = 1, TIKVJS_MOCK = 2 };

/* The error a failed conversion throws. */
enum tikvjs_throw_kind { TIKVJS_OK = 0, TIKVJS_TYPE_ERROR, TIKVJS_RANGE_ERROR, TIKVJS_ERROR };

/* Throws an Error, TypeError or RangeError with msg on env. */
void tikvjs_throw(napi_env env, int kind, const char *msg);

/* ---- argument conversions: TIKVJS_OK, or the kind of error to throw ---- */
/* A boolean (0/1) or an integral Number within [lo, hi]. */
int tikvjs_to_int(napi_env env, napi_value v, double lo, double hi, double *out);
/* A BigInt in [0, 2^64) or a safe non-negative integral Number. */
int tikvjs_to_u64(napi_env env, napi_value v, uint64_t *out);
/* A Uint8Array or Buffer, borrowed for the call ("" for an empty one). */
int tikvjs_to_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len);
/* A string, copied as UTF-8. */
int tikvjs_to_string(napi_env env, napi_value v, std::string *out);
/* Byte strings packed as [data, lengths] (lib/args.js packBytes), borrowed
 * for the call: TIKVJS_TYPE_ERROR, with *bad_element 1 when the pair is there
 * but its parts are not a Uint8Array and a Uint32Array whose lengths add up
 * to the data's. */
int tikvjs_to_slices(napi_env env, napi_value v, std::vector<tikv_slice_t> *out, int *bad_element);

/* Per-call options (tikv.i): 0 for undefined (no options), 1 with *out set
 * (its column family kept in *cf), -1 for anything else. [.., .., true]
 * marks the next submitted operation cancellable by id (cancelOp). */
int tikvjs_to_call_opts(napi_env env, napi_value v, tikv_call_opts_t *out, std::string *cf);
/* ---- results of synchronous calls ---- */
napi_value tikvjs_from_u64(napi_env env, uint64_t v);   /* bigint */
napi_value tikvjs_from_double(napi_env env, double v);  /* number */
napi_value tikvjs_from_cstring(napi_env env, const char *s); /* string, null for NULL */

/* ---- handles ---- */
/* The live object behind a handle argument, or NULL with an exception
 * pending: TypeError "<what> must be a <kind> handle" for a value that is no
 * handle of that kind, Error "tikv: client is closed" (etc.) for one closed. */
void *tikvjs_handle_in(napi_env env, napi_value v, int kind, const char *what);
/* A new handle for p (made by tikvjs_client_new, tikvjs_txn_new or
 * tikvjs_mock_start; owner: a transaction's client), or NULL with the
 * creating call's error thrown when p is NULL. */
napi_value tikvjs_handle_out(napi_env env, int kind, void *p, void *owner);

/* ---- futures ---- */
/* Takes ownership of f: the operation id (a Number; 0 when f finished
 * inside the call without error and carries no result), or NULL with an
 * exception pending. */
napi_value tikvjs_submit(napi_env env, tikv_future_t *f, int kind);

/* ---- functions wrapped by SWIG (declared again in tikv.i) ---- */
/* A client from its whole configuration; endpoints separated by ','.
 * NULL on failure (tikvjs_handle_out throws the error, with its code). */
tikv_client_t *tikvjs_client_new(const char *endpoints, uint32_t timeout_ms, const char *cf,
                                 int atomic, int tls_mode, const char *tls_ca,
                                 const char *tls_cert, const char *tls_key, int api_version,
                                 const char *keyspace, uint32_t attempt_timeout_ms,
                                 int batch_commands = 1, uint32_t idle_spin_us = 250);
/* A transaction of client c (not begun). lock_wait_timeout_ms < 0: the C
 * default; start_ts 0: a fresh one at begin. It lives until freeTxn(handle)
 * or until its client is closed, whichever comes first. */
tikv_txn_t *tikvjs_txn_new(tikv_client_t *c, int pessimistic, int async_commit, int try_one_pc,
                           int lock_wait_timeout_ms, uint64_t start_ts, int read_only);
/* A started mock cluster (stores/regions <= 0: the C defaults; api_version
 * 1 or 2; the TLS PEM texts "" for none). */
tikv_mock_cluster_t *tikvjs_mock_start(int stores, int regions, int enable_ttl, int api_version,
                                       const char *tls_cert, const char *tls_key,
                                       const char *tls_ca);

/* Defines the bridge's own natives on the module's exports:
 *   setDispatcher(fn)   the one function that receives every completion
 *   closeClient(h)      closes a client (its transactions first); idempotent
 *   freeTxn(h)          frees a transaction (rolled back if still open); idempotent
 *   stopMock(h)         stops a mock cluster; idempotent
 *   bridgeStats()       {submitted, delivered, queued, wakeups, signals,
 *                        checkpoints, clients, mocks, txns}
 *   mockRegionInfo(h, regionId)  {start, end, confVer, version} | null
 * false (with an exception pending) on failure. */
bool tikvjs_bridge_register(napi_env env, napi_value exports);

#endif
