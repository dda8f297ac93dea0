#include "util_proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *up_alloc(up_arena_t *a, size_t size) {
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 64;
    a->ptrs = realloc(a->ptrs, a->cap * sizeof(void *));
    if (!a->ptrs) abort();
  }
  void *p = calloc(1, size ? size : 1);
  if (!p) abort();
  a->ptrs[a->n++] = p;
  return p;
}

void up_free(up_arena_t *a) {
  for (size_t i = 0; i < a->n; i++) free(a->ptrs[i]);
  free(a->ptrs);
}

static void fill(up_arena_t *a, ProtobufCMessage *m, int depth);

static size_t elem_size(const ProtobufCFieldDescriptor *f) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_FLOAT:
      return 4;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    default: return 8;
  }
}

/* Sets one value of field f at p; false when it cannot (message too deep). */
static bool set_value(up_arena_t *a, const ProtobufCFieldDescriptor *f, void *p, int depth, int k) {
  uint32_t v = f->id + 1 + k;
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
      *(uint32_t *)p = v; break;
    case PROTOBUF_C_TYPE_FLOAT: *(float *)p = (float)v; break;
    case PROTOBUF_C_TYPE_DOUBLE: *(double *)p = v; break;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)p = 1; break;
    case PROTOBUF_C_TYPE_ENUM: {
      const ProtobufCEnumDescriptor *ed = f->descriptor;
      *(int *)p = ed->n_values > 1 ? ed->values[1].value : ed->values[0].value;
      break;
    }
    case PROTOBUF_C_TYPE_STRING: {
      char *s = up_alloc(a, 16);
      snprintf(s, 16, "s%u", v);
      *(char **)p = s;
      break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
      uint8_t *b = up_alloc(a, 4);
      b[0] = 0;
      b[1] = 0xff;
      b[2] = (uint8_t)v;
      *(ProtobufCBinaryData *)p = (ProtobufCBinaryData){3, b};
      break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
      if (depth >= 3) return false;
      const ProtobufCMessageDescriptor *md = f->descriptor;
      ProtobufCMessage *sub = up_alloc(a, md->sizeof_message);
      protobuf_c_message_init(md, sub);
      fill(a, sub, depth + 1);
      *(void **)p = sub;
      break;
    }
    default: *(uint64_t *)p = v; break;
  }
  return true;
}

static void fill(up_arena_t *a, ProtobufCMessage *m, int depth) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  char *base = (char *)m;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
      if (*which) continue; /* one member per oneof */
      if (set_value(a, f, base + f->offset, depth, 0)) *which = f->id;
      continue;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t es = elem_size(f);
      void *arr = up_alloc(a, 2 * es);
      size_t n = 0;
      for (int k = 0; k < 2; k++)
        if (set_value(a, f, (char *)arr + n * es, depth, k)) n++;
      *(size_t *)(base + f->quantifier_offset) = n;
      *(void **)(base + f->offset) = arr;
      continue;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
      *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    set_value(a, f, base + f->offset, depth, 0);
  }
}


void up_set_one(up_arena_t *a, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  char *base = (char *)m;
  void *slot = base + f->offset;
  if (f->label == PROTOBUF_C_LABEL_REPEATED) {
    slot = up_alloc(a, elem_size(f));
    *(size_t *)(base + f->quantifier_offset) = 1;
    *(void **)(base + f->offset) = slot;
  } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    *(uint32_t *)(base + f->quantifier_offset) = f->id;
  } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset) {
    *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
  }
  if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
    const ProtobufCMessageDescriptor *md = f->descriptor;
    ProtobufCMessage *sub = up_alloc(a, md->sizeof_message);
    protobuf_c_message_init(md, sub);
    *(void **)slot = sub;
    return;
  }
  if (f->type == PROTOBUF_C_TYPE_ENUM) {
    /* proto3 leaves a zero out: a non-zero value, even one the enum lacks */
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    int v = 1;
    for (unsigned i = 0; i < ed->n_values; i++)
      if (ed->values[i].value != 0) v = ed->values[i].value;
    *(int *)slot = v;
    return;
  }
  set_value(a, f, slot, 0, 0);
}

void up_fill(up_arena_t *a, ProtobufCMessage *m) { fill(a, m, 0); }
