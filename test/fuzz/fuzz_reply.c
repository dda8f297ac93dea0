/* One libFuzzer target per reply type: built once per target of
 * test/c/util_replies.c with -DFUZZ_TARGET="<name>" (make fuzz). Each input
 * is decoded as every reply of the target's requests, checked as the client
 * checks it and, when it passes, used as the client uses it; a crash, a
 * sanitizer report or an abort (a use finding what the check should have
 * refused) is a finding. */
#include <stdio.h>
#include <stdlib.h>

#include "util_replies.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=\"<name of a target of util_replies.c>\""
#endif

static const reply_target_t *target;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  target = reply_target(FUZZ_TARGET);
  if (!target) {
    fprintf(stderr, "no reply target %s\n", FUZZ_TARGET);
    abort();
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reply_target_run(target, data, size);
  return 0;
}
