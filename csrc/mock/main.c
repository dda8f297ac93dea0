/* tikv-mock-server: the mock cluster as a process.
 *   tikv-mock-server [--stores N] [--regions N] [--enable-ttl] [--host H]
 *                    [--pd-port P] [--pd N] [--pd-election-ms MS]
 *                    [--raft-election-ms MS] [--verbose]
 *                    [--tls-cert F --tls-key F [--tls-ca F]]
 *                    [--api-version 1|2] [--keyspace NAME[=ID]]...
 *                    [--control]
 * Prints "PD host:port[,host:port...]" (every PD member) on stdout once
 * listening, the members and stores on stderr, and runs until SIGINT or
 * SIGTERM (exit 0). With --control it reads fault commands from stdin, one
 * a line, and answers each on stdout (control.c; "help" lists them). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "mock/control.h"
#include "tikv/mock.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tikv-mock-server [options]\n"
          "  --stores N      TiKV stores (default 3)\n"
          "  --regions N     pre-split regions (default 1)\n"
          "  --enable-ttl    accept raw TTLs (TiKV's storage.enable-ttl)\n"
          "  --host H        listen address (default 127.0.0.1)\n"
          "  --pd-port P     PD port (default: any free port; the first member's)\n"
          "  --pd N          PD members, each on its own port, one leading (default 1)\n"
          "  --pd-election-ms MS    PD without a leader after a leader kill (default 3000)\n"
          "  --raft-election-ms MS  regions without a leader after a store kill (default 10000)\n"
          "  --tls-cert F    serve TLS with this certificate (PEM file), PD URLs https://\n"
          "  --tls-key F     the certificate's private key (PEM file)\n"
          "  --tls-ca F      require client certificates signed by this CA (PEM file)\n"
          "  --api-version N the stores' storage.api-version: 1 (default) or 2\n"
          "  --keyspace NAME[=ID]  an API v2 keyspace (several; ids from 1 when not given)\n"
          "  --verbose       log unimplemented methods and injected faults\n"
          "  --control       read fault commands from stdin, answer on stdout (try: help)\n"
          "  --help          this text\n"
          "Prints \"PD <address>\" on stdout when ready; stops on SIGINT/SIGTERM.\n");
}

/* Signals may land on any thread (gRPC starts its own): the handler only
 * posts a semaphore that main waits on. */
static sem_t stop_sem;
static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) {
  stop_signal = sig;
  sem_post(&stop_sem);
}

static int parse_int(const char *s, const char *what, int min, int max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < min || v > max) {
    fprintf(stderr, "tikv-mock-server: bad %s: %s\n", what, s);
    exit(2);
  }
  return (int)v;
}

static bool control; /* --control */

#define MAX_KEYSPACES 64
static tikv_mock_keyspace_t keyspaces[MAX_KEYSPACES];

/* --keyspace NAME[=ID] (the name ends at '='; argv is ours to cut). */
static int add_keyspace(tikv_mock_options_t *opts, char *spec) {
  if (opts->n_keyspaces == MAX_KEYSPACES) {
    fprintf(stderr, "tikv-mock-server: at most %d keyspaces\n", MAX_KEYSPACES);
    return 2;
  }
  tikv_mock_keyspace_t *k = &keyspaces[opts->n_keyspaces++];
  char *eq = strchr(spec, '=');
  k->id = -1;
  if (eq) {
    *eq = 0;
    k->id = parse_int(eq + 1, "keyspace id", 1, 0xFFFFFF);
  }
  k->name = spec;
  k->state = TIKV_MOCK_KEYSPACE_ENABLED;
  opts->keyspaces = keyspaces;
  return -1;
}

/* The options that take a string: name, where it goes. */
typedef struct str_option {
  const char *name;
  size_t offset; /* of a const char * in tikv_mock_options_t */
} str_option;
#define STR_OPT(name, field) {name, offsetof(tikv_mock_options_t, field)}
static const str_option str_options[] = {
    STR_OPT("--host", host),
    STR_OPT("--tls-cert", tls_cert_file),
    STR_OPT("--tls-key", tls_key_file),
    STR_OPT("--tls-ca", tls_ca_file),
};

/* The options that take a number: name, where it goes, its range. */
typedef struct int_option {
  const char *name;
  size_t offset; /* in tikv_mock_options_t */
  int min, max;
} int_option;
#define INT_OPT(name, field, min, max) {name, offsetof(tikv_mock_options_t, field), min, max}
static const int_option int_options[] = {
    INT_OPT("--stores", stores, 1, 64),
    INT_OPT("--regions", regions, 1, 62 * 62 + 1),
    INT_OPT("--pd-port", pd_port, 0, 65535),
    INT_OPT("--pd", pd_members, 1, 16),
    INT_OPT("--pd-election-ms", pd_election_ms, 1, 600000),
    INT_OPT("--raft-election-ms", raft_election_ms, 1, 600000),
    INT_OPT("--api-version", api_version, 1, 2),
};

/* Fills opts from the command line: -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, tikv_mock_options_t *opts) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int_option *io = NULL;
    const str_option *so = NULL;
    for (size_t k = 0; k < sizeof(int_options) / sizeof(int_options[0]); k++)
      if (!strcmp(a, int_options[k].name)) io = &int_options[k];
    for (size_t k = 0; k < sizeof(str_options) / sizeof(str_options[0]); k++)
      if (!strcmp(a, str_options[k].name)) so = &str_options[k];
    bool takes_value = io || so || !strcmp(a, "--keyspace");
    if (takes_value && i + 1 >= argc) {
      fprintf(stderr, "tikv-mock-server: %s needs a value\n", a);
      return 2;
    }
    int rc;
    if (io)
      *(int *)((char *)opts + io->offset) = parse_int(argv[++i], a, io->min, io->max);
    else if (so)
      *(const char **)((char *)opts + so->offset) = argv[++i];
    else if (!strcmp(a, "--keyspace")) {
      if ((rc = add_keyspace(opts, argv[++i])) >= 0) return rc;
    } else if (!strcmp(a, "--enable-ttl"))
      opts->enable_ttl = 1;
    else if (!strcmp(a, "--verbose") || !strcmp(a, "-v"))
      opts->verbose = 1;
    else if (!strcmp(a, "--control"))
      control = true;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "tikv-mock-server: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  return -1;
}

/* --control: commands from stdin until it closes (the cluster runs on).
 * control_mu keeps a command from running into the shutdown. */
static pthread_mutex_t control_mu = PTHREAD_MUTEX_INITIALIZER;
static tikv_mock_cluster_t *controlled;
static void *control_loop(void *arg) {
  char line[512], out[1024];
  while (fgets(line, sizeof(line), stdin)) {
    if (line[strspn(line, " \t\r\n")] == 0) continue;
    pthread_mutex_lock(&control_mu);
    if (controlled) mock_control(controlled, line, out, sizeof(out));
    pthread_mutex_unlock(&control_mu);
    if (!controlled) break;
    printf("%s\n", out);
    fflush(stdout);
  }
  return NULL;
}

/* "PD a[,b...]" on stdout (what scripts wait for), the rest on stderr. */
static void announce(tikv_mock_cluster_t *m, const tikv_mock_options_t *opts) {
  printf("PD %s", tikv_mock_pd_member_address(m, 1));
  for (int p = 2; p <= tikv_mock_pd_member_count(m); p++)
    printf(",%s", tikv_mock_pd_member_address(m, p));
  printf("\n");
  fflush(stdout);
  for (int p = 1; p <= tikv_mock_pd_member_count(m); p++)
    fprintf(stderr, "pd member %d %s%s\n", p, tikv_mock_pd_member_address(m, p),
            p == tikv_mock_pd_leader(m) ? " (leader)" : "");
  for (int s = 1; s <= tikv_mock_store_count(m); s++)
    fprintf(stderr, "store %d %s\n", s, tikv_mock_store_address(m, (uint64_t)s));
  fprintf(stderr, "regions %d%s\n", tikv_mock_region_count(m),
          opts->enable_ttl ? ", ttl enabled" : "");
  static const char *const tls[] = {"plaintext", "TLS", "mutual TLS"};
  fprintf(stderr, "%s, API v%d\n", tls[tikv_mock_tls(m)], tikv_mock_api_version(m));
  for (int k = 0; k < tikv_mock_keyspace_count(m); k++) {
    const char *name = tikv_mock_keyspace_name(m, k);
    fprintf(stderr, "keyspace %s id %d\n", name, tikv_mock_keyspace_id(m, name));
  }
}

int main(int argc, char **argv) {
  tikv_mock_options_t opts;
  tikv_mock_options_init(&opts);
  int rc = parse_args(argc, argv, &opts);
  if (rc >= 0) return rc;

  sem_init(&stop_sem, 0, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  char err[256];
  tikv_mock_cluster_t *m = tikv_mock_cluster_start(&opts, err, sizeof(err));
  if (!m) {
    fprintf(stderr, "tikv-mock-server: %s\n", err);
    return 1;
  }
  announce(m, &opts);
  controlled = m;
  pthread_t reader;
  if (control && pthread_create(&reader, NULL, control_loop, NULL) == 0) pthread_detach(reader);
  while (sem_wait(&stop_sem) != 0 && errno == EINTR) {
  }
  fprintf(stderr, "tikv-mock-server: %s, stopping\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  pthread_mutex_lock(&control_mu);
  controlled = NULL;
  pthread_mutex_unlock(&control_mu);
  tikv_mock_cluster_stop(m);
  return 0;
}
