/* API v2: the keyspace a client works in, loaded from PD at connect
 * (keyspacepb.Keyspace/LoadKeyspace by name, as client-go's
 * NewCodecPDClientWithKeyspace does). Only an ENABLED keyspace is used. */
#include <stdio.h>

#include "client/client.h"

typedef struct {
  tikv_client_t *c;
  void (*cb)(void *arg, tikv_error_t *err);
  void *arg;
  Keyspacepb__LoadKeyspaceRequest q;
} load_t;

static const char *name_of(const tikv_client_t *c) {
  return c->cfg.keyspace[0] ? c->cfg.keyspace : "DEFAULT";
}

static const char *state_name(int state) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&keyspacepb__keyspace_state__descriptor, state);
  return v ? v->name : "UNKNOWN";
}

/* The keyspace PD answered with, or why it cannot be used. */
static tikv_error_t *take(tikv_client_t *c, const Keyspacepb__LoadKeyspaceResponse *r) {
  const Keyspacepb__KeyspaceMeta *k = r->keyspace;
  const char *name = name_of(c);
  if (!k || k->keyspace_case != KEYSPACEPB__KEYSPACE_META__KEYSPACE_ID || !k->name ||
      strcmp(k->name, name) != 0)
    return tikv__error_new(TIKV_ERR_PROTOCOL,
                           "LoadKeyspace: PD answered without keyspace '%s' or its id", name);
  if (k->id > TIKV__KEYSPACE_ID_MAX)
    return tikv__error_new(TIKV_ERR_PROTOCOL, "LoadKeyspace: keyspace '%s' has id %u, over 3 bytes",
                           name, k->id);
  if (k->state != KEYSPACEPB__KEYSPACE_STATE__ENABLED)
    return tikv__error_new(TIKV_ERR_INVALID_ARGUMENT,
                           "keyspace '%s' is %s: only an ENABLED keyspace can be used", name,
                           state_name(k->state));
  tikv__apicodec_set_keyspace(&c->router.codec, k->id);
  return NULL;
}

static void loaded(void *arg, tikv_error_t *err, ProtobufCMessage *msg) {
  load_t *l = arg;
  if (err && !strcmp(err->detail_kind, "ENTRY_NOT_FOUND")) {
    /* PD's ErrKeyspaceNotFound, in the header */
    tikv_error_t *e = tikv__error_new(TIKV_ERR_INVALID_ARGUMENT,
                                      "keyspace '%s' does not exist (%s)", name_of(l->c),
                                      err->message);
    tikv__error_set_kind(e, "ENTRY_NOT_FOUND");
    tikv__error_free(err);
    err = e;
  }
  if (!err) {
    err = take(l->c, (const Keyspacepb__LoadKeyspaceResponse *)msg);
    tikv__reply_free(msg);
  }
  void (*cb)(void *, tikv_error_t *) = l->cb;
  void *cb_arg = l->arg;
  free(l);
  cb(cb_arg, err);
}

void tikv__client_load_keyspace(tikv_client_t *c, tikv__scope_t *scope,
                                void (*cb)(void *arg, tikv_error_t *err), void *arg) {
  load_t *l = tikv__calloc(1, sizeof(*l));
  if (!l) {
    cb(arg, tikv__oom());
    return;
  }
  *l = (load_t){c, cb, arg, KEYSPACEPB__LOAD_KEYSPACE_REQUEST__INIT};
  l->q.name = (char *)name_of(c);
  tikv__pd_call(&c->pd, TIKV__REQ_PD_LOAD_KEYSPACE, &l->q.base, scope, loaded, l);
}
