// The mock's TLS and API v2 surface, type-checked (tsc --noEmit).
import { MockCluster, type KeyspaceState, type MockKeyspace } from 'tikv-client/mock';

async function tlsAndKeyspaces(cert: string, key: Buffer): Promise<void> {
  const mock = await MockCluster.start({
    tls: { cert, key, ca: new Uint8Array(0) },
    apiVersion: 2,
    keyspaces: ['a', { name: 'b', id: 7, state: 'DISABLED' }],
  });
  const mode: 'plaintext' | 'tls' | 'mutual' = mock.tls;
  const urls: readonly string[] = mock.pdUrls;
  const v: 1 | 2 = mock.apiVersion;
  const ks: MockKeyspace[] = mock.keyspaces();
  const state: KeyspaceState = ks[0].state;
  const id: number = mock.addKeyspace('c', { state: 'ARCHIVED' });
  mock.setKeyspaceState('c', 'ENABLED');
  // @ts-expect-error: no API v3
  await MockCluster.start({ apiVersion: 3 });
  // @ts-expect-error: cert and key both
  await MockCluster.start({ tls: { cert } });
  // @ts-expect-error: a state PD does not have
  mock.setKeyspaceState('c', 'ON');
  void [mode, urls, v, state, id];
}
void tlsAndKeyspaces;
