// auth.test.js — `kite serve --auth` over gRPC (issue #5 §2): the "authorization"
// metadata (base64 of user:password) on every method of the server's own method
// table (server/grpc/grpc_dispatch.c), and the privilege table (server/auth.c):
//   no / bad credentials        -> UNAUTHENTICATED (16) on every method but CheckHealth
//   root                        -> never 16 or 7
//   a user with only "public"   -> PERMISSION_DENIED (7) unless the privilege is public
// then the same through the Milvus Node SDK (username/password options).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http2 = require('node:http2');
const path = require('node:path');
const { MilvusClient, DataType } = require('@zilliz/milvus2-sdk-node');
const { startServer } = require('./helpers');

const ROOT = path.resolve(__dirname, '../../..');
const PREFIX = '/milvus.proto.milvus.MilvusService/';
const PUBLIC = new Set(['DescribeCollection', 'ShowCollections', 'IndexDetail', 'ListDatabases']);

function table(file, start, re) {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const from = src.indexOf(start);
  const body = src.slice(from, src.indexOf('};', from));
  return [...body.matchAll(re)];
}
const METHODS = table('server/grpc/grpc_dispatch.c', 'g_methods[]', /M\((\w+),/g).map((m) => m[1]);
const NEEDS = new Map(table('server/auth.c', 'g_grpc[]', /\{"(\w+)",\s*\{(G|C),\s*"(\w+)"/g)
  .map((m) => [m[1], m[3]]));

const b64 = (s) => Buffer.from(s).toString('base64');

// One unary call with an empty message (every request type accepts it).
function call(session, method, auth) {
  return new Promise((resolve, reject) => {
    const headers = {
      ':method': 'POST', ':path': PREFIX + method, 'content-type': 'application/grpc', te: 'trailers',
    };
    if (auth !== undefined) headers.authorization = auth;
    const req = session.request(headers);
    let trailers = {};
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) trailers = h; });
    req.on('trailers', (h) => { trailers = h; });
    req.on('data', () => {});
    req.on('end', () => resolve(Number(trailers['grpc-status'])));
    req.on('error', reject);
    req.end(Buffer.alloc(5));
  });
}

let server;
let session;

async function rest(p, body, auth = 'Bearer root:Milvus') {
  const r = await fetch(`http://${server.address}/v2/vectordb/${p}`, {
    method: 'POST', headers: { Authorization: auth }, body: JSON.stringify(body),
  });
  return r.json();
}

test.before(async () => {
  server = await startServer(['--auth', '--metrics-port', '0']);
  session = http2.connect(`http://${server.address}`);
  assert.equal((await rest('users/create', { userName: 'bob', password: 'bobsecret' })).code, 0);
  assert.equal((await rest('collections/create', { collectionName: 'gc', dimension: 4 })).code, 0);
});

test.after(async () => {
  if (session) session.close();
  if (server) await server.stop();
});

test('the tables cover every method', () => {
  assert.ok(METHODS.length >= 40, METHODS.join());
  const exempt = new Set(['Connect', 'GetVersion', 'CheckHealth', 'AllocTimestamp', 'GetComponentStates']);
  for (const m of METHODS) if (!exempt.has(m)) assert.ok(NEEDS.has(m), `no privilege for ${m}`);
});

test('no or bad credentials: UNAUTHENTICATED on every method but CheckHealth', async () => {
  for (const m of METHODS) {
    for (const auth of [undefined, b64('root:wrong'), b64('nobody:Milvus'), 'not base64!', b64('rootMilvus'), '']) {
      const st = await call(session, m, auth);
      if (m === 'CheckHealth') assert.equal(st, 0, `${m} must stay open`);
      else assert.equal(st, 16, `${m} with ${auth} gave ${st}`);
    }
  }
});

test('root passes authentication and RBAC on every method', async () => {
  for (const m of METHODS) {
    if (m === 'DropCollection' || m === 'DropDatabase') continue; // empty names: still fine, keep gc
    const st = await call(session, m, b64('root:Milvus'));
    assert.ok(st !== 16 && st !== 7, `${m} gave ${st}`);
  }
});

test('a user without roles gets PERMISSION_DENIED unless the privilege is public', async () => {
  for (const m of METHODS) {
    const st = await call(session, m, b64('bob:bobsecret'));
    const priv = NEEDS.get(m);
    if (!priv || PUBLIC.has(priv)) assert.ok(st !== 16 && st !== 7, `${m} gave ${st}`);
    else assert.equal(st, 7, `${m} (${priv}) gave ${st}`);
  }
});

test('the Milvus SDK with username/password', async () => {
  const root = new MilvusClient({ address: server.address, username: 'root', password: 'Milvus' });
  await root.connectPromise;
  const res = await root.createCollection({
    collection_name: 'sdk_auth',
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
      { name: 'v', data_type: DataType.FloatVector, dim: 4 },
    ],
  });
  assert.equal(res.error_code, 'Success', JSON.stringify(res));
  const ins = await root.insert({ collection_name: 'sdk_auth', data: [{ id: 1, v: [1, 2, 3, 4] }] });
  assert.equal(ins.status.error_code, 'Success', JSON.stringify(ins.status));

  // bob: ShowCollections is public, Insert is not.
  const bob = new MilvusClient({ address: server.address, username: 'bob', password: 'bobsecret' });
  await bob.connectPromise;
  const show = await bob.showCollections();
  assert.equal(show.status.error_code, 'Success');
  await assert.rejects(
    bob.insert({ collection_name: 'sdk_auth', data: [{ id: 2, v: [1, 2, 3, 4] }] }),
    (e) => e.code === 7 || /PERMISSION_DENIED|PrivilegeNotPermitted/.test(String(e)));
  // Granting Insert on this collection lets it through.
  assert.equal((await rest('roles/create', { roleName: 'writer' })).code, 0);
  assert.equal((await rest('roles/grant_privilege', {
    roleName: 'writer', objectType: 'Collection', objectName: 'sdk_auth', privilege: 'Insert', dbName: 'default',
  })).code, 0);
  assert.equal((await rest('users/grant_role', { userName: 'bob', roleName: 'writer' })).code, 0);
  const ins2 = await bob.insert({ collection_name: 'sdk_auth', data: [{ id: 2, v: [1, 2, 3, 4] }] });
  assert.equal(ins2.status.error_code, 'Success', JSON.stringify(ins2.status));

  // Wrong password: calls fail with UNAUTHENTICATED.
  const bad = new MilvusClient({ address: server.address, username: 'root', password: 'nope' });
  await bad.connectPromise.catch(() => {});
  await assert.rejects(bad.showCollections(),
    (e) => e.code === 16 || /UNAUTHENTICATED|authenticated/.test(String(e)));
  await Promise.all([root.closeConnection(), bob.closeConnection(), bad.closeConnection()]);
});

test('gRPC calls are counted in /metrics', async () => {
  const m = server.output().match(/kite: metrics on http:\/\/([^\s:]+):(\d+)/);
  assert.ok(m, 'metrics line');
  const text = await (await fetch(`http://${m[1]}:${m[2]}/metrics`)).text();
  const get = (re) => Number((text.match(re) || [])[1] || 0);
  assert.ok(get(/kite_requests_total\{protocol="grpc",call="ShowCollections"\} (\d+)/) >= 3, text);
  // Every UNAUTHENTICATED answer above was an error.
  assert.ok(get(/kite_request_errors_total\{protocol="grpc",call="Insert"\} (\d+)/) >= 6);
  assert.ok(get(/kite_request_duration_seconds_count\{protocol="grpc",call="Insert"\} (\d+)/) >= 8);
});

test('users, roles and grants through the SDK (credential and RBAC RPCs)', async () => {
  const root = new MilvusClient({ address: server.address, username: 'root', password: 'Milvus' });
  await root.connectPromise;
  const okStatus = (st, what) => assert.equal(st.error_code, 'Success', `${what}: ${JSON.stringify(st)}`);
  okStatus(await root.createUser({ username: 'gina', password: 'ginapass1' }), 'createUser');
  const dup = await root.createUser({ username: 'gina', password: 'ginapass1' });
  assert.notEqual(dup.error_code, 'Success');
  const users = await root.listUsers();
  okStatus(users.status, 'listUsers');
  assert.ok(users.usernames.includes('gina') && users.usernames.includes('root'));
  okStatus(await root.createRole({ roleName: 'searcher' }), 'createRole');
  assert.ok((await root.hasRole({ roleName: 'searcher' })).hasRole);
  okStatus(await root.addUserToRole({ username: 'gina', roleName: 'searcher' }), 'addUserToRole');
  const du = await root.describeUser({ username: 'gina' });
  okStatus(du.status, 'describeUser');
  assert.deepEqual(du.results[0].roles.map((r) => r.name), ['searcher']);
  const dr = await root.describeRole({ roleName: 'searcher', includeUserInfo: true });
  okStatus(dr.status, 'describeRole');
  assert.deepEqual(dr.results[0].users.map((u) => u.name), ['gina']);

  // gina cannot insert into gc until granted.
  const gina = new MilvusClient({ address: server.address, username: 'gina', password: 'ginapass1' });
  await gina.connectPromise;
  await assert.rejects(gina.query({ collection_name: 'gc', filter: 'id > 0' }),
    (e) => e.code === 7 || /PERMISSION_DENIED|PrivilegeNotPermitted/.test(String(e)));
  okStatus(await root.grantPrivilege({
    roleName: 'searcher', object: 'Collection', objectName: 'gc', privilegeName: 'Query',
  }), 'grantPrivilege');
  const grants = await root.listGrants({ roleName: 'searcher' });
  okStatus(grants.status, 'listGrants');
  assert.equal(grants.entities.length, 1);
  assert.equal(grants.entities[0].object.name, 'Collection');
  assert.equal(grants.entities[0].object_name, 'gc');
  assert.equal(grants.entities[0].grantor.privilege.name, 'Query');
  assert.equal(grants.entities[0].grantor.user.name, 'root');
  const q = await gina.query({ collection_name: 'gc', filter: 'id > 0' }).catch((e) => e);
  assert.ok(!(q instanceof Error) || (q.code !== 7 && q.code !== 16), String(q));

  // Password change: own, with the old password.
  okStatus(await gina.updateUser({ username: 'gina', oldPassword: 'ginapass1', newPassword: 'ginapass2' }),
    'updateUser');
  // The old credentials stop working at once; the new ones work.
  await assert.rejects(gina.listUsers(), (e) => e.code === 16);
  const gina2 = new MilvusClient({ address: server.address, username: 'gina', password: 'ginapass2' });
  await gina2.connectPromise;
  // ... but nobody changes another user's password without UpdateUser.
  await assert.rejects(gina2.updateUser({ username: 'root', oldPassword: 'Milvus', newPassword: 'stolen!!' }),
    (e) => e.code === 7);
  const bad = await root.updateUser({ username: 'gina', oldPassword: 'x', newPassword: 'short' });
  assert.notEqual(bad.error_code, 'Success');
  await gina2.closeConnection();
  okStatus(await root.revokePrivilege({
    roleName: 'searcher', object: 'Collection', objectName: 'gc', privilegeName: 'Query',
  }), 'revokePrivilege');
  assert.equal((await root.listGrants({ roleName: 'searcher' })).entities.length, 0);
  okStatus(await root.removeUserFromRole({ username: 'gina', roleName: 'searcher' }), 'removeUserFromRole');
  okStatus(await root.dropRole({ roleName: 'searcher' }), 'dropRole');
  assert.ok(!(await root.hasRole({ roleName: 'searcher' })).hasRole);
  const dropAdmin = await root.dropRole({ roleName: 'admin' });
  assert.notEqual(dropAdmin.error_code, 'Success');
  okStatus(await root.deleteUser({ username: 'gina' }), 'deleteUser');
  const users2 = await root.listUsers();
  assert.ok(!users2.usernames.includes('gina'));
  await Promise.all([root.closeConnection(), gina.closeConnection()]);
});
