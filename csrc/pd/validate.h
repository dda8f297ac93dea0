/* Validation of PD's replies before anything uses them: one check per
 * reply type, called where the reply is decoded (tikv__pd_call's reply
 * handler for unary calls, the Tso stream's for timestamps). A reply that
 * fails is a PROTOCOL error saying what was wrong; the caller retries it
 * when the request is safe to resend (a READ row of the request table).
 * Region and store metadata are checked here for the region layer too
 * (regions also arrive in TiKV's EpochNotMatch). Pure functions: any
 * thread; the fuzz targets (test/fuzz/) call them on arbitrary bytes. */
#ifndef TIKV_PD_VALIDATE_H
#define TIKV_PD_VALIDATE_H

#include "metapb.pb-c.h"
#include "pdpb.pb-c.h"
#include "rpc/requests.h"

#include "core/core.h"

/* A PROTOCOL error "<what>: <why>". */
tikv_error_t *tikv__bad_reply(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Up to 24 bytes of key as hex into buf (at least 52 bytes), "…" when cut;
 * for messages. Returns buf. */
const char *tikv__hex_key(char *buf, const uint8_t *key, size_t len);

/* A region as PD (or TiKV) describes it: a non-zero id, an epoch, a range
 * with start < end (an empty end is unbounded), at least one peer, every
 * peer with non-zero ids, no two peers with one id or on one store; and
 * leader (NULL or all zero: unknown) one of the peers. */
tikv_error_t *tikv__check_region_meta(const char *what, const Metapb__Region *r,
                                      const Metapb__Peer *leader);
/* A store: a non-zero id (want_id when non-zero), a known state, and unless
 * it is a tombstone an address "host:port". */
tikv_error_t *tikv__check_store_meta(const char *what, const Metapb__Store *s, uint64_t want_id);

/* A Tso reply to a request for n timestamps (header errors are the
 * caller's): a timestamp for exactly n, physical in (0, 2^46), logical in
 * [0, 2^18), suffix_bits below 18, and room below logical for the n - 1
 * before it. */
tikv_error_t *tikv__check_tso(const Pdpb__TsoResponse *r, size_t n);
/* The i-th (0-based) of the n timestamps of a checked reply: PD answers
 * with the last, the others are below it one step of 2^suffix_bits each. */
uint64_t tikv__tso_compose(const Pdpb__Timestamp *t, size_t n, size_t i);

/* GetMembers: a leader with at least one non-empty client URL. */
tikv_error_t *tikv__check_members(const Pdpb__GetMembersResponse *r);

/* The reply resp to req, a unary call of row id (header errors are the
 * caller's): GetRegion's region holds the key asked, GetPrevRegion's ends
 * at or below it, GetRegionByID's has the id asked, ScanRegions' are in
 * order and inside the range, GetStore's is the store asked, GetAllStores'
 * have distinct ids, every region and store as above. NULL: fine (also
 * for the rows without a check). */
tikv_error_t *tikv__check_pd_reply(tikv__req_id id, const ProtobufCMessage *req,
                                   const ProtobufCMessage *resp);

#endif
