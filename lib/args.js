'use strict';
// Argument validation: programmer errors are TypeError / RangeError, raised
// before anything reaches the addon.

const EMPTY = Buffer.alloc(0);
const MAX_U64 = (1n << 64n) - 1n;

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return v.constructor && v.constructor.name ? `a ${v.constructor.name}` : 'an object';
  return `a ${typeof v}`;
}

/** string (UTF-8) | Buffer | Uint8Array -> Uint8Array */
function bytes(v, name) {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  throw new TypeError(`${name} must be a string, Buffer or Uint8Array, got ${describe(v)}`);
}

/**
 * bytes() of element i of an array named name (suffix: of a field of that
 * element, e.g. "[0]" or ".key"). The element's name is only built for the
 * error: building it for every key was a fifth of a large batch's JS time.
 */
function bytesAt(v, name, i, suffix = '') {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  return bytes(v, `${name}[${i}]${suffix}`);
}

/** Like bytes(), but null/undefined mean "unbounded" (an empty key). */
function boundOrEmpty(v, name) {
  if (v === undefined || v === null) return EMPTY;
  return bytes(v, name);
}

function array(v, name) {
  if (!Array.isArray(v)) throw new TypeError(`${name} must be an array, got ${describe(v)}`);
  return v;
}

function byteArray(v, name) {
  array(v, name);
  const out = new Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = bytesAt(v[i], name, i);
  return out;
}

/**
 * Byte strings as the native calls take them: [data, lengths], every one
 * copied into one Buffer and its length into a Uint32Array (the mirror of
 * kvPairs in lib/native.js). The native side then reads two typed arrays
 * however many keys there are, instead of one N-API lookup per element.
 * data may be a slice of Node's pool: the call copies what it needs.
 */
function packBytes(list) {
  const n = list.length;
  const lengths = new Uint32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const l = list[i].length;
    lengths[i] = l;
    total += l;
  }
  const data = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < n; i++) {
    data.set(list[i], off);
    off += lengths[i];
  }
  return [data, lengths];
}

/**
 * An options object (undefined / null: none). `allowed` lists the keys the
 * method knows: any other own key is a TypeError naming it, so that a typo
 * (`timeOutMs`) or an option this version does not have yet (`tls`) is never
 * silently ignored. Without `allowed` the keys are not checked.
 */
function options(v, allowed, name = 'options') {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${name} must be an object, got ${describe(v)}`);
  if (allowed !== undefined)
    for (const k of Object.keys(v))
      if (!allowed.includes(k))
        throw new TypeError(`unknown option '${k}' (allowed: ${allowed.length > 0 ? allowed.join(', ') : 'none'})`);
  return v;
}

const NO_OPTIONS = Object.freeze([]);
// what every operation takes (call.js callOptions), raw ones also columnFamily
const CALL_OPTIONS = Object.freeze(['timeoutMs', 'signal']);
const RAW_CALL_OPTIONS = Object.freeze([...CALL_OPTIONS, 'columnFamily']);

/** Native arguments of a method taking one key and the call options: [key]. */
function keyArgs(key, opts, allowed = CALL_OPTIONS) {
  const k = bytes(key, 'key');
  options(opts, allowed);
  return [k];
}

/** Native arguments of a method taking an array of keys and the call options: [packed keys]. */
function keysArgs(keys, opts, allowed = CALL_OPTIONS) {
  const ks = byteArray(keys, 'keys');
  options(opts, allowed);
  return [packBytes(ks)];
}

function integer(v, name, min, max, dflt) {
  if (v === undefined) {
    if (dflt === undefined) throw new TypeError(`${name} is required`);
    return dflt;
  }
  if (typeof v !== 'number') throw new TypeError(`${name} must be a number, got ${describe(v)}`);
  if (!Number.isInteger(v)) throw new RangeError(`${name} must be an integer, got ${v}`);
  if (v < min || v > max) throw new RangeError(`${name} must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** A non-negative integer that fits uint64: bigint, or a safe-integer number. */
function u64(v, name, dflt) {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v === 'bigint') {
    if (v < 0n || v > MAX_U64) throw new RangeError(`${name} must be between 0 and 2^64-1, got ${v}`);
    return v;
  }
  if (typeof v !== 'number') throw new TypeError(`${name} must be a bigint or a number, got ${describe(v)}`);
  if (!Number.isInteger(v)) throw new RangeError(`${name} must be an integer, got ${v}`);
  if (v < 0) throw new RangeError(`${name} must not be negative, got ${v}`);
  if (!Number.isSafeInteger(v)) throw new RangeError(`${name} is beyond Number.MAX_SAFE_INTEGER; pass a bigint`);
  return BigInt(v);
}

function bool(v, name, dflt = false) {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`);
  return v;
}

function string(v, name) {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string, got ${describe(v)}`);
  return v;
}

/**
 * PD endpoints: a non-empty array of "host:port" strings, refused here as the
 * C core's tikv_config_add_pd_endpoint refuses them (an "http://" or
 * "https://" prefix and trailing slashes are dropped, what is left needs a
 * ':'; the scheme must agree with the tls option, which connect checks); the
 * bridge joins them with ',' and passes a C string, so neither may appear
 * inside one.
 */
function endpoints(v, name = 'pdEndpoints') {
  array(v, name);
  if (v.length === 0) throw new RangeError(`${name} must not be empty`);
  v.forEach((e, i) => {
    string(e, `${name}[${i}]`);
    const hostPort = e.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (!hostPort.includes(':') || e.includes(',') || e.includes('\0'))
      throw new RangeError(`${name}[${i}] must be "host:port", got ${JSON.stringify(e)}`);
  });
  return v;
}

const TLS_PEM_KEYS = Object.freeze(['ca', 'cert', 'key']);
const TLS_FILE_KEYS = Object.freeze(['caFile', 'certFile', 'keyFile']);
const DEFAULT_IDLE_SPIN_US = 250; // tikv_config_set_idle_spin_us's default
const CLUSTER_OPTIONS = Object.freeze(['tls', 'apiVersion', 'keyspace', 'batchCommands', 'idleSpinUs']);
const TIMEOUT_OPTIONS = Object.freeze(['timeoutMs', 'attemptTimeoutMs']);

/**
 * Both clients' timeouts: timeoutMs (an operation's, retries included) and
 * attemptTimeoutMs (one RPC attempt's, tikv_config_set_attempt_timeout_ms),
 * each a positive integer of ms or absent (0 for the bridge: the C
 * defaults, 20000 and 2000).
 */
function timeouts(o) {
  return {
    timeoutMs: integer(o.timeoutMs, 'options.timeoutMs', 1, 0xffffffff, 0),
    attemptTimeoutMs: integer(o.attemptTimeoutMs, 'options.attemptTimeoutMs', 1, 0xffffffff, 0),
  };
}

/** A PEM text as Node's tls takes it (string or Buffer), as a string for C. */
function pem(v, name) {
  let text;
  if (typeof v === 'string') text = v;
  else if (v instanceof Uint8Array) text = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
  else throw new TypeError(`${name} must be a PEM string or Buffer, got ${describe(v)}`);
  if (text.includes('\0')) throw new RangeError(`${name} holds a NUL byte: not PEM`);
  return text;
}

function path(v, name) {
  string(v, name);
  if (v === '' || v.includes('\0')) throw new RangeError(`${name} must be a file path, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * The options every client's connect takes for the cluster's shape:
 *   tls: { ca, cert?, key? } (PEM strings or Buffers) or { caFile, certFile?,
 *        keyFile? } (PEM files, read again when they change: rotation);
 *        cert and key together or not at all
 *   apiVersion: 1 (default) or 2; keyspace: a keyspace's name (API v2)
 *   batchCommands: TiKV requests in BatchCommands streams (default true) or
 *        one unary call each (false; tikv_config_set_batch_commands)
 *   idleSpinUs: how long the I/O thread stays awake for the next calls after
 *        it woke the JS thread (0..10000 us, default 250;
 *        tikv_config_set_idle_spin_us)
 * Returns { native: [tlsMode, ca, cert, key, apiVersion, keyspace] (the
 * bridge's arguments: mode 0 none, 1 PEM, 2 files; '' when absent), batch:
 * 1 or 0 and spin: the microseconds (the bridge's last arguments), shown:
 * what the client's options say (never the key material) }. What only the
 * core can judge (PEM that parses, a key matching its certificate, a
 * keyspace name, options that do not fit together) it reports at connect.
 */
function clusterOptions(o) {
  let tls = [0, '', '', ''];
  if (o.tls !== undefined) {
    const t = options(o.tls, undefined, 'options.tls');
    const files = Object.keys(t).some((k) => TLS_FILE_KEYS.includes(k));
    const keys = files ? TLS_FILE_KEYS : TLS_PEM_KEYS;
    for (const k of Object.keys(t))
      if (!keys.includes(k))
        throw new TypeError(`unknown option 'tls.${k}' (allowed: ${TLS_PEM_KEYS.join(', ')}, or ${TLS_FILE_KEYS.join(', ')})`);
    const [ca, cert, key] = keys;
    if (t[ca] === undefined) throw new TypeError(`options.tls.${ca} is required (the CA that signed the servers' certificates)`);
    if ((t[cert] === undefined) !== (t[key] === undefined))
      throw new TypeError(`options.tls.${cert} and options.tls.${key} go together (mutual TLS) or not at all`);
    const take = files ? path : pem;
    tls = [files ? 2 : 1, ...keys.map((k) => (t[k] === undefined ? '' : take(t[k], `options.tls.${k}`)))];
  }
  const apiVersion = integer(o.apiVersion, 'options.apiVersion', 1, 2, 1);
  const keyspace = o.keyspace === undefined ? '' : string(o.keyspace, 'options.keyspace');
  const batchCommands = bool(o.batchCommands, 'options.batchCommands', true);
  const idleSpinUs = integer(o.idleSpinUs, 'options.idleSpinUs', 0, 10000, DEFAULT_IDLE_SPIN_US);
  return {
    native: [...tls, apiVersion, keyspace],
    batch: batchCommands ? 1 : 0,
    spin: idleSpinUs,
    shown: { tls: tls[0] !== 0, apiVersion, keyspace: keyspace || undefined, batchCommands, idleSpinUs },
  };
}

/** An AbortSignal, or undefined. */
function signal(v, name) {
  if (v !== undefined && !(v instanceof AbortSignal)) throw new TypeError(`${name} must be an AbortSignal, got ${describe(v)}`);
  return v;
}

function func(v, name) {
  if (typeof v !== 'function') throw new TypeError(`${name} must be a function, got ${describe(v)}`);
  return v;
}

module.exports = {
  EMPTY,
  NO_OPTIONS,
  CLUSTER_OPTIONS,
  clusterOptions,
  TIMEOUT_OPTIONS,
  CALL_OPTIONS,
  RAW_CALL_OPTIONS,
  timeouts,
  signal,
  endpoints,
  func,
  bytes,
  boundOrEmpty,
  array,
  byteArray,
  bytesAt,
  packBytes,
  options,
  keyArgs,
  keysArgs,
  integer,
  u64,
  bool,
  string,
  describe,
};
