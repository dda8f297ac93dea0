/* Validation of TiKV's replies before anything uses them: one check per
 * reply type, called where every reply arrives (tikv__send_start's reply
 * handler), before the region error, the kind's layer and its consume see
 * it. What the request asked (the part: its keys or its range and limit)
 * says what an answer may hold. A reply that fails is a PROTOCOL error
 * naming what was wrong; the send retries it when the row is READ.
 * Pure functions: any thread; the fuzz targets (test/fuzz/) call them. */
#ifndef TIKV_REGION_VALIDATE_H
#define TIKV_REGION_VALIDATE_H

#include "pd/validate.h"
#include "region/request.h"

/* A region error: NotLeader's leader (when it names one) on a non-zero
 * store, EpochNotMatch's current regions each a valid region (they go into
 * the cache), ServerIsBusy's backoff an int. */
tikv_error_t *tikv__check_region_error(const char *what, const Errorpb__Error *re);

/* A lock reported by TiKV: a known lock type; unless shared, a start ts
 * and a primary; min_commit_ts and for_update_ts (when set) not below the
 * start ts. */
tikv_error_t *tikv__check_lock_info(const char *what, const Kvrpcpb__LockInfo *l);

/* A commit timestamp TiKV reports for the transaction start_ts: 0 (none)
 * or after it. */
tikv_error_t *tikv__check_commit_ts(const char *what, uint64_t start_ts, uint64_t commit_ts);

/* The reply resp of row id to the request for part: its region error (when
 * it has one; the rest is then not read), else its body: results only for
 * keys asked (each once) or inside the range asked, in the order asked,
 * no more than the limit; every lock as tikv__check_lock_info, about a key
 * asked; flags that contradict each other (not found with a value, ...).
 * NULL: fine (also for the rows without a check). */
tikv_error_t *tikv__check_reply(tikv__req_id id, const ProtobufCMessage *resp,
                                const tikv__part_t *part);

#endif
