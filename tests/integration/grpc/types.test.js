// types.test.js — every data type Kite stores, through the Milvus Node SDK over gRPC:
// Bool/Int8/Int16/Int32/Float/JSON/Array/nullable columns, VarChar primary keys,
// binary vectors (HAMMING), hybrid search (RRF), expression templates, the
// pymilvus-2.1 ShowCollections(InMemory) load poll, GetIndexState and databases.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { MilvusClient, DataType, ErrorCode } = require('@zilliz/milvus2-sdk-node');
const { startServer } = require('./helpers');

function ok(res, what) {
  const st = res.status || res;
  assert.equal(st.error_code, ErrorCode.SUCCESS, `${what}: ${st.reason} (code ${st.code})`);
}

let server;
let client;
test.before(async () => {
  server = await startServer();
  client = new MilvusClient({ address: server.address });
  await client.connectPromise;
});
test.after(async () => {
  if (client) await client.closeConnection();
  if (server) await server.stop();
});

test('scalar, JSON, Array and nullable columns round-trip', async () => {
  const C = 'types_all';
  ok(await client.createCollection({
    collection_name: C,
    fields: [
      { name: 'pk', data_type: DataType.VarChar, is_primary_key: true, max_length: 32 },
      { name: 'v', data_type: DataType.FloatVector, dim: 4 },
      { name: 'b', data_type: DataType.Bool },
      { name: 'i8', data_type: DataType.Int8 },
      { name: 'i16', data_type: DataType.Int16 },
      { name: 'i32', data_type: DataType.Int32 },
      { name: 'f', data_type: DataType.Float },
      { name: 'meta', data_type: DataType.JSON },
      { name: 'arr', data_type: DataType.Array, element_type: DataType.Int64, max_capacity: 8 },
      { name: 'words', data_type: DataType.Array, element_type: DataType.VarChar, max_capacity: 4, max_length: 16 },
      { name: 'opt', data_type: DataType.Int64, nullable: true },
    ],
  }), 'createCollection');
  const d = await client.describeCollection({ collection_name: C });
  ok(d, 'describe');
  const byName = Object.fromEntries(d.schema.fields.map((f) => [f.name, f]));
  assert.equal(byName.arr.data_type, 'Array');
  assert.equal(byName.arr.element_type, 'Int64');
  assert.equal(byName.arr.type_params.find((p) => p.key === 'max_capacity').value, '8');
  assert.equal(byName.opt.nullable, true);
  assert.equal(byName.pk.data_type, 'VarChar');

  const rows = [0, 1, 2].map((i) => ({
    pk: `k${i}`, v: [i, 0, 0, 1], b: i % 2 === 0, i8: -i, i16: 300 * i, i32: 70000 * i, f: i + 0.5,
    meta: { n: i, s: `x${i}` }, arr: [i, i + 1], words: ['a', `w${i}`], opt: i === 1 ? null : i * 10,
  }));
  const ins = await client.insert({ collection_name: C, data: rows });
  ok(ins, 'insert');
  assert.deepEqual(ins.IDs.str_id.data, ['k0', 'k1', 'k2']);
  ok(await client.createIndex({ collection_name: C, field_name: 'v', index_type: 'FLAT', metric_type: 'IP' }), 'index');
  ok(await client.loadCollectionSync({ collection_name: C }), 'load');
  const q = await client.query({ collection_name: C, filter: 'pk in ["k0", "k1", "k2"]', output_fields: ['*'] });
  ok(q, 'query *');
  assert.equal(q.data.length, 3);
  const r = Object.fromEntries(q.data.map((x) => [x.pk, x]));
  assert.equal(r.k1.b, false);
  assert.equal(r.k2.i8, -2);
  assert.equal(r.k2.i16, 600);
  assert.equal(r.k2.i32, 140000);
  assert.ok(Math.abs(r.k1.f - 1.5) < 1e-6);
  assert.deepEqual(r.k2.meta, { n: 2, s: 'x2' });
  assert.deepEqual(r.k1.arr.map(Number), [1, 2]);
  assert.deepEqual(r.k2.words, ['a', 'w2']);
  assert.equal(r.k1.opt, null);
  assert.equal(Number(r.k2.opt), 20);
  const qf = await client.query({ collection_name: C, filter: 'meta["n"] >= 1 and b == false', output_fields: ['pk'] });
  ok(qf, 'query json path');
  assert.deepEqual(qf.data.map((x) => x.pk), ['k1']);
  // expression templates (2.5 expr_template_values)
  const qt = await client.query({
    collection_name: C, filter: 'i32 > {lo} and pk in {keys}', exprValues: { lo: 1, keys: ['k0', 'k2'] },
    output_fields: ['pk'],
  });
  ok(qt, 'query with template values');
  assert.deepEqual(qt.data.map((x) => x.pk), ['k2']);
  const s = await client.search({ collection_name: C, data: [[2, 0, 0, 1]], limit: 2, output_fields: ['pk', 'opt'] });
  ok(s, 'search IP');
  assert.equal(s.results[0].pk, 'k2');
  assert.ok(s.results[0].score >= s.results[1].score, 'IP descending');
  ok(await client.dropCollection({ collection_name: C }), 'drop');
});

test('search options: offset, range search, group by, invalid topk', async () => {
  const C = 'types_opts';
  ok(await client.createCollection({
    collection_name: C,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'v', data_type: DataType.FloatVector, dim: 2 },
      { name: 'g', data_type: DataType.Int32 },
    ],
  }), 'create');
  const data = Array.from({ length: 10 }, (_, i) => ({ id: i, v: [i, 0], g: i % 3 }));
  ok(await client.insert({ collection_name: C, data }), 'insert');
  ok(await client.createIndex({ collection_name: C, field_name: 'v', index_type: 'FLAT', metric_type: 'L2' }), 'index');
  ok(await client.loadCollectionSync({ collection_name: C }), 'load');
  const base = { collection_name: C, data: [[0.1, 0]], metric_type: 'L2' };
  const off = await client.search({ ...base, limit: 3, offset: 2 });
  ok(off, 'offset');
  assert.deepEqual(off.results.map((h) => Number(h.id)), [2, 3, 4]);
  // range search: L2 keeps range_filter <= d < radius  (d = (i - 0.1)^2)
  const rng = await client.search({ ...base, limit: 10, params: { radius: 5, range_filter: 1 } });
  ok(rng, 'range search');
  assert.deepEqual(rng.results.map((h) => Number(h.id)), [2]);
  const grp = await client.search({ ...base, limit: 3, group_by_field: 'g', output_fields: ['g'] });
  ok(grp, 'group by');
  assert.deepEqual(grp.results.map((h) => Number(h.id)), [0, 1, 2]);
  assert.deepEqual(grp.results.map((h) => h.g), [0, 1, 2]);
  const bad = await client.search({ ...base, limit: 0 });
  assert.equal(Number(bad.status.code), 1100, 'topk 0 is invalid');
  ok(await client.dropCollection({ collection_name: C }), 'drop');
});

test('binary vectors with HAMMING', async () => {
  const C = 'types_bin';
  ok(await client.createCollection({
    collection_name: C,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: true },
      { name: 'bv', data_type: DataType.BinaryVector, dim: 16 },
    ],
  }), 'create');
  const ins = await client.insert({ collection_name: C, data: [{ bv: [0xff, 0x00] }, { bv: [0x0f, 0x00] }, { bv: [0x00, 0x00] }] });
  ok(ins, 'insert (auto id)');
  assert.equal(ins.IDs.int_id.data.length, 3);
  ok(await client.createIndex({ collection_name: C, field_name: 'bv', index_type: 'BIN_FLAT', metric_type: 'HAMMING' }), 'index');
  ok(await client.loadCollectionSync({ collection_name: C }), 'load');
  const s = await client.search({ collection_name: C, data: [[0x0f, 0x00]], limit: 3, metric_type: 'HAMMING', output_fields: ['bv'] });
  ok(s, 'search');
  assert.deepEqual(s.results.map((h) => h.score), [0, 4, 4]);
  assert.equal(String(s.results[0].id), String(ins.IDs.int_id.data[1]));
  ok(await client.dropCollection({ collection_name: C }), 'drop');
});

test('hybrid search with RRF over two vector fields', async () => {
  const C = 'types_hybrid';
  ok(await client.createCollection({
    collection_name: C,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'a', data_type: DataType.FloatVector, dim: 2 },
      { name: 'b', data_type: DataType.FloatVector, dim: 2 },
    ],
  }), 'create');
  const data = [0, 1, 2, 3].map((i) => ({ id: i, a: [i, 1], b: [1, 3 - i] }));
  ok(await client.insert({ collection_name: C, data }), 'insert');
  for (const f of ['a', 'b']) {
    ok(await client.createIndex({ collection_name: C, field_name: f, index_type: 'FLAT', metric_type: 'L2' }), `index ${f}`);
  }
  ok(await client.loadCollectionSync({ collection_name: C }), 'load');
  const r = await client.search({
    collection_name: C,
    data: [{ data: [2, 1], anns_field: 'a' }, { data: [1, 1], anns_field: 'b' }],
    rerank: { strategy: 'rrf', params: { k: 60 } },
    limit: 2,
  });
  ok(r, 'hybrid search');
  assert.equal(r.results.length, 2);
  assert.equal(Number(r.results[0].id), 2, 'row 2 is first in both lists');
  ok(await client.dropCollection({ collection_name: C }), 'drop');
});

test('pymilvus 2.1 style load polling, index state, statistics, databases', async () => {
  const C = 'types_legacy';
  ok(await client.createCollection({
    collection_name: C, dimension: 4, // MilvusClient quick setup: id + vector, dynamic
  }), 'quick create');
  const notLoaded = await client.showCollections({ collection_names: [C], type: 1 });
  ok(notLoaded, 'showCollections before load');
  ok(await client.insert({ collection_name: C, data: [{ id: 1, vector: [1, 2, 3, 4] }] }), 'insert');
  const is = await client.getIndexState({ collection_name: C, field_name: 'vector' });
  ok(is, 'getIndexState');
  assert.equal(is.state, 'Finished');
  const bp = await client.getIndexBuildProgress({ collection_name: C, field_name: 'vector' });
  ok(bp, 'getIndexBuildProgress');
  ok(await client.loadCollectionSync({ collection_name: C }), 'load');
  const sc = await client.showCollections({ collection_names: [C], type: 1 });
  ok(sc, 'showCollections InMemory');
  assert.equal(sc.data.length, 1);
  assert.equal(Number(sc.data[0].loadedPercentage), 100);
  const st = await client.getCollectionStatistics({ collection_name: C });
  assert.equal(Number(st.data.row_count), 1);
  const nf = await client.describeIndex({ collection_name: C, field_name: 'no_such_field' });
  assert.equal(Number(nf.status.code), 700);
  assert.equal(nf.status.error_code, 'IndexNotExist');

  ok(await client.createDatabase({ db_name: 'grpc_db2' }), 'createDatabase');
  const dbs = await client.listDatabases();
  ok(dbs, 'listDatabases');
  assert.ok(dbs.db_names.includes('grpc_db2') && dbs.db_names.includes('default'));
  ok(await client.dropDatabase({ db_name: 'grpc_db2' }), 'dropDatabase');
  ok(await client.dropCollection({ collection_name: C }), 'drop');
});
