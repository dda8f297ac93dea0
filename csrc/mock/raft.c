/* Stores failing as Raft groups do (see tikv_mock_store_set_down in
 * mock.h): a store going down leaves the regions it leads without a leader
 * until an election on their other peers, after the raft election delay.
 * The data is one copy; peers differ only in who may answer (tikv.c's
 * mock_check_context asks r->electing and r->leader). Elections run on the
 * loop thread, under m->mu, from one timer set to the earliest one due. */
#include <stdio.h>

#include "mock/mvcc.h"

#define DEFAULT_RAFT_ELECTION_MS 10000 /* TiKV: raft-election-timeout-ticks 10 x 1 s */

bool mock_store_is_down(const mock_cluster_t *m, uint64_t store_id) {
  return store_id >= 1 && store_id <= (uint64_t)m->nstores && m->stores[store_id - 1].down;
}

static int live_peers(const mock_cluster_t *m, const mock_region_t *r) {
  int n = 0;
  for (int i = 0; i < r->npeers; i++) n += !mock_store_is_down(m, r->peer_store[i]);
  return n;
}

static void raft_election_fire(void *arg);

/* Sets the timer to the earliest election due. */
static void schedule(mock_cluster_t *m) {
  int64_t next = INT64_MAX;
  for (int i = 0; i < m->nregions; i++)
    if (m->regions[i]->electing && m->regions[i]->election_at < next)
      next = m->regions[i]->election_at;
  if (next == INT64_MAX) {
    tikv__timer_cancel(m->loop, &m->raft_election);
    return;
  }
  int64_t delay = next - tikv__now_ms();
  tikv__timer_start(m->loop, &m->raft_election, delay > 0 ? delay : 0, raft_election_fire, m);
}

/* The election of one region: with a majority of its peers' stores up, the
 * next live peer after the old leader wins; without, it waits for a store
 * to come back. */
static void elect(mock_cluster_t *m, mock_region_t *r) {
  if (live_peers(m, r) * 2 <= r->npeers) {
    r->election_at = INT64_MAX;
    return;
  }
  for (int k = 1; k <= r->npeers; k++) {
    int i = (r->leader + k) % r->npeers;
    if (!mock_store_is_down(m, r->peer_store[i])) {
      r->leader = i;
      break;
    }
  }
  r->electing = false;
  if (m->opts.verbose)
    fprintf(stderr, "tikv-mock: region %llu elected a leader on store %llu\n",
            (unsigned long long)r->id, (unsigned long long)r->peer_store[r->leader]);
}

static void raft_election_fire(void *arg) {
  mock_cluster_t *m = arg;
  pthread_mutex_lock(&m->mu);
  int64_t now = tikv__now_ms();
  for (int i = 0; i < m->nregions; i++)
    if (m->regions[i]->electing && m->regions[i]->election_at <= now) elect(m, m->regions[i]);
  schedule(m);
  pthread_mutex_unlock(&m->mu);
}

static int64_t election_at(const mock_cluster_t *m) {
  return tikv__now_ms() + (m->raft_election_ms ? m->raft_election_ms : DEFAULT_RAFT_ELECTION_MS);
}

void mock_raft_store_down(mock_cluster_t *m, uint64_t store_id) {
  for (int i = 0; i < m->nregions; i++) {
    mock_region_t *r = m->regions[i];
    if (r->electing || r->peer_store[r->leader] != store_id) continue;
    r->electing = true;
    r->election_at = election_at(m);
  }
  schedule(m);
}

void mock_raft_store_up(mock_cluster_t *m, uint64_t store_id) {
  for (int i = 0; i < m->nregions; i++) {
    mock_region_t *r = m->regions[i];
    if (!r->electing) continue;
    if (r->peer_store[r->leader] == store_id)
      r->electing = false; /* back before anyone campaigned: still the leader */
    else if (r->election_at == INT64_MAX)
      r->election_at = election_at(m); /* a quorum again: a campaign can win */
  }
  schedule(m);
}

/* ---- public API ---- */
typedef struct store_op {
  uint64_t store_id;
  int down;
  char err[256];
} store_op;

static int store_down_task(mock_cluster_t *m, void *arg) {
  store_op *op = arg;
  mock_store_t *st = &m->stores[op->store_id - 1];
  if (op->down) {
    pthread_mutex_lock(&m->mu);
    bool was = st->down;
    st->down = true;
    mv_waiters_flush(m->mvcc, st->id);
    if (!was) mock_raft_store_down(m, st->id);
    pthread_mutex_unlock(&m->mu);
    mock_server_stop(&st->srv);
    return 0;
  }
  if (st->srv.running && !st->srv.stopping) return 0;
  if (mock_server_start(&st->srv, m->host, st->srv.port, op->err, sizeof(op->err))) return -1;
  pthread_mutex_lock(&m->mu);
  st->down = false;
  mock_raft_store_up(m, st->id);
  pthread_mutex_unlock(&m->mu);
  return 0;
}

int tikv_mock_store_set_down(tikv_mock_cluster_t *m, uint64_t store_id, int down) {
  if (store_id < 1 || store_id > (uint64_t)m->nstores) return -1;
  store_op op = {store_id, down, ""};
  if (mock_on_loop(m, store_down_task, &op)) return -1;
  /* wait until the server is gone, so that the port is free for a restart */
  if (down && !tikv__loop_on_thread(m->loop))
    mock_server_wait_stopped(&m->stores[store_id - 1].srv);
  return 0;
}

int tikv_mock_store_set_serving(tikv_mock_cluster_t *m, uint64_t store_id, int serving) {
  if (store_id < 1 || store_id > (uint64_t)m->nstores) return -1;
  pthread_mutex_lock(&m->mu);
  m->stores[store_id - 1].not_serving = !serving;
  pthread_mutex_unlock(&m->mu);
  return 0;
}

int tikv_mock_transfer_leader(tikv_mock_cluster_t *m, uint64_t region_id, uint64_t store_id) {
  pthread_mutex_lock(&m->mu);
  mock_region_t *r = mock_region_by_id(m, region_id);
  int rc = -1;
  for (int i = 0; r && i < r->npeers && !mock_store_is_down(m, store_id); i++)
    if (r->peer_store[i] == store_id) {
      r->leader = i;
      r->electing = false;
      rc = 0;
    }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

int tikv_mock_region_has_leader(tikv_mock_cluster_t *m, uint64_t region_id) {
  pthread_mutex_lock(&m->mu);
  mock_region_t *r = mock_region_by_id(m, region_id);
  int rc = r ? !r->electing : -1;
  pthread_mutex_unlock(&m->mu);
  return rc;
}

void tikv_mock_set_raft_election_ms(tikv_mock_cluster_t *m, uint32_t ms) {
  pthread_mutex_lock(&m->mu);
  m->raft_election_ms = ms;
  pthread_mutex_unlock(&m->mu);
}
