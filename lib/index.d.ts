// Type definitions for tikv-client (hand-written; the error-code union is
// generated from the C error table into ./codes.d.ts).
/// <reference types="node" />

import { EventEmitter } from 'events';

import type { TikvErrorCode, TikvErrorCodeInfo } from './codes';

export type { TikvErrorCode, TikvErrorCodeInfo } from './codes';
export { ErrorCodes, CODES } from './codes';

/** What a client met (emitted on the JS thread; see ClientEvents). */
export interface ClientEvent {
  readonly type: keyof ClientEvents;
  /** 0n when the event concerns no region / store. */
  readonly regionId: bigint;
  readonly storeId: bigint;
  readonly message: string;
}
/** The events of RawClient and TransactionClient (both EventEmitters). */
export interface ClientEvents {
  /** TiKV answered a region error; the request is retried. */
  regionError: [ClientEvent];
  storeDown: [ClientEvent];
  storeUp: [ClientEvent];
  /** PD's leader is another member than before. */
  pdLeaderChange: [ClientEvent];
}
/** Counters since the client was created: retries by cause, backoff, PD leader changes. */
export interface ClientStats {
  regionErrors: {
    notLeader: number;
    epochNotMatch: number;
    serverIsBusy: number;
    regionNotFound: number;
    storeNotMatch: number;
    other: number;
  };
  tikvTransport: number;
  pdTransport: number;
  pdNotLeader: number;
  locksResolved: number;
  lockBackoffs: number;
  backoffMs: number;
  pdLeaderChanges: number;
  /** Wakeups of the client's I/O thread by calls made while it slept (see idleSpinUs). */
  ioWakeups: number;
  /** The I/O thread's spins for replies that ran out before one came (it then slept); each
   * resizes the next: a reply slower than idleSpinUs stops such spins until replies come faster. */
  ioReplySpinsMissed: number;
}
/** The event methods both clients have (EventEmitter's, typed). */
declare class ClientEventEmitter extends EventEmitter {
  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  once<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  off<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  /** Counters of this client (a plain object); throws CLOSED once closed. */
  stats(): ClientStats;
}

/** Keys and values: strings are encoded as UTF-8. Results are always Buffers. */
export type Bytes = string | Buffer | Uint8Array;

/**
 * One pair of a key/value array result (batchGet, scan, batchScan,
 * batchGetForUpdate). The keys and values returned by one call are views of
 * one backing ArrayBuffer (like Node's pooled Buffers): `key.buffer` is the
 * whole of it, so use `key.byteOffset`/`key.length`, not `key.buffer`, and
 * copy (`Buffer.from(value)`) a small value you keep long, or the whole
 * call's memory stays alive with it. Writing into one Buffer changes no other.
 */
export interface KvPair {
  key: Buffer;
  /** Empty for key-only scans. */
  value: Buffer;
}

export interface TikvErrorDetails {
  /** Region error / key error / PD error / gRPC status name; '' when none. */
  kind: string;
  /** The key the server named (conflicting, locked, existing), or null. */
  key: Buffer | null;
  /** Primary key of the lock or conflicting transaction, or null. */
  primary: Buffer | null;
  startTs: bigint;
  conflictTs: bigint;
  /** Lock TTL in ms (0n when not applicable). */
  lockTtl: bigint;
  /** The region the error concerns, 0n when none. */
  regionId: bigint;
  /** gRPC status of the failed call, 0 when none. */
  grpcStatus: number;
}

/** An error from TiKV, PD or the client core. Decide by `code`. */
export declare class TikvError extends Error {
  constructor(
    message: string,
    init?: { code?: TikvErrorCode; errno?: number; retryable?: boolean; details?: Partial<TikvErrorDetails> }
  );
  readonly name: 'TikvError';
  /** Stable name from the C error table, e.g. 'WRITE_CONFLICT'. */
  readonly code: TikvErrorCode;
  /** The C error number. */
  readonly errno: number;
  /** True when the same operation may succeed if retried. */
  readonly retryable: boolean;
  readonly details: TikvErrorDetails;
  static of(code: TikvErrorCode, message?: string): TikvError;
}

export type ColumnFamily = 'default' | 'lock' | 'write';

/**
 * Option types are exact: a key not listed is refused, by tsc for object
 * literals and by the library (TypeError "unknown option 'k' (allowed: ...)")
 * at run time. Methods without an options type take no options.
 */
/** PEM text, as Node's own tls options take it. */
export type Pem = string | Buffer | Uint8Array;

/**
 * TLS to every PD member and store: the CA that signed the servers'
 * certificates (checked with the host name of each address; nothing turns
 * that off), and for mutual TLS the client's certificate and key, together.
 * As PEM texts, or as PEM files, which are read again when they change: a
 * connection made after the files were replaced uses the new certificates.
 * With tls, PD endpoints may be written https:// (never http://).
 */
export type TlsOptions =
  | ({ ca: Pem } & NoTlsFiles & ({ cert?: undefined; key?: undefined } | { cert: Pem; key: Pem }))
  | ({ caFile: string } & NoTlsPems & ({ certFile?: undefined; keyFile?: undefined } | { certFile: string; keyFile: string }));
type NoTlsFiles = { caFile?: undefined; certFile?: undefined; keyFile?: undefined };
type NoTlsPems = { ca?: undefined; cert?: undefined; key?: undefined };

/**
 * The cluster's API version (TiKV's storage.api-version): 1 (default), or
 * 2 with the keyspace to work in (default 'DEFAULT'), loaded from PD at
 * connect; in API v2 keys live in the keyspace and never see another's.
 */
export type ApiVersionOptions = { apiVersion?: 1; keyspace?: undefined } | { apiVersion: 2; keyspace?: string };

/** What both clients' connect take about the cluster. */
export type ClusterOptions = {
  tls?: TlsOptions;
  /** TiKV requests travel in tikvpb.Tikv/BatchCommands streams, many per message under load
   * (default true), or as one unary call each (false). */
  batchCommands?: boolean;
  /** After it handed completions to the JS thread, the client's I/O thread stays awake up to this
   * many microseconds (0..10000, default 250; 0: never) for the calls that follow, which then need
   * no wakeup: lower latency for a caller awaiting one operation at a time, for that CPU (it
   * yields its core to any other thread that can run there). */
  idleSpinUs?: number;
} & ApiVersionOptions;

export type RawClientOptions = ClusterOptions & {
  /** Deadline of each operation in ms, retries and backoff included (default 20000). */
  timeoutMs?: number;
  /** Longest one RPC attempt may take in ms (default 2000; a pessimistic lock adds its lock wait):
   * a store that does not answer in time is retried, elsewhere while it is unhealthy. */
  attemptTimeoutMs?: number;
  /** Column family of raw operations (default 'default'; API v2 has only 'default'). */
  columnFamily?: ColumnFamily;
  /** Atomic mode: needed by compareAndSwap (default false). */
  atomic?: boolean;
  /** Aborting it while connecting closes the client; connect rejects with an AbortError ('ABORTED'). */
  signal?: AbortSignal;
};

/** What a client's options say of the cluster (never the TLS material). */
export interface ClusterShape {
  tls: boolean;
  apiVersion: 1 | 2;
  keyspace?: string;
  batchCommands: boolean;
  idleSpinUs: number;
}

/**
 * What every operation takes. timeoutMs: this call's deadline in ms, retries
 * and backoff included (default: the client's timeoutMs). signal: aborting
 * it cancels the operation's RPCs in flight and rejects with a TikvError
 * named 'AbortError', code 'ABORTED' (a write may or may not have been
 * applied; a commit whose primary was already sent rejects 'UNDETERMINED').
 */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A raw operation's: also the column family (default: the client's; API v2: only 'default'). */
export interface RawCallOptions extends CallOptions {
  columnFamily?: ColumnFamily;
}

export interface TtlOptions extends RawCallOptions {
  /** Time to live in seconds; 0 (default) = none. Needs TTL enabled on the cluster. */
  ttl?: number | bigint;
}

export interface ScanOptions {
  /**
   * 1..MAX_SCAN_LIMIT (10240); default DEFAULT_SCAN_LIMIT (1024): a scan
   * without a limit returns at most 1,024 pairs. Use iterate() for a range of
   * any size.
   */
  limit?: number;
  /** Only keys: values come back empty. */
  keyOnly?: boolean;
  /** Descending from `end`. */
  reverse?: boolean;
}

export interface RawScanOptions extends ScanOptions, RawCallOptions {}
export interface TxnScanOptions extends ScanOptions, CallOptions {}

export interface BatchScanOptions extends RawCallOptions {
  /** Pairs per range, 1..MAX_SCAN_LIMIT; default DEFAULT_SCAN_LIMIT. */
  eachLimit?: number;
  keyOnly?: boolean;
}

/** The per-call options apply to each page's scan. */
export interface IterateOptions extends CallOptions {
  /** Pairs fetched per page, 1..MAX_SCAN_LIMIT; default 256. */
  batchSize?: number;
  reverse?: boolean;
  keyOnly?: boolean;
}
export interface RawIterateOptions extends IterateOptions, RawCallOptions {}

export interface CasResult {
  swapped: boolean;
  /** The value before the call, null when the key did not exist. */
  previous: Buffer | null;
}

export type KvInput = readonly [Bytes, Bytes] | { key: Bytes; value: Bytes };

/** RawClient.checksum's result, as TiKV's RawChecksum combines it over regions. */
export interface RawChecksum {
  /** XOR of the CRC-64 (ECMA-182, as TiKV's crc64fast) of each pair's key then value. */
  crc64Xor: bigint;
  totalKvs: bigint;
  /** Keys and values. */
  totalBytes: bigint;
}

/**
 * TiKV's raw key-value API. Every method returning a Promise reports all its
 * errors by rejecting: TypeError / RangeError for bad arguments (checked before
 * anything is sent; an unknown option key is a TypeError naming it), TikvError
 * for everything else. iterate() throws its argument errors synchronously.
 * Every operation takes RawCallOptions (timeoutMs, signal, columnFamily).
 */
export declare class RawClient extends ClientEventEmitter {
  private constructor();
  static connect(pdEndpoints: readonly string[], options?: RawClientOptions): Promise<RawClient>;

  readonly options: Readonly<{ pdEndpoints: string[]; timeoutMs?: number; attemptTimeoutMs?: number; columnFamily: ColumnFamily; atomic: boolean } & ClusterShape>;
  readonly closed: boolean;
  /** The cluster id PD reported. */
  readonly clusterId: bigint;

  /** The value (a stored empty value is an empty Buffer), or null when the key does not exist. */
  get(key: Bytes, options?: RawCallOptions): Promise<Buffer | null>;
  /** The pairs found, in key order. */
  batchGet(keys: readonly Bytes[], options?: RawCallOptions): Promise<KvPair[]>;
  /**
   * The value of each key, in the order of `keys` (a key given twice has two
   * places), or null where the key does not exist: client-go's RawKV
   * BatchGet. Cheaper than batchGet for many keys: one Buffer per value and
   * no pair objects (the values of one call share one ArrayBuffer, as
   * KvPair's do).
   */
  batchGetValues(keys: readonly Bytes[], options?: RawCallOptions): Promise<Array<Buffer | null>>;
  /** An empty value is stored as one (as client-go does). */
  put(key: Bytes, value: Bytes, options?: TtlOptions): Promise<void>;
  batchPut(pairs: readonly KvInput[] | ReadonlyMap<Bytes, Bytes>, options?: TtlOptions): Promise<void>;
  delete(key: Bytes, options?: RawCallOptions): Promise<void>;
  batchDelete(keys: readonly Bytes[], options?: RawCallOptions): Promise<void>;
  /** Deletes [start, end) (start before end: RangeError otherwise); end null/omitted = to the end of the key space. */
  deleteRange(start: Bytes, end?: Bytes | null, options?: RawCallOptions): Promise<void>;
  /** Pairs of [start, end); end null/omitted = the end of the key space. */
  scan(start: Bytes, end?: Bytes | null, options?: RawScanOptions): Promise<KvPair[]>;
  /** Each range [start, end]; the ranges' pairs concatenated in order. */
  batchScan(ranges: ReadonlyArray<readonly [Bytes, (Bytes | null)?]>, options?: BatchScanOptions): Promise<KvPair[]>;
  /** Seconds left; 0 without TTL; null when the key does not exist. */
  getKeyTtl(key: Bytes, options?: RawCallOptions): Promise<number | null>;
  /** Sets key to value if its value is `previous` (null: if absent). Needs `atomic`. */
  compareAndSwap(key: Bytes, previous: Bytes | null, value: Bytes, options?: TtlOptions): Promise<CasResult>;
  /** Pages through [start, end) with bounded memory. */
  iterate(start: Bytes, end?: Bytes | null, options?: RawIterateOptions): AsyncIterableIterator<KvPair>;
  /** TiKV's RawChecksum of [start, end) (default column family); end null/omitted = the end of the key space. */
  checksum(start: Bytes, end?: Bytes | null, options?: CallOptions): Promise<RawChecksum>;
  /** Idempotent; operations in flight reject with code 'CLOSED', as do later calls. */
  close(): Promise<void>;
}

export type TransactionClientOptions = ClusterOptions & {
  /** Deadline of each operation in ms, retries and backoff included (default 20000). */
  timeoutMs?: number;
  /** Longest one RPC attempt may take in ms (default 2000; a pessimistic lock adds its lock wait):
   * a store that does not answer in time is retried, elsewhere while it is unhealthy. */
  attemptTimeoutMs?: number;
  /** Aborting it while connecting closes the client; connect rejects with an AbortError ('ABORTED'). */
  signal?: AbortSignal;
};

/** begin() and snapshot() also take CallOptions, for their timestamp request. */
export interface BeginOptions extends CallOptions {
  /** Lock keys as they are written (default false: optimistic, conflicts found at commit). */
  pessimistic?: boolean;
  /** Async commit: the commit is decided once every prewrite succeeded. */
  asyncCommit?: boolean;
  /** One-phase commit for a transaction within one region. */
  tryOnePc?: boolean;
  /** Pessimistic lock waits in ms: 0 = fail at once (LOCK_WAIT_TIMEOUT); default 20000. */
  lockWaitTimeoutMs?: number;
}

/** timeoutMs and signal apply to each begin and commit; an abort ends the retries. */
export interface TransactionOptions extends BeginOptions {
  /** Further runs after a retryable error (default 10). */
  retries?: number;
}

export type TransactionState = 'active' | 'committing' | 'committed' | 'rolledBack' | 'commitFailed';

/**
 * A consistent read-only view of the data at one timestamp. Every method
 * rejects (TypeError / RangeError for bad arguments, TikvError otherwise).
 */
export declare class Snapshot {
  private constructor();
  /** The timestamp it reads at. */
  readonly timestamp: bigint;
  get(key: Bytes, options?: CallOptions): Promise<Buffer | null>;
  /** The pairs found, in key order. */
  batchGet(keys: readonly Bytes[], options?: CallOptions): Promise<KvPair[]>;
  keyExists(key: Bytes, options?: CallOptions): Promise<boolean>;
  /** Pairs of [start, end); end null/omitted = unbounded. */
  scan(start: Bytes, end?: Bytes | null, options?: TxnScanOptions): Promise<KvPair[]>;
  /** The pairs of [start, end), a range of any size, fetched batchSize at a time. Throws argument errors synchronously. */
  iterate(start: Bytes, end?: Bytes | null, options?: IterateOptions): AsyncIterableIterator<KvPair>;
}

/**
 * A transaction: reads at its start timestamp and sees its own writes; writes
 * are buffered until commit(). After commit() or rollback() every call rejects
 * with code 'TXN_FINISHED'; after the client closed, with 'CLOSED'.
 */
export declare class Transaction {
  private constructor();
  readonly startTimestamp: bigint;
  readonly options: Readonly<BeginOptions>;
  readonly state: TransactionState;
  /** True once commit() or rollback() was called. */
  readonly finished: boolean;

  get(key: Bytes, options?: CallOptions): Promise<Buffer | null>;
  batchGet(keys: readonly Bytes[], options?: CallOptions): Promise<KvPair[]>;
  keyExists(key: Bytes, options?: CallOptions): Promise<boolean>;
  /** Pairs of [start, end) merged with this transaction's writes. */
  scan(start: Bytes, end?: Bytes | null, options?: TxnScanOptions): Promise<KvPair[]>;
  /**
   * The pairs of [start, end) merged with this transaction's writes, a range
   * of any size fetched batchSize at a time (memory: one page). Throws
   * argument errors synchronously.
   */
  iterate(start: Bytes, end?: Bytes | null, options?: IterateOptions): AsyncIterableIterator<KvPair>;
  /** An empty value is a RangeError (as client-go refuses it: reads take no value for a missing key). */
  put(key: Bytes, value: Bytes, options?: CallOptions): Promise<void>;
  /** Like put; the commit fails with 'ALREADY_EXIST' if the key exists. */
  insert(key: Bytes, value: Bytes, options?: CallOptions): Promise<void>;
  delete(key: Bytes, options?: CallOptions): Promise<void>;
  /** Locks keys without writing them (pessimistic: now; optimistic: checked at commit). */
  lockKeys(keys: readonly Bytes[], options?: CallOptions): Promise<void>;
  /** The latest committed value, locking the key (pessimistic) or checking it at commit. */
  getForUpdate(key: Bytes, options?: CallOptions): Promise<Buffer | null>;
  batchGetForUpdate(keys: readonly Bytes[], options?: CallOptions): Promise<KvPair[]>;
  /**
   * Resolves the commit timestamp; 0n when nothing was written. Aborted
   * before the primary's commit was sent: 'ABORTED' (rolled back); after:
   * 'UNDETERMINED'.
   */
  commit(options?: CallOptions): Promise<bigint>;
  rollback(options?: CallOptions): Promise<void>;
}

/** TiKV's transactional API (keys never mix with RawClient's). */
export declare class TransactionClient extends ClientEventEmitter {
  private constructor();
  static connect(pdEndpoints: readonly string[], options?: TransactionClientOptions): Promise<TransactionClient>;

  readonly options: Readonly<{ pdEndpoints: string[]; timeoutMs?: number; attemptTimeoutMs?: number } & ClusterShape>;
  readonly closed: boolean;
  readonly clusterId: bigint;

  begin(options?: BeginOptions): Promise<Transaction>;
  /**
   * A read-only snapshot at ts, or at a fresh timestamp. Its reads reject with 'TXN_ABORTED'
   * (details kind 'gc_safe_point', naming the safe point) when ts is below PD's GC safe point.
   */
  snapshot(ts?: bigint | number | null, options?: CallOptions): Promise<Snapshot>;
  /** A fresh timestamp from PD. */
  currentTimestamp(options?: CallOptions): Promise<bigint>;
  /** Resolves locks older than safepoint and moves the GC safe point; true when it moved. */
  gc(safepoint: bigint | number, options?: CallOptions): Promise<boolean>;
  /**
   * TiKV's UnsafeDestroyRange on every store: every version and lock of [start, end) goes at
   * once, below the transactions. Never use the range again. Both bounds non-empty (RangeError).
   */
  unsafeDestroyRange(start: Bytes, end: Bytes, options?: CallOptions): Promise<void>;
  /**
   * Runs fn in a new transaction and commits it; on a retryable TikvError
   * (write conflict, deadlock, ...) rolls back and runs fn again, up to
   * `retries` times. Resolves what the last run of fn returned.
   */
  transaction<T>(fn: (txn: Transaction) => T | Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Idempotent; open transactions are released; calls in flight reject with 'CLOSED'. */
  close(): Promise<void>;
}

export declare const MAX_SCAN_LIMIT: 10240;
export declare const DEFAULT_SCAN_LIMIT: number;
/** Version of the linked C library, e.g. "0.1.0". */
export declare const version: string;
