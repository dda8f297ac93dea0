// Type definitions for tikv-client/mock: the embedded mock cluster.
/// <reference types="node" />

import type { Bytes } from './index';

import type { RegionErrorKind } from './mock-faults';
export type { RegionErrorKind } from './mock-faults';
export { REGION_ERROR_KINDS } from './mock-faults';

export interface MockClusterOptions {
  /** TiKV stores, each on its own port (default 3). */
  stores?: number;
  /** Pre-split regions (default 1). */
  regions?: number;
  /** Accept raw TTLs, as TiKV's storage.enable-ttl (default false). */
  enableTtl?: boolean;
}

export interface MockRegion {
  id: bigint;
  leaderStore: bigint;
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

  /** ["127.0.0.1:port"] of PD: pass to RawClient.connect. */
  readonly pdEndpoints: readonly string[];
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
  setStoreDown(storeId: number | bigint, down?: boolean): void;
  /** Clears every injected fault and latency. */
  clearFaults(): void;
  /** Calls of `method` ('*' all, the default) the stores have served. */
  callCount(method?: string): number;
  /** Calls PD received for `method` ('*' = all); for 'Tso', request messages (each a batch). */
  pdCallCount(method?: string): number;
}
