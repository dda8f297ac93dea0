/* The mock's PD service: members, TSO, regions, stores, ids, GC safe points.
 * Behaviour follows tikv/pd server/grpc_service.go: every request but
 * GetMembers / GetClusterInfo must reach the leader (a follower fails it
 * with UNAVAILABLE "not leader"; region queries may be served by a follower
 * when the caller allows it) and carry the cluster id (else gRPC
 * FAILED_PRECONDITION "mismatch cluster id, need X but got Y"). Who leads
 * is members.c's business. */
#include <stdio.h>
#include <time.h>

#include "mock/mvcc.h"

/* A unary PD method: fills its response (initialised, in the arena, with
 * the cluster's header) with m->mu held. */
typedef void (*pd_fn)(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp);

/* Who may answer a method (PD's unaryMiddleware / unaryFollowerMiddleware). */
typedef enum {
  PD_ANY,           /* any member, no cluster id needed (GetMembers, GetClusterInfo) */
  PD_LEADER,        /* the leader; a follower answers "not leader" */
  PD_FOLLOWER_READ, /* the leader, or a follower when the caller allows follower handling */
} pd_role;

typedef struct pd_method {
  tikv__req_id req;
  pd_role role; /* PD_LEADER / PD_FOLLOWER_READ also need the cluster id */
  pd_fn fn;
} pd_method;

/* PD's follower-handle metadata key (pkg/utils/grpcutil). */
#define FOLLOWER_HANDLE_KEY "pd-allow-follower-handle"

static Pdpb__ResponseHeader *header(mock_cluster_t *m, mock_arena_t *a) {
  Pdpb__ResponseHeader *h = MOCK_NEW(a, Pdpb__ResponseHeader, PDPB__RESPONSE_HEADER__INIT);
  h->cluster_id = m->cluster_id;
  return h;
}

static Pdpb__ResponseHeader *error_header(mock_cluster_t *m, mock_arena_t *a, Pdpb__ErrorType type,
                                          const char *msg) {
  Pdpb__ResponseHeader *h = header(m, a);
  h->error = MOCK_NEW(a, Pdpb__Error, PDPB__ERROR__INIT);
  h->error->type = type;
  h->error->message = mock_arena_printf(a, "%s", msg);
  return h;
}

static const Pdpb__RequestHeader *request_header(const ProtobufCMessage *req) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(req->descriptor, 1);
  if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE ||
      f->descriptor != &pdpb__request_header__descriptor)
    return NULL;
  return *(const Pdpb__RequestHeader *const *)((const char *)req + f->offset);
}

/* Every PD response has its ResponseHeader as field 1. */
static Pdpb__ResponseHeader **response_header(ProtobufCMessage *resp) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(resp->descriptor, 1);
  if (!f || f->descriptor != &pdpb__response_header__descriptor) abort();
  return (Pdpb__ResponseHeader **)((char *)resp + f->offset);
}

static int64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A member's URLs: https:// when the cluster serves TLS, as PD's do. */
static Pdpb__Member *member(mock_cluster_t *m, mock_arena_t *a, const mock_pd_member_t *p) {
  Pdpb__Member *mb = MOCK_NEW(a, Pdpb__Member, PDPB__MEMBER__INIT);
  mb->name = mock_arena_printf(a, "%s", p->name);
  mb->member_id = p->id;
  char **urls = mock_arena_alloc(a, sizeof(char *));
  urls[0] = mock_arena_printf(a, "%s://%s", m->tls_cert ? "https" : "http", p->address);
  mb->n_peer_urls = 1;
  mb->peer_urls = urls;
  mb->n_client_urls = 1;
  mb->client_urls = urls;
  mb->binary_version = "6.5.0";
  mb->dc_location = "global";
  return mb;
}

/* ---- handlers ---- */
/* Every member, as etcd lists them (killed ones too), and the leader (none
 * during an election); any member answers. */
static void get_members(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  Pdpb__GetMembersResponse *r = resp;
  r->n_members = (size_t)m->npd;
  r->members = mock_arena_alloc(a, (size_t)m->npd * sizeof(Pdpb__Member *));
  for (int i = 0; i < m->npd; i++) {
    r->members[i] = member(m, a, m->pd[i]);
    if (mock_pd_is_leader(m, m->pd[i])) r->leader = r->etcd_leader = r->members[i];
  }
}

static void get_cluster_info(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  Pdpb__GetClusterInfoResponse *r = resp;
  r->n_servicemodes = 1;
  r->servicemodes = mock_arena_alloc(a, sizeof(*r->servicemodes));
  r->servicemodes[0] = PDPB__SERVICE_MODE__PD_SVC_MODE;
}

static void is_bootstrapped(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  Pdpb__IsBootstrappedResponse *r = resp;
  r->bootstrapped = 1;
}

static void alloc_id(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  const Pdpb__AllocIDRequest *q = req;
  Pdpb__AllocIDResponse *r = resp;
  uint32_t count = q->count ? q->count : 1;
  r->id = mock_alloc_id(m);
  for (uint32_t i = 1; i < count; i++) r->id = mock_alloc_id(m);
  r->count = q->count;
}

static void get_cluster_config(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  Pdpb__GetClusterConfigResponse *r = resp;
  r->cluster = MOCK_NEW(a, Metapb__Cluster, METAPB__CLUSTER__INIT);
  r->cluster->id = m->cluster_id;
  r->cluster->max_peer_count = MOCK_MAX_PEERS;
}

static Metapb__Store *store_meta(mock_cluster_t *m, mock_arena_t *a, const mock_store_t *s) {
  Metapb__Store *ms = MOCK_NEW(a, Metapb__Store, METAPB__STORE__INIT);
  ms->id = s->id;
  ms->address = (char *)s->address;
  ms->peer_address = (char *)s->address;
  ms->state = METAPB__STORE_STATE__Up;
  ms->node_state = METAPB__NODE_STATE__Serving;
  ms->version = "6.5.0";
  ms->start_timestamp = m->start_unix;
  ms->last_heartbeat = unix_ms() * 1000000;
  return ms;
}

static void get_store(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  const Pdpb__GetStoreRequest *q = req;
  Pdpb__GetStoreResponse *r = resp;
  if (q->store_id < 1 || q->store_id > (uint64_t)m->nstores) {
    r->header = error_header(
        m, a, PDPB__ERROR_TYPE__UNKNOWN,
        mock_arena_printf(a, "invalid store ID %llu, not found", (unsigned long long)q->store_id));
    return;
  }
  r->store = store_meta(m, a, &m->stores[q->store_id - 1]);
}

static void get_all_stores(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  Pdpb__GetAllStoresResponse *r = resp;
  r->n_stores = (size_t)m->nstores;
  r->stores = mock_arena_alloc(a, (size_t)m->nstores * sizeof(Metapb__Store *));
  for (int i = 0; i < m->nstores; i++) r->stores[i] = store_meta(m, a, &m->stores[i]);
}

/* The answer of the region queries: the region and its leader (no region:
 * both absent, as PD answers). */
static void region_response(mock_arena_t *a, Pdpb__GetRegionResponse *r, const mock_region_t *reg) {
  if (!reg) return;
  r->region = mock_region_meta(a, reg);
  r->leader = mock_region_leader_peer(a, reg);
}

static void get_region(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  const Pdpb__GetRegionRequest *q = req;
  int i = mock_region_index_for_key(m, q->region_key.data, q->region_key.len);
  region_response(a, resp, m->regions[i]);
}

/* PD's regionTree.searchPrev: the region before the one containing the key
 * (whether the key is that region's start or inside it), if adjacent. */
static void get_prev_region(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  const Pdpb__GetRegionRequest *q = req;
  int i = mock_region_index_for_key(m, q->region_key.data, q->region_key.len);
  region_response(a, resp, i > 0 ? m->regions[i - 1] : NULL);
}

static void get_region_by_id(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  const Pdpb__GetRegionByIDRequest *q = req;
  region_response(a, resp, mock_region_by_id(m, q->region_id));
}

static void scan_regions(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  const Pdpb__ScanRegionsRequest *q = req;
  Pdpb__ScanRegionsResponse *r = resp;
  int i = mock_region_index_for_key(m, q->start_key.data, q->start_key.len);
  size_t cap = (size_t)(m->nregions - i);
  r->region_metas = mock_arena_alloc(a, cap * sizeof(void *));
  r->leaders = mock_arena_alloc(a, cap * sizeof(void *));
  r->regions = mock_arena_alloc(a, cap * sizeof(void *));
  size_t n = 0;
  for (; i < m->nregions; i++) {
    mock_region_t *reg = m->regions[i];
    if (q->limit > 0 && n >= (size_t)q->limit) break;
    if (q->end_key.len &&
        tikv__key_cmp(reg->start.data, reg->start.len, q->end_key.data, q->end_key.len) >= 0)
      break;
    Metapb__Region *meta = mock_region_meta(a, reg);
    Metapb__Peer *leader = mock_region_leader_peer(a, reg);
    Pdpb__Region *pr = MOCK_NEW(a, Pdpb__Region, PDPB__REGION__INIT);
    pr->region = meta;
    pr->leader = leader;
    r->region_metas[n] = meta;
    r->leaders[n] = leader;
    r->regions[n] = pr;
    n++;
  }
  r->n_region_metas = r->n_leaders = r->n_regions = n;
}

static void get_gc_safe_point(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  Pdpb__GetGCSafePointResponse *r = resp;
  r->safe_point = m->gc_safe_point;
}

static void update_gc_safe_point(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  const Pdpb__UpdateGCSafePointRequest *q = req;
  Pdpb__UpdateGCSafePointResponse *r = resp;
  if (q->safe_point > m->gc_safe_point) { /* only forward */
    m->gc_safe_point = q->safe_point;
    /* what TiKV's GC (compaction filter) does once it sees the new point */
    mv_gc(m->mvcc, m->gc_safe_point);
  }
  r->new_safe_point = m->gc_safe_point;
}

static mock_service_sp_t *min_service_sp(mock_cluster_t *m, int64_t now) {
  mock_service_sp_t *min = NULL;
  for (mock_service_sp_t **pp = &m->service_sps; *pp;) {
    mock_service_sp_t *s = *pp;
    if (s->expire_at <= now) { /* expired: PD drops it */
      *pp = s->next;
      free(s->service_id);
      free(s);
      continue;
    }
    if (!min || s->safe_point < min->safe_point) min = s;
    pp = &s->next;
  }
  return min;
}

static void service_sp_remove(mock_cluster_t *m, const char *sid) {
  for (mock_service_sp_t **pp = &m->service_sps; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->service_id, sid) == 0) {
      mock_service_sp_t *s = *pp;
      *pp = s->next;
      free(s->service_id);
      free(s);
      return;
    }
}

/* The service's safe point, created when new; NULL on OOM. */
static mock_service_sp_t *service_sp_get(mock_cluster_t *m, const char *sid) {
  mock_service_sp_t *s = m->service_sps;
  while (s && strcmp(s->service_id, sid) != 0) s = s->next;
  if (s) return s;
  if (!(s = tikv__calloc(1, sizeof(*s))) || !(s->service_id = tikv__strdup(sid))) {
    free(s);
    return NULL;
  }
  s->next = m->service_sps;
  m->service_sps = s;
  return s;
}

/* PD's UpdateServiceGCSafePoint: ttl <= 0 removes the service; a safe point
 * below the current minimum is refused unless it is the minimum's own
 * service. The answer is the minimum after the update. */
static void update_service_gc_safe_point(mock_cluster_t *m, mock_arena_t *a, const void *req,
                                         void *resp) {
  const Pdpb__UpdateServiceGCSafePointRequest *q = req;
  Pdpb__UpdateServiceGCSafePointResponse *r = resp;
  int64_t now = (int64_t)time(NULL);
  char *sid = mock_arena_dup(a, q->service_id.data, q->service_id.len);
  mock_service_sp_t *min = min_service_sp(m, now);
  if (q->ttl <= 0) {
    service_sp_remove(m, sid);
    min = min_service_sp(m, now);
  } else if (!min || q->safe_point >= min->safe_point || strcmp(min->service_id, sid) == 0) {
    mock_service_sp_t *s = service_sp_get(m, sid);
    if (s) {
      s->safe_point = q->safe_point;
      s->expire_at = q->ttl > INT64_MAX - now ? INT64_MAX : now + q->ttl;
    }
    min = min_service_sp(m, now);
  }
  if (min) {
    r->service_id.data = (uint8_t *)mock_arena_printf(a, "%s", min->service_id);
    r->service_id.len = strlen(min->service_id);
    r->ttl = min->expire_at == INT64_MAX ? INT64_MAX : min->expire_at - now;
    r->min_safe_point = min->safe_point;
  }
}

/* PD's KeyspaceServer.LoadKeyspace (server/keyspace_service.go): by name, in
 * any state (refusing a disabled keyspace is the client's business); an
 * unknown name answers ENTRY_NOT_FOUND in the header and no keyspace. */
#define KEYSPACE_NOT_FOUND "[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist"
static void load_keyspace(mock_cluster_t *m, mock_arena_t *a, const void *req, void *resp) {
  const Keyspacepb__LoadKeyspaceRequest *q = req;
  Keyspacepb__LoadKeyspaceResponse *r = resp;
  const mock_keyspace_t *k = mock_keyspace_by_name(m, q->name);
  if (!k) {
    r->header = error_header(m, a, PDPB__ERROR_TYPE__ENTRY_NOT_FOUND, KEYSPACE_NOT_FOUND);
    return;
  }
  Keyspacepb__KeyspaceMeta *meta =
      MOCK_NEW(a, Keyspacepb__KeyspaceMeta, KEYSPACEPB__KEYSPACE_META__INIT);
  meta->keyspace_case = KEYSPACEPB__KEYSPACE_META__KEYSPACE_ID;
  meta->id = k->id;
  meta->name = mock_arena_printf(a, "%s", k->name);
  meta->state = (Keyspacepb__KeyspaceState)k->state;
  meta->created_at = k->created_at;
  meta->state_changed_at = k->state_changed_at;
  r->keyspace = meta;
}

/* The request's cluster id: 0, or the call failed as PD fails it. */
static int check_cluster_id(mock_call_t *c, uint64_t got) {
  mock_cluster_t *m = c->srv->m;
  if (got == m->cluster_id) return 0;
  mock_call_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "mismatch cluster id, need %llu but got %llu",
                 (unsigned long long)m->cluster_id, (unsigned long long)got);
  return -1;
}

/* ---- TSO (bidirectional stream) ----
 * PD checks the cluster id, then asks its allocator, which refuses on a
 * member that does not lead; the stream ends with that error. */
static void tso_message(mock_call_t *c, const uint8_t *data, size_t len) {
  mock_cluster_t *m = c->srv->m;
  Pdpb__TsoRequest *q = (Pdpb__TsoRequest *)mock_call_unpack(c, data, len);
  if (!q) return;
  uint64_t got = q->header ? q->header->cluster_id : 0;
  uint32_t count = q->count;
  pdpb__tso_request__free_unpacked(q, NULL);
  if (check_cluster_id(c, got)) return;
  pthread_mutex_lock(&m->mu);
  bool leads = mock_pd_is_leader(m, mock_pd_member_of(c->srv));
  pthread_mutex_unlock(&m->mu);
  if (!leads) {
    mock_call_fail(c, GRPC_STATUS_UNKNOWN,
                   "[PD:tso:ErrGenerateTimestamp]generate timestamp failed, requested pd is not "
                   "leader of cluster");
    return;
  }
  if (count == 0) {
    mock_call_fail(c, GRPC_STATUS_UNKNOWN, "tso count should be positive");
    return;
  }
  pthread_mutex_lock(&m->mu);
  int64_t now = unix_ms();
  if (now > m->tso_physical) {
    m->tso_physical = now;
    m->tso_logical = 0;
  }
  if (m->tso_logical + (int64_t)count >= (int64_t)1 << 18) { /* logical overflow: next ms */
    m->tso_physical++;
    m->tso_logical = 0;
  }
  m->tso_logical += count;
  Pdpb__Timestamp ts = PDPB__TIMESTAMP__INIT;
  ts.physical = m->tso_physical;
  ts.logical = m->tso_logical;
  Pdpb__ResponseHeader h = PDPB__RESPONSE_HEADER__INIT;
  h.cluster_id = m->cluster_id;
  pthread_mutex_unlock(&m->mu);
  Pdpb__TsoResponse r = PDPB__TSO_RESPONSE__INIT;
  r.header = &h;
  r.count = count;
  r.timestamp = &ts;
  mock_call_reply_msg(c, &r.base);
}

/* ---- unary dispatch ---- */
static const pd_method pd_methods[] = {
    {TIKV__REQ_PD_GET_MEMBERS, PD_ANY, get_members},
    {TIKV__REQ_PD_GET_CLUSTER_INFO, PD_ANY, get_cluster_info},
    {TIKV__REQ_PD_IS_BOOTSTRAPPED, PD_LEADER, is_bootstrapped},
    {TIKV__REQ_PD_ALLOC_ID, PD_LEADER, alloc_id},
    {TIKV__REQ_PD_GET_CLUSTER_CONFIG, PD_LEADER, get_cluster_config},
    {TIKV__REQ_PD_GET_STORE, PD_LEADER, get_store},
    {TIKV__REQ_PD_GET_ALL_STORES, PD_LEADER, get_all_stores},
    {TIKV__REQ_PD_GET_REGION, PD_FOLLOWER_READ, get_region},
    {TIKV__REQ_PD_GET_PREV_REGION, PD_FOLLOWER_READ, get_prev_region},
    {TIKV__REQ_PD_GET_REGION_BY_ID, PD_FOLLOWER_READ, get_region_by_id},
    {TIKV__REQ_PD_SCAN_REGIONS, PD_FOLLOWER_READ, scan_regions},
    {TIKV__REQ_PD_GET_GC_SAFE_POINT, PD_LEADER, get_gc_safe_point},
    {TIKV__REQ_PD_UPDATE_GC_SAFE_POINT, PD_LEADER, update_gc_safe_point},
    {TIKV__REQ_PD_UPDATE_SERVICE_GC_SAFE_POINT, PD_LEADER, update_service_gc_safe_point},
    {TIKV__REQ_PD_LOAD_KEYSPACE, PD_LEADER, load_keyspace}, /* validateRequest: the leader's */
};

static const pd_method *find(int req) {
  for (size_t i = 0; i < sizeof(pd_methods) / sizeof(pd_methods[0]); i++)
    if ((int)pd_methods[i].req == req) return &pd_methods[i];
  return NULL;
}

/* PD's validateRoleInRequest: the member's role, then the cluster id. 0,
 * or the call failed. */
static int check_role(mock_call_t *c, const pd_method *pm, const ProtobufCMessage *req) {
  if (pm->role == PD_ANY) return 0;
  mock_cluster_t *m = c->srv->m;
  pthread_mutex_lock(&m->mu);
  bool leads = mock_pd_is_leader(m, mock_pd_member_of(c->srv));
  pthread_mutex_unlock(&m->mu);
  if (!leads && pm->role == PD_LEADER) {
    mock_call_fail(c, GRPC_STATUS_UNAVAILABLE, "not leader");
    return -1;
  }
  if (!leads && !mock_call_has_metadata(c, FOLLOWER_HANDLE_KEY)) {
    mock_call_fail(c, GRPC_STATUS_UNAVAILABLE, "not leader and follower handling not allowed");
    return -1;
  }
  const Pdpb__RequestHeader *h = request_header(req);
  return check_cluster_id(c, h ? h->cluster_id : 0);
}

static void pd_unary(mock_call_t *c, const uint8_t *data, size_t len) {
  const pd_method *pm = find(c->req);
  mock_cluster_t *m = c->srv->m;
  ProtobufCMessage *req = mock_call_unpack(c, data, len);
  if (!req) return;
  if (check_role(c, pm, req)) {
    protobuf_c_message_free_unpacked(req, NULL);
    return;
  }
  mock_arena_t a = {0};
  const ProtobufCMessageDescriptor *rd = tikv__req(pm->req)->resp;
  ProtobufCMessage *resp = mock_arena_alloc(&a, rd->sizeof_message);
  protobuf_c_message_init(rd, resp);
  pthread_mutex_lock(&m->mu);
  *response_header(resp) = header(m, &a);
  pm->fn(m, &a, req, resp);
  pthread_mutex_unlock(&m->mu);
  mock_call_reply_msg(c, resp);
  mock_arena_free(&a);
  protobuf_c_message_free_unpacked(req, NULL);
}

mock_msg_fn mock_pd_route(int req) {
  if (req == TIKV__REQ_PD_TSO) return tso_message;
  return find(req) ? pd_unary : NULL;
}
