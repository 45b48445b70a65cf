// seed.test.js — the seed flow of a Milvus program, run with the official Milvus Node
// SDK (@zilliz/milvus2-sdk-node 2.5) against `kite serve` over gRPC, unchanged:
// create collection -> insert -> index -> load -> search (nq > 1, filter, output
// fields) -> query (count(*), filter) -> delete -> partitions -> aliases -> errors ->
// release -> drop.
//
// Index: IVF_FLAT (nlist 16).  If the engine answers "index type not supported"
// (code 701) the test says so in a diagnostic and uses FLAT instead (brief rule).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { MilvusClient, DataType, ErrorCode } = require('@zilliz/milvus2-sdk-node');
const { startServer } = require('./helpers');

const DIM = 8;
const N = 100;
const COLL = 'seed_collection';

// Deterministic vectors: row i is far from row j unless i == j.
function vec(i) {
  return Array.from({ length: DIM }, (_, k) => Math.sin(i * 0.7 + k) * 10 + (k === i % DIM ? 5 : 0));
}

function ok(res, what) {
  const st = res.status || res;
  assert.equal(st.error_code, ErrorCode.SUCCESS, `${what}: ${st.reason} (code ${st.code})`);
  assert.equal(Number(st.code || 0), 0, `${what}: code ${st.code}`);
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

test('handshake: Connect, GetVersion, CheckHealth', async () => {
  assert.ok(client.serverInfo && client.serverInfo.deploy_mode, 'Connect gave server info');
  const v = await client.getVersion();
  ok(v, 'getVersion');
  assert.match(v.version, /^v2\.5\./);
  const h = await client.checkHealth();
  ok(h, 'checkHealth');
  assert.equal(h.isHealthy, true);
});

test('seed flow', async (t) => {
  // ---------------------------------------------------------------- create
  ok(await client.createCollection({
    collection_name: COLL,
    description: 'seed',
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
      { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
      { name: 'tag', data_type: DataType.VarChar, max_length: 64 },
      { name: 'price', data_type: DataType.Double },
    ],
    enable_dynamic_field: true,
  }), 'createCollection');

  const has = await client.hasCollection({ collection_name: COLL });
  assert.equal(has.value, true);
  const desc = await client.describeCollection({ collection_name: COLL });
  ok(desc, 'describeCollection');
  const byName = Object.fromEntries(desc.schema.fields.map((f) => [f.name, f]));
  assert.deepEqual(Object.keys(byName).sort(), ['$meta', 'id', 'price', 'tag', 'vector']);
  assert.equal(byName.id.is_primary_key, true);
  assert.equal(byName.id.data_type, 'Int64');
  assert.equal(byName.vector.data_type, 'FloatVector');
  const dim = byName.vector.type_params.find((p) => p.key === 'dim');
  assert.equal(dim && dim.value, String(DIM));
  const ml = byName.tag.type_params.find((p) => p.key === 'max_length');
  assert.equal(ml && ml.value, '64');
  assert.equal(byName.$meta.is_dynamic, true);
  assert.equal(desc.schema.enable_dynamic_field, true);
  const list = await client.showCollections();
  ok(list, 'showCollections');
  assert.ok(list.data.some((c) => c.name === COLL));

  // ---------------------------------------------------------------- insert
  const rows = Array.from({ length: N }, (_, i) => ({
    id: i,
    vector: vec(i),
    tag: `t${i % 5}`,
    price: i * 1.5,
    extra: i * 10, // dynamic field -> $meta
  }));
  const ins = await client.insert({ collection_name: COLL, data: rows });
  ok(ins, 'insert');
  assert.equal(Number(ins.insert_cnt), N);
  assert.equal(ins.IDs.int_id.data.length, N);
  assert.equal(Number(ins.IDs.int_id.data[7]), 7);

  const stats = await client.getCollectionStatistics({ collection_name: COLL });
  ok(stats, 'getCollectionStatistics');
  assert.equal(Number(stats.data.row_count), N);

  ok(await client.flushSync({ collection_names: [COLL] }), 'flushSync');

  // ----------------------------------------------------------------- index
  let indexType = 'IVF_FLAT';
  let idx = await client.createIndex({
    collection_name: COLL, field_name: 'vector', index_type: 'IVF_FLAT', metric_type: 'L2',
    params: { nlist: 16 },
  });
  if (Number(idx.code) === 701) {
    t.diagnostic('IVF_FLAT is not implemented by the engine yet: using FLAT instead');
    indexType = 'FLAT';
    idx = await client.createIndex({
      collection_name: COLL, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2',
    });
  }
  ok(idx, 'createIndex');
  const di = await client.describeIndex({ collection_name: COLL, field_name: 'vector' });
  ok(di, 'describeIndex');
  assert.equal(di.index_descriptions.length, 1);
  const params = Object.fromEntries(di.index_descriptions[0].params.map((p) => [p.key, p.value]));
  assert.equal(params.index_type, indexType);
  assert.equal(params.metric_type, 'L2');
  JSON.parse(params.params); // must be JSON text (pymilvus json.loads it)
  if (indexType === 'IVF_FLAT') assert.equal(JSON.parse(params.params).nlist, 16);

  // ------------------------------------------------------------------ load
  ok(await client.loadCollectionSync({ collection_name: COLL }), 'loadCollectionSync');
  const ls = await client.getLoadState({ collection_name: COLL });
  ok(ls, 'getLoadState');
  assert.equal(ls.state, 'LoadStateLoaded');
  const lp = await client.getLoadingProgress({ collection_name: COLL });
  ok(lp, 'getLoadingProgress');
  assert.equal(Number(lp.progress), 100);

  // ---------------------------------------------------------------- search
  const sr = await client.search({
    collection_name: COLL,
    data: [vec(3), vec(42)],
    limit: 5,
    metric_type: 'L2',
    params: { nprobe: 16 },
    filter: 'id >= 0',
    output_fields: ['tag', 'price'],
  });
  ok(sr, 'search nq=2');
  assert.equal(sr.results.length, 2, 'one result list per query vector');
  for (const [q, want] of [[0, 3], [1, 42]]) {
    const hits = sr.results[q];
    assert.equal(hits.length, 5);
    assert.equal(Number(hits[0].id), want, 'a stored vector finds itself first');
    assert.ok(Math.abs(hits[0].score) < 1e-3, `L2 distance to itself is 0, got ${hits[0].score}`);
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i].score >= hits[i - 1].score, 'L2 ascending');
    assert.equal(hits[0].tag, `t${want % 5}`);
    assert.equal(hits[0].price, want * 1.5);
  }
  const sf = await client.search({
    collection_name: COLL, data: [vec(10)], limit: 10, metric_type: 'L2',
    filter: 'tag == "t3"', output_fields: ['tag', 'extra'],
  });
  ok(sf, 'search with filter');
  assert.ok(sf.results.length > 0);
  for (const h of sf.results) {
    assert.equal(h.tag, 't3');
    assert.equal(Number(h.id) % 5, 3);
    assert.equal(h.extra, Number(h.id) * 10, 'dynamic field comes back');
  }

  // ----------------------------------------------------------------- query
  const cnt = await client.count({ collection_name: COLL });
  ok(cnt, 'count(*)');
  assert.equal(cnt.data, N);
  const q = await client.query({
    collection_name: COLL, filter: 'id < 10', output_fields: ['id', 'tag', 'vector'],
  });
  ok(q, 'query');
  assert.equal(q.data.length, 10);
  const q7 = q.data.find((r) => Number(r.id) === 7);
  assert.equal(q7.tag, 't2');
  assert.equal(q7.vector.length, DIM);
  assert.ok(Math.abs(q7.vector[1] - vec(7)[1]) < 1e-4);
  const qe = await client.query({ collection_name: COLL, filter: 'id > 100000', output_fields: ['tag'] });
  ok(qe, 'empty query');
  assert.equal(qe.data.length, 0);
  const ql = await client.query({ collection_name: COLL, filter: '', limit: 3, output_fields: ['id'] });
  ok(ql, 'query with limit');
  assert.equal(ql.data.length, 3);

  // ---------------------------------------------------------------- delete
  const del = await client.delete({ collection_name: COLL, filter: 'id in [1, 2, 3]' });
  ok(del, 'delete');
  assert.equal(Number(del.delete_cnt), 3);
  const cnt2 = await client.count({ collection_name: COLL });
  assert.equal(cnt2.data, N - 3);
  const gone = await client.query({ collection_name: COLL, filter: 'id in [1, 2, 3, 4]', output_fields: ['id'] });
  assert.deepEqual(gone.data.map((r) => Number(r.id)), [4]);

  // ---------------------------------------------------------------- upsert
  const up = await client.upsert({
    collection_name: COLL,
    data: [{ id: 4, vector: vec(4), tag: 'changed', price: 0, extra: 1 }],
  });
  ok(up, 'upsert');
  assert.equal(Number(up.upsert_cnt), 1);
  const g4 = await client.query({ collection_name: COLL, filter: 'id == 4', output_fields: ['tag'] });
  assert.equal(g4.data[0].tag, 'changed');
  assert.equal((await client.count({ collection_name: COLL })).data, N - 3);
});

test('partitions', async () => {
  ok(await client.createPartition({ collection_name: COLL, partition_name: 'p1' }), 'createPartition');
  const hp = await client.hasPartition({ collection_name: COLL, partition_name: 'p1' });
  ok(hp, 'hasPartition');
  assert.equal(hp.value, true);
  const sp = await client.listPartitions({ collection_name: COLL });
  ok(sp, 'listPartitions');
  assert.deepEqual([...sp.partition_names].sort(), ['_default', 'p1']);
  const rows = Array.from({ length: 5 }, (_, i) => ({
    id: 1000 + i, vector: vec(1000 + i), tag: 'p', price: 1, extra: 0,
  }));
  ok(await client.insert({ collection_name: COLL, partition_name: 'p1', data: rows }), 'insert p1');
  const ps = await client.getPartitionStatistics({ collection_name: COLL, partition_name: 'p1' });
  ok(ps, 'getPartitionStatistics');
  assert.equal(Number(ps.data.row_count), 5);
  const q = await client.query({
    collection_name: COLL, partition_names: ['p1'], filter: 'id >= 0', output_fields: ['id'],
  });
  ok(q, 'query p1');
  assert.deepEqual(q.data.map((r) => Number(r.id)).sort((a, b) => a - b), [1000, 1001, 1002, 1003, 1004]);
  ok(await client.releaseCollection({ collection_name: COLL }), 'release before dropPartition');
  ok(await client.dropPartition({ collection_name: COLL, partition_name: 'p1' }), 'dropPartition');
  const hp2 = await client.hasPartition({ collection_name: COLL, partition_name: 'p1' });
  assert.equal(hp2.value, false);
  ok(await client.loadCollectionSync({ collection_name: COLL }), 'reload');
});

test('aliases', async () => {
  ok(await client.createAlias({ collection_name: COLL, alias: 'seed_alias' }), 'createAlias');
  const da = await client.describeAlias({ collection_name: COLL, alias: 'seed_alias' });
  ok(da, 'describeAlias');
  assert.equal(da.collection, COLL);
  const la = await client.listAliases({ collection_name: COLL });
  ok(la, 'listAliases');
  assert.deepEqual(la.aliases, ['seed_alias']);
  const viaAlias = await client.count({ collection_name: 'seed_alias' });
  ok(viaAlias, 'count via alias');
  assert.equal(viaAlias.data, N - 3);
  ok(await client.dropAlias({ alias: 'seed_alias' }), 'dropAlias');
  const da2 = await client.describeAlias({ collection_name: COLL, alias: 'seed_alias' });
  assert.notEqual(da2.status.error_code, ErrorCode.SUCCESS);
});

test('errors carry both code and error_code, with gRPC status OK', async () => {
  const d = await client.describeCollection({ collection_name: 'no_such_collection' });
  assert.equal(Number(d.status.code), 100);
  assert.equal(d.status.error_code, 'CollectionNotExists');
  assert.match(d.status.reason, /no_such_collection/);
  const h = await client.hasCollection({ collection_name: 'no_such_collection' });
  assert.equal(h.value, false);
  const q = await client.query({ collection_name: COLL, filter: 'id >>> 3', output_fields: ['id'] });
  assert.equal(Number(q.status.code), 1100, `bad expression: ${q.status.reason}`);
  assert.equal(q.status.error_code, 'IllegalArgument');
  const s = await client.search({
    collection_name: COLL, data: [[1, 2, 3]], limit: 3, // wrong dimension
  });
  assert.notEqual(s.status.error_code, ErrorCode.SUCCESS, 'dimension mismatch is an error');
  assert.notEqual(Number(s.status.code), 0);
});

test('release and drop', async () => {
  ok(await client.releaseCollection({ collection_name: COLL }), 'releaseCollection');
  const ls = await client.getLoadState({ collection_name: COLL });
  assert.equal(ls.state, 'LoadStateNotLoad');
  ok(await client.dropCollection({ collection_name: COLL }), 'dropCollection');
  const has = await client.hasCollection({ collection_name: COLL });
  assert.equal(has.value, false);
});
