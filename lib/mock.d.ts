// Type definitions for tikv-client/mock: the embedded mock cluster.
/// <reference types="node" />

import type { Bytes } from './index';

import type { RegionErrorKind } from './mock-faults';
export type { RegionErrorKind } from './mock-faults';
export { REGION_ERROR_KINDS } from './mock-faults';

/** PEM text, as Node's own `tls` options take it. */
export type Pem = string | Buffer | Uint8Array;

/** keyspacepb.KeyspaceState. */
export type KeyspaceState = 'ENABLED' | 'DISABLED' | 'ARCHIVED' | 'TOMBSTONE';

export interface MockKeyspace {
  name: string;
  id: number;
  state: KeyspaceState;
}

export interface MockClusterOptions {
  /** TiKV stores, each on its own port (default 3). */
  stores?: number;
  /** Pre-split regions (default 1). */
  regions?: number;
  /** Accept raw TTLs, as TiKV's storage.enable-ttl (default false). */
  enableTtl?: boolean;
  /** PD members, each on its own port, one leading (default 1). */
  pdMembers?: number;
  /** How long PD is without a leader after its leader is killed or paused (default 3000, PD's lease). */
  pdElectionMs?: number;
  /** How long a region is without a leader after its leader's store goes down (default 10000). */
  raftElectionMs?: number;
  /**
   * Every PD member and store serves TLS with this certificate and key; with `ca`, clients
   * must present a certificate it signed (mutual TLS). PD then advertises https:// URLs.
   */
  tls?: { cert: Pem; key: Pem; ca?: Pem };
  /** The stores' storage.api-version (default 1). */
  apiVersion?: 1 | 2;
  /**
   * API v2: keyspaces PD has besides DEFAULT (id 0), made in order; a name alone takes the
   * next free id. Names: 1 to 20 of [-A-Za-z0-9_]; ids 1..16777215.
   */
  keyspaces?: Array<string | { name: string; id?: number; state?: KeyspaceState }>;
}

export interface MockRegion {
  id: bigint;
  /** The leader's store as PD reports it (during an election: the last leader's). */
  leaderStore: bigint;
  /** False while the region elects a leader (its leader's store went down). */
  hasLeader: boolean;
  /** Raw boundary bytes as PD reports them (memcomparable-encoded); end empty = unbounded. */
  start: Buffer;
  end: Buffer;
  confVer: bigint;
  version: bigint;
}

/** PD and TiKV services on loopback, in this process, on their own threads. */
export declare class MockCluster {
  private constructor();
  static start(options?: MockClusterOptions): Promise<MockCluster>;

  /** "127.0.0.1:port" of every PD member, in member order: pass to RawClient.connect. */
  readonly pdEndpoints: readonly string[];
  /** The members' URLs as PD advertises them: https:// with TLS, else http://. */
  readonly pdUrls: readonly string[];
  /** What the servers speak: plaintext, TLS, or TLS with client certificates required. */
  readonly tls: 'plaintext' | 'tls' | 'mutual';
  readonly apiVersion: 1 | 2;
  /** PD's keyspaces in creation order (DEFAULT first; none in API v1). */
  keyspaces(): MockKeyspace[];
  /** Creates a keyspace (API v2), splitting the regions at its ranges; returns its id. */
  addKeyspace(name: string, options?: { id?: number; state?: KeyspaceState }): number;
  /** Sets the state LoadKeyspace reports. */
  setKeyspaceState(name: string, state: KeyspaceState): void;
  readonly stopped: boolean;
  readonly storeCount: number;
  /** The cluster id PD reports. */
  readonly clusterId: bigint;
  /** Idempotent. */
  stop(): Promise<void>;

  storeAddress(storeId: number | bigint): string;
  regions(): MockRegion[];
  regionForKey(key: Bytes): bigint | null;
  /** Splits the region holding key at key; returns the new region's id. */
  splitRegion(key: Bytes): bigint;
  transferLeader(regionId: number | bigint, storeId: number | bigint): void;
  /** The next `count` (default 1) calls of `method` ('RawGet', '*' ...) fail with a region error. */
  injectRegionError(method: string, kind: RegionErrorKind, options?: { regionId?: number | bigint; count?: number }): void;
  /** The next `count` calls of `method` fail with gRPC status `status` (e.g. 14 UNAVAILABLE). */
  injectGrpcError(method: string, status: number, options?: { count?: number }): void;
  /** Delays every call of `method` ('*' any) by ms; 0 removes. */
  setLatency(method: string, ms: number): void;
  /** While paused, PD accepts calls and never answers. */
  pausePd(paused?: boolean): void;
  /** Stops (down, the default) or restarts a store; the regions it leads elect another leader after raftElectionMs. */
  setStoreDown(storeId: number | bigint, down?: boolean): void;
  /** The next `count` (default 1) calls of `method` on storeId (0: any) are applied and answered with gRPC UNAVAILABLE. */
  injectLostReply(method: string, options?: { storeId?: number | bigint; count?: number }): void;
  /** The replies to the next `count` (default 1) calls of `method` ('*' any) are damaged after the request was served (mode default 'flip'). */
  injectCorruptReply(method: string, options?: { mode?: 'undecodable' | 'flip' | 'stray'; count?: number }): void;
  readonly pdMemberCount: number;
  /** The leading PD member's number (1..pdMemberCount), or null during an election. */
  readonly pdLeader: number | null;
  /** Kills the PD leader; another is elected after pdElectionMs. Returns the killed member's number. */
  killPdLeader(): number;
  /** Kills (down, the default) or restarts (as a follower) a PD member. */
  setPdMemberDown(member: number, down?: boolean): void;
  /** Pauses (the default) a PD member as SIGSTOP would, or resumes it. */
  pausePdMember(member: number, paused?: boolean): void;
  /** Moves PD's leadership to a live member at once. */
  transferPdLeader(member: number): void;
  setPdElectionMs(ms: number): void;
  setRaftElectionMs(ms: number): void;
  /** Clears every injected fault and latency. */
  clearFaults(): void;
  /** Calls of `method` ('*' all, the default) the stores have served: each request inside a
   * BatchCommands stream counts under its own name, each BatchCommands message as 'BatchCommands'. */
  callCount(method?: string): number;
  /** Calls PD received for `method` ('*' = all); for 'Tso', request messages (each a batch). */
  pdCallCount(method?: string): number;
}
