// longlived.test.js — one long-lived Milvus client connection keeps working.
// Regression: nghttp2's rapid-reset guard counted the RST_STREAM(NO_ERROR) that
// grpc-js sends after each unary call and tore the connection down after ~1000
// calls; the client saw DEADLINE_EXCEEDED.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { MilvusClient } = require('@zilliz/milvus2-sdk-node');
const { startServer } = require('./helpers');

test('3000 calls on one client connection all succeed', async () => {
  const srv = await startServer(['--metrics-port', 'off']);
  const client = new MilvusClient({ address: srv.address, timeout: 10000,
                                    pool: { min: 1, max: 1 } });
  try {
    await client.connectPromise;
    for (let i = 0; i < 3000; i++) {
      const r = await client.getVersion();
      assert.ok(r.version, `call ${i} returned no version`);
    }
  } finally {
    await client.closeConnection();
    await srv.stop();
  }
});
