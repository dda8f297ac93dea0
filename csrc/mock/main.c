/* tikv-mock-server: the mock cluster as a process.
 *   tikv-mock-server [--stores N] [--regions N] [--enable-ttl] [--host H]
 *                    [--pd-port P] [--verbose]
 * Prints "PD host:port" on stdout once listening, the stores on stderr, and
 * runs until SIGINT or SIGTERM (exit 0). */
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tikv/mock.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: tikv-mock-server [options]\n"
          "  --stores N      TiKV stores (default 3)\n"
          "  --regions N     pre-split regions (default 1)\n"
          "  --enable-ttl    accept raw TTLs (TiKV's storage.enable-ttl)\n"
          "  --host H        listen address (default 127.0.0.1)\n"
          "  --pd-port P     PD port (default: any free port)\n"
          "  --verbose       log unimplemented methods and injected faults\n"
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

int main(int argc, char **argv) {
  tikv_mock_options_t opts;
  tikv_mock_options_init(&opts);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
#define NEED_ARG()                                                \
  do {                                                            \
    if (i + 1 >= argc) {                                          \
      fprintf(stderr, "tikv-mock-server: %s needs a value\n", a); \
      return 2;                                                   \
    }                                                             \
  } while (0)
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--stores")) {
      NEED_ARG();
      opts.stores = parse_int(argv[++i], "--stores", 1, 64);
    } else if (!strcmp(a, "--regions")) {
      NEED_ARG();
      opts.regions = parse_int(argv[++i], "--regions", 1, 62 * 62 + 1);
    } else if (!strcmp(a, "--enable-ttl")) {
      opts.enable_ttl = 1;
    } else if (!strcmp(a, "--host")) {
      NEED_ARG();
      opts.host = argv[++i];
    } else if (!strcmp(a, "--pd-port")) {
      NEED_ARG();
      opts.pd_port = parse_int(argv[++i], "--pd-port", 0, 65535);
    } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
      opts.verbose = 1;
    } else {
      fprintf(stderr, "tikv-mock-server: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
#undef NEED_ARG
  }

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
  printf("PD %s\n", tikv_mock_pd_address(m));
  fflush(stdout);
  for (int s = 1; s <= tikv_mock_store_count(m); s++)
    fprintf(stderr, "store %d %s\n", s, tikv_mock_store_address(m, (uint64_t)s));
  fprintf(stderr, "regions %d%s\n", tikv_mock_region_count(m),
          opts.enable_ttl ? ", ttl enabled" : "");

  while (sem_wait(&stop_sem) != 0 && errno == EINTR) {
  }
  fprintf(stderr, "tikv-mock-server: %s, stopping\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  tikv_mock_cluster_stop(m);
  return 0;
}
