// ESM entry: re-exports the CommonJS implementation.
import cjs from './index.js';

export const {
  RawClient,
  TransactionClient,
  Transaction,
  Snapshot,
  TikvError,
  ErrorCodes,
  CODES,
  MAX_SCAN_LIMIT,
  DEFAULT_SCAN_LIMIT,
  version,
} = cjs;
export default cjs;
