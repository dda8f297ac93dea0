/* PD as a cluster of members (see tikv_mock_pd_member_count in mock.h): each
 * member its own server, one leader, elections after the leader is killed
 * or paused, transfers, members joining. What a follower answers is pd.c's
 * business; this file only says who leads. Elections run on the loop
 * thread, under m->mu, from a timer. */
#include <stdio.h>

#include "mock/mock_internal.h"

#define DEFAULT_PD_ELECTION_MS 3000 /* PD's leader lease */

mock_pd_member_t *mock_pd_member_of(const mock_server_t *s) { return s->m->pd[s->pd_member - 1]; }

bool mock_pd_is_leader(const mock_cluster_t *m, const mock_pd_member_t *p) {
  return m->pd_leader == p->number;
}

static bool can_lead(const mock_pd_member_t *p) { return !p->down && !p->stopped; }

/* The election: the first member able to lead after the last leader, in
 * member order (PD's etcd campaign has a winner; ours is predictable). */
static void pd_election_fire(void *arg) {
  mock_cluster_t *m = arg;
  pthread_mutex_lock(&m->mu);
  for (int k = 1; m->pd_leader == 0 && k <= m->npd; k++) {
    mock_pd_member_t *p = m->pd[(m->pd_last_leader + k - 1) % m->npd];
    if (can_lead(p)) m->pd_leader = p->number;
  }
  if (m->opts.verbose) fprintf(stderr, "tikv-mock: PD election: leader %d\n", m->pd_leader);
  pthread_mutex_unlock(&m->mu);
}

static void start_election(mock_cluster_t *m) {
  if (tikv__timer_active(&m->pd_election)) return;
  uint32_t ms = m->pd_election_ms ? m->pd_election_ms : DEFAULT_PD_ELECTION_MS;
  tikv__timer_start(m->loop, &m->pd_election, ms, pd_election_fire, m);
}

void mock_pd_leader_lost(mock_cluster_t *m) {
  if (m->pd_leader == 0) return;
  m->pd_last_leader = m->pd_leader;
  m->pd_leader = 0;
  start_election(m);
}

void mock_pd_member_back(mock_cluster_t *m) {
  if (m->pd_leader == 0) start_election(m);
}

/* A new member (no server yet); NULL on OOM. m->mu held or not started. */
static mock_pd_member_t *member_new(mock_cluster_t *m) {
  mock_pd_member_t **pd = tikv__realloc(m->pd, (size_t)(m->npd + 1) * sizeof(*pd));
  if (!pd) return NULL;
  m->pd = pd;
  mock_pd_member_t *p = tikv__calloc(1, sizeof(*p));
  if (!p) return NULL;
  p->number = m->npd + 1;
  /* member 1 keeps the id a single PD always had */
  p->id = (m->cluster_id ^ 0x5044u) + (uint64_t)m->npd;
  snprintf(p->name, sizeof(p->name), "pd-%d", p->number);
  p->srv.m = m;
  p->srv.kind = MOCK_SRV_PD;
  p->srv.pd_member = p->number;
  pd[m->npd++] = p;
  return p;
}

void mock_pd_members_free(mock_cluster_t *m) {
  for (int i = 0; i < m->npd; i++) free(m->pd[i]);
  free(m->pd);
}

static int member_listen(mock_cluster_t *m, mock_pd_member_t *p, int port, char *err,
                         size_t errlen) {
  if (mock_server_start(&p->srv, m->host, port, err, errlen)) return -1;
  pthread_mutex_lock(&m->mu);
  snprintf(p->address, sizeof(p->address), "%s:%d", mock_advertised_host(m->host), p->srv.port);
  pthread_mutex_unlock(&m->mu);
  return 0;
}

int mock_pd_start(mock_cluster_t *m, char *err, size_t errlen) {
  int n = m->opts.pd_members > 0 ? m->opts.pd_members : 1;
  for (int i = 0; i < n; i++) {
    mock_pd_member_t *p = member_new(m);
    if (!p) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    if (member_listen(m, p, i == 0 ? m->opts.pd_port : 0, err, errlen)) return -1;
  }
  m->pd_leader = 1;
  m->pd_election_ms = (uint32_t)m->opts.pd_election_ms;
  return 0;
}

void mock_pd_stop(mock_cluster_t *m) {
  tikv__timer_cancel(m->loop, &m->pd_election);
  for (int i = 0; i < m->npd; i++) {
    mock_server_release_held(&m->pd[i]->srv, false);
    mock_server_stop(&m->pd[i]->srv);
  }
}

/* ---- public API ---- */
static mock_pd_member_t *member_at(tikv_mock_cluster_t *m, int member) {
  return member >= 1 && member <= m->npd ? m->pd[member - 1] : NULL;
}

int tikv_mock_pd_member_count(tikv_mock_cluster_t *m) {
  pthread_mutex_lock(&m->mu);
  int n = m->npd;
  pthread_mutex_unlock(&m->mu);
  return n;
}

const char *tikv_mock_pd_member_address(tikv_mock_cluster_t *m, int member) {
  pthread_mutex_lock(&m->mu);
  mock_pd_member_t *p = member_at(m, member);
  pthread_mutex_unlock(&m->mu);
  return p ? p->address : NULL;
}

uint64_t tikv_mock_pd_member_id(tikv_mock_cluster_t *m, int member) {
  pthread_mutex_lock(&m->mu);
  mock_pd_member_t *p = member_at(m, member);
  pthread_mutex_unlock(&m->mu);
  return p ? p->id : 0;
}

int tikv_mock_pd_leader(tikv_mock_cluster_t *m) {
  pthread_mutex_lock(&m->mu);
  int l = m->pd_leader;
  pthread_mutex_unlock(&m->mu);
  return l;
}

typedef struct member_op {
  int member, flag;
  char err[256];
} member_op;

static int set_down_task(mock_cluster_t *m, void *arg) {
  member_op *op = arg;
  pthread_mutex_lock(&m->mu);
  mock_pd_member_t *p = member_at(m, op->member);
  bool change = p && p->down != (op->flag != 0);
  if (change) p->down = op->flag != 0;
  if (change && p->down && mock_pd_is_leader(m, p)) mock_pd_leader_lost(m);
  pthread_mutex_unlock(&m->mu);
  if (!change) return p ? 0 : -1;
  if (op->flag) {
    mock_server_release_held(&p->srv, false);
    mock_server_stop(&p->srv);
    return 0;
  }
  if (p->srv.running && !p->srv.stopping) return 0;
  int rc = member_listen(m, p, p->srv.port, op->err, sizeof(op->err));
  pthread_mutex_lock(&m->mu);
  if (rc == 0)
    mock_pd_member_back(m);
  else
    p->down = true;
  pthread_mutex_unlock(&m->mu);
  return rc;
}

int tikv_mock_pd_member_set_down(tikv_mock_cluster_t *m, int member, int down) {
  member_op op = {member, down, ""};
  if (mock_on_loop(m, set_down_task, &op)) return -1;
  /* wait until the server is gone, so that the port is free for a restart */
  if (down && !tikv__loop_on_thread(m->loop)) mock_server_wait_stopped(&m->pd[member - 1]->srv);
  return 0;
}

static int pause_task(mock_cluster_t *m, void *arg) {
  member_op *op = arg;
  pthread_mutex_lock(&m->mu);
  mock_pd_member_t *p = member_at(m, op->member);
  bool resume = p && p->stopped && !op->flag;
  if (p && !p->stopped && op->flag && mock_pd_is_leader(m, p)) mock_pd_leader_lost(m);
  if (p) p->stopped = op->flag != 0;
  if (resume) mock_pd_member_back(m);
  pthread_mutex_unlock(&m->mu);
  if (resume && !mock_server_paused(&p->srv)) mock_server_release_held(&p->srv, true);
  return p ? 0 : -1;
}

int tikv_mock_pd_member_pause(tikv_mock_cluster_t *m, int member, int paused) {
  member_op op = {member, paused, ""};
  return mock_on_loop(m, pause_task, &op);
}

static int transfer_task(mock_cluster_t *m, void *arg) {
  member_op *op = arg;
  pthread_mutex_lock(&m->mu);
  mock_pd_member_t *p = member_at(m, op->member);
  int rc = p && can_lead(p) ? 0 : -1;
  if (rc == 0) {
    tikv__timer_cancel(m->loop, &m->pd_election);
    m->pd_last_leader = m->pd_leader ? m->pd_leader : m->pd_last_leader;
    m->pd_leader = p->number;
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

int tikv_mock_pd_transfer_leader(tikv_mock_cluster_t *m, int member) {
  member_op op = {member, 0, ""};
  return mock_on_loop(m, transfer_task, &op);
}

static int add_member_task(mock_cluster_t *m, void *arg) {
  member_op *op = arg;
  pthread_mutex_lock(&m->mu);
  mock_pd_member_t *p = member_new(m);
  pthread_mutex_unlock(&m->mu);
  if (!p) return -1;
  op->member = p->number;
  if (member_listen(m, p, 0, op->err, sizeof(op->err)) == 0) return 0;
  pthread_mutex_lock(&m->mu);
  p->down = true; /* listed (as PD lists a member that never came up) but dead */
  pthread_mutex_unlock(&m->mu);
  return -1;
}

int tikv_mock_pd_add_member(tikv_mock_cluster_t *m) {
  member_op op = {0, 0, ""};
  return mock_on_loop(m, add_member_task, &op) == 0 ? op.member : -1;
}

static int set_election_ms_task(mock_cluster_t *m, void *arg) {
  pthread_mutex_lock(&m->mu);
  m->pd_election_ms = *(uint32_t *)arg;
  if (tikv__timer_active(&m->pd_election)) { /* the pending one: held at the new delay */
    tikv__timer_cancel(m->loop, &m->pd_election);
    start_election(m);
  }
  pthread_mutex_unlock(&m->mu);
  return 0;
}

void tikv_mock_set_pd_election_ms(tikv_mock_cluster_t *m, uint32_t ms) {
  mock_on_loop(m, set_election_ms_task, &ms);
}

static int pd_pause_task(mock_cluster_t *m, void *arg) {
  int *paused = arg;
  pthread_mutex_lock(&m->mu);
  m->pd_all_paused = *paused != 0;
  pthread_mutex_unlock(&m->mu);
  for (int i = 0; !*paused && i < m->npd; i++)
    if (!mock_server_paused(&m->pd[i]->srv)) mock_server_release_held(&m->pd[i]->srv, true);
  return 0;
}

int tikv_mock_pd_pause(tikv_mock_cluster_t *m, int paused) {
  return mock_on_loop(m, pd_pause_task, &paused);
}
