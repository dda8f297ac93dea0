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
  for (let i = 0; i < v.length; i++) out[i] = bytes(v[i], `${name}[${i}]`);
  return out;
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

/** Native arguments of a method taking one key and no options: [key]. */
function keyArgs(key, opts) {
  const k = bytes(key, 'key');
  options(opts, NO_OPTIONS);
  return [k];
}

/** Native arguments of a method taking an array of keys and no options: [keys]. */
function keysArgs(keys, opts) {
  const ks = byteArray(keys, 'keys');
  options(opts, NO_OPTIONS);
  return [ks];
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
 * C core's tikv_config_add_pd_endpoint refuses them (an "http://" prefix and
 * trailing slashes are dropped, what is left needs a ':'); the bridge joins
 * them with ',' and passes a C string, so neither may appear inside one.
 */
function endpoints(v, name = 'pdEndpoints') {
  array(v, name);
  if (v.length === 0) throw new RangeError(`${name} must not be empty`);
  v.forEach((e, i) => {
    string(e, `${name}[${i}]`);
    const hostPort = e.replace(/^http:\/\//, '').replace(/\/+$/, '');
    if (!hostPort.includes(':') || e.includes(',') || e.includes('\0'))
      throw new RangeError(`${name}[${i}] must be "host:port", got ${JSON.stringify(e)}`);
  });
  return v;
}

function func(v, name) {
  if (typeof v !== 'function') throw new TypeError(`${name} must be a function, got ${describe(v)}`);
  return v;
}

module.exports = {
  EMPTY,
  NO_OPTIONS,
  endpoints,
  func,
  bytes,
  boundOrEmpty,
  array,
  byteArray,
  options,
  keyArgs,
  keysArgs,
  integer,
  u64,
  bool,
  string,
  describe,
};
