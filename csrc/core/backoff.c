/* Exponential backoff with "equal jitter", the flavour client-go uses for
 * region misses and busy servers: half the step fixed, half random. */
#include "core/core.h"

void tikv__backoff_init(tikv__backoff_t *b, int base_ms, int cap_ms) {
  b->base_ms = base_ms > 0 ? base_ms : 1;
  b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
  b->attempts = 0;
  b->last_ms = 0;
}

static unsigned rnd(void) {
  static _Thread_local unsigned s;
  if (!s) s = (unsigned)(uintptr_t)&s ^ (unsigned)tikv__now_ms() ^ 0x9e3779b9u;
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}

int tikv__backoff_next(tikv__backoff_t *b) {
  int64_t step = (int64_t)b->base_ms << (b->attempts < 20 ? b->attempts : 20);
  if (step > b->cap_ms) step = b->cap_ms;
  int half = (int)(step / 2);
  int sleep = half + (half > 0 ? (int)(rnd() % (unsigned)(half + 1)) : 0);
  if (sleep < 1) sleep = 1;
  b->attempts++;
  b->last_ms = sleep;
  return sleep;
}
