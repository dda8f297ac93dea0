/* Protobuf wire facts: every message we send or receive survives a round
 * trip with every field set, and golden encodings pin the field numbers and
 * types that must match kvproto (hand-computed from TiKV's protocol). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "deadlock.pb-c.h"
#include "errorpb.pb-c.h"
#include "health.pb-c.h"
#include "kvrpcpb.pb-c.h"
#include "metapb.pb-c.h"
#include "pdpb.pb-c.h"
#include "tikvpb.pb-c.h"
#include "rpc/requests.h"

/* ---- generic filler over descriptors ---- */
typedef struct {
  void **ptrs;
  size_t n, cap;
} arena;

static void *arena_alloc(arena *a, size_t size) {
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 64;
    a->ptrs = realloc(a->ptrs, a->cap * sizeof(void *));
  }
  void *p = calloc(1, size ? size : 1);
  a->ptrs[a->n++] = p;
  return p;
}

static void arena_free(arena *a) {
  for (size_t i = 0; i < a->n; i++) free(a->ptrs[i]);
  free(a->ptrs);
}

static void fill(arena *a, ProtobufCMessage *m, int depth);

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
static bool set_value(arena *a, const ProtobufCFieldDescriptor *f, void *p, int depth, int k) {
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
      char *s = arena_alloc(a, 16);
      snprintf(s, 16, "s%u", v);
      *(char **)p = s;
      break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
      uint8_t *b = arena_alloc(a, 4);
      b[0] = 0;
      b[1] = 0xff;
      b[2] = (uint8_t)v;
      *(ProtobufCBinaryData *)p = (ProtobufCBinaryData){3, b};
      break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
      if (depth >= 3) return false;
      const ProtobufCMessageDescriptor *md = f->descriptor;
      ProtobufCMessage *sub = arena_alloc(a, md->sizeof_message);
      protobuf_c_message_init(md, sub);
      fill(a, sub, depth + 1);
      *(void **)p = sub;
      break;
    }
    default: *(uint64_t *)p = v; break;
  }
  return true;
}

static void fill(arena *a, ProtobufCMessage *m, int depth) {
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
      void *arr = arena_alloc(a, 2 * es);
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

static const ProtobufCMessageDescriptor *const MESSAGES[] = {
    /* PD */
    &pdpb__get_members_request__descriptor, &pdpb__get_members_response__descriptor,
    &pdpb__tso_request__descriptor, &pdpb__tso_response__descriptor,
    &pdpb__get_region_request__descriptor, &pdpb__get_region_response__descriptor,
    &pdpb__get_region_by_idrequest__descriptor, &pdpb__scan_regions_request__descriptor,
    &pdpb__scan_regions_response__descriptor, &pdpb__get_store_request__descriptor,
    &pdpb__get_store_response__descriptor, &pdpb__get_all_stores_request__descriptor,
    &pdpb__get_all_stores_response__descriptor, &pdpb__get_gcsafe_point_request__descriptor,
    &pdpb__get_gcsafe_point_response__descriptor, &pdpb__update_gcsafe_point_request__descriptor,
    &pdpb__update_gcsafe_point_response__descriptor,
    /* raw */
    &kvrpcpb__raw_get_request__descriptor, &kvrpcpb__raw_get_response__descriptor,
    &kvrpcpb__raw_batch_get_request__descriptor, &kvrpcpb__raw_batch_get_response__descriptor,
    &kvrpcpb__raw_put_request__descriptor, &kvrpcpb__raw_put_response__descriptor,
    &kvrpcpb__raw_batch_put_request__descriptor, &kvrpcpb__raw_batch_put_response__descriptor,
    &kvrpcpb__raw_delete_request__descriptor, &kvrpcpb__raw_delete_response__descriptor,
    &kvrpcpb__raw_batch_delete_request__descriptor,
    &kvrpcpb__raw_batch_delete_response__descriptor, &kvrpcpb__raw_scan_request__descriptor,
    &kvrpcpb__raw_scan_response__descriptor, &kvrpcpb__raw_delete_range_request__descriptor,
    &kvrpcpb__raw_delete_range_response__descriptor,
    &kvrpcpb__raw_batch_scan_request__descriptor, &kvrpcpb__raw_batch_scan_response__descriptor,
    &kvrpcpb__raw_get_key_ttlrequest__descriptor, &kvrpcpb__raw_get_key_ttlresponse__descriptor,
    &kvrpcpb__raw_casrequest__descriptor, &kvrpcpb__raw_casresponse__descriptor,
    /* transactions */
    &kvrpcpb__get_request__descriptor, &kvrpcpb__get_response__descriptor,
    &kvrpcpb__scan_request__descriptor, &kvrpcpb__scan_response__descriptor,
    &kvrpcpb__prewrite_request__descriptor, &kvrpcpb__prewrite_response__descriptor,
    &kvrpcpb__commit_request__descriptor, &kvrpcpb__commit_response__descriptor,
    &kvrpcpb__batch_get_request__descriptor, &kvrpcpb__batch_get_response__descriptor,
    &kvrpcpb__batch_rollback_request__descriptor, &kvrpcpb__batch_rollback_response__descriptor,
    &kvrpcpb__cleanup_request__descriptor, &kvrpcpb__cleanup_response__descriptor,
    &kvrpcpb__check_txn_status_request__descriptor,
    &kvrpcpb__check_txn_status_response__descriptor,
    &kvrpcpb__check_secondary_locks_request__descriptor,
    &kvrpcpb__check_secondary_locks_response__descriptor,
    &kvrpcpb__resolve_lock_request__descriptor, &kvrpcpb__resolve_lock_response__descriptor,
    &kvrpcpb__txn_heart_beat_request__descriptor, &kvrpcpb__txn_heart_beat_response__descriptor,
    &kvrpcpb__pessimistic_lock_request__descriptor,
    &kvrpcpb__pessimistic_lock_response__descriptor,
    &kvrpcpb__pessimistic_rollback_request__descriptor,
    &kvrpcpb__pessimistic_rollback_response__descriptor,
    &kvrpcpb__scan_lock_request__descriptor, &kvrpcpb__scan_lock_response__descriptor,
    /* streams and health */
    &tikvpb__batch_commands_request__descriptor, &tikvpb__batch_commands_response__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
    &grpc__health__v1__health_check_response__descriptor,
};

START_TEST(round_trip_every_message) {
  for (size_t i = 0; i < sizeof(MESSAGES) / sizeof(MESSAGES[0]); i++) {
    const ProtobufCMessageDescriptor *d = MESSAGES[i];
    arena a = {0};
    ProtobufCMessage *m = arena_alloc(&a, d->sizeof_message);
    protobuf_c_message_init(d, m);
    fill(&a, m, 0);
    size_t n = protobuf_c_message_get_packed_size(m);
    ck_assert_msg(n > 0 || d->n_fields == 0, "%s packs to nothing", d->name);
    uint8_t *buf = malloc(n + 1);
    ck_assert_uint_eq(protobuf_c_message_pack(m, buf), n);
    ProtobufCMessage *u = protobuf_c_message_unpack(d, NULL, n, buf);
    ck_assert_msg(u != NULL, "%s does not unpack", d->name);
    size_t n2 = protobuf_c_message_get_packed_size(u);
    ck_assert_msg(n2 == n, "%s: %zu bytes, then %zu", d->name, n, n2);
    uint8_t *buf2 = malloc(n2 + 1);
    protobuf_c_message_pack(u, buf2);
    ck_assert_msg(memcmp(buf, buf2, n) == 0, "%s does not survive a round trip", d->name);
    protobuf_c_message_free_unpacked(u, NULL);
    free(buf);
    free(buf2);
    arena_free(&a);
  }
}
END_TEST

static void expect_bytes(const ProtobufCMessage *m, const uint8_t *want, size_t len) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t buf[256];
  ck_assert_uint_lt(n, sizeof(buf));
  protobuf_c_message_pack(m, buf);
  ck_assert_msg(n == len, "%s: %zu bytes, want %zu", m->descriptor->name, n, len);
  ck_assert_mem_eq(buf, want, len);
}

START_TEST(golden_raw_and_context) {
  Kvrpcpb__RawGetRequest g = KVRPCPB__RAW_GET_REQUEST__INIT;
  g.key = (ProtobufCBinaryData){1, (uint8_t *)"k"};
  g.cf = "c";
  expect_bytes(&g.base, (const uint8_t *)"\x12\x01k\x1a\x01" "c", 6);

  Kvrpcpb__RawGetResponse r = KVRPCPB__RAW_GET_RESPONSE__INIT;
  r.not_found = 1;
  expect_bytes(&r.base, (const uint8_t *)"\x20\x01", 2);

  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
  Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
  Metapb__Peer peer = METAPB__PEER__INIT;
  ep.conf_ver = 1;
  ep.version = 2;
  peer.id = 7;
  peer.store_id = 1;
  ctx.region_id = 5;
  ctx.region_epoch = &ep;
  ctx.peer = &peer;
  expect_bytes(&ctx.base, (const uint8_t *)"\x08\x05\x12\x04\x08\x01\x10\x02\x1a\x04\x08\x07\x10\x01", 14);

  Kvrpcpb__RawScanRequest s = KVRPCPB__RAW_SCAN_REQUEST__INIT;
  s.limit = 3;
  s.reverse = 1;
  s.end_key = (ProtobufCBinaryData){1, (uint8_t *)"z"};
  expect_bytes(&s.base, (const uint8_t *)"\x18\x03\x30\x01\x3a\x01z", 7);

  Kvrpcpb__RawPutRequest p = KVRPCPB__RAW_PUT_REQUEST__INIT;
  p.ttl = 9;
  p.for_cas = 1;
  expect_bytes(&p.base, (const uint8_t *)"\x28\x09\x30\x01", 4);
}
END_TEST

START_TEST(golden_pd_and_errors) {
  Pdpb__TsoRequest t = PDPB__TSO_REQUEST__INIT;
  Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
  h.cluster_id = 1;
  t.header = &h;
  t.count = 3;
  expect_bytes(&t.base, (const uint8_t *)"\x0a\x02\x08\x01\x10\x03", 6);

  Pdpb__GetRegionRequest g = PDPB__GET_REGION_REQUEST__INIT;
  g.region_key = (ProtobufCBinaryData){1, (uint8_t *)"a"};
  expect_bytes(&g.base, (const uint8_t *)"\x12\x01" "a", 3);

  Errorpb__Error e = ERRORPB__ERROR__INIT;
  Errorpb__NotLeader nl = ERRORPB__NOT_LEADER__INIT;
  nl.region_id = 2;
  e.not_leader = &nl;
  expect_bytes(&e.base, (const uint8_t *)"\x12\x02\x08\x02", 4);

  Errorpb__Error e2 = ERRORPB__ERROR__INIT;
  Errorpb__EpochNotMatch en = ERRORPB__EPOCH_NOT_MATCH__INIT;
  e2.epoch_not_match = &en;
  expect_bytes(&e2.base, (const uint8_t *)"\x2a\x00", 2);

  Kvrpcpb__KeyError ke = KVRPCPB__KEY_ERROR__INIT;
  Kvrpcpb__WriteConflict wc = KVRPCPB__WRITE_CONFLICT__INIT;
  wc.start_ts = 1;
  ke.conflict = &wc;
  expect_bytes(&ke.base, (const uint8_t *)"\x22\x02\x08\x01", 4);

  Kvrpcpb__PrewriteResponse pr = KVRPCPB__PREWRITE_RESPONSE__INIT;
  pr.min_commit_ts = 5;
  pr.one_pc_commit_ts = 6;
  expect_bytes(&pr.base, (const uint8_t *)"\x18\x05\x20\x06", 4);

  Tikvpb__BatchCommandsRequest__Request br = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__INIT;
  Kvrpcpb__RawGetRequest rg = KVRPCPB__RAW_GET_REQUEST__INIT;
  br.cmd_case = TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_RAW_GET;
  br.rawget = &rg;
  expect_bytes(&br.base, (const uint8_t *)"\x6a\x00", 2);
}
END_TEST

/* The request table agrees with the services generated from proto/: every
 * path names a method whose input and output are the row's descriptors,
 * every batch case carries the row's request and response, and every
 * request that has a BatchCommands slot says so. */
START_TEST(request_table_matches_services) {
  const ProtobufCMessageDescriptor *breq = &tikvpb__batch_commands_request__request__descriptor;
  const ProtobufCMessageDescriptor *bresp = &tikvpb__batch_commands_response__response__descriptor;
  for (int i = 0; i < TIKV__REQ_COUNT; i++) {
    const tikv__req_info_t *r = tikv__req(i);
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(r->service, r->method);
    ck_assert_msg(md != NULL, "%s: no such method in %s", r->path, r->service->name);
    ck_assert_msg(md->input == r->req, "%s: request is %s, not %s", r->path, md->input->name,
                  r->req->name);
    ck_assert_msg(md->output == r->resp, "%s: response is %s, not %s", r->path,
                  md->output->name, r->resp->name);
    char path[128];
    snprintf(path, sizeof(path), "/%s/%s", r->service->name, r->method);
    ck_assert_str_eq(r->path, path);
    ck_assert_int_eq(tikv__req_by_method(r->service->name, r->method), i);
    for (int j = 0; j < i; j++) ck_assert_str_ne(tikv__req(j)->path, r->path);
    if (r->batch_case) {
      const ProtobufCFieldDescriptor *fq = protobuf_c_message_descriptor_get_field(breq, r->batch_case);
      const ProtobufCFieldDescriptor *fs = protobuf_c_message_descriptor_get_field(bresp, r->batch_case);
      ck_assert_msg(fq && fq->descriptor == r->req, "%s: batch case %d carries another request",
                    r->path, r->batch_case);
      ck_assert_msg(fs && fs->descriptor == r->resp, "%s: batch case %d carries another response",
                    r->path, r->batch_case);
      ck_assert_int_eq(tikv__req_by_batch_case(r->batch_case), i);
    }
  }
  /* no row leaves out the batch case its request has */
  for (unsigned f = 0; f < breq->n_fields; f++) {
    const ProtobufCFieldDescriptor *fd = &breq->fields[f];
    for (int i = 0; i < TIKV__REQ_COUNT; i++)
      if (tikv__req(i)->req == fd->descriptor)
        ck_assert_msg(tikv__req(i)->batch_case == (int)fd->id, "%s: batch case %u missing",
                      tikv__req(i)->path, fd->id);
  }
  ck_assert_int_eq(tikv__req_by_method("tikvpb.Tikv", "NoSuchMethod"), -1);
  ck_assert_int_eq(tikv__req_by_method("pdpb.PD", "RawGet"), -1);
  ck_assert_int_eq(tikv__req_by_batch_case(0), -1);
  ck_assert_str_eq(tikv__req(TIKV__REQ_KV_PESSIMISTIC_ROLLBACK)->path,
                   "/tikvpb.Tikv/KVPessimisticRollback");
  ck_assert_str_eq(tikv__req(TIKV__REQ_HEALTH_CHECK)->path, "/grpc.health.v1.Health/Check");
  ck_assert(tikv__req_is_read(TIKV__REQ_RAW_GET));
  ck_assert(!tikv__req_is_read(TIKV__REQ_RAW_CAS));
}
END_TEST

int main(void) {
  Suite *s = suite_create("proto");
  TCase *tc = tcase_create("wire");
  tcase_add_test(tc, round_trip_every_message);
  tcase_add_test(tc, golden_raw_and_context);
  tcase_add_test(tc, golden_pd_and_errors);
  tcase_add_test(tc, request_table_matches_services);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
