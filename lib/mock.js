'use strict';
// require('tikv-client/mock'): the embedded mock cluster.
const binding = require('./native');
const { makeMockCluster, REGION_ERROR_KINDS } = require('./mockcluster');

module.exports = { MockCluster: makeMockCluster(binding), REGION_ERROR_KINDS };
