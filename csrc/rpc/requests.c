/* The request table (see requests.h), expanded from its X-macro. */
#include "rpc/requests.h"

#include <string.h>

#define SVC_Tikv tikvpb__tikv__descriptor
#define SVC_PD pdpb__pd__descriptor
#define SVC_Keyspace keyspacepb__keyspace__descriptor
#define SVC_Health grpc__health__v1__health__descriptor
#define PKG_Tikv "tikvpb"
#define PKG_PD "pdpb"
#define PKG_Keyspace "keyspacepb"
#define PKG_Health "grpc.health.v1"

#define ROW(id, svc, m, rq, rs, bc, cls)                                              \
  [TIKV__REQ_##id] = {"/" PKG_##svc "." #svc "/" #m,                               \
                      #m,                                                          \
                      &SVC_##svc,                                                  \
                      &rq##__descriptor,                                           \
                      &rs##__descriptor,                                           \
                      TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_##bc,           \
                      TIKV__REQ_CLASS_##cls},
const tikv__req_info_t tikv__reqs[TIKV__REQ_COUNT] = {TIKV__REQUESTS(ROW)};
#undef ROW

/* The response's oneof numbers its cases as the request's does; the table
 * stores one, so make sure the other agrees wherever a row has a case. */
#define SAME_CASE(id, svc, m, rq, rs, bc, cls)                                                 \
  _Static_assert((int)TIKVPB__BATCH_COMMANDS_REQUEST__REQUEST__CMD_##bc ==                      \
                     (int)TIKVPB__BATCH_COMMANDS_RESPONSE__RESPONSE__CMD_##bc,                  \
                 #id ": request and response batch cases differ");
TIKV__REQUESTS(SAME_CASE)
#undef SAME_CASE

int tikv__req_by_method(const char *service, const char *method) {
  for (int i = 0; i < TIKV__REQ_COUNT; i++)
    if (strcmp(tikv__reqs[i].service->name, service) == 0 &&
        strcmp(tikv__reqs[i].method, method) == 0)
      return i;
  return -1;
}

int tikv__req_by_batch_case(int batch_case) {
  if (batch_case == 0) return -1;
  for (int i = 0; i < TIKV__REQ_COUNT; i++)
    if (tikv__reqs[i].batch_case == batch_case) return i;
  return -1;
}
