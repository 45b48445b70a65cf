// transport.test.js — HTTP/2 and gRPC framing robustness of `kite serve`'s gRPC face,
// driven with node:http2 and raw sockets (no Milvus SDK): unknown methods, oversized
// and malformed messages, compressed messages, garbage after the preface, many
// concurrent streams, and a server that keeps serving afterwards.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http2 = require('node:http2');
const net = require('node:net');
const { startServer } = require('./helpers');

const PREFIX = '/milvus.proto.milvus.MilvusService/';

// One unary gRPC call; resolves {status (HTTP), grpcStatus, grpcMessage, body (Buffer)}.
function call(session, method, message, { compressed = false, declaredLen } = {}) {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': PREFIX + method,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const head = Buffer.alloc(5);
    head[0] = compressed ? 1 : 0;
    head.writeUInt32BE(declaredLen === undefined ? message.length : declaredLen, 1);
    let status = 0;
    let trailers = {};
    const chunks = [];
    req.on('response', (h) => {
      status = h[':status'];
      if (h['grpc-status'] !== undefined) trailers = h; // Trailers-Only response
    });
    req.on('trailers', (h) => { trailers = h; });
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => resolve({
      status,
      grpcStatus: trailers['grpc-status'] === undefined ? undefined : Number(trailers['grpc-status']),
      grpcMessage: trailers['grpc-message'] ? decodeURIComponent(trailers['grpc-message']) : '',
      body: Buffer.concat(chunks),
    }));
    req.on('error', reject);
    req.write(head);
    req.end(message);
  });
}

// GetVersionResponse{status=1, version=2}: find field 2 (tag 0x12) at the top level.
function versionOf(body) {
  assert.ok(body.length >= 5, 'response has a gRPC message');
  const msg = body.subarray(5, 5 + body.readUInt32BE(1));
  let i = 0;
  while (i < msg.length) {
    const tag = msg[i++];
    let len = 0; let shift = 0; let b;
    do { b = msg[i++]; len |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    if (tag === 0x12) return msg.subarray(i, i + len).toString();
    i += len;
  }
  return undefined;
}

let server;
test.before(async () => { server = await startServer(); });
test.after(async () => { if (server) await server.stop(); });

function connect() {
  return http2.connect(`http://${server.address}`);
}

test('GetVersion over raw HTTP/2 returns a version and grpc-status 0', async () => {
  const s = connect();
  try {
    const r = await call(s, 'GetVersion', Buffer.alloc(0));
    assert.equal(r.status, 200);
    assert.equal(r.grpcStatus, 0);
    assert.match(versionOf(r.body), /^v2\.\d+\.\d+/);
  } finally { s.close(); }
});

test('unknown method is UNIMPLEMENTED (12)', async () => {
  const s = connect();
  try {
    const r = await call(s, 'NoSuchRpc', Buffer.alloc(0));
    assert.equal(r.grpcStatus, 12);
    assert.match(r.grpcMessage, /NoSuchRpc/);
    const r2 = await call(s, 'CreateResourceGroup', Buffer.alloc(0));
    assert.equal(r2.grpcStatus, 12);
  } finally { s.close(); }
});

test('compressed message is UNIMPLEMENTED, malformed protobuf is INTERNAL', async () => {
  const s = connect();
  try {
    const r = await call(s, 'GetVersion', Buffer.from([1, 2, 3]), { compressed: true });
    assert.equal(r.grpcStatus, 12);
    // field 3 of DescribeCollectionRequest declared as 100 bytes long, but only 2 follow
    const bad = Buffer.from([0x1a, 100, 0x61, 0x62]);
    const r2 = await call(s, 'DescribeCollection', bad);
    assert.equal(r2.grpcStatus, 13);
    // length prefix larger than the data actually sent
    const r3 = await call(s, 'GetVersion', Buffer.alloc(3), { declaredLen: 10 });
    assert.equal(r3.grpcStatus, 13);
  } finally { s.close(); }
});

test('oversized message is RESOURCE_EXHAUSTED (8) and the connection survives', async () => {
  const s = connect();
  try {
    // Declare 1 GiB (far above max_recv_bytes) and send only a little of it.
    const r = await call(s, 'Insert', Buffer.alloc(1024), { declaredLen: 1 << 30 });
    assert.equal(r.grpcStatus, 8);
    const v = await call(s, 'GetVersion', Buffer.alloc(0));
    assert.equal(v.grpcStatus, 0);
  } finally { s.close(); }
});

test('many concurrent streams on one connection all complete', async () => {
  const s = connect();
  try {
    const rs = await Promise.all(Array.from({ length: 50 }, () => call(s, 'CheckHealth', Buffer.alloc(0))));
    for (const r of rs) assert.equal(r.grpcStatus, 0);
  } finally { s.close(); }
});

test('garbage after the preface closes that connection only', async () => {
  await new Promise((resolve, reject) => {
    const sock = net.connect(server.port, server.host, () => {
      sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      sock.write(Buffer.from('this is not an HTTP/2 frame at all, just noise'.repeat(20)));
    });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('server kept the garbage connection open')); }, 10000);
    sock.on('data', () => {}); // SETTINGS / GOAWAY may arrive first
    sock.on('close', () => { clearTimeout(timer); resolve(); });
    sock.on('error', () => {});
  });
  const s = connect();
  try {
    const r = await call(s, 'GetVersion', Buffer.alloc(0));
    assert.equal(r.grpcStatus, 0);
  } finally { s.close(); }
});

test('random frames after a valid preface never crash the server', async () => {
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let round = 0; round < 20; round++) {
    await new Promise((resolve) => {
      const sock = net.connect(server.port, server.host, () => {
        sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
        const n = 9 + (rnd() % 200);
        const buf = Buffer.alloc(n);
        for (let i = 0; i < n; i++) buf[i] = rnd() & 0xff;
        buf[3] = rnd() % 10; // a plausible frame type
        sock.end(buf);
      });
      sock.on('data', () => {});
      sock.on('close', resolve);
      sock.on('error', resolve);
      setTimeout(() => { sock.destroy(); resolve(); }, 3000);
    });
  }
  const s = connect();
  try {
    const r = await call(s, 'GetVersion', Buffer.alloc(0));
    assert.equal(r.grpcStatus, 0);
  } finally { s.close(); }
});
