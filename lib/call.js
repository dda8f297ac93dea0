'use strict';
// The one body of every Promise-returning method of the clients.
//
// A method is its validation plus its native call; what turns that into the
// Promise the caller gets lives here, once: every error, argument errors
// included (TypeError / RangeError, raised before the native call), and
// CLOSED / TXN_FINISHED from the handle, becomes a rejection — a method never
// throws — and a submitted operation is tracked by the bridge (in flight until
// it completes, its owner kept reachable meanwhile; close() rejects it).

/** fn()'s result as a Promise; a synchronous throw becomes a rejection. */
function attempt(fn) {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * call(owner, handle, fn, args, transform): validates with args() (the native
 * call's arguments after the handle, in order), then takes handle() (which
 * throws when the client is closed or the transaction finished) and submits
 * addon[fn](handle, ...args). Resolves the operation's result (through
 * transform when given); owner is what the operation keeps reachable.
 */
function makeCall({ addon, track }) {
  // attempt()'s shape written out: this runs once per operation, and the
  // extra closure of attempt() made a call cost ~200 ns of JS instead of ~120
  // (against a fake addon; ~100 before the helper)
  return function call(owner, handle, fn, args, transform) {
    let id;
    try {
      const a = args();
      id = addon[fn](handle(), ...a);
    } catch (e) {
      return Promise.reject(e);
    }
    return track(id, transform, owner);
  };
}

module.exports = { attempt, makeCall };
