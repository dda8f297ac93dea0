/* TLS to PD and TiKV: the material a client is configured with, checked
 * when it is set, and the one set of channel credentials every channel of
 * the client is made with (rpc.c's channel_new). Material given as files is
 * re-read by gRPC's file watcher, so a connection established after the
 * files changed uses the new certificates (rotation), as TiKV's own clients
 * pick them up; connections already up keep theirs. */
#ifndef TIKV_RPC_TLS_H
#define TIKV_RPC_TLS_H

#include "core/core.h"

typedef struct tikv__tls {
  bool on;
  bool files;            /* ca, cert, key are paths; else PEM texts */
  char *ca, *cert, *key; /* cert and key both NULL: no client certificate */
} tikv__tls_t;

/* Sets t from the three pieces: PEM texts of the given lengths, or (files)
 * NUL-terminated paths whose files are read now. The CA is required; a
 * client certificate and its key come together or not at all. The material
 * is checked with OpenSSL: each piece parses, the key is the certificate's.
 * 0, or TIKV_ERR_INVALID_ARGUMENT / TIKV_ERR_NO_MEMORY with the reason in
 * why (t is then unchanged). */
int tikv__tls_set(tikv__tls_t *t, bool files, const char *ca, size_t ca_len, const char *cert,
                  size_t cert_len, const char *key, size_t key_len, char *why, size_t whylen);
/* dst as a copy of src. 0 / -1 (OOM; dst is then off). */
int tikv__tls_copy(tikv__tls_t *dst, const tikv__tls_t *src);
void tikv__tls_clear(tikv__tls_t *t);

/* The credentials of every channel: gRPC's TLS credentials verifying the
 * servers' certificates against the CA and the target's host name (nothing
 * turns that off), presenting the client certificate when there is one;
 * insecure credentials when TLS is off. NULL on failure. The caller
 * releases them. */
grpc_channel_credentials *tikv__tls_credentials(const tikv__tls_t *t);

/* The code of a call that ended UNAVAILABLE with these details: TIKV_ERR_TLS
 * when the client's side of the TLS handshake failed (a certificate the CA
 * did not sign, a host name the certificate does not name, TLS against a
 * plaintext server), which gRPC reports as UNAVAILABLE with the cause in
 * the details; else TIKV_ERR_UNAVAILABLE. */
int tikv__tls_unavailable_code(grpc_slice details);
/* What to add to the message of a failed call: a server that closes the
 * connection while it is being set up is, for a client, indistinguishable
 * from one that went away, but it is also how a TLS server refuses a client
 * certificate (with tls_on) or a plaintext client (without): "" or a hint
 * saying so. */
const char *tikv__tls_hint(grpc_status_code st, grpc_slice details, bool tls_on);

#endif
