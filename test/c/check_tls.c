/* The client over TLS, against the mock serving it: raw and transactional
 * operations over mutual TLS (PEM texts and files, several stores and
 * regions, injected region errors), every way a handshake can fail and the
 * error each gives, the material checked at configuration, https:// and
 * http:// endpoints, and rotated certificates picked up by connections made
 * after the files changed. The certificates are made at test time
 * (util_tls.c, with the openssl command). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tikv/mock.h"
#include "tikv/tikv.h"
#include "util_tls.h"

static util_tls_t t; /* made once for the suite (unchecked fixture) */
static tikv_mock_cluster_t *m;
static tikv_client_t *c;
static char msg[2048]; /* the last failure's message */

#define K(s) (const uint8_t *)(s), strlen(s)

static void make_material(void) {
  char err[512];
  if (util_tls_make(&t, err, sizeof(err))) {
    fprintf(stderr, "check_tls: %s\n", err);
    abort(); /* no material, no test: never a silent skip */
  }
}
static void free_material(void) { util_tls_free(&t); }

static tikv_mock_cluster_t *start(const char *cert, const char *key, const char *ca, int stores,
                                  int regions) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.stores = stores;
  o.regions = regions;
  o.tls_cert_pem = cert;
  o.tls_key_pem = key;
  o.tls_ca_pem = ca;
  char err[512];
  tikv_mock_cluster_t *x = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(x != NULL, "mock: %s", err);
  return x;
}

static void teardown(void) {
  tikv_client_free(c);
  c = NULL;
  tikv_mock_cluster_stop(m);
  m = NULL;
}

/* The code of a finished future (destroyed), its message in msg. */
static int code_of(tikv_future_t *f) {
  int code = tikv_future_wait(f);
  snprintf(msg, sizeof(msg), "%s", code ? tikv_error_message(tikv_future_get_error(f)) : "");
  tikv_future_destroy(f);
  return code;
}

/* A configuration for m's PD (scheme "https://", "http://" or ""); the
 * caller adds TLS. */
static tikv_config_t *config_for(const char *scheme, uint32_t timeout_ms) {
  tikv_config_t *cfg = tikv_config_new();
  char ep[300];
  snprintf(ep, sizeof(ep), "%s%s", scheme, tikv_mock_pd_address(m));
  ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, ep), TIKV_ERR_OK);
  ck_assert_int_eq(tikv_config_set_timeout_ms(cfg, timeout_ms), TIKV_ERR_OK);
  return cfg;
}

/* TLS from PEM texts (cert/key NULL: none). */
static void pem(tikv_config_t *cfg, const char *ca, const char *cert, const char *key) {
  int rc = tikv_config_set_tls(cfg, ca, ca ? strlen(ca) : 0, cert, cert ? strlen(cert) : 0, key,
                               key ? strlen(key) : 0);
  ck_assert_msg(rc == TIKV_ERR_OK, "set_tls: %s", tikv_config_error(cfg));
}

/* A client of cfg (freed) and the code of its connect. */
static int connect_with(tikv_config_t *cfg) {
  int err;
  c = tikv_client_new(cfg, &err);
  tikv_config_free(cfg);
  ck_assert_ptr_nonnull(c);
  return code_of(tikv_client_connect(c));
}

static void put_ok(const char *k, const char *v) {
  ck_assert_msg(code_of(tikv_raw_put(c, K(k), K(v), 0, NULL)) == 0, "put %s: %s", k, msg);
}

static int get_code(const char *k, const char *want) {
  tikv_future_t *f = tikv_raw_get(c, K(k), NULL);
  int code = tikv_future_wait(f);
  if (!code && want) {
    const uint8_t *v;
    size_t n;
    ck_assert_int_eq(tikv_future_get_value(f, &v, &n), 1);
    ck_assert_mem_eq(v, want, strlen(want));
  }
  snprintf(msg, sizeof(msg), "%s", code ? tikv_error_message(tikv_future_get_error(f)) : "");
  tikv_future_destroy(f);
  return code;
}

/* One transaction: put each key = "t" + key, commit; then read them back. */
static void txn_round_trip(const char *const *keys, size_t n) {
  int err;
  tikv_txn_t *x = tikv_txn_new(c, NULL, &err);
  ck_assert_int_eq(code_of(tikv_txn_begin(x, NULL)), 0);
  for (size_t i = 0; i < n; i++) {
    char v[64];
    snprintf(v, sizeof(v), "t%s", keys[i]);
    ck_assert_int_eq(code_of(tikv_txn_put(x, K(keys[i]), K(v), NULL)), 0);
  }
  ck_assert_msg(code_of(tikv_txn_commit(x, NULL)) == 0, "commit: %s", msg);
  tikv_txn_free(x);
  x = tikv_txn_new(c, NULL, &err);
  ck_assert_int_eq(code_of(tikv_txn_begin(x, NULL)), 0);
  for (size_t i = 0; i < n; i++) {
    tikv_future_t *f = tikv_txn_get(x, K(keys[i]), NULL);
    ck_assert_int_eq(tikv_future_wait(f), 0);
    const uint8_t *v;
    size_t vl;
    ck_assert_int_eq(tikv_future_get_value(f, &v, &vl), 1);
    ck_assert_uint_eq(vl, strlen(keys[i]) + 1);
    ck_assert_mem_eq(v + 1, keys[i], vl - 1);
    tikv_future_destroy(f);
  }
  tikv_txn_free(x);
}

/* ---- operations over mutual TLS ---- */

static const char *const KEYS[] = {"apple", "banana", "cherry", "kiwi", "mango", "pear", "zebra"};
#define N_KEYS (sizeof(KEYS) / sizeof(KEYS[0]))

/* Raw writes, reads and a scan over every region, then transactions, all
 * through NotLeader and EpochNotMatch on the way. */
static void exercise(void) {
  for (size_t i = 0; i < N_KEYS; i++) put_ok(KEYS[i], KEYS[i]);
  uint64_t region = tikv_mock_region_for_key(m, K("mango"));
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawGet", region, "not_leader", 2), 0);
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "RawScan", 0, "epoch_not_match", 1), 0);
  for (size_t i = 0; i < N_KEYS; i++) ck_assert_int_eq(get_code(KEYS[i], KEYS[i]), 0);
  tikv_future_t *f = tikv_raw_scan(c, K(""), NULL, 0, 100, 0, 0, NULL);
  ck_assert_int_eq(tikv_future_wait(f), 0);
  const tikv_kv_t *kvs;
  size_t n;
  ck_assert_int_eq(tikv_future_get_kvs(f, &kvs, &n), 0);
  ck_assert_uint_eq(n, N_KEYS);
  tikv_future_destroy(f);
  ck_assert_int_eq(tikv_mock_inject_region_error(m, "KvPrewrite", 0, "not_leader", 1), 0);
  txn_round_trip(KEYS, N_KEYS);
}

START_TEST(mutual_tls_from_pem_text) {
  m = start(t.server_cert, t.server_key, t.ca, 3, 8);
  ck_assert_int_eq(tikv_mock_tls(m), 2);
  tikv_config_t *cfg = config_for("https://", 10000);
  pem(cfg, t.ca, t.client_cert, t.client_key);
  ck_assert_msg(connect_with(cfg) == 0, "connect: %s", msg);
  ck_assert_uint_eq(tikv_client_cluster_id(c), tikv_mock_cluster_id(m));
  exercise();
}
END_TEST

START_TEST(mutual_tls_from_files) {
  m = start(t.server_cert, t.server_key, t.ca, 3, 8);
  tikv_config_t *cfg = config_for("", 10000);
  ck_assert_int_eq(tikv_config_set_tls_files(cfg, t.path.ca, t.path.client_cert, t.path.client_key),
                   0);
  ck_assert_msg(connect_with(cfg) == 0, "connect: %s", msg);
  exercise();
}
END_TEST

/* A server that verifies no client certificate: the CA alone will do. */
START_TEST(server_only_tls) {
  m = start(t.server_cert, t.server_key, NULL, 2, 4);
  ck_assert_int_eq(tikv_mock_tls(m), 1);
  tikv_config_t *cfg = config_for("https://", 10000);
  pem(cfg, t.ca, NULL, NULL);
  ck_assert_msg(connect_with(cfg) == 0, "connect: %s", msg);
  put_ok("k", "v");
  ck_assert_int_eq(get_code("k", "v"), 0);
}
END_TEST

/* ---- handshakes that fail: each ends the connect with its error ---- */

/* The server's certificate is not signed by the CA the client trusts: TLS
 * at once, not a wait for the deadline. */
START_TEST(server_certificate_not_signed_by_the_ca) {
  m = start(t.server_cert, t.server_key, t.ca, 1, 1);
  tikv_config_t *cfg = config_for("https://", 20000);
  pem(cfg, t.other_ca, t.client_cert, t.client_key);
  ck_assert_int_eq(connect_with(cfg), TIKV_ERR_TLS);
  ck_assert_msg(strstr(msg, "certificate verify failed"), "%s", msg);
}
END_TEST

/* The certificate names another host than the address dialled. */
START_TEST(host_name_not_in_the_certificate) {
  m = start(t.wrong_host_cert, t.wrong_host_key, t.ca, 1, 1);
  tikv_config_t *cfg = config_for("https://", 20000);
  pem(cfg, t.ca, t.client_cert, t.client_key);
  ck_assert_int_eq(connect_with(cfg), TIKV_ERR_TLS);
  ck_assert_msg(strstr(msg, "Hostname Verification Check failed"), "%s", msg);
}
END_TEST

START_TEST(tls_against_a_plaintext_cluster) {
  m = start(NULL, NULL, NULL, 1, 1);
  tikv_config_t *cfg = config_for("https://", 20000);
  pem(cfg, t.ca, t.client_cert, t.client_key);
  ck_assert_int_eq(connect_with(cfg), TIKV_ERR_TLS);
  ck_assert_msg(strstr(msg, "wrong version number"), "%s", msg);
}
END_TEST

/* What the server refuses (a client certificate of another CA, none, or
 * plaintext) it refuses by closing the connection: the client cannot tell
 * that from a server going away, so it retries until the deadline, and the
 * TIMEOUT names the cause with a hint. */
static void refused(const char *cert, const char *key, bool tls, const char *hint) {
  m = start(t.server_cert, t.server_key, t.ca, 1, 1);
  tikv_config_t *cfg = config_for(tls ? "https://" : "", 1500);
  if (tls) pem(cfg, t.ca, cert, key);
  ck_assert_int_eq(connect_with(cfg), TIKV_ERR_TIMEOUT);
  ck_assert_msg(strstr(msg, "Socket closed") && strstr(msg, hint), "%s", msg);
}

START_TEST(client_certificate_of_another_ca) {
  refused(t.other_client_cert, t.other_client_key, true, "trust the client certificate");
}
END_TEST

START_TEST(no_client_certificate_for_mutual_tls) {
  refused(NULL, NULL, true, "trust the client certificate");
}
END_TEST

START_TEST(plaintext_against_a_tls_cluster) {
  refused(NULL, NULL, false, "require TLS");
}
END_TEST

/* An operation meets a failing handshake too: the store's connection is
 * made after the CA file changed to one that did not sign its certificate. */
static char dir[400], ca_path[500], cert_path[500], key_path[500];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fputs(text, f) >= 0, 1);
  ck_assert_int_eq(fclose(f), 0);
}

/* The client's own copies of the material, to be rotated. */
static void client_files(const char *ca, const char *cert, const char *key) {
  snprintf(dir, sizeof(dir), "%s/rotate-XXXXXX", t.dir);
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
  snprintf(cert_path, sizeof(cert_path), "%s/client.pem", dir);
  snprintf(key_path, sizeof(key_path), "%s/client.key", dir);
  write_file(ca_path, ca);
  write_file(cert_path, cert);
  write_file(key_path, key);
}

static void remove_client_files(void) {
  unlink(ca_path);
  unlink(cert_path);
  unlink(key_path);
  rmdir(dir);
}

/* Gets k until its code is `want` (gRPC reads the files again every
 * TIKV_TLS_REFRESH_SECONDS): the attempts it took, or fails after 100. */
static int get_until(const char *k, int want) {
  for (int i = 1; i <= 100; i++) {
    if (get_code(k, NULL) == want) return i;
    usleep(100 * 1000);
  }
  ck_abort_msg("get %s never gave %s; last: %s", k, tikv_err_name(want), msg);
  return 0;
}

/* Connections made after the files changed use the new material, the
 * connection already up keeps the old one: a store restarted after the CA
 * file was replaced by one that did not sign it fails its operations with
 * TLS; the right CA back, they succeed again, without a new client. */
START_TEST(rotated_files_are_used_by_new_connections) {
  m = start(t.server_cert, t.server_key, t.ca, 1, 1);
  client_files(t.ca, t.client_cert, t.client_key);
  tikv_config_t *cfg = config_for("https://", 3000);
  ck_assert_int_eq(tikv_config_set_tls_files(cfg, ca_path, cert_path, key_path), 0);
  ck_assert_msg(connect_with(cfg) == 0, "connect: %s", msg);
  put_ok("k", "v");
  write_file(ca_path, t.other_ca);
  /* the connection up is not renegotiated: still served */
  ck_assert_int_eq(get_code("k", "v"), 0);
  /* a new connection, once gRPC has read the new file, is refused: the
   * store restarts until one is (one made before gRPC read it is served) */
  int code = 0;
  for (int i = 0; i < 100 && code != TIKV_ERR_TLS; i++) {
    ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 1), 0);
    ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 0), 0);
    if ((code = get_code("k", NULL)) != TIKV_ERR_TLS) usleep(100 * 1000);
  }
  ck_assert_msg(code == TIKV_ERR_TLS && strstr(msg, "certificate verify failed"), "%s: %s",
                tikv_err_name(code), msg);
  write_file(ca_path, t.ca);
  get_until("k", TIKV_ERR_OK);
  remove_client_files();
}
END_TEST

/* A store found down whose health check then fails its TLS handshake (it
 * came back, but the CA file was rotated to one that did not sign it) is
 * not waited for: requests go to it again and fail with TLS at once, not
 * with TIMEOUT after waiting for a check that cannot pass. */
START_TEST(a_store_refusing_the_handshake_is_not_waited_for) {
  m = start(t.server_cert, t.server_key, t.ca, 1, 1);
  client_files(t.ca, t.client_cert, t.client_key);
  tikv_config_t *cfg = config_for("https://", 3000);
  ck_assert_int_eq(tikv_config_set_tls_files(cfg, ca_path, cert_path, key_path), 0);
  ck_assert_msg(connect_with(cfg) == 0, "connect: %s", msg);
  put_ok("k", "v");
  write_file(ca_path, t.other_ca);
  usleep((TIKV_TLS_REFRESH_SECONDS * 1000 + 200) * 1000); /* gRPC has read the new file */
  /* the store stops: a get fails at transport level, the store is marked
   * down and its health check starts, failing while it is down */
  ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 1), 0);
  int code = get_code("k", NULL);
  ck_assert_msg(code == TIKV_ERR_TIMEOUT || code == TIKV_ERR_UNAVAILABLE, "%s: %s",
                tikv_err_name(code), msg);
  /* back: the check's new connection fails the handshake */
  ck_assert_int_eq(tikv_mock_store_set_down(m, 1, 0), 0);
  get_until("k", TIKV_ERR_TLS);
  ck_assert_msg(strstr(msg, "certificate verify failed"), "%s", msg);
  write_file(ca_path, t.ca);
  get_until("k", TIKV_ERR_OK);
  remove_client_files();
}
END_TEST

/* A connect that failed for a CA file that did not sign the servers'
 * certificates succeeds, on the same client, once the file holds the CA. */
START_TEST(a_rotated_ca_file_lets_connect_succeed) {
  m = start(t.server_cert, t.server_key, t.ca, 1, 1);
  client_files(t.other_ca, t.client_cert, t.client_key);
  tikv_config_t *cfg = config_for("https://", 3000);
  ck_assert_int_eq(tikv_config_set_tls_files(cfg, ca_path, cert_path, key_path), 0);
  ck_assert_int_eq(connect_with(cfg), TIKV_ERR_TLS);
  write_file(ca_path, t.ca);
  int code = TIKV_ERR_TLS;
  for (int i = 0; i < 100 && code; i++) {
    if ((code = code_of(tikv_client_connect(c)))) usleep(100 * 1000);
  }
  ck_assert_msg(code == 0, "connect after rotation: %s", msg);
  put_ok("k", "v");
  remove_client_files();
}
END_TEST

/* ---- the material and the endpoints, checked before anything is sent ---- */

static int set_pem(tikv_config_t *cfg, const char *ca, const char *cert, const char *key) {
  return tikv_config_set_tls(cfg, ca, ca ? strlen(ca) : 0, cert, cert ? strlen(cert) : 0, key,
                             key ? strlen(key) : 0);
}

static void refuses(int rc, tikv_config_t *cfg, const char *why) {
  ck_assert_int_eq(rc, TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(tikv_config_error(cfg), why), "'%s' lacks '%s'", tikv_config_error(cfg),
                why);
}

START_TEST(material_is_checked_when_set) {
  tikv_config_t *cfg = tikv_config_new();
  refuses(set_pem(cfg, t.ca, t.other_client_cert, t.client_key), cfg,
          "the TLS client key does not match the client certificate");
  refuses(set_pem(cfg, "not a certificate", NULL, NULL), cfg,
          "the TLS CA holds no PEM certificate");
  refuses(set_pem(cfg, t.ca, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                  t.client_key),
          cfg, "the TLS client certificate does not parse");
  refuses(set_pem(cfg, t.ca, t.client_cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                              "-----END PRIVATE KEY-----\n"),
          cfg, "the TLS client key does not parse");
  refuses(set_pem(cfg, t.ca, t.client_cert, NULL), cfg, "a TLS client certificate needs its key");
  refuses(set_pem(cfg, t.ca, NULL, t.client_key), cfg, "a TLS client key needs its certificate");
  refuses(set_pem(cfg, NULL, t.client_cert, t.client_key), cfg, "TLS needs the CA");
  refuses(tikv_config_set_tls(cfg, t.ca, strlen(t.ca) + 1, NULL, 0, NULL, 0), cfg,
          "the TLS CA holds a NUL byte");
  refuses(tikv_config_set_tls_files(cfg, "/nonexistent/ca.pem", NULL, NULL), cfg,
          "cannot read the TLS CA file /nonexistent/ca.pem: No such file or directory");
  refuses(tikv_config_set_tls_files(cfg, t.path.ca, t.path.server_cert, t.path.client_key), cfg,
          "the TLS client key file");
  refuses(tikv_config_set_tls_files(cfg, t.path.client_key, NULL, NULL), cfg,
          "the TLS CA file");
  /* a good setting afterwards clears the reason */
  ck_assert_int_eq(set_pem(cfg, t.ca, t.client_cert, t.client_key), TIKV_ERR_OK);
  ck_assert_str_eq(tikv_config_error(cfg), "");
  tikv_config_free(cfg);
}
END_TEST

/* TLS and the endpoints' schemes must agree: https:// without TLS is not
 * spoken in plaintext, http:// with TLS is not a downgrade. */
START_TEST(schemes_must_agree_with_tls) {
  m = start(NULL, NULL, NULL, 1, 1);
  tikv_config_t *cfg = config_for("https://", 2000);
  ck_assert_int_eq(connect_with(cfg), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "https:// PD endpoint needs TLS"), "%s", msg);
  ck_assert_uint_eq(tikv_mock_pd_call_count(m, "GetMembers"), 0); /* nothing sent */
  tikv_client_free(c);
  cfg = config_for("http://", 2000);
  pem(cfg, t.ca, NULL, NULL);
  ck_assert_int_eq(connect_with(cfg), TIKV_ERR_INVALID_ARGUMENT);
  ck_assert_msg(strstr(msg, "http:// PD endpoint with TLS"), "%s", msg);
  tikv_client_free(c);
  cfg = config_for("http://", 2000); /* plaintext with http:// is fine */
  ck_assert_msg(connect_with(cfg) == 0, "connect: %s", msg);
}
END_TEST

/* PD members advertise https:// URLs under TLS; the client follows them
 * (with the same credentials) to the leader. */
START_TEST(pd_members_learned_over_tls) {
  tikv_mock_options_t o;
  tikv_mock_options_init(&o);
  o.pd_members = 3;
  o.tls_cert_pem = t.server_cert;
  o.tls_key_pem = t.server_key;
  o.tls_ca_pem = t.ca;
  char err[512];
  m = tikv_mock_cluster_start(&o, err, sizeof(err));
  ck_assert_msg(m != NULL, "%s", err);
  /* a follower first: its GetMembers names the leader by an https:// URL */
  int follower = tikv_mock_pd_leader(m) == 1 ? 2 : 1;
  tikv_config_t *cfg = tikv_config_new();
  char ep[300];
  snprintf(ep, sizeof(ep), "https://%s", tikv_mock_pd_member_address(m, follower));
  ck_assert_int_eq(tikv_config_add_pd_endpoint(cfg, ep), 0);
  pem(cfg, t.ca, t.client_cert, t.client_key);
  ck_assert_msg(connect_with(cfg) == 0, "connect: %s", msg);
  put_ok("k", "v");
  ck_assert_int_eq(get_code("k", "v"), 0);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("tls");
  TCase *ops = tcase_create("operations");
  tcase_add_unchecked_fixture(ops, make_material, free_material);
  tcase_add_checked_fixture(ops, NULL, teardown);
  tcase_set_timeout(ops, 60);
  tcase_add_test(ops, mutual_tls_from_pem_text);
  tcase_add_test(ops, mutual_tls_from_files);
  tcase_add_test(ops, server_only_tls);
  tcase_add_test(ops, pd_members_learned_over_tls);
  suite_add_tcase(s, ops);
  TCase *fail = tcase_create("failures");
  tcase_add_unchecked_fixture(fail, make_material, free_material);
  tcase_add_checked_fixture(fail, NULL, teardown);
  tcase_set_timeout(fail, 60);
  tcase_add_test(fail, server_certificate_not_signed_by_the_ca);
  tcase_add_test(fail, host_name_not_in_the_certificate);
  tcase_add_test(fail, tls_against_a_plaintext_cluster);
  tcase_add_test(fail, client_certificate_of_another_ca);
  tcase_add_test(fail, no_client_certificate_for_mutual_tls);
  tcase_add_test(fail, plaintext_against_a_tls_cluster);
  tcase_add_test(fail, material_is_checked_when_set);
  tcase_add_test(fail, schemes_must_agree_with_tls);
  suite_add_tcase(s, fail);
  TCase *rot = tcase_create("rotation");
  tcase_add_unchecked_fixture(rot, make_material, free_material);
  tcase_add_checked_fixture(rot, NULL, teardown);
  tcase_set_timeout(rot, 60);
  tcase_add_test(rot, rotated_files_are_used_by_new_connections);
  tcase_add_test(rot, a_store_refusing_the_handshake_is_not_waited_for);
  tcase_add_test(rot, a_rotated_ca_file_lets_connect_succeed);
  suite_add_tcase(s, rot);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
