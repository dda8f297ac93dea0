/* The reply checks as a table of targets, shared by the unit test of the
 * decoders (check_decode) and the libFuzzer targets (test/fuzz/): each
 * target decodes input bytes as the replies of one kind of request, checks
 * them as the client does (pd/validate.h, region/validate.h) against a
 * fixed request, and when a reply passes uses it as the client would (the
 * region cache, the lock list, timestamps, result arrays), asserting what
 * the check promised. Any crash, sanitizer report or abort is a bug. */
#ifndef TIKV_TEST_UTIL_REPLIES_H
#define TIKV_TEST_UTIL_REPLIES_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "kvrpcpb.pb-c.h"
#include "metapb.pb-c.h"
#include "util_proto.h"

typedef struct reply_case reply_case_t;
struct reply_case {
  const ProtobufCMessageDescriptor *desc;
  int req;          /* the request table row the reply answers */
  const void *want; /* what was asked: PD, the request message; TiKV, the part */
};

typedef struct reply_target {
  const char *name; /* the fuzz target's: fuzz_<name> */
  const reply_case_t *cases;
  size_t n_cases;
  /* Replies the check must accept: up to cap messages (in a), each with the
   * index of its case. Returns how many. */
  size_t (*valid)(up_arena_t *a, ProtobufCMessage **out, size_t *case_of, size_t cap);
} reply_target_t;

extern const reply_target_t REPLY_TARGETS[];
extern const size_t N_REPLY_TARGETS;
const reply_target_t *reply_target(const char *name);

/* Checks m as case c, and uses it when it passes. 0: accepted; 1: refused
 * with a PROTOCOL error (its message in why, when why is not NULL: at
 * least 256 bytes). Aborts when the check fails any other way or a use
 * finds what the check should have refused. */
int reply_case_run(const reply_case_t *c, const ProtobufCMessage *m, char *why);
/* Decodes data as the reply of every case of t and runs those that decode:
 * how many were accepted. */
int reply_target_run(const reply_target_t *t, const uint8_t *data, size_t len);
/* The seeds of t's corpus, each packed and given to emit: the valid
 * replies, each case's message with every field set, and with each field
 * alone (the shapes check_proto's golden encodings pin). */
void reply_target_seeds(const reply_target_t *t,
                        void (*emit)(void *ctx, const uint8_t *data, size_t len), void *ctx);

/* Builders of reply parts in an arena (strings borrowed, not copied). */
ProtobufCBinaryData rb_bin(const char *s);
Metapb__Peer *rb_peer(up_arena_t *a, uint64_t id, uint64_t store);
/* Region id over [start, end) ("" unbounded), epoch 1/1, with npeers peers
 * id*10+1.. on stores 1..npeers. */
Metapb__Region *rb_region(up_arena_t *a, uint64_t id, const char *start, const char *end,
                          size_t npeers);
Kvrpcpb__KvPair *rb_kvp(up_arena_t *a, const char *key, const char *value);
/* A lock of txn ts on key, primary "a", TTL 3 s, min_commit_ts ts + 1. */
Kvrpcpb__LockInfo *rb_lock(up_arena_t *a, const char *key, uint64_t ts);
Kvrpcpb__KeyError *rb_locked(up_arena_t *a, const char *key, uint64_t ts);

#endif
