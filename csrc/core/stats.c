/* Counters and events: see stats.h. */
#include <stdio.h>

#include "core/stats.h"

static void add(tikv__stats_t *s, int i, uint64_t v) {
  atomic_fetch_add_explicit(&s->n[i], v, memory_order_relaxed);
}

/* The region error kinds counted apart; the rest is "other". */
static int region_slot(const char *kind) {
  static const struct {
    const char *kind;
    int slot;
  } K[] = {{"not_leader", TIKV__ST_NOT_LEADER},
           {"epoch_not_match", TIKV__ST_EPOCH},
           {"server_is_busy", TIKV__ST_BUSY},
           {"region_not_found", TIKV__ST_REGION_NOT_FOUND},
           {"store_not_match", TIKV__ST_STORE_NOT_MATCH}};
  for (size_t i = 0; kind && i < sizeof(K) / sizeof(K[0]); i++)
    if (!strcmp(kind, K[i].kind)) return K[i].slot;
  return TIKV__ST_REGION_OTHER;
}

void tikv__stats_retry(tikv__stats_t *s, tikv__retry_cause cause, const tikv_error_t *err,
                       int backoff_ms) {
  if (!s) return;
  int slot;
  switch (cause) {
  case TIKV__RETRY_REGION: slot = region_slot(err ? err->detail_kind : NULL); break;
  case TIKV__RETRY_TRANSPORT: slot = TIKV__ST_TRANSPORT; break;
  case TIKV__RETRY_PD_TRANSPORT: slot = TIKV__ST_PD_TRANSPORT; break;
  case TIKV__RETRY_PD_NOT_LEADER: slot = TIKV__ST_PD_NOT_LEADER; break;
  case TIKV__RETRY_LOCK_RESOLVED:
    add(s, TIKV__ST_LOCKS_RESOLVED, backoff_ms > 0 ? (uint64_t)backoff_ms : 0);
    return;
  case TIKV__RETRY_LOCK_BACKOFF: slot = TIKV__ST_LOCK_BACKOFFS; break;
  case TIKV__STAT_PD_LEADER_CHANGE: slot = TIKV__ST_PD_LEADER_CHANGES; break;
  default: return;
  }
  add(s, slot, 1);
  if (backoff_ms > 0) add(s, TIKV__ST_BACKOFF_MS, (uint64_t)backoff_ms);
  if (cause == TIKV__RETRY_REGION && err)
    tikv__event_emit(s, TIKV_EVENT_REGION_ERROR, err->region_id, 0, "%s", err->message);
}

void tikv__event_emit(tikv__stats_t *s, tikv_event_kind kind, uint64_t region_id,
                      uint64_t store_id, const char *fmt, ...) {
  if (!s || !s->cb) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  tikv_event_t ev = {(int)kind, region_id, store_id, msg};
  s->cb(&ev, s->cb_arg);
}

void tikv__stats_read(tikv__stats_t *s, tikv_stats_t *out) {
  uint64_t v[TIKV__ST__COUNT];
  for (int i = 0; i < TIKV__ST__COUNT; i++)
    v[i] = atomic_load_explicit(&s->n[i], memory_order_relaxed);
  *out = (tikv_stats_t){
      .region_not_leader = v[TIKV__ST_NOT_LEADER],
      .region_epoch_not_match = v[TIKV__ST_EPOCH],
      .region_server_is_busy = v[TIKV__ST_BUSY],
      .region_not_found = v[TIKV__ST_REGION_NOT_FOUND],
      .region_store_not_match = v[TIKV__ST_STORE_NOT_MATCH],
      .region_other = v[TIKV__ST_REGION_OTHER],
      .tikv_transport = v[TIKV__ST_TRANSPORT],
      .pd_transport = v[TIKV__ST_PD_TRANSPORT],
      .pd_not_leader = v[TIKV__ST_PD_NOT_LEADER],
      .locks_resolved = v[TIKV__ST_LOCKS_RESOLVED],
      .lock_backoffs = v[TIKV__ST_LOCK_BACKOFFS],
      .backoff_ms = v[TIKV__ST_BACKOFF_MS],
      .pd_leader_changes = v[TIKV__ST_PD_LEADER_CHANGES],
  };
}
