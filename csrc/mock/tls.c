/* The mock's TLS: the certificate, key and CA every server of the cluster
 * serves with (gRPC core's SSL server credentials). Loaded once at start,
 * from PEM text or files; every server (re)start makes its credentials from
 * them, so a store or PD member that comes back serves TLS as before. */
#include <errno.h>
#include <grpc/grpc_security.h>
#include <stdio.h>

#include "mock/mock_internal.h"

#define MAX_PEM (1 << 20) /* a certificate chain is a few KB; anything past 1 MB is not one */

/* A file's whole text, NUL-terminated; NULL with err filled. */
static char *read_file(const char *what, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot read the TLS %s file %s: %s", what, path, strerror(errno));
    return NULL;
  }
  char *buf = tikv__malloc(MAX_PEM + 1);
  size_t n = buf ? fread(buf, 1, MAX_PEM + 1, f) : 0;
  bool failed = !buf || ferror(f) || n > MAX_PEM;
  fclose(f);
  if (failed) {
    snprintf(err, errlen, "cannot read the TLS %s file %s: %s", what, path,
             !buf ? "out of memory" : n > MAX_PEM ? "larger than 1 MB" : "read error");
    free(buf);
    return NULL;
  }
  buf[n] = 0;
  return buf;
}

/* One piece: the PEM text given, else the file's, else none (0). -1: err. */
static int load(const char *what, const char *pem, const char *path, char **out, char *err,
                size_t errlen) {
  *out = NULL;
  if (pem)
    *out = tikv__strdup(pem);
  else if (path && !(*out = read_file(what, path, err, errlen)))
    return -1;
  if (!pem && !path) return 0;
  if (!*out) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (!strstr(*out, "-----BEGIN ")) { /* gRPC would only say "cannot listen" */
    snprintf(err, errlen, "the TLS %s%s%s is not PEM (no \"-----BEGIN \" line)", what,
             pem ? "" : " file ", pem ? "" : path);
    return -1;
  }
  return 0;
}

void mock_tls_free(mock_cluster_t *m) {
  free(m->tls_cert);
  free(m->tls_key);
  free(m->tls_ca);
  m->tls_cert = m->tls_key = m->tls_ca = NULL;
}

int mock_tls_load(mock_cluster_t *m, const tikv_mock_options_t *o, char *err, size_t errlen) {
  if (load("certificate", o->tls_cert_pem, o->tls_cert_file, &m->tls_cert, err, errlen) ||
      load("key", o->tls_key_pem, o->tls_key_file, &m->tls_key, err, errlen) ||
      load("CA", o->tls_ca_pem, o->tls_ca_file, &m->tls_ca, err, errlen)) {
    mock_tls_free(m);
    return -1;
  }
  if (!m->tls_cert != !m->tls_key || (m->tls_ca && !m->tls_cert)) {
    snprintf(err, errlen, "%s", m->tls_ca && !m->tls_cert && !m->tls_key
                                    ? "a TLS CA needs the servers' certificate and key too"
                                    : "TLS needs both a certificate and its key");
    mock_tls_free(m);
    return -1;
  }
  return 0;
}

grpc_server_credentials *mock_tls_server_credentials(const mock_cluster_t *m) {
  if (!m->tls_cert) return grpc_insecure_server_credentials_create();
  grpc_ssl_pem_key_cert_pair pair = {m->tls_key, m->tls_cert};
  grpc_ssl_server_certificate_config *cfg =
      grpc_ssl_server_certificate_config_create(m->tls_ca, &pair, 1);
  /* with a CA, a client without a certificate it signed is refused in the handshake */
  grpc_ssl_server_credentials_options *opts =
      grpc_ssl_server_credentials_create_options_using_config(
          m->tls_ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                    : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          cfg);
  return grpc_ssl_server_credentials_create_with_options(opts);
}

int tikv_mock_tls(tikv_mock_cluster_t *m) { return !m->tls_cert ? 0 : m->tls_ca ? 2 : 1; }
