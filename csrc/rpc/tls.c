/* TLS material and credentials (rpc/tls.h). The material is checked with
 * the OpenSSL that gRPC links, because gRPC itself takes any text and only
 * fails the handshake later, with a message that no longer says which piece
 * was wrong. */
#include "rpc/tls.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>

#define MAX_PEM (1 << 20) /* a certificate chain is a few KB */

enum { CA, CERT, KEY, PIECES };
static const char *const NAME[PIECES] = {"CA", "client certificate", "client key"};

/* One piece being checked: its text and how to name it in a message. */
typedef struct {
  int which;
  const char *path; /* NULL: given as text */
  char *text;       /* NUL-terminated, owned */
} piece_t;

static void say(char *why, size_t len, const piece_t *p, const char *fmt, const char *detail) {
  char what[400];
  snprintf(what, sizeof(what), "the TLS %s%s%s", NAME[p->which], p->path ? " file " : "",
           p->path ? p->path : "");
  snprintf(why, len, fmt, what, detail);
}

/* OpenSSL's reason for what just failed; its error queue is left empty (it
 * is per thread, and may be Node's). */
static const char *ssl_reason(void) {
  const char *r = ERR_reason_error_string(ERR_peek_error()); /* the first: the most specific */
  ERR_clear_error();
  return r ? r : "not PEM";
}

/* The whole file, NUL-terminated, into p->text. 0 / INVALID_ARGUMENT. */
static int read_piece(piece_t *p, char *why, size_t len) {
  FILE *f = fopen(p->path, "rb");
  if (!f) {
    char what[64];
    snprintf(what, sizeof(what), "TLS %s", NAME[p->which]);
    snprintf(why, len, "cannot read the %s file %s: %s", what, p->path, strerror(errno));
    return TIKV_ERR_INVALID_ARGUMENT;
  }
  p->text = tikv__malloc(MAX_PEM + 1);
  size_t n = p->text ? fread(p->text, 1, MAX_PEM + 1, f) : 0;
  bool bad = !p->text || ferror(f) || n > MAX_PEM;
  fclose(f);
  if (!p->text) return TIKV_ERR_NO_MEMORY;
  if (bad) {
    say(why, len, p, "%s cannot be read: %s", n > MAX_PEM ? "larger than 1 MB" : "read error");
    return TIKV_ERR_INVALID_ARGUMENT;
  }
  p->text[n] = 0;
  return 0;
}

/* The certificates of a PEM text (at least one, every one parsing): the
 * first in *leaf when leaf is not NULL. */
static int check_certs(const piece_t *p, X509 **leaf, char *why, size_t len) {
  BIO *bio = BIO_new_mem_buf(p->text, -1);
  if (!bio) return TIKV_ERR_NO_MEMORY;
  int n = 0, rc = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
    if (n++ == 0 && leaf)
      *leaf = x;
    else
      X509_free(x);
  }
  unsigned long e = ERR_peek_last_error();
  bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
  if (n == 0 || !at_end) {
    say(why, len, p, at_end ? "%s holds no PEM certificate%s" : "%s does not parse: %s",
        at_end ? "" : ssl_reason());
    rc = TIKV_ERR_INVALID_ARGUMENT;
  }
  ERR_clear_error();
  BIO_free(bio);
  return rc;
}

/* No passphrase prompt: an encrypted key fails to parse. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) { return 0; }

/* The key parses and is the certificate's. */
static int check_key(const piece_t *key, X509 *leaf, char *why, size_t len) {
  BIO *bio = BIO_new_mem_buf(key->text, -1);
  if (!bio) return TIKV_ERR_NO_MEMORY;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  int rc = 0;
  if (!k) {
    say(why, len, key, "%s does not parse (an unencrypted PEM private key): %s", ssl_reason());
    rc = TIKV_ERR_INVALID_ARGUMENT;
  } else if (X509_check_private_key(leaf, k) != 1) {
    ERR_clear_error();
    say(why, len, key, "%s does not match the client certificate%s", "");
    rc = TIKV_ERR_INVALID_ARGUMENT;
  }
  EVP_PKEY_free(k);
  return rc;
}

static int check_material(piece_t *p, char *why, size_t len) {
  X509 *leaf = NULL;
  ERR_clear_error(); /* the checks read the reasons OpenSSL queues */
  int rc = check_certs(&p[CA], NULL, why, len);
  if (!rc && p[CERT].text) rc = check_certs(&p[CERT], &leaf, why, len);
  if (!rc && leaf) rc = check_key(&p[KEY], leaf, why, len);
  X509_free(leaf);
  return rc;
}

/* p's text from the caller's bytes (a piece of len 0 is absent). */
static int take_text(piece_t *p, const char *s, size_t n, char *why, size_t len) {
  if (memchr(s, 0, n)) {
    say(why, len, p, "%s holds a NUL byte%s", "");
    return TIKV_ERR_INVALID_ARGUMENT;
  }
  return (p->text = (char *)tikv__memdup(s, n)) ? 0 : TIKV_ERR_NO_MEMORY;
}

static int shape(const char *ca, const char *cert, const char *key, char *why, size_t len) {
  const char *msg = !ca     ? "TLS needs the CA that signed the servers' certificates"
                    : !cert && key ? "a TLS client key needs its certificate"
                    : cert && !key ? "a TLS client certificate needs its key"
                                   : NULL;
  if (msg) snprintf(why, len, "%s", msg);
  return msg ? TIKV_ERR_INVALID_ARGUMENT : 0;
}

int tikv__tls_set(tikv__tls_t *t, bool files, const char *ca, size_t ca_len, const char *cert,
                  size_t cert_len, const char *key, size_t key_len, char *why, size_t whylen) {
  const char *src[PIECES] = {ca, cert, key};
  size_t n[PIECES] = {ca_len, cert_len, key_len};
  for (int i = 0; i < PIECES; i++)
    if (src[i] && (files ? !src[i][0] : n[i] == 0)) src[i] = NULL;
  int rc = shape(src[CA], src[CERT], src[KEY], why, whylen);
  piece_t p[PIECES] = {{CA}, {CERT}, {KEY}};
  for (int i = 0; !rc && i < PIECES; i++) {
    if (!src[i]) continue;
    p[i].path = files ? src[i] : NULL;
    rc = files ? read_piece(&p[i], why, whylen) : take_text(&p[i], src[i], n[i], why, whylen);
  }
  if (!rc) rc = check_material(p, why, whylen);
  tikv__tls_t next = {.on = true, .files = files};
  char **dst[PIECES] = {&next.ca, &next.cert, &next.key};
  for (int i = 0; !rc && i < PIECES; i++) {
    if (!src[i]) continue;
    /* a file is kept as its path: gRPC reads it again for each handshake */
    *dst[i] = files ? tikv__strdup(src[i]) : p[i].text;
    if (!files) p[i].text = NULL;
    if (!*dst[i]) rc = TIKV_ERR_NO_MEMORY;
  }
  for (int i = 0; i < PIECES; i++) free(p[i].text);
  if (rc == TIKV_ERR_NO_MEMORY) snprintf(why, whylen, "out of memory");
  if (rc) {
    tikv__tls_clear(&next);
    return rc;
  }
  tikv__tls_clear(t);
  *t = next;
  return 0;
}

void tikv__tls_clear(tikv__tls_t *t) {
  free(t->ca);
  free(t->cert);
  free(t->key);
  memset(t, 0, sizeof(*t));
}

int tikv__tls_copy(tikv__tls_t *dst, const tikv__tls_t *src) {
  *dst = (tikv__tls_t){.on = src->on, .files = src->files};
  const char *s[PIECES] = {src->ca, src->cert, src->key};
  char **d[PIECES] = {&dst->ca, &dst->cert, &dst->key};
  for (int i = 0; i < PIECES; i++)
    if (s[i] && !(*d[i] = tikv__strdup(s[i]))) {
      tikv__tls_clear(dst);
      return -1;
    }
  return 0;
}

static grpc_tls_certificate_provider *provider(const tikv__tls_t *t) {
  if (t->files)
    return grpc_tls_certificate_provider_file_watcher_create(t->key, t->cert, t->ca,
                                                             TIKV_TLS_REFRESH_SECONDS);
  grpc_tls_identity_pairs *pairs = NULL;
  if (t->cert) {
    if (!(pairs = grpc_tls_identity_pairs_create())) return NULL;
    grpc_tls_identity_pairs_add_pair(pairs, t->key, t->cert);
  }
  return grpc_tls_certificate_provider_static_data_create(t->ca, pairs); /* takes pairs */
}

grpc_channel_credentials *tikv__tls_credentials(const tikv__tls_t *t) {
  if (!t->on) return grpc_insecure_credentials_create();
  grpc_tls_certificate_provider *p = provider(t);
  grpc_tls_credentials_options *o = p ? grpc_tls_credentials_options_create() : NULL;
  if (!o) {
    if (p) grpc_tls_certificate_provider_release(p);
    return NULL;
  }
  grpc_tls_credentials_options_set_certificate_provider(o, p); /* o takes a reference */
  grpc_tls_certificate_provider_release(p);
  grpc_tls_credentials_options_watch_root_certs(o);
  if (t->cert) grpc_tls_credentials_options_watch_identity_key_cert_pairs(o);
  /* the chain is verified against the CA; with no verifier set, gRPC
   * checks the target's host name as well */
  grpc_tls_credentials_options_set_verify_server_cert(o, 1);
  return grpc_tls_credentials_create(o); /* takes o */
}

/* What gRPC 1.51 says when the client's side of a handshake fails. */
static const char *const HANDSHAKE_FAILURES[] = {
    "handshake failed",                      /* "Tls handshake failed: ... certificate verify failed" */
    "Hostname Verification Check failed",    /* the certificate does not name the host */
    "Custom verification check failed",
};

int tikv__tls_unavailable_code(grpc_slice details) {
  const void *d = GRPC_SLICE_START_PTR(details);
  size_t len = GRPC_SLICE_LENGTH(details);
  for (size_t i = 0; i < sizeof(HANDSHAKE_FAILURES) / sizeof(HANDSHAKE_FAILURES[0]); i++)
    if (memmem(d, len, HANDSHAKE_FAILURES[i], strlen(HANDSHAKE_FAILURES[i]))) return TIKV_ERR_TLS;
  return TIKV_ERR_UNAVAILABLE;
}

const char *tikv__tls_hint(grpc_status_code st, grpc_slice details, bool tls_on) {
  const void *d = GRPC_SLICE_START_PTR(details);
  size_t len = GRPC_SLICE_LENGTH(details);
  static const char CONNECTING[] = "failed to connect to all addresses", CLOSED[] = "Socket closed";
  if (st != GRPC_STATUS_UNAVAILABLE || !memmem(d, len, CONNECTING, sizeof(CONNECTING) - 1) ||
      !memmem(d, len, CLOSED, sizeof(CLOSED) - 1))
    return "";
  return tls_on ? " (closed while connecting: does the server trust the client certificate?)"
                : " (closed while connecting: does the server require TLS?)";
}
