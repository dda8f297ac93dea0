'use strict';
// Raw gRPC from the Node tests, for checking the mock from the wire without
// the client library: one unary call over Node's http2 (TLS when `tls` is
// given, as Node's tls options: {ca, cert, key, servername}), and a minimal
// protobuf writer and reader for the few messages the tests build by hand.
const http2 = require('node:http2');

const DEADLINE_MS = 5000;

/**
 * Calls `path` ("/pdpb.PD/GetMembers") on "host:port" with the encoded
 * request. Resolves {status, message, body} (grpc-status, grpc-message, the
 * reply's bytes); rejects with the connection's error when it fails before
 * any answer (a refused TLS handshake, plaintext against TLS).
 */
function grpcCall(address, path, request, tls) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`${tls ? 'https' : 'http'}://${address}`, tls || {});
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no answer from ${address}${path} within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    const done = (err, value) => {
      clearTimeout(timer);
      session.close();
      if (err) reject(err);
      else resolve(value);
    };
    session.on('error', (e) => done(e));
    const frame = Buffer.alloc(5 + request.length);
    frame.writeUInt32BE(request.length, 1);
    request.copy(frame, 5);
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks = [];
    let headers = {};
    stream.on('response', (h) => (headers = h));
    stream.on('data', (c) => chunks.push(c));
    stream.on('trailers', (t) => (headers = { ...headers, ...t }));
    stream.on('error', (e) => done(e));
    stream.on('end', () => {
      const data = Buffer.concat(chunks);
      const body = data.length >= 5 ? data.subarray(5, 5 + data.readUInt32BE(1)) : Buffer.alloc(0);
      const status = headers['grpc-status'];
      if (status === undefined) return done(new Error(`no grpc-status from ${address}${path}`));
      done(null, { status: Number(status), message: decodeURIComponent(headers['grpc-message'] || ''), body });
    });
    stream.end(frame);
  });
}

// ---- protobuf, just enough ----
function varint(n) {
  let v = BigInt(n);
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

/** Encodes fields: [[number, value]], a value a number / bigint (varint), or a string / Buffer (bytes). */
function encode(fields) {
  const parts = [];
  for (const [num, v] of fields) {
    if (typeof v === 'number' || typeof v === 'bigint') {
      parts.push(varint(num << 3), varint(v));
    } else {
      const b = Buffer.isBuffer(v) ? v : Buffer.from(v);
      parts.push(varint((num << 3) | 2), varint(b.length), b);
    }
  }
  return Buffer.concat(parts);
}

/** Decodes one message: {number: [values]}, varints as bigint, bytes as Buffer. */
function decode(buf) {
  const out = {};
  let i = 0;
  const readVarint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(readVarint());
    const num = tag >> 3;
    let v;
    if ((tag & 7) === 0) v = readVarint();
    else if ((tag & 7) === 2) {
      const n = Number(readVarint());
      v = buf.subarray(i, i + n);
      i += n;
    } else throw new Error(`wire type ${tag & 7} not handled`);
    (out[num] ||= []).push(v);
  }
  return out;
}

module.exports = { grpcCall, encode, decode };
