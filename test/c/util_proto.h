/* Messages filled over their descriptors, for the tests that need every
 * field of a message set (check_proto's round trips, the seeds of the reply
 * checks in util_replies and test/fuzz) or one field alone (the golden
 * encodings of check_proto). Memory comes from an arena freed at once. */
#ifndef TIKV_TEST_UTIL_PROTO_H
#define TIKV_TEST_UTIL_PROTO_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct up_arena {
  void **ptrs;
  size_t n, cap;
} up_arena_t;

/* Zeroed memory owned by the arena (aborts when out of memory). */
void *up_alloc(up_arena_t *a, size_t size);
void up_free(up_arena_t *a);
/* Sets every field of m (initialised) to a value derived from its number:
 * repeated fields get two elements, one member per oneof, messages three
 * levels deep. */
void up_fill(up_arena_t *a, ProtobufCMessage *m);
/* Sets field f of m (initialised) alone to one value (an empty message for
 * a message field; a non-zero value for an enum). */
void up_set_one(up_arena_t *a, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

#endif
