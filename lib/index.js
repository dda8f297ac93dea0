'use strict';
// tikv-client: a TiKV client for Node.js whose core is in C.
const binding = require('./native');
const { makeRawClient, MAX_SCAN_LIMIT, DEFAULT_SCAN_LIMIT } = require('./raw');
const { TikvError, CODES, ErrorCodes } = require('./errors');

const RawClient = makeRawClient(binding);

module.exports = {
  RawClient,
  TikvError,
  ErrorCodes,
  CODES,
  MAX_SCAN_LIMIT,
  DEFAULT_SCAN_LIMIT,
  version: binding.addon.tikv_version_string(),
};
