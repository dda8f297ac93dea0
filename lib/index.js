'use strict';
// tikv-client: a TiKV client for Node.js whose core is in C.
const binding = require('./native');
const { makeRawClient } = require('./raw');
const { MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT } = require('./scan');
const { makeTransactionClient } = require('./txn');
const { TikvError, CODES, ErrorCodes } = require('./errors');

const RawClient = makeRawClient(binding);
const { TransactionClient, Transaction, Snapshot } = makeTransactionClient(binding);

module.exports = {
  RawClient,
  TransactionClient,
  Transaction,
  Snapshot,
  TikvError,
  ErrorCodes,
  CODES,
  MAX_SCAN_LIMIT,
  DEFAULT_SCAN_LIMIT,
  version: binding.addon.tikv_version_string(),
};
