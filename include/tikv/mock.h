/* The mock cluster: PD and TiKV gRPC services on loopback, in one process,
 * with an in-memory MVCC store and fault injection. Library behind the
 * tikv-mock-server CLI, the C tests and require('tikv-client/mock').
 *
 * All functions are thread-safe; the cluster runs on its own threads. */
#ifndef TIKV_MOCK_H
#define TIKV_MOCK_H

#include "common.h"

TIKV_BEGIN_DECLS

typedef struct tikv_mock_cluster_s tikv_mock_cluster_t;

/* Keyspace states, numbered as keyspacepb.KeyspaceState. */
typedef enum tikv_mock_keyspace_state {
  TIKV_MOCK_KEYSPACE_ENABLED = 0,
  TIKV_MOCK_KEYSPACE_DISABLED = 1,
  TIKV_MOCK_KEYSPACE_ARCHIVED = 2,
  TIKV_MOCK_KEYSPACE_TOMBSTONE = 3
} tikv_mock_keyspace_state;

/* A keyspace to create at start (API v2). */
typedef struct tikv_mock_keyspace_s {
  const char *name; /* PD's rule: 1 to 20 of [-A-Za-z0-9_]; not "DEFAULT" (PD's own, id 0) */
  int id;           /* 1..16777215; -1: the next free one, as PD allocates (from 1) */
  int state;        /* tikv_mock_keyspace_state */
} tikv_mock_keyspace_t;

typedef struct tikv_mock_options_s {
  int stores;       /* TiKV stores, each on its own port (default 3) */
  int regions;      /* pre-split regions (default 1) */
  int enable_ttl;   /* accept raw TTLs, as TiKV's storage.enable-ttl */
  const char *host; /* listen address, default "127.0.0.1" */
  int pd_port;      /* 0: any free port (the first PD member's) */
  int verbose;      /* log unimplemented methods and faults on stderr */
  int pd_members;   /* PD members, each on its own port, one leading (default 1) */
  /* How long PD is without a leader after its leader is killed or paused
   * (default 3000: PD's leader lease); 0: the default. */
  int pd_election_ms;
  /* How long a region is without a leader after its leader's store goes
   * down (default 10000: TiKV's raft election timeout, 10 ticks of 1 s);
   * 0: the default. */
  int raft_election_ms;

  /* Mutual TLS (docs/mock-tls-apiv2.md). With a certificate and its key,
   * every server of the cluster (each PD member, each store) serves TLS
   * with gRPC core's SSL server credentials, and PD's GetMembers advertises
   * https:// client URLs (store addresses stay host:port, as TiKV's). With
   * a CA as well, every client must present a certificate that CA signed,
   * else its handshake fails (REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_
   * VERIFY). Each piece is PEM text (NUL-terminated) or the path of a file
   * holding it, read at start; the PEM wins when both are given. All NULL:
   * plaintext (the default). Nothing is kept of the caller's strings. */
  const char *tls_cert_pem, *tls_key_pem, *tls_ca_pem;
  const char *tls_cert_file, *tls_key_file, *tls_ca_file;

  /* The stores' storage.api-version: 1 (the default; 0 means 1) or 2. In
   * API v2 (docs/mock-tls-apiv2.md) PD has its DEFAULT keyspace (id 0) and
   * `keyspaces` (n_keyspaces of them, copied at start), serves
   * keyspacepb.Keyspace/LoadKeyspace, and the region layout changes (see
   * below); the stores refuse what TiKV's check_api_version refuses. */
  int api_version;
  const tikv_mock_keyspace_t *keyspaces;
  int n_keyspaces;
} tikv_mock_options_t;

/* Region layout. With `regions` = n > 1 the key space is pre-split at n-1
 * boundaries, each the memcomparable encoding (TiKV's codec::bytes, as a real
 * cluster's transactional regions are) of one character, picked evenly from
 * "0-9A-Za-z" in order: regions = 8 splits at "7", "F", "N", "V", "c", "k",
 * "s". Raw clients compare raw keys to the same bytes, so keys starting with
 * different letters or digits land in different regions. Beyond 63 regions
 * the boundaries are two characters from the same alphabet. The first
 * region starts at "" and the last ends at "" (unbounded).
 *
 * API v2: every key starts with its mode ('r' raw, 'x' transactional) and
 * its keyspace's 3-byte id, and PD reports every boundary
 * memcomparable-encoded, raw and transactional alike (client-go's
 * apicodec v2). The key space starts as one region; each keyspace (DEFAULT
 * first, then the options' in order, then any added later) splits it so
 * that its raw range ['r'+id, 'r'+(id+1)) and its transactional range
 * ['x'+id, 'x'+(id+1)) each start a region (PD's keyspace split), and
 * inside each range the regions split again at the encoding of the prefix
 * followed by the characters above: regions = 8 gives each keyspace's raw
 * and transactional range 8 regions. The regions a keyspace splits off get
 * their leaders in turn over their peers.
 *
 * Ids: stores are 1..stores; region and peer ids come from PD's allocator
 * (starting after the store ids). Every region has a peer on min(3, stores)
 * stores; leaders go round-robin over the stores (region i on store
 * i % stores + 1). Epochs start at conf_ver 1, version 1; a split bumps the
 * version of both halves. */

/* Fills opts with the defaults. */
TIKV_EXTERN void tikv_mock_options_init(tikv_mock_options_t *opts);

/* Starts a cluster. Returns NULL on failure, with a message in errbuf. */
TIKV_EXTERN tikv_mock_cluster_t *tikv_mock_cluster_start(const tikv_mock_options_t *opts,
                                                         char *errbuf, size_t errbuf_len);
/* Stops the servers and frees the cluster. NULL is a no-op. */
TIKV_EXTERN void tikv_mock_cluster_stop(tikv_mock_cluster_t *m);

/* "127.0.0.1:port" of PD (its first member); owned by the cluster. */
TIKV_EXTERN const char *tikv_mock_pd_address(tikv_mock_cluster_t *m);
TIKV_EXTERN int tikv_mock_store_count(tikv_mock_cluster_t *m);
/* Store ids are 1..n in creation order. Address owned by the cluster. */
TIKV_EXTERN const char *tikv_mock_store_address(tikv_mock_cluster_t *m, uint64_t store_id);

/* Region layout. Index 0..count-1 in key order. Returns 0 or -1. Boundaries
 * are the raw bytes PD reports (memcomparable-encoded for transactional keys). */
TIKV_EXTERN int tikv_mock_region_count(tikv_mock_cluster_t *m);
TIKV_EXTERN uint64_t tikv_mock_region_id_at(tikv_mock_cluster_t *m, int index);
/* Region containing key (raw bytes, as PD compares them); 0 if none. */
TIKV_EXTERN uint64_t tikv_mock_region_for_key(tikv_mock_cluster_t *m, const uint8_t *key,
                                              size_t len);
TIKV_EXTERN uint64_t tikv_mock_region_leader_store(tikv_mock_cluster_t *m, uint64_t region_id);

/* Splits the region containing split_key at split_key (which becomes the
 * start of the new right region). Epoch versions change as TiKV's do: old
 * clients get EpochNotMatch. Returns the new region's id, 0 on failure (in
 * API v2 also when split_key is not a memcomparable encoding). */
TIKV_EXTERN uint64_t tikv_mock_split_region(tikv_mock_cluster_t *m, const uint8_t *split_key,
                                            size_t len);
/* Moves the leader of region_id to store_id: requests to the old leader get
 * NotLeader with the new leader. 0 or -1. */
TIKV_EXTERN int tikv_mock_transfer_leader(tikv_mock_cluster_t *m, uint64_t region_id,
                                          uint64_t store_id);

/* The region errors that can be injected, each answered as TiKV words it:
 * X(ID, "name", what the request gets). This one table gives the C kinds
 * (TIKV_MOCK_REGION_ERROR_<ID>), the names tikv_mock_inject_region_error
 * accepts, and, through scripts/gen-faults.js, the JS list
 * (REGION_ERROR_KINDS) and the TypeScript union (RegionErrorKind). Add a kind
 * here and its answer in csrc/mock/tikv.c (the switch there says so). */
#define TIKV_MOCK_REGION_ERROR_MAP(X)                                                       \
  X(NOT_LEADER, "not_leader", "NotLeader naming the current leader")                        \
  X(NOT_LEADER_NO_HINT, "not_leader_no_hint", "NotLeader without a leader (an election)")   \
  X(EPOCH_NOT_MATCH, "epoch_not_match", "EpochNotMatch with the regions that cover it now") \
  X(REGION_NOT_FOUND, "region_not_found", "RegionNotFound")                                 \
  X(STORE_NOT_MATCH, "store_not_match", "StoreNotMatch (the request's store is not this)")  \
  X(SERVER_IS_BUSY, "server_is_busy", "ServerIsBusy (scheduler is busy)")                   \
  X(STALE_COMMAND, "stale_command", "StaleCommand")                                         \
  X(KEY_NOT_IN_REGION, "key_not_in_region", "KeyNotInRegion (the region's start key)")      \
  X(MAX_TIMESTAMP_NOT_SYNCED, "max_timestamp_not_synced", "MaxTimestampNotSynced")

/* clang-format off */
typedef enum tikv_mock_region_error {
#define TIKV_MOCK_RE_ENUM(id, name, what) TIKV_MOCK_REGION_ERROR_##id,
  TIKV_MOCK_REGION_ERROR_MAP(TIKV_MOCK_RE_ENUM)
#undef TIKV_MOCK_RE_ENUM
  TIKV_MOCK_REGION_ERROR_COUNT
} tikv_mock_region_error;
/* clang-format on */

/* The kind's name ("not_leader"); NULL when out of range. */
TIKV_EXTERN const char *tikv_mock_region_error_name(int kind);

/* Makes the next `count` requests of `method` (a TiKV method name such as
 * "RawGet", or "*" for any) on region_id (0: any region) fail with the
 * region error `kind`, one of TIKV_MOCK_REGION_ERROR_MAP's names. 0 or -1
 * (unknown kind). */
TIKV_EXTERN int tikv_mock_inject_region_error(tikv_mock_cluster_t *m, const char *method,
                                              uint64_t region_id, const char *kind, int count);
/* Makes the next `count` calls of `method` ("*" any; TiKV or PD method
 * names) fail with gRPC status `grpc_status` (e.g. 14 UNAVAILABLE). */
TIKV_EXTERN int tikv_mock_inject_grpc_error(tikv_mock_cluster_t *m, const char *method,
                                            int grpc_status, int count);
/* Delays every call of `method` ("*" any) by delay_ms (0 removes). The name
 * "RawCompareAndSwap/write" (which "*" does not cover) stalls instead the
 * write of every CAS read while it is set: each holds its key's latch, as in
 * TiKV's scheduler, so for_cas puts and deletes of the key wait, until the
 * latency is removed (looked at every delay_ms). */
TIKV_EXTERN int tikv_mock_set_latency(tikv_mock_cluster_t *m, const char *method,
                                      uint32_t delay_ms);
/* While paused, PD (every member) accepts calls but never answers them
 * (until unpaused or their deadline): a stall, nobody campaigns. */
TIKV_EXTERN int tikv_mock_pd_pause(tikv_mock_cluster_t *m, int paused);

/* ---- PD failing as a cluster of members (docs/mock-failures.md) ----
 * Members are numbered 1..count; one leads. A follower answers as PD's
 * does: GetMembers and GetClusterInfo as the leader would; every other unary
 * call fails with gRPC UNAVAILABLE "not leader" (region queries: "not leader
 * and follower handling not allowed", unless the call carries the
 * pd-allow-follower-handle metadata: then the follower answers them); its
 * Tso stream ends with gRPC
 * UNKNOWN "[PD:tso:ErrGenerateTimestamp]generate timestamp failed, requested
 * pd is not leader of cluster". Timestamps come from one oracle: they never
 * go backwards across a leader change. When the leader is killed or paused
 * another live member is elected after the election delay (the next one in
 * member order); until then nobody leads and GetMembers names no leader. A
 * member that comes back is a follower. */
TIKV_EXTERN int tikv_mock_pd_member_count(tikv_mock_cluster_t *m);
/* "host:port" of member 1..count (owned by the cluster); NULL if none. */
TIKV_EXTERN const char *tikv_mock_pd_member_address(tikv_mock_cluster_t *m, int member);
/* The member_id GetMembers reports for it; 0 if none. */
TIKV_EXTERN uint64_t tikv_mock_pd_member_id(tikv_mock_cluster_t *m, int member);
/* The leading member's number; 0 while nobody leads (an election). */
TIKV_EXTERN int tikv_mock_pd_leader(tikv_mock_cluster_t *m);
/* Kills (down=1: its server stops, connections are refused) or restarts
 * (down=0, same port, as a follower) a member. 0 or -1. */
TIKV_EXTERN int tikv_mock_pd_member_set_down(tikv_mock_cluster_t *m, int member, int down);
/* Pauses a member as SIGSTOP would (paused=1: it accepts calls and answers
 * none; a paused leader loses its lease and another is elected) or resumes
 * it (paused=0: what it held is answered, as a follower if it lost). 0 or -1. */
TIKV_EXTERN int tikv_mock_pd_member_pause(tikv_mock_cluster_t *m, int member, int paused);
/* Moves PD's leadership to a live member at once (PD's member resign /
 * transfer). 0 or -1 (no such member, down or paused). */
TIKV_EXTERN int tikv_mock_pd_transfer_leader(tikv_mock_cluster_t *m, int member);
/* A new member joins (as a follower, on its own port): its number, or -1. */
TIKV_EXTERN int tikv_mock_pd_add_member(tikv_mock_cluster_t *m);
/* The election delays, as the options set them (0: the default). A pending
 * PD election is then held that long from now; regions already electing
 * keep their time. */
TIKV_EXTERN void tikv_mock_set_pd_election_ms(tikv_mock_cluster_t *m, uint32_t ms);
TIKV_EXTERN void tikv_mock_set_raft_election_ms(tikv_mock_cluster_t *m, uint32_t ms);

/* ---- stores failing as Raft groups do (docs/mock-failures.md) ----
 * Stops (down=1) or restarts (down=0) a store's server on the same port.
 * The data is one copy; the peers of a region differ only in who may
 * answer. When a store goes down every region it leads is without a
 * leader: its other peers answer NotLeader without a leader, and after the
 * raft election delay one of them on a live store (the next in peer order)
 * is elected, if a majority of the region's peers' stores are up (else the
 * region waits for a store to come back). Then the other peers answer
 * NotLeader naming the new leader, and PD reports it. A store back before
 * the election keeps its leaderships (nobody campaigned yet); one back
 * after it rejoins as a follower. */
TIKV_EXTERN int tikv_mock_store_set_down(tikv_mock_cluster_t *m, uint64_t store_id, int down);
/* What the store's gRPC health service (grpc.health.v1.Health/Check)
 * answers: SERVING (1, the default) or NOT_SERVING (0); its KV service is
 * unaffected. 0 or -1 (no such store). */
TIKV_EXTERN int tikv_mock_store_set_serving(tikv_mock_cluster_t *m, uint64_t store_id,
                                            int serving);
/* 1 while the region has a leader, 0 during an election, -1 if unknown. */
TIKV_EXTERN int tikv_mock_region_has_leader(tikv_mock_cluster_t *m, uint64_t region_id);

/* Replies lost after the request was applied: the next `count` calls of
 * `method` ("*" any; each request of a BatchCommands stream counts under its
 * own name) on store_id (0: any store) are executed, and their replies
 * replaced by gRPC UNAVAILABLE, as when the connection drops after the
 * write (inside BatchCommands the stream ends so). What an uncertain commit
 * looks like to a client. 0 or -1. */
TIKV_EXTERN int tikv_mock_inject_lost_reply(tikv_mock_cluster_t *m, uint64_t store_id,
                                            const char *method, int count);
/* Corrupted replies: the replies to the next `count` calls of `method`
 * ("*" any; TiKV or PD method names; on a stream, such as PD's Tso, each
 * reply message counts) are damaged on the way out, after the request was
 * served, as a faulty network or server would damage them:
 *   TIKV_MOCK_CORRUPT_UNDECODABLE  bytes that never decode as a message
 *   TIKV_MOCK_CORRUPT_FLIP         a few bits flipped, sometimes cut short:
 *                                  it may still decode, into other values
 *                                  (the same flips for the same sequence of
 *                                  corrupted replies)
 *   TIKV_MOCK_CORRUPT_STRAY        a field 2 holding {2: FF FF FF} appended:
 *                                  it decodes, into what was not asked (a
 *                                  pair of key FFFFFF in a batch get or scan,
 *                                  a region starting there in GetRegion)
 * 0 or -1. */
enum { TIKV_MOCK_CORRUPT_UNDECODABLE = 0, TIKV_MOCK_CORRUPT_FLIP = 1, TIKV_MOCK_CORRUPT_STRAY = 2 };
TIKV_EXTERN int tikv_mock_inject_corrupt_reply(tikv_mock_cluster_t *m, const char *method,
                                               int mode, int count);
/* Number of calls of `method` ("*" all) the TiKV stores have served,
 * counting each request inside a BatchCommands stream under its own name
 * ("RawGet", ...) and each BatchCommands message as "BatchCommands" (so a
 * test can tell batched requests from unary ones and count the messages
 * they shared). Health checks are not counted. */
TIKV_EXTERN uint64_t tikv_mock_call_count(tikv_mock_cluster_t *m, const char *method);
/* Number of PD calls of `method` ("*" all) PD has received; for the Tso
 * stream, the number of TsoRequest messages (each asks for a batch). */
TIKV_EXTERN uint64_t tikv_mock_pd_call_count(tikv_mock_cluster_t *m, const char *method);
/* ---- TLS and API v2 (docs/mock-tls-apiv2.md) ---- */
/* 0: plaintext; 1: TLS; 2: mutual TLS (client certificates required). */
TIKV_EXTERN int tikv_mock_tls(tikv_mock_cluster_t *m);
/* The stores' API version: 1 or 2. */
TIKV_EXTERN int tikv_mock_api_version(tikv_mock_cluster_t *m);
/* Creates a keyspace as PD does (API v2 only), splitting the regions at its
 * ranges (see the region layout); id < 0: the next free one. Its id, or -1
 * (API v1, a name PD refuses or already has, an id out of range or taken). */
TIKV_EXTERN int tikv_mock_add_keyspace(tikv_mock_cluster_t *m, const char *name, int id);
/* Sets a keyspace's state (tikv_mock_keyspace_state; any change is taken,
 * DEFAULT's too: a fixture, not PD's state machine). LoadKeyspace reports
 * it; the stores do not read it (nor does TiKV). 0 or -1 (no such keyspace
 * or state). */
TIKV_EXTERN int tikv_mock_set_keyspace_state(tikv_mock_cluster_t *m, const char *name, int state);
/* A keyspace's id / state, or -1 when PD has no keyspace of that name. */
TIKV_EXTERN int tikv_mock_keyspace_id(tikv_mock_cluster_t *m, const char *name);
TIKV_EXTERN int tikv_mock_get_keyspace_state(tikv_mock_cluster_t *m, const char *name);
/* The keyspaces in creation order (DEFAULT first); 0 in API v1. The name is
 * owned by the cluster; NULL past the end. */
TIKV_EXTERN int tikv_mock_keyspace_count(tikv_mock_cluster_t *m);
TIKV_EXTERN const char *tikv_mock_keyspace_name(tikv_mock_cluster_t *m, int index);

/* Clears every injected fault and latency. */
TIKV_EXTERN void tikv_mock_clear_faults(tikv_mock_cluster_t *m);
/* The cluster id PD reports. */
TIKV_EXTERN uint64_t tikv_mock_cluster_id(tikv_mock_cluster_t *m);
/* Region boundaries (raw bytes PD reports); *len 0 for an unbounded end.
 * Copies into buf (up to cap bytes) and returns 0, or -1 (no such region or
 * buffer too small; *len then says the size needed). */
TIKV_EXTERN int tikv_mock_region_bounds(tikv_mock_cluster_t *m, uint64_t region_id, uint8_t *start,
                                        size_t start_cap, size_t *start_len, uint8_t *end,
                                        size_t end_cap, size_t *end_len);
/* The region's epoch and its peer on store_id (0 if none). 0 or -1. */
TIKV_EXTERN int tikv_mock_region_epoch(tikv_mock_cluster_t *m, uint64_t region_id,
                                       uint64_t *conf_ver, uint64_t *version);
TIKV_EXTERN uint64_t tikv_mock_region_peer_on_store(tikv_mock_cluster_t *m, uint64_t region_id,
                                                    uint64_t store_id);

TIKV_END_DECLS

#endif
