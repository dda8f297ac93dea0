/* Configuration and lifetime of a client: one connection to a TiKV cluster
 * (PD leader, region cache, one channel per store) driven by its own I/O
 * thread. Raw (raw.h) and transactional (txn.h) operations run on a client. */
#ifndef TIKV_CLIENT_H
#define TIKV_CLIENT_H

#include "common.h"
#include "error.h"
#include "future.h"

TIKV_BEGIN_DECLS

typedef struct tikv_config_s tikv_config_t;
typedef struct tikv_client_s tikv_client_t;

/* Options of one call: the last argument of every operation; NULL means the
 * client's defaults for all of them. Read during the call only. */
typedef struct tikv_call_opts_s {
  /* the operation's deadline, retries and backoff included, counted from
   * the call (ms); 0: the client's (tikv_config_set_timeout_ms) */
  uint32_t timeout_ms;
  /* raw operations: "default", "lock" or "write"; NULL: the client's
   * (tikv_config_set_column_family). Transactions ignore it. */
  const char *column_family;
} tikv_call_opts_t;
/* Every option at its default. */
TIKV_EXTERN void tikv_call_opts_init(tikv_call_opts_t *opts);

/* A configuration with defaults: no PD endpoints, 20 s operation timeout,
 * column family "default", atomic mode off. NULL when out of memory. */
TIKV_EXTERN tikv_config_t *tikv_config_new(void);
/* NULL is a no-op. */
TIKV_EXTERN void tikv_config_free(tikv_config_t *cfg);
/* Adds a PD endpoint "host:port". An "http://" or "https://" prefix is
 * accepted and dropped; it must agree with the TLS setting (checked at
 * connect): https:// needs TLS configured, and http:// with TLS is refused
 * rather than downgraded. Returns an error code. */
TIKV_EXTERN int tikv_config_add_pd_endpoint(tikv_config_t *cfg, const char *endpoint);
/* Deadline of each operation, retries and backoff included (ms, > 0). */
TIKV_EXTERN int tikv_config_set_timeout_ms(tikv_config_t *cfg, uint32_t ms);
/* The longest one RPC attempt may take (default 2000 ms; a pessimistic lock
 * gets its lock wait on top): an attempt past it counts as a transport
 * failure and is retried, elsewhere if the store stays unhealthy, until the
 * operation's timeout. 0 is refused. */
TIKV_EXTERN int tikv_config_set_attempt_timeout_ms(tikv_config_t *cfg, uint32_t ms);
/* Column family for raw operations: "default", "lock" or "write". */
TIKV_EXTERN int tikv_config_set_column_family(tikv_config_t *cfg, const char *cf);
/* Atomic mode for raw operations (needed by compare-and-swap): writes take
 * TiKV's atomic path. */
TIKV_EXTERN int tikv_config_set_atomic(tikv_config_t *cfg, int atomic);
/* TiKV requests travel inside tikvpb.Tikv/BatchCommands streams (enabled,
 * the default: many requests per message under load, matched by id) or as
 * one unary call each (0). Requests without a BatchCommands slot, and every
 * request to a store that refuses the stream, are unary either way. */
TIKV_EXTERN int tikv_config_set_batch_commands(tikv_config_t *cfg, int enabled);
/* BatchCommands streams per store, requests spread over them round-robin
 * (1..64, default 1: they share the store's one connection and I/O thread, so
 * more streams only split what one message would carry; bench/README.md). */
TIKV_EXTERN int tikv_config_set_grpc_connections(tikv_config_t *cfg, int n);
/* The I/O thread stays awake up to us microseconds (0..10000, default 250;
 * 0: never) after it completed operations: with a binding's idle hook
 * (tikv_set_idle_hook), from the hook's wakeup of the binding's thread;
 * without one (C callers), from its last completion. Calls made in that
 * window need no wakeup, and replies arriving in it are taken at once: a
 * caller awaiting one operation at a time gets its next one sent and
 * answered tens of microseconds sooner, for the CPU of that wait. The
 * thread yields its core to any other that can run there while it waits. */
TIKV_EXTERN int tikv_config_set_idle_spin_us(tikv_config_t *cfg, uint32_t us);

/* TLS to every PD member and every store: ca_pem (required) is the CA the
 * servers' certificates must be signed by, checked together with the host
 * name of each address; cert_pem and key_pem (both, or neither: NULL or
 * length 0) are the client's certificate and key for mutual TLS. PEM texts
 * of the given lengths, copied. Nothing turns the verification off. The
 * material is checked now (each piece parses, the key is the certificate's):
 * TIKV_ERR_INVALID_ARGUMENT says which piece in tikv_config_error(). */
TIKV_EXTERN int tikv_config_set_tls(tikv_config_t *cfg, const char *ca_pem, size_t ca_len,
                                    const char *cert_pem, size_t cert_len, const char *key_pem,
                                    size_t key_len);
/* TLS from PEM files (cert_path and key_path both NULL: no client
 * certificate), read and checked now as tikv_config_set_tls does, and read
 * again by gRPC every TIKV_TLS_REFRESH_SECONDS: a connection (re)established
 * after the files were replaced uses the new certificates, so rotation
 * needs no restart; connections already up keep theirs. */
TIKV_EXTERN int tikv_config_set_tls_files(tikv_config_t *cfg, const char *ca_path,
                                          const char *cert_path, const char *key_path);
#define TIKV_TLS_REFRESH_SECONDS 1

/* TiKV's API version the cluster runs (storage.api-version): 1 (the
 * default) or 2. In API v2 every key goes to TiKV in a keyspace (see
 * tikv_config_set_keyspace), raw operations take no column family, and
 * results come back without the keyspace's prefix. */
TIKV_EXTERN int tikv_config_set_api_version(tikv_config_t *cfg, int version);
/* API v2: the keyspace to work in, by name (1 to 20 of A-Z a-z 0-9 - _;
 * default "DEFAULT"). tikv_client_connect loads it from PD and fails when it
 * does not exist or is not ENABLED; operations need it, so in API v2 they
 * fail with TIKV_ERR_INVALID_ARGUMENT until connect completed. */
TIKV_EXTERN int tikv_config_set_keyspace(tikv_config_t *cfg, const char *name);
/* Why the last setter called on cfg refused its arguments; "" when it did
 * not. Valid until the next call on cfg. */
TIKV_EXTERN const char *tikv_config_error(const tikv_config_t *cfg);

/* ---- what the client met: events and counters ---- */
typedef enum tikv_event_kind {
  TIKV_EVENT_REGION_ERROR = 1,     /* TiKV answered a region error; retried */
  TIKV_EVENT_STORE_DOWN = 2,       /* a store stopped answering */
  TIKV_EVENT_STORE_UP = 3,         /* a store answers again */
  TIKV_EVENT_PD_LEADER_CHANGE = 4  /* PD's leader is another member than before */
} tikv_event_kind;
typedef struct tikv_event_s {
  int kind;            /* tikv_event_kind */
  uint64_t region_id;  /* 0 when none */
  uint64_t store_id;   /* 0 when none */
  const char *message; /* what happened; valid during the callback only */
} tikv_event_t;
typedef void (*tikv_event_cb)(const tikv_event_t *event, void *arg);
/* cb(event, arg) for every event of clients made from cfg (NULL: none).
 * Called on the client's I/O thread: it must not block nor call the client
 * synchronously (copy what it needs and return). */
TIKV_EXTERN int tikv_config_set_event_callback(tikv_config_t *cfg, tikv_event_cb cb, void *arg);

/* Counters since the client was created; each read atomically (any
 * thread), the set not as one snapshot. */
typedef struct tikv_stats_s {
  /* requests sent again after a region error, by kind */
  uint64_t region_not_leader, region_epoch_not_match, region_server_is_busy,
      region_not_found, region_store_not_match, region_other;
  uint64_t tikv_transport; /* after a store's transport error or unreadable reply */
  uint64_t pd_transport;   /* PD calls (and Tso streams) after a transport error */
  uint64_t pd_not_leader;  /* PD calls after a member said it does not lead */
  uint64_t locks_resolved; /* locks whose transaction was decided and cleaned */
  uint64_t lock_backoffs;  /* waits for a lock before reading / writing again */
  uint64_t backoff_ms;     /* time slept in backoffs before retries, in all */
  uint64_t pd_leader_changes;
  /* wakeups of the I/O thread by calls made while it slept (a kick each:
   * what tikv_config_set_idle_spin_us saves) */
  uint64_t io_wakeups;
  /* spins for replies that ran out before one came (the I/O thread then
   * slept; each resizes the next such spin: docs/ARCHITECTURE.md, "The idle
   * spin") */
  uint64_t io_reply_spins_missed;
} tikv_stats_t;
/* Fills *out. An error code (INVALID_ARGUMENT for NULL). */
TIKV_EXTERN int tikv_client_stats(tikv_client_t *client, tikv_stats_t *out);

/* Creates a client and starts its I/O thread. Does not touch the network:
 * call tikv_client_connect(). The configuration is copied. Returns NULL and
 * sets *err (if err is not NULL) on failure. */
TIKV_EXTERN tikv_client_t *tikv_client_new(const tikv_config_t *cfg, int *err);

/* Checks that the configuration's options fit together (else
 * TIKV_ERR_INVALID_ARGUMENT at once, saying why), finds the PD leader and
 * the cluster id and, in API v2, loads the keyspace. Completes with OK, or
 * with the error of the last endpoint tried once the timeout passes; a TLS
 * handshake that fails on every endpoint ends it at once with TIKV_ERR_TLS.
 * In API v1 operations issued before it completes wait for it. */
TIKV_EXTERN tikv_future_t *tikv_client_connect(tikv_client_t *client);

/* Closes the client: operations in flight complete with TIKV_ERR_CLOSED,
 * later ones fail with it at once; the I/O thread is joined. Idempotent.
 * Must not be called from a future callback. */
TIKV_EXTERN void tikv_client_close(tikv_client_t *client);

/* Closes (if needed) and frees the client. NULL is a no-op. */
TIKV_EXTERN void tikv_client_free(tikv_client_t *client);

/* The cluster id reported by PD, 0 before connect completed. */
TIKV_EXTERN uint64_t tikv_client_cluster_id(tikv_client_t *client);

TIKV_END_DECLS

#endif
