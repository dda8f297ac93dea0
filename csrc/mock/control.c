/* The control commands of tikv-mock-server --control (see control.h). Each
 * word of a command line is an argument; members are numbered 1.., "leader"
 * names the current PD leader; stores are 1..; methods are TiKV / PD method
 * names ("RawGet", "KvCommit", "*"). */
#include "mock/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 6

typedef struct command {
  const char *name;
  const char *args; /* for help */
  int nargs;        /* exactly */
  /* returns 0 (out may hold a value) or -1 */
  int (*run)(tikv_mock_cluster_t *m, char **w, char *out, size_t outlen);
} command;

/* A number in [0, max]; -1 if the word is not one. */
static long long number(const char *s, long long max) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  return errno || !*s || *end || v < 0 || v > max ? -1 : v;
}

/* A PD member: its number, or "leader". 0 if none. */
static int member(tikv_mock_cluster_t *m, const char *w) {
  if (strcmp(w, "leader") == 0) return tikv_mock_pd_leader(m);
  long long n = number(w, tikv_mock_pd_member_count(m));
  return n > 0 ? (int)n : 0;
}

static int pd_leader(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  snprintf(out, n, "%d", tikv_mock_pd_leader(m));
  return 0;
}
/* pd-kill, pd-restart, pd-pause, pd-resume, pd-transfer MEMBER|leader:
 * answers the member's number. */
static int pd_member(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  int p = member(m, w[1]);
  if (!p) return -1;
  snprintf(out, n, "%d", p);
  const char *op = w[0] + 3;
  if (!strcmp(op, "kill") || !strcmp(op, "restart"))
    return tikv_mock_pd_member_set_down(m, p, !strcmp(op, "kill"));
  if (!strcmp(op, "pause") || !strcmp(op, "resume"))
    return tikv_mock_pd_member_pause(m, p, !strcmp(op, "pause"));
  return tikv_mock_pd_transfer_leader(m, p);
}
static int pd_add(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  int p = tikv_mock_pd_add_member(m);
  if (p > 0) snprintf(out, n, "%d %s", p, tikv_mock_pd_member_address(m, p));
  return p > 0 ? 0 : -1;
}
static int store_down(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  long long s = number(w[1], tikv_mock_store_count(m));
  return s > 0 ? tikv_mock_store_set_down(m, (uint64_t)s, strcmp(w[0], "store-down") == 0) : -1;
}
static int election_ms(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  long long ms = number(w[1], 600000);
  if (ms <= 0) return -1;
  if (strcmp(w[0], "pd-election-ms") == 0)
    tikv_mock_set_pd_election_ms(m, (uint32_t)ms);
  else
    tikv_mock_set_raft_election_ms(m, (uint32_t)ms);
  return 0;
}
static int lost_reply(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  long long s = number(w[1], tikv_mock_store_count(m)), c = number(w[3], 1 << 30);
  return s >= 0 && c > 0 ? tikv_mock_inject_lost_reply(m, (uint64_t)s, w[2], (int)c) : -1;
}
/* corrupt-reply METHOD undecodable|flip|stray COUNT */
static int corrupt_reply(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  static const char *const modes[] = {"undecodable", "flip", "stray"};
  long long c = number(w[3], 1 << 30);
  for (int mode = 0; mode < 3 && c > 0; mode++)
    if (strcmp(w[2], modes[mode]) == 0) return tikv_mock_inject_corrupt_reply(m, w[1], mode, (int)c);
  return -1;
}
static int region_error(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  long long c = number(w[3], 1 << 30), r = number(w[4], (long long)(((uint64_t)1 << 62)));
  return c > 0 && r >= 0 ? tikv_mock_inject_region_error(m, w[1], (uint64_t)r, w[2], (int)c) : -1;
}
static int grpc_error(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  long long st = number(w[2], 16), c = number(w[3], 1 << 30);
  return st > 0 && c > 0 ? tikv_mock_inject_grpc_error(m, w[1], (int)st, (int)c) : -1;
}
static int latency(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  long long ms = number(w[2], 600000);
  return ms >= 0 ? tikv_mock_set_latency(m, w[1], (uint32_t)ms) : -1;
}
static int clear(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  tikv_mock_clear_faults(m);
  return 0;
}
/* keyspace-add NAME: answers its id. */
static int keyspace_add(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  int id = tikv_mock_add_keyspace(m, w[1], -1);
  if (id >= 0) snprintf(out, n, "%d", id);
  return id >= 0 ? 0 : -1;
}
/* keyspace-state NAME enabled|disabled|archived|tombstone */
static int keyspace_state(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  static const char *const states[] = {"enabled", "disabled", "archived", "tombstone"};
  for (int st = 0; st < 4; st++)
    if (strcmp(w[2], states[st]) == 0) return tikv_mock_set_keyspace_state(m, w[1], st);
  return -1;
}
static int help(tikv_mock_cluster_t *m, char **w, char *out, size_t n);

static const command commands[] = {
    {"pd-leader", "", 1, pd_leader},
    {"pd-kill", "MEMBER|leader", 2, pd_member},
    {"pd-restart", "MEMBER|leader", 2, pd_member},
    {"pd-pause", "MEMBER|leader", 2, pd_member},
    {"pd-resume", "MEMBER|leader", 2, pd_member},
    {"pd-transfer", "MEMBER|leader", 2, pd_member},
    {"pd-add", "", 1, pd_add},
    {"pd-election-ms", "MS", 2, election_ms},
    {"raft-election-ms", "MS", 2, election_ms},
    {"store-down", "STORE", 2, store_down},
    {"store-up", "STORE", 2, store_down},
    {"lost-reply", "STORE(0: any) METHOD COUNT", 4, lost_reply},
    {"corrupt-reply", "METHOD undecodable|flip|stray COUNT", 4, corrupt_reply},
    {"region-error", "METHOD KIND COUNT REGION(0: any)", 5, region_error},
    {"grpc-error", "METHOD STATUS COUNT", 4, grpc_error},
    {"latency", "METHOD MS", 3, latency},
    {"keyspace-add", "NAME", 2, keyspace_add},
    {"keyspace-state", "NAME enabled|disabled|archived|tombstone", 3, keyspace_state},
    {"clear", "", 1, clear},
    {"help", "", 1, help},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static int help(tikv_mock_cluster_t *m, char **w, char *out, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < NCOMMANDS && o < n; i++)
    o += (size_t)snprintf(out + o, n - o, "%s%s%s%s", i ? "; " : "", commands[i].name,
                          commands[i].args[0] ? " " : "", commands[i].args);
  return 0;
}

int mock_control(tikv_mock_cluster_t *m, const char *line, char *out, size_t outlen) {
  char buf[512], *w[MAX_WORDS + 1], *save = NULL;
  snprintf(buf, sizeof(buf), "%s", line);
  int nw = 0;
  for (char *t = strtok_r(buf, " \t\r\n", &save); t && nw <= MAX_WORDS;
       t = strtok_r(NULL, " \t\r\n", &save))
    w[nw++] = t;
  const command *c = NULL;
  for (size_t i = 0; nw > 0 && i < NCOMMANDS; i++)
    if (strcmp(w[0], commands[i].name) == 0) c = &commands[i];
  if (!c) {
    snprintf(out, outlen, "error: unknown command (try help)");
    return -1;
  }
  if (nw != c->nargs) {
    snprintf(out, outlen, "error: usage: %s %s", c->name, c->args);
    return -1;
  }
  char value[900] = "";
  if (c->run(m, w, value, sizeof(value))) {
    snprintf(out, outlen, "error: %s failed", c->name);
    return -1;
  }
  snprintf(out, outlen, "ok%s%s", value[0] ? " " : "", value);
  return 0;
}
