/* Throwaway TLS material for tests, made at test time by test/make-tls.sh
 * (the openssl command) in a fresh temporary directory: a CA and the
 * certificates it signs for the servers (SANs 127.0.0.1 and localhost) and
 * for a client, another CA with a client certificate of its own, and a
 * server certificate for another host name. Each file is there as a path
 * and as its PEM text. */
#ifndef TIKV_TEST_UTIL_TLS_H
#define TIKV_TEST_UTIL_TLS_H

#include <stddef.h>

/* X(field, file name): the pieces make-tls.sh writes. */
#define UTIL_TLS_FILES(X)                 \
  X(ca, "ca.pem")                         \
  X(ca_key, "ca.key")                     \
  X(server_cert, "server.pem")            \
  X(server_key, "server.key")             \
  X(client_cert, "client.pem")            \
  X(client_key, "client.key")             \
  X(other_ca, "other-ca.pem")             \
  X(other_ca_key, "other-ca.key")         \
  X(other_client_cert, "other-client.pem") \
  X(other_client_key, "other-client.key") \
  X(wrong_host_cert, "wrong-host.pem")    \
  X(wrong_host_key, "wrong-host.key")

typedef struct util_tls_path {
#define UTIL_TLS_PATH(field, file) char field[300];
  UTIL_TLS_FILES(UTIL_TLS_PATH)
#undef UTIL_TLS_PATH
} util_tls_path_t;

typedef struct util_tls {
  char dir[256];        /* the temporary directory holding the files */
  util_tls_path_t path; /* t.path.ca: "<dir>/ca.pem" */
  /* the PEM text of each (NUL-terminated, owned): t.ca, t.server_cert, ... */
#define UTIL_TLS_PEM(field, file) char *field;
  UTIL_TLS_FILES(UTIL_TLS_PEM)
#undef UTIL_TLS_PEM
} util_tls_t;

/* Makes the material. 0, or -1 with err filled (no openssl, a failed
 * command); t is then empty. */
int util_tls_make(util_tls_t *t, char *err, size_t errlen);
/* Frees the PEM texts and removes the directory. */
void util_tls_free(util_tls_t *t);

#endif
