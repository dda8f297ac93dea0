/* The fuzz targets' seed corpora and their names (make fuzz):
 *   fuzz_seeds --list      the targets, one a line
 *   fuzz_seeds DIR         DIR/<target>/seed-<n> for every target: its valid
 *                          replies, every field set, each field alone */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util_replies.h"

typedef struct {
  const char *dir;
  int n;
} out_t;

static void write_seed(void *ctx, const uint8_t *data, size_t len) {
  out_t *o = ctx;
  char path[4096];
  snprintf(path, sizeof(path), "%s/seed-%03d", o->dir, o->n++);
  FILE *f = fopen(path, "wb");
  if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s --list | DIR\n", argv[0]);
    return 2;
  }
  for (size_t i = 0; i < N_REPLY_TARGETS; i++) {
    if (!strcmp(argv[1], "--list")) {
      printf("%s\n", REPLY_TARGETS[i].name);
      continue;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", argv[1], REPLY_TARGETS[i].name);
    if (mkdir(argv[1], 0755) && errno != EEXIST) return perror(argv[1]), 1;
    if (mkdir(dir, 0755) && errno != EEXIST) return perror(dir), 1;
    out_t o = {dir, 0};
    reply_target_seeds(&REPLY_TARGETS[i], write_seed, &o);
  }
  return 0;
}
