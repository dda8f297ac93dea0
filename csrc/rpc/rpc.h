/* gRPC plumbing: channels, unary calls, bidirectional streams, status to
 * error mapping. I/O thread only, except channel creation. */
#ifndef TIKV_RPC_H
#define TIKV_RPC_H

#include <protobuf-c/protobuf-c.h>

#include "core/core.h"

/* Every call in flight is registered here so that close can cancel them. */
typedef struct tikv__rpc_call tikv__rpc_call_t;
typedef struct tikv__rpc {
  tikv__loop_t *loop;
  tikv__rpc_call_t *calls; /* intrusive list of calls in flight */
  bool closing;
} tikv__rpc_t;

/* A channel with our arguments (unlimited message sizes, quick reconnects).
 * target is "host:port". NULL on failure. */
grpc_channel *tikv__channel_new(const char *target);

/* Packs msg into a malloc'ed buffer. 0 / -1 (OOM). */
int tikv__pack(const ProtobufCMessage *msg, uint8_t **buf, size_t *len);

/* Completion of a unary call: exactly one of err and resp is non-NULL, and
 * the callee owns it (free resp with protobuf_c_message_free_unpacked). */
typedef void (*tikv__rpc_cb)(void *arg, tikv_error_t *err, ProtobufCMessage *resp);

/* Starts a unary call of `method` ("/pkg.Service/Method") carrying the packed
 * request (copied). The callback runs on the I/O thread, never inside this
 * call. Returns 0, or -1 when the call could not start (the callback is then
 * never called). */
int tikv__rpc_unary(tikv__rpc_t *rpc, grpc_channel *ch, const char *method, const uint8_t *req,
                    size_t req_len, const ProtobufCMessageDescriptor *resp_desc,
                    int64_t deadline_ms, tikv__rpc_cb cb, void *arg);

/* Cancels every call in flight (their callbacks see CLOSED errors). */
void tikv__rpc_cancel_all(tikv__rpc_t *rpc);

/* An error for a finished call's status. */
tikv_error_t *tikv__rpc_status_error(tikv__rpc_t *rpc, const char *method, grpc_status_code st,
                                     grpc_slice details);

/* ---- bidirectional streams (PD's Tso) ----
 * At most one send and one receive in flight; the status op stays pending
 * for the stream's life. */
typedef struct tikv__stream tikv__stream_t;
typedef struct tikv__stream_ops {
  /* a message arrived (owned by the callee) */
  void (*on_message)(void *arg, ProtobufCMessage *msg);
  /* the stream ended; err is owned by the callee. Called once, last. */
  void (*on_close)(void *arg, tikv_error_t *err);
  /* a send finished (ok=false: the stream is broken) */
  void (*on_sent)(void *arg, bool ok);
} tikv__stream_ops_t;

tikv__stream_t *tikv__stream_open(tikv__rpc_t *rpc, grpc_channel *ch, const char *method,
                                  const ProtobufCMessageDescriptor *resp_desc,
                                  const tikv__stream_ops_t *ops, void *arg);
/* Sends one message (packed bytes copied). -1 if a send is in flight or the
 * stream is closed. */
int tikv__stream_send(tikv__stream_t *s, const uint8_t *buf, size_t len);
/* Cancels the stream; on_close follows. The stream frees itself after
 * on_close. */
void tikv__stream_cancel(tikv__stream_t *s);

#endif
