// ESM entry of tikv-client/mock.
import cjs from './mock.js';

export const { MockCluster, REGION_ERROR_KINDS } = cjs;
export default cjs;
