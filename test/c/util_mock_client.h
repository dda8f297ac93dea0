/* A tiny blocking gRPC client for tests that talk to the mock cluster
 * directly (no client library in between): unary calls and a
 * request/response stream, on protobuf-c messages. */
#ifndef TIKV_TEST_UTIL_MOCK_CLIENT_H
#define TIKV_TEST_UTIL_MOCK_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "tikv/mock.h"
#include "tikv/tikv.h"

/* Calls `method` ("/pkg.Service/Name") on target with req. Returns the gRPC
 * status; on OK *resp is the unpacked reply (free with
 * protobuf_c_message_free_unpacked). details (may be NULL) gets the status
 * message. */
int mc_unary(const char *target, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
             int timeout_ms, char *details, size_t details_len);

/* The same, with one request metadata entry md_key: md_value (NULL: none). */
int mc_unary_md(const char *target, const char *method, const char *md_key, const char *md_value,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, int timeout_ms, char *details, size_t details_len);

/* The client's side of TLS for the calls below (NULL: plaintext): the CA
 * the server's certificate must be signed by (NULL: gRPC's default roots),
 * the client's certificate and key (NULL: none), and the host name to
 * verify the server's certificate against (NULL: the target's host). */
typedef struct mc_tls {
  const char *ca_pem, *cert_pem, *key_pem;
  const char *target_name;
} mc_tls_t;

/* mc_unary over TLS (tls NULL: plaintext, as mc_unary). A failed handshake
 * ends the call with UNAVAILABLE and gRPC's reason in details. */
int mc_unary_tls(const mc_tls_t *tls, const char *target, const char *method,
                 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                 ProtobufCMessage **resp, int timeout_ms, char *details, size_t details_len);

/* A bidirectional stream where each request is answered by one reply. */
typedef struct mc_stream mc_stream_t;
mc_stream_t *mc_stream_open(const char *target, const char *method, int timeout_ms);
mc_stream_t *mc_stream_open_tls(const mc_tls_t *tls, const char *target, const char *method,
                                int timeout_ms);
/* Sends req and waits for one reply: 0 and *resp, or -1 (stream ended:
 * mc_stream_close gives the status). */
int mc_stream_roundtrip(mc_stream_t *s, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);
/* Waits for one more reply (one the server sends later). 0 / -1. */
int mc_stream_recv(mc_stream_t *s, const ProtobufCMessageDescriptor *resp_desc,
                   ProtobufCMessage **resp);
/* Half-closes, waits for the status and frees. Returns the gRPC status. */
int mc_stream_close(mc_stream_t *s, char *details, size_t details_len);

/* Waits (at most timeout_ms) until count(m, method) — tikv_mock_call_count
 * or tikv_mock_pd_call_count — reaches n, and returns it. The mock serves
 * every call on its one loop thread, so a counted call has been handled (a
 * lock request is waiting, a delayed or paused call is held) before any call
 * sent after this returns: tests order themselves by it, never by sleeping. */
uint64_t mc_await_count(uint64_t (*count)(tikv_mock_cluster_t *, const char *),
                        tikv_mock_cluster_t *m, const char *method, uint64_t n, int timeout_ms);

/* Data segments this process has sent on its TCP connections to `port`
 * (the client's ends: the mock serves in this process too). On loopback,
 * with Nagle off as gRPC sets it, each write is one segment. */
uint64_t mc_segments_to(int port);

/* A client made from cfg (freed here) and connected: the test fails at once
 * when either step does. */
tikv_client_t *mc_client_connected(tikv_config_t *cfg);

#endif
