/* See util_tls.h. The material comes from the one script the JS tests use
 * too (test/make-tls.sh), found next to this file's source. */
#include "util_tls.h"

#include <dirent.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* test/c/util_tls.c -> test/make-tls.sh (relative to the build's directory,
 * the repository root, unless the compiler was given absolute paths) */
static void script_path(char *out, size_t len) {
  const char *src = __FILE__;
  const char *slash = strrchr(src, '/');
  size_t dir = slash ? (size_t)(slash - src) : 0; /* "test/c" */
  snprintf(out, len, "%.*s%s../make-tls.sh", (int)dir, src, dir ? "/" : "");
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = 0;
  fclose(f);
  return buf;
}

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[600];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(dir);
}

void util_tls_free(util_tls_t *t) {
#define FREE_PEM(field, file) free(t->field);
  UTIL_TLS_FILES(FREE_PEM)
#undef FREE_PEM
  if (t->dir[0]) remove_dir(t->dir);
  memset(t, 0, sizeof(*t));
}

int util_tls_make(util_tls_t *t, char *err, size_t errlen) {
  memset(t, 0, sizeof(*t));
  const char *tmp = getenv("TMPDIR");
  snprintf(t->dir, sizeof(t->dir), "%s/tikv-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(t->dir)) {
    snprintf(err, errlen, "mkdtemp %s failed", t->dir);
    t->dir[0] = 0;
    return -1;
  }
  char script[512];
  script_path(script, sizeof(script));
  char *argv[] = {"sh", script, t->dir, NULL};
  pid_t pid;
  int status = -1;
  if (posix_spawnp(&pid, "sh", NULL, NULL, argv, environ) != 0 || waitpid(pid, &status, 0) < 0 ||
      !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    snprintf(err, errlen, "sh %s %s failed (status %d): is openssl installed?", script, t->dir,
             status);
    util_tls_free(t);
    return -1;
  }
#define LOAD(field, file)                                                         \
  snprintf(t->path.field, sizeof(t->path.field), "%s/%s", t->dir, file);          \
  if (!(t->field = read_all(t->path.field))) {                                    \
    snprintf(err, errlen, "%s was not made (%s)", t->path.field, script);         \
    util_tls_free(t);                                                             \
    return -1;                                                                    \
  }
  UTIL_TLS_FILES(LOAD)
#undef LOAD
  return 0;
}
