'use strict';
// What a client met, for RawClient and TransactionClient: the C core's
// event callback (tikv_config_set_event_callback), delivered by the addon on
// the JS thread and emitted on the client (an EventEmitter), and its counters
// (tikv_client_stats) as a plain object.
const EVENT_NAMES = Object.freeze({
  1: 'regionError',
  2: 'storeDown',
  3: 'storeUp',
  4: 'pdLeaderChange',
});

let shared;

function make(addon) {
  // event id -> WeakRef of its client: a client nobody holds is not kept
  // alive by its events
  const clients = new Map();
  addon.setEventDispatcher(function dispatchEvent(id, kind, regionId, storeId, message) {
    const ref = clients.get(id);
    const client = ref === undefined ? undefined : ref.deref();
    if (client === undefined) {
      clients.delete(id);
      return;
    }
    const type = EVENT_NAMES[kind];
    if (type !== undefined) client.emit(type, Object.freeze({ type, regionId, storeId, message }));
  });
  return {
    /** Events of the client behind `handle` go to `emitter`; returns the id for unwatch. */
    watch(emitter, handle) {
      const id = addon.clientEventId(handle);
      if (id) clients.set(id, new WeakRef(emitter));
      return id;
    },
    unwatch(id) {
      clients.delete(id);
    },
    stats(handle) {
      const s = addon.clientStats(handle);
      return {
        regionErrors: {
          notLeader: s.regionNotLeader,
          epochNotMatch: s.regionEpochNotMatch,
          serverIsBusy: s.regionServerIsBusy,
          regionNotFound: s.regionNotFound,
          storeNotMatch: s.regionStoreNotMatch,
          other: s.regionOther,
        },
        tikvTransport: s.tikvTransport,
        pdTransport: s.pdTransport,
        pdNotLeader: s.pdNotLeader,
        locksResolved: s.locksResolved,
        lockBackoffs: s.lockBackoffs,
        backoffMs: s.backoffMs,
        pdLeaderChanges: s.pdLeaderChanges,
        ioWakeups: s.ioWakeups,
        ioReplySpinsMissed: s.ioReplySpinsMissed,
      };
    },
  };
}

/** The one event router of the addon (its dispatcher is set once). */
function clientEvents(addon) {
  if (shared === undefined) shared = make(addon);
  return shared;
}

module.exports = { clientEvents, EVENT_NAMES };
