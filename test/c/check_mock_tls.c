/* The mock serving TLS, seen over raw gRPC: every PD member and every store
 * serves it, mutual TLS refuses clients without a certificate of its CA,
 * PD advertises https:// URLs, and bad material fails the start with a
 * message that says which. The certificates are made at test time
 * (util_tls.c, with the openssl command). */
#include <check.h>
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvrpcpb.pb-c.h"
#include "pdpb.pb-c.h"
#include "rpc/requests.h"
#include "tikv/mock.h"
#include "util_mock_client.h"
#include "util_tls.h"

#define TIMEOUT_MS 5000
#define FREE(p) protobuf_c_message_free_unpacked((ProtobufCMessage *)(p), NULL)

static util_tls_t t; /* made once for the suite (unchecked fixture) */
static tikv_mock_cluster_t *m;
static char details[512];

static void make_material(void) {
  char err[512];
  if (util_tls_make(&t, err, sizeof(err))) {
    fprintf(stderr, "check_mock_tls: %s\n", err);
    abort(); /* no material, no test: never a silent skip */
  }
}
static void free_material(void) { util_tls_free(&t); }

/* Mutual TLS from PEM text: 2 PD members, 3 stores. */
static tikv_mock_cluster_t *start_mutual(void) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.pd_members = 2;
  o.tls_cert_pem = t.server_cert;
  o.tls_key_pem = t.server_key;
  o.tls_ca_pem = t.ca;
  char err[512];
  tikv_mock_cluster_t *c = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(c != NULL, "start: %s", err);
  return c;
}

static void teardown(void) {
  tikv_mock_cluster_stop(m);
  m = NULL;
}

/* What a client configured as `tls` gets from GetMembers on target. */
static int get_members(const mc_tls_t *tls, const char *target, Pdpb__GetMembersResponse **r) {
  Pdpb__GetMembersRequest q = PDPB__GET_MEMBERS_REQUEST__INIT;
  const tikv__req_info_t *ri = tikv__req(TIKV__REQ_PD_GET_MEMBERS);
  details[0] = 0;
  return mc_unary_tls(tls, target, ri->path, &q.base, ri->resp, (ProtobufCMessage **)r,
                      TIMEOUT_MS, details, sizeof(details));
}

/* A RawPut then RawGet of key on the store leading its region. */
static int raw_round_trip(const mc_tls_t *tls, const char *key) {
  uint64_t region = tikv_mock_region_for_key(m, (const uint8_t *)key, strlen(key));
  uint64_t store = tikv_mock_region_leader_store(m, region);
  Metapb__RegionEpoch ep = METAPB__REGION_EPOCH__INIT;
  Metapb__Peer peer = METAPB__PEER__INIT;
  Kvrpcpb__Context ctx = KVRPCPB__CONTEXT__INIT;
  tikv_mock_region_epoch(m, region, &ep.conf_ver, &ep.version);
  peer.store_id = store;
  peer.id = tikv_mock_region_peer_on_store(m, region, store);
  ctx.region_id = region;
  ctx.region_epoch = &ep;
  ctx.peer = &peer;
  Kvrpcpb__RawPutRequest put = KVRPCPB__RAW_PUT_REQUEST__INIT;
  put.context = &ctx;
  put.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
  put.value = (ProtobufCBinaryData){1, (uint8_t *)"v"};
  const tikv__req_info_t *pi = tikv__req(TIKV__REQ_RAW_PUT), *gi = tikv__req(TIKV__REQ_RAW_GET);
  const char *addr = tikv_mock_store_address(m, store);
  Kvrpcpb__RawPutResponse *pr = NULL;
  int st = mc_unary_tls(tls, addr, pi->path, &put.base, pi->resp, (ProtobufCMessage **)&pr,
                        TIMEOUT_MS, details, sizeof(details));
  if (st) return st;
  ck_assert_ptr_null(pr->region_error);
  ck_assert_str_eq(pr->error, "");
  FREE(pr);
  Kvrpcpb__RawGetRequest get = KVRPCPB__RAW_GET_REQUEST__INIT;
  get.context = &ctx;
  get.key = put.key;
  Kvrpcpb__RawGetResponse *gr = NULL;
  st = mc_unary_tls(tls, addr, gi->path, &get.base, gi->resp, (ProtobufCMessage **)&gr,
                    TIMEOUT_MS, details, sizeof(details));
  if (st) return st;
  ck_assert_uint_eq(gr->value.len, 1);
  ck_assert_int_eq(gr->value.data[0], 'v');
  FREE(gr);
  return 0;
}

/* The client of the cluster's CA with its client certificate. */
static mc_tls_t good_client(void) { return (mc_tls_t){t.ca, t.client_cert, t.client_key, NULL}; }

/* Every server refuses `tls` (NULL: plaintext): the call ends with
 * UNAVAILABLE, the handshake's failure, well inside its deadline. */
static void refused_everywhere(const mc_tls_t *tls, const char *what) {
  for (int p = 1; p <= tikv_mock_pd_member_count(m); p++) {
    Pdpb__GetMembersResponse *r = NULL;
    int st = get_members(tls, tikv_mock_pd_member_address(m, p), &r);
    ck_assert_msg(st == GRPC_STATUS_UNAVAILABLE, "%s: PD member %d: status %d (%s)", what, p, st,
                  details);
    ck_assert_ptr_null(r);
  }
  fprintf(stderr, "check_mock_tls: %s: PD answers UNAVAILABLE \"%s\"\n", what, details);
  for (uint64_t s = 1; s <= (uint64_t)tikv_mock_store_count(m); s++) {
    const tikv__req_info_t *ri = tikv__req(TIKV__REQ_RAW_GET);
    Kvrpcpb__RawGetRequest q = KVRPCPB__RAW_GET_REQUEST__INIT;
    ProtobufCMessage *r = NULL;
    int st = mc_unary_tls(tls, tikv_mock_store_address(m, s), ri->path, &q.base, ri->resp, &r,
                          TIMEOUT_MS, details, sizeof(details));
    ck_assert_msg(st == GRPC_STATUS_UNAVAILABLE, "%s: store %llu: status %d (%s)", what,
                  (unsigned long long)s, st, details);
  }
}

/* ---- mutual TLS ---- */
START_TEST(mutual_tls_serves_a_client_of_its_ca) {
  m = start_mutual();
  ck_assert_int_eq(tikv_mock_tls(m), 2);
  mc_tls_t c = good_client();
  for (int p = 1; p <= 2; p++) {
    Pdpb__GetMembersResponse *r = NULL;
    ck_assert_msg(get_members(&c, tikv_mock_pd_member_address(m, p), &r) == 0, "member %d: %s", p,
                  details);
    ck_assert_uint_eq(r->n_members, 2);
    for (size_t i = 0; i < r->n_members; i++) { /* PD advertises https:// once TLS is on */
      char url[128];
      snprintf(url, sizeof(url), "https://%s", tikv_mock_pd_member_address(m, (int)i + 1));
      ck_assert_uint_eq(r->members[i]->n_client_urls, 1);
      ck_assert_str_eq(r->members[i]->client_urls[0], url);
      ck_assert_str_eq(r->members[i]->peer_urls[0], url);
    }
    ck_assert_str_eq(r->leader->client_urls[0], r->members[0]->client_urls[0]);
    FREE(r);
  }
  /* stores: host:port, as TiKV's addresses are; each serves TLS */
  for (uint64_t s = 1; s <= 3; s++)
    ck_assert_ptr_null(strstr(tikv_mock_store_address(m, s), "://"));
  ck_assert_msg(raw_round_trip(&c, "k") == 0, "raw over mutual TLS: %s", details);
  /* the server certificate names localhost too */
  c.target_name = "localhost";
  ck_assert_msg(raw_round_trip(&c, "k") == 0, "as localhost: %s", details);
}
END_TEST

START_TEST(mutual_tls_tso_stream) {
  m = start_mutual();
  mc_tls_t c = good_client();
  const tikv__req_info_t *ri = tikv__req(TIKV__REQ_PD_TSO);
  mc_stream_t *s = mc_stream_open_tls(&c, tikv_mock_pd_address(m), ri->path, TIMEOUT_MS);
  Pdpb__RequestHeader h = PDPB__REQUEST_HEADER__INIT;
  h.cluster_id = tikv_mock_cluster_id(m);
  Pdpb__TsoRequest q = PDPB__TSO_REQUEST__INIT;
  q.header = &h;
  q.count = 3;
  Pdpb__TsoResponse *r = NULL;
  ck_assert_int_eq(mc_stream_roundtrip(s, &q.base, ri->resp, (ProtobufCMessage **)&r), 0);
  ck_assert_uint_eq(r->count, 3);
  ck_assert_int_gt(r->timestamp->physical, 0);
  FREE(r);
  ck_assert_int_eq(mc_stream_close(s, details, sizeof(details)), GRPC_STATUS_OK);
}
END_TEST

START_TEST(mutual_tls_refuses_a_client_without_certificate) {
  m = start_mutual();
  mc_tls_t c = {t.ca, NULL, NULL, NULL};
  refused_everywhere(&c, "no client certificate");
}
END_TEST

START_TEST(mutual_tls_refuses_another_cas_certificate) {
  m = start_mutual();
  mc_tls_t c = {t.ca, t.other_client_cert, t.other_client_key, NULL};
  refused_everywhere(&c, "a client certificate of another CA");
}
END_TEST

START_TEST(client_of_another_ca_refuses_the_server) {
  m = start_mutual();
  mc_tls_t c = {t.other_ca, t.client_cert, t.client_key, NULL};
  refused_everywhere(&c, "the client trusts another CA");
}
END_TEST

START_TEST(plaintext_against_tls_fails) {
  m = start_mutual();
  refused_everywhere(NULL, "plaintext client");
}
END_TEST

START_TEST(server_certificate_checked_against_the_host_name) {
  m = start_mutual();
  mc_tls_t c = good_client();
  c.target_name = "wrong-host.invalid"; /* not in the server certificate's SANs */
  refused_everywhere(&c, "a host name the server certificate does not name");
  tikv_mock_cluster_stop(m);
  /* and a server whose certificate names another host */
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.tls_cert_pem = t.wrong_host_cert;
  o.tls_key_pem = t.wrong_host_key;
  m = tikv_mock_cluster_start(&o, NULL, 0);
  ck_assert_ptr_nonnull(m);
  c.target_name = NULL;
  refused_everywhere(&c, "a server certificate for another host");
}
END_TEST

/* ---- TLS without client certificates, from files ---- */
static tikv_mock_cluster_t *start_from_files(const char *cert, const char *key, const char *ca,
                                             char *err, size_t errlen) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = 2;
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  o.tls_ca_file = ca;
  return tikv_mock_cluster_start(&o, err, errlen);
}

START_TEST(server_tls_from_files) {
  char err[512];
  m = start_from_files(t.path.server_cert, t.path.server_key, NULL, err, sizeof(err));
  ck_assert_msg(m != NULL, "start: %s", err);
  ck_assert_int_eq(tikv_mock_tls(m), 1);
  mc_tls_t c = {t.ca, NULL, NULL, NULL}; /* no client certificate needed */
  ck_assert_msg(raw_round_trip(&c, "a") == 0, "%s", details);
  Pdpb__GetMembersResponse *r = NULL;
  ck_assert_int_eq(get_members(&c, tikv_mock_pd_address(m), &r), 0);
  ck_assert_ptr_nonnull(strstr(r->members[0]->client_urls[0], "https://"));
  FREE(r);
  refused_everywhere(NULL, "plaintext client, server-only TLS");
}
END_TEST

START_TEST(restarted_servers_serve_tls_again) {
  m = start_mutual();
  mc_tls_t c = good_client();
  uint64_t s = tikv_mock_region_leader_store(m, tikv_mock_region_id_at(m, 0));
  ck_assert_int_eq(tikv_mock_store_set_down(m, s, 1), 0);
  ck_assert_int_eq(tikv_mock_store_set_down(m, s, 0), 0);
  ck_assert_int_eq(tikv_mock_pd_member_set_down(m, 2, 1), 0);
  ck_assert_int_eq(tikv_mock_pd_member_set_down(m, 2, 0), 0);
  ck_assert_msg(raw_round_trip(&c, "k") == 0, "after a restart: %s", details);
  Pdpb__GetMembersResponse *r = NULL;
  ck_assert_msg(get_members(&c, tikv_mock_pd_member_address(m, 2), &r) == 0, "%s", details);
  FREE(r);
  refused_everywhere(NULL, "plaintext after restarts");
}
END_TEST

START_TEST(plaintext_is_the_default) {
  m = tikv_mock_cluster_start(NULL, NULL, 0);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(tikv_mock_tls(m), 0);
  Pdpb__GetMembersResponse *r = NULL;
  ck_assert_int_eq(get_members(NULL, tikv_mock_pd_address(m), &r), 0);
  ck_assert_ptr_nonnull(strstr(r->members[0]->client_urls[0], "http://"));
  FREE(r);
  mc_tls_t c = good_client(); /* TLS against a plaintext server fails too */
  ck_assert_int_eq(get_members(&c, tikv_mock_pd_address(m), &r), GRPC_STATUS_UNAVAILABLE);
  fprintf(stderr, "check_mock_tls: TLS client, plaintext server: UNAVAILABLE \"%s\"\n", details);
}
END_TEST

/* Each refused start names what is wrong. */
static void start_fails(const char *cert, const char *key, const char *ca, const char *want) {
  char err[512] = "";
  tikv_mock_cluster_t *c = start_from_files(cert, key, ca, err, sizeof(err));
  ck_assert_msg(c == NULL, "started with bad material (%s)", want);
  ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" does not say \"%s\"", err, want);
}

START_TEST(bad_material_fails_the_start) {
  start_fails(t.path.server_cert, NULL, NULL, "TLS needs both a certificate and its key");
  start_fails(NULL, t.path.server_key, NULL, "TLS needs both a certificate and its key");
  start_fails(NULL, NULL, t.path.ca, "a TLS CA needs the servers' certificate and key too");
  start_fails("/nonexistent/server.pem", t.path.server_key, NULL,
              "cannot read the TLS certificate file /nonexistent/server.pem");
  start_fails(t.path.server_cert, t.path.server_key, "/nonexistent/ca.pem",
              "cannot read the TLS CA file /nonexistent/ca.pem");
  /* a key that is not the certificate's: gRPC refuses it when listening */
  start_fails(t.path.server_cert, t.path.client_key, NULL, "with TLS");
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.tls_cert_pem = "not a certificate";
  o.tls_key_pem = t.server_key;
  char err[256];
  ck_assert_ptr_null(tikv_mock_cluster_start(&o, err, sizeof(err)));
  ck_assert_str_eq(err, "the TLS certificate is not PEM (no \"-----BEGIN \" line)");
}
END_TEST

static Suite *tls_suite(void) {
  Suite *s = suite_create("mock_tls");
  TCase *tc = tcase_create("tls");
  tcase_add_unchecked_fixture(tc, make_material, free_material);
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, mutual_tls_serves_a_client_of_its_ca);
  tcase_add_test(tc, mutual_tls_tso_stream);
  tcase_add_test(tc, mutual_tls_refuses_a_client_without_certificate);
  tcase_add_test(tc, mutual_tls_refuses_another_cas_certificate);
  tcase_add_test(tc, client_of_another_ca_refuses_the_server);
  tcase_add_test(tc, plaintext_against_tls_fails);
  tcase_add_test(tc, server_certificate_checked_against_the_host_name);
  tcase_add_test(tc, server_tls_from_files);
  tcase_add_test(tc, restarted_servers_serve_tls_again);
  tcase_add_test(tc, plaintext_is_the_default);
  tcase_add_test(tc, bad_material_fails_the_start);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(tls_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
