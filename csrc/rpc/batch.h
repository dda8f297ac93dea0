/* The BatchCommands transport (tikvpb.Tikv/BatchCommands): requests whose
 * row has a batch case travel inside bidirectional streams, many per
 * message, matched to their replies by a 64-bit request id. rpc.c's
 * tikv__rpc_send is the only caller; everything here runs on the I/O thread.
 *
 * Per connection (one store address): up to rpc->batch_streams streams,
 * opened on first use, requests spread over them round-robin. A stream has
 * at most one send in flight; requests submitted meanwhile queue and go out
 * together (up to TIKV__BATCH_MAX per message) when that send completes. An
 * idle stream sends at the end of the I/O thread's current turn (a posted
 * task, no timer), so what one turn submits shares a message and nothing
 * waits for more. Each request keeps
 * its own deadline (one timer per stream); a reply whose request is gone
 * (timed out, cancelled) is dropped. A stream that breaks fails what it
 * carried with its transport error, and the next request opens a new one. A
 * store that answers a stream that never delivered a reply with
 * UNIMPLEMENTED does not speak BatchCommands: the connection goes unary for
 * good and what the stream held is sent again as unary calls (it was never
 * served). */
#ifndef TIKV_RPC_BATCH_H
#define TIKV_RPC_BATCH_H

#include "rpc/rpc.h"

/* client-go's maximum batch size */
#define TIKV__BATCH_MAX 128
/* default streams per store (tikv_config_set_grpc_connections). They share
 * the store's channel (one HTTP/2 connection) and our one I/O thread, so a
 * second stream adds no parallelism and halves what each message carries:
 * raw get at 256 in flight ran 117-142k ops/s with 1, 35-65k with 2 and 4. */
#define TIKV__BATCH_STREAMS 1

typedef struct tikv__batch_conn tikv__batch_conn_t;
typedef struct tikv__batch_req tikv__batch_req_t;

/* Queues request `req` (msg consumed) on conn's streams (*slot, the
 * connection's state, is made on first use). 0: queued, cb will run once;
 * 1: not taken, the connection does not speak BatchCommands (msg untouched:
 * send it unary); -1: could not start (msg consumed, cb never runs). The
 * request waits in scope (its operation's; NULL: none): cancelling the
 * scope fails it with CANCELLED, the error of a unary call cancelled by
 * us, its late reply, if one comes, dropped. A request not sent yet is then
 * never sent; one already sent may still be applied (a stream cannot take
 * one request back), as a unary call's request may be. */
int tikv__batch_send(tikv__rpc_t *rpc, tikv__conn_t *conn, tikv__batch_conn_t **slot,
                     const tikv__req_info_t *req, grpc_slice msg, int64_t deadline_ms,
                     tikv__scope_t *scope, tikv__rpc_cb cb, void *arg);

/* Streams open on the connection (each holds a reference to it). */
int tikv__batch_streams_open(const tikv__batch_conn_t *bc);
/* Cancels every open stream (their on_close fails what they carry). */
void tikv__batch_shutdown(tikv__batch_conn_t *bc);
/* Frees the state of a connection with no stream open. NULL: no-op. */
void tikv__batch_free(tikv__batch_conn_t *bc);

/* Encodes a BatchCommandsRequest of n requests straight from their packed
 * bodies: each body becomes Request.<cases[i]>, ids the request_ids. */
grpc_slice tikv__batch_encode(size_t n, const int *cases, const grpc_slice *bodies,
                              const uint64_t *ids);

/* ---- from rpc.c, for this layer only ---- */
void tikv__conn_ref(tikv__conn_t *conn);
/* The connection's slot of BatchCommands state (tikv__batch_send's slot). */
tikv__batch_conn_t **tikv__conn_batch(tikv__conn_t *conn);
/* The error a unary call gets for gRPC status st (DEADLINE_EXCEEDED:
 * TIMEOUT, UNAVAILABLE: UNAVAILABLE, ...). */
tikv_error_t *tikv__rpc_status_error(tikv__rpc_t *rpc, const char *method, grpc_status_code st,
                                     grpc_slice details);
/* A unary call, as tikv__rpc_send makes it. */
int tikv__rpc_unary(tikv__rpc_t *rpc, tikv__conn_t *conn, const tikv__req_info_t *req,
                    grpc_slice msg, int64_t deadline_ms, tikv__scope_t *scope, tikv__rpc_cb cb,
                    void *arg);

#endif
