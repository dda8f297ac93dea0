// The mock cluster's failure surface, type-checked (tsc --noEmit): what the
// typings accept and what they reject (@ts-expect-error lines).
import { MockCluster, type MockClusterOptions, type RegionErrorKind } from 'tikv-client/mock';

async function failures(): Promise<void> {
  const opts: MockClusterOptions = { stores: 3, pdMembers: 3, pdElectionMs: 300, raftElectionMs: 300 };
  const mock = await MockCluster.start(opts);
  const eps: readonly string[] = mock.pdEndpoints;
  const n: number = mock.pdMemberCount;
  const leader: number | null = mock.pdLeader;
  const killed: number = mock.killPdLeader();
  mock.setPdMemberDown(killed, false);
  mock.pausePdMember(2);
  mock.pausePdMember(2, false);
  mock.transferPdLeader(3);
  mock.setPdElectionMs(200);
  mock.setRaftElectionMs(200);
  mock.injectLostReply('KvCommit', { storeId: 1n, count: 2 });
  mock.injectLostReply('*');
  const hasLeader: boolean = mock.regions()[0].hasLeader;
  const kind: RegionErrorKind = 'not_leader_no_hint';
  await mock.stop();

  // @ts-expect-error: members are numbered
  mock.transferPdLeader('pd-1');
  // @ts-expect-error: no such option
  await MockCluster.start({ pdMember: 3 });
  // @ts-expect-error: pdLeader is read-only
  mock.pdLeader = 1;

  void [eps, n, leader, hasLeader, kind];
}

void failures;
