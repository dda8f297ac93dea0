'use strict';
const A = require('./args');
const { TikvError } = require('./errors');
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
 * The per-call options every operation takes, validated here once (the
 * method's own validation has already refused unknown keys): timeoutMs (the
 * operation's deadline, retries included; default: the client's), signal
 * (an AbortSignal: aborting cancels the operation's RPCs in flight and
 * rejects with an AbortError, code 'ABORTED'), and for raw operations
 * columnFamily. Returns undefined when none is given (the native default),
 * else {native: [timeoutMs | 0, columnFamily | null, cancellable], signal}.
 */
function callOptions(o, columnFamilies) {
  if (o === undefined || o === null) return undefined;
  const { timeoutMs, signal, columnFamily } = o;
  if (timeoutMs === undefined && signal === undefined && columnFamily === undefined) return undefined;
  const ms = A.integer(timeoutMs, 'options.timeoutMs', 1, 0xffffffff, 0);
  A.signal(signal, 'options.signal');
  let cf = null;
  if (columnFamily !== undefined) {
    cf = A.string(columnFamily, 'options.columnFamily');
    if (!columnFamilies.includes(cf))
      throw new RangeError(`options.columnFamily must be one of ${columnFamilies.join(', ')}, got ${JSON.stringify(cf)}`);
  }
  return { native: [ms, cf, signal !== undefined], signal };
}

/** The rejection of an operation whose signal was aborted before it started. */
function abortedError(signal) {
  const e = TikvError.of('ABORTED', 'the operation was aborted before it started');
  if (signal.reason !== undefined) e.cause = signal.reason;
  return e;
}

/**
 * call(owner, handle, fn, args, transform, options, columnFamilies):
 * validates with args() (the native call's arguments after the handle, in
 * order), then the per-call options (callOptions; columnFamilies: the ones a
 * raw call may name), takes handle() (which throws when the client is
 * closed or the transaction finished) and submits addon[fn](handle, ...args,
 * callOptions). Resolves the operation's result (through transform when
 * given); owner is what the operation keeps reachable.
 */
function makeCall({ addon, track }) {
  // attempt()'s shape written out: this runs once per operation, and the
  // extra closure of attempt() made a call cost ~200 ns of JS instead of ~120
  // (against a fake addon; ~100 before the helper)
  return function call(owner, handle, fn, args, transform, options, columnFamilies) {
    let id, co;
    try {
      const a = args();
      co = callOptions(options, columnFamilies);
      if (co !== undefined && co.signal !== undefined && co.signal.aborted) throw abortedError(co.signal);
      id = addon[fn](handle(), ...a, co === undefined ? undefined : co.native);
    } catch (e) {
      return Promise.reject(e);
    }
    const p = track(id, transform, owner);
    if (co === undefined || co.signal === undefined || id === 0) return p;
    const signal = co.signal;
    const onAbort = () => addon.cancelOp(id);
    signal.addEventListener('abort', onAbort, { once: true });
    const off = () => signal.removeEventListener('abort', onAbort);
    p.then(off, off);
    return p;
  };
}

module.exports = { attempt, makeCall, callOptions, abortedError };
