/* gRPC plumbing: connections, requests named by the request table, the
 * bidirectional streams, status to error mapping. I/O thread only, except
 * connection creation. */
#ifndef TIKV_RPC_H
#define TIKV_RPC_H

#include <protobuf-c/protobuf-c.h>

#include "core/core.h"
#include "rpc/requests.h"

/* Every call in flight is registered here so that close can cancel them. */
typedef struct tikv__rpc_call tikv__rpc_call_t;
typedef struct tikv__rpc {
  tikv__loop_t *loop;
  tikv__link_t *calls; /* the calls in flight */
  bool closing;
  /* every channel's credentials (rpc/tls.h); NULL: plaintext. Owned. */
  grpc_channel_credentials *creds;
  /* BatchCommands streams per store (rpc/batch.h); 0: every request unary */
  int batch_streams;
} tikv__rpc_t;

/* A connection to one address ("host:port"): a channel with our arguments
 * (unlimited message sizes, quick reconnects). NULL on failure. */
typedef struct tikv__conn tikv__conn_t;
tikv__conn_t *tikv__conn_new(tikv__rpc_t *rpc, const char *target);
void tikv__conn_free(tikv__conn_t *conn); /* NULL: no-op */

/* Packs msg into a slice for tikv__rpc_send / tikv__stream_send. Returns 0
 * (gRPC's allocator aborts rather than fail); builders return its value. */
int tikv__pack(const ProtobufCMessage *msg, grpc_slice *out);

/* ---- setting request fields by name ----
 * For requests of one shape built by one function: each sets the field if
 * the message's type has one of that name and type, and does nothing else.
 * Values are borrowed, as a message built on the stack borrows them. */
void tikv__pb_set_u64(ProtobufCMessage *m, const char *name, uint64_t v);
void tikv__pb_set_bool(ProtobufCMessage *m, const char *name, bool v);
void tikv__pb_set_bytes(ProtobufCMessage *m, const char *name, const uint8_t *data, size_t len);
void tikv__pb_set_string(ProtobufCMessage *m, const char *name, const char *s);
void tikv__pb_set_message(ProtobufCMessage *m, const char *name, const ProtobufCMessage *v);
/* n empty messages of type d and the array of pointers to them that a
 * repeated field takes, in one allocation: free() the returned array. NULL
 * on OOM. */
void *tikv__pb_array(const ProtobufCMessageDescriptor *d, size_t n);
/* A repeated field: n items at items (of the field's C type). */
void tikv__pb_set_repeated(ProtobufCMessage *m, const char *name, size_t n, const void *items);

/* Frees a reply this module unpacked (never protobuf_c_message_free_unpacked:
 * its memory is an arena's). A message inside a reply that is handed on
 * alone takes a reference with tikv__reply_keep and is freed with
 * tikv__reply_free like a whole reply; the arena goes with the last. */
void tikv__reply_free(ProtobufCMessage *m);
void tikv__reply_keep(ProtobufCMessage *part);
/* How every reply is unpacked (NULL: not a message of desc, or OOM). */
ProtobufCMessage *tikv__reply_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                     size_t len);
/* Replies unpacked and not yet freed, in the whole process. */
size_t tikv__reply_live(void);

/* Completion of a request: exactly one of err and resp is non-NULL, and the
 * callee owns it (free resp with tikv__reply_free). */
typedef void (*tikv__rpc_cb)(void *arg, tikv_error_t *err, ProtobufCMessage *resp);

/* Sends request `id` of the request table, packed in msg (consumed), over
 * conn; the reply is the row's response type. The call ends by deadline_ms
 * (the attempt's) and is cancelled with scope (the operation's; NULL:
 * none). This is the one place that
 * decides how a request travels (a unary call today). The callback runs on
 * the I/O thread, never inside this call. Returns 0, or -1 when the request
 * could not start (the callback is then never called). */
int tikv__rpc_send(tikv__rpc_t *rpc, tikv__conn_t *conn, tikv__req_id id, grpc_slice msg,
                   int64_t deadline_ms, tikv__scope_t *scope, tikv__rpc_cb cb, void *arg);

/* Cancels every call in flight (their callbacks see CLOSED errors). */
void tikv__rpc_cancel_all(tikv__rpc_t *rpc);

/* ---- bidirectional streams (PD's Tso, BatchCommands) ----
 * At most one send and one receive in flight; the status op stays pending
 * for the stream's life. A receive is posted only while replies are owed.
 *
 * Why: gRPC 1.51 answers a receive posted after a message with a
 * WINDOW_UPDATE for that message's bytes, written at once. Posted again as
 * each reply arrives, it put a write on the reply's path (before the caller
 * had its result) and gave the server one more read. Posted just after the
 * next send instead, the update leaves in that send's write (gRPC writes at
 * the end of the turn), and the server reads it with the request. */
typedef struct tikv__stream tikv__stream_t;
typedef struct tikv__stream_ops {
  /* a message arrived (owned by the callee) */
  void (*on_message)(void *arg, ProtobufCMessage *msg);
  /* the stream ended; err is owned by the callee. Called once, last. */
  void (*on_close)(void *arg, tikv_error_t *err);
  /* a send finished (ok=false: the stream is broken); lockstep: unused,
   * NULL */
  void (*on_sent)(void *arg, bool ok);
  /* whether replies are still owed, asked after each message: if not, the
   * next send posts the receive, just after it. lockstep: unused, NULL */
  bool (*owed)(void *arg);
  /* The user sends a message only once the last one was answered (PD's
   * Tso). Each send then goes in one batch with the receive of its reply:
   * the window update leaves in the request's own write, not in one of its
   * own. Not for a stream with requests in flight together (BatchCommands):
   * gRPC 1.51 refuses a send while such a batch is pending, so every
   * request would wait for the reply of the one before. */
  bool lockstep;
} tikv__stream_ops_t;

/* Opens the stream of row `id` (a STREAM row). NULL on failure. */
tikv__stream_t *tikv__stream_open(tikv__rpc_t *rpc, tikv__conn_t *conn, tikv__req_id id,
                                  const tikv__stream_ops_t *ops, void *arg);
/* Sends one packed message (consumed). -1 if a send is in flight (in
 * lockstep: a reply is awaited) or the stream is closed. */
int tikv__stream_send(tikv__stream_t *s, grpc_slice msg);
/* Cancels the stream; on_close follows. The stream frees itself after
 * on_close. */
void tikv__stream_cancel(tikv__stream_t *s);

#endif
