'use strict';
const { CODES, ErrorCodes } = require('./codes');

const BY_NAME = new Map(CODES.map((c) => [c.name, c]));

function emptyDetails() {
  return {
    kind: '',
    key: null,
    primary: null,
    startTs: 0n,
    conflictTs: 0n,
    lockTtl: 0n,
    regionId: 0n,
    grpcStatus: 0,
  };
}

/**
 * An error reported by TiKV, PD or the client core. Decide by `code` (a
 * stable name from the C error table, e.g. 'WRITE_CONFLICT'), never by message.
 */
class TikvError extends Error {
  constructor(message, { code = 'INTERNAL', errno, retryable, details } = {}) {
    super(message);
    const info = BY_NAME.get(code);
    // an aborted operation is what AbortSignal users test for (fetch, streams)
    this.name = code === 'ABORTED' ? 'AbortError' : 'TikvError';
    this.code = code;
    this.errno = errno !== undefined ? errno : info ? info.errno : ErrorCodes.INTERNAL;
    this.retryable = retryable !== undefined ? Boolean(retryable) : info ? info.retryable : false;
    this.details = Object.assign(emptyDetails(), details);
  }

  /** From the plain object the addon builds for a failed future. */
  static fromNative(e) {
    return new TikvError(e.message, {
      code: e.code,
      errno: e.errno,
      retryable: e.retryable,
      details: e.details,
    });
  }

  /** A client-side error with a code of the table and its description. */
  static of(code, message) {
    const info = BY_NAME.get(code);
    return new TikvError(message || (info ? info.description : code), { code });
  }
}

module.exports = { TikvError, CODES, ErrorCodes };
