// proto_bench.mjs — the network half of the protocol overhead benchmark: the workload
// of bench/proto_bench.c (same rows, same queries, same HNSW index) against a running
// `kite serve`, over gRPC (official Milvus Node SDK, @zilliz/milvus2-sdk-node 2.5, from
// tests/integration/grpc/node_modules) and over REST v2 (fetch, keep-alive).
//
//   node bench/proto_bench.mjs --addr 127.0.0.1:PORT [--rows N] [--dim D] [--batch B]
//        [--queries Q] [--topk K] [--conc C]... [--path rest|grpc]...
//
// For each path and concurrency C: creates collection "<path>_cC" (Int64 pk "id",
// FloatVector "v"), HNSW index (M 16, efConstruction 64, L2), loads it, inserts N rows
// in batches of B from C concurrent requests, then runs Q single-vector searches (top-K,
// ef 64) from C concurrent requests, timing each call on the client (encode + round trip
// + decode).  Prints, like proto_bench.c:
//
//   RESULT path=rest conc=C rows=N insert_s=S insert_rows_per_s=R queries=Q
//          search_s=S search_qps=Q p50_ms=A p99_ms=B
//
// The client is one Node process (one event loop): concurrency C means C requests in
// flight, over one HTTP/2 channel (gRPC) or a keep-alive connection pool (REST).
//
// Known server limit (2026-11-24): one gRPC connection of `kite serve` stops answering
// after about 1000 calls (the SDK call then fails with DEADLINE_EXCEEDED after 15 s),
// because nghttp2's rapid-reset guard (stream_reset_rate_limit: burst 1000, 33/s) trips
// on the RST_STREAM grpc-js sends after each unary call (confirmed: raising the limit
// with nghttp2_option_set_stream_reset_rate_limit in an LD_PRELOAD shim made 5000 calls
// pass).  Until server/grpc sets that option, the default is 800 queries and each
// (path, concurrency) run opens its own client.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/integration/grpc/package.json'));
const { MilvusClient, DataType, ErrorCode } = require('@zilliz/milvus2-sdk-node');

function parseArgs(argv) {
  const a = { addr: null, rows: 20000, dim: 128, batch: 500, queries: 800, topk: 10,
    conc: [], path: [] };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`option ${argv[i]} needs a value`);
    if (k === 'conc') a.conc.push(Number(v));
    else if (k === 'path') a.path.push(v);
    else if (k === 'addr') a.addr = v;
    else if (k in a) a[k] = Number(v);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!a.addr) throw new Error('--addr HOST:PORT is required');
  if (a.conc.length === 0) a.conc = [1, 4];
  if (a.path.length === 0) a.path = ['rest', 'grpc'];
  return a;
}

// Row i's vector, identical to proto_bench.c: xorshift32 seeded with i*2654435761+1.
function rowVector(i, dim) {
  let x = Number((BigInt(i) * 2654435761n + 1n) & 0xffffffffn);
  if (x === 0) x = 1;
  const out = new Array(dim);
  for (let d = 0; d < dim; d++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[d] = Math.fround(x / 4294967296);
  }
  return out;
}
const queryRow = (q) => 1000000000 + q;

// Runs `count` jobs numbered 0..count-1 with `conc` in flight at once.
async function pool(count, conc, job) {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const k = next++;
      if (k >= count) return;
      await job(k);
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
}

function pct(sorted, p) {
  let k = Math.ceil((p / 100) * sorted.length - 1e-9) - 1;
  if (k < 0) k = 0;
  if (k >= sorted.length) k = sorted.length - 1;
  return sorted[k];
}

// ------------------------------------------------------------------ REST
function restPath(base) {
  const post = async (p, body) => {
    const r = await fetch(`${base}/v2/vectordb/${p}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const j = await r.json();
    if (r.status !== 200 || j.code !== 0) throw new Error(`REST ${p}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  return {
    async setup(coll, dim) {
      await post('collections/create', {
        collectionName: coll,
        schema: { fields: [
          { fieldName: 'id', dataType: 'Int64', isPrimary: true },
          { fieldName: 'v', dataType: 'FloatVector', elementTypeParams: { dim } }] },
        indexParams: [{ fieldName: 'v', indexName: 'v', indexType: 'HNSW', metricType: 'L2',
          params: { M: 16, efConstruction: 64 } }],
      });
      await post('collections/load', { collectionName: coll });
    },
    async insert(coll, rows) {
      const j = await post('entities/insert', { collectionName: coll, data: rows });
      if (j.data.insertCount !== rows.length) throw new Error(`REST insert count ${j.data.insertCount}`);
    },
    async search(coll, vec, topk) {
      const j = await post('entities/search', { collectionName: coll, annsField: 'v', data: [vec],
        limit: topk, searchParams: { params: { ef: 64 } } });
      return j.data.length;
    },
    async close() {},
  };
}

// ------------------------------------------------------------------ gRPC
async function grpcPath(addr) {
  const client = new MilvusClient({ address: addr });
  await client.connectPromise;
  const ok = (res, what) => {
    const st = res.status || res;
    if (st.error_code !== ErrorCode.SUCCESS || Number(st.code || 0) !== 0) {
      throw new Error(`gRPC ${what}: ${st.reason} (code ${st.code})`);
    }
    return res;
  };
  return {
    async setup(coll, dim) {
      ok(await client.createCollection({ collection_name: coll, fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
        { name: 'v', data_type: DataType.FloatVector, dim }] }), 'createCollection');
      ok(await client.createIndex({ collection_name: coll, field_name: 'v', index_name: 'v',
        index_type: 'HNSW', metric_type: 'L2', params: { M: 16, efConstruction: 64 } }),
      'createIndex');
      ok(await client.loadCollectionSync({ collection_name: coll }), 'loadCollection');
    },
    async insert(coll, rows) {
      const r = ok(await client.insert({ collection_name: coll, fields_data: rows }), 'insert');
      if (Number(r.insert_cnt) !== rows.length) throw new Error(`gRPC insert count ${r.insert_cnt}`);
    },
    async search(coll, vec, topk) {
      const r = ok(await client.search({ collection_name: coll, anns_field: 'v', data: [vec],
        limit: topk, params: { ef: 64 } }), 'search');
      return r.results.length;
    },
    async close() { await client.closeConnection(); },
  };
}

async function benchOne(name, p, a, conc) {
  const coll = `${name}_c${conc}`;
  await p.setup(coll, a.dim);
  // Rows and queries are made before the clock starts (proto_bench.c makes its own
  // inside the timed loop; at these sizes that costs it < 1%).
  const batches = [];
  for (let first = 0; first < a.rows; first += a.batch) {
    const b = [];
    for (let i = first; i < Math.min(a.rows, first + a.batch); i++) b.push({ id: i, v: rowVector(i, a.dim) });
    batches.push(b);
  }
  const queries = Array.from({ length: a.queries }, (_, q) => rowVector(queryRow(q), a.dim));
  const t0 = performance.now();
  await pool(batches.length, conc, (k) => p.insert(coll, batches[k]));
  const t1 = performance.now();
  const lat = new Float64Array(a.queries);
  await pool(a.queries, conc, async (k) => {
    const s = performance.now();
    const n = await p.search(coll, queries[k], a.topk);
    lat[k] = performance.now() - s;
    if (n !== a.topk) throw new Error(`${name} search ${k} returned ${n} rows, expected ${a.topk}`);
  });
  const t2 = performance.now();
  lat.sort();
  const is = (t1 - t0) / 1e3, ss = (t2 - t1) / 1e3;
  console.log(`RESULT path=${name} conc=${conc} rows=${a.rows} insert_s=${is.toFixed(3)} ` +
    `insert_rows_per_s=${(a.rows / is).toFixed(0)} queries=${a.queries} search_s=${ss.toFixed(3)} ` +
    `search_qps=${(a.queries / ss).toFixed(0)} p50_ms=${pct(lat, 50).toFixed(3)} ` +
    `p99_ms=${pct(lat, 99).toFixed(3)}`);
}

async function main() {
  const a = parseArgs(process.argv);
  for (const name of a.path) {
    if (name !== 'rest' && name !== 'grpc') throw new Error(`--path must be rest or grpc, not ${name}`);
    // A fresh client (connection) per concurrency level: see the note on 1000 calls above.
    for (const c of a.conc) {
      const p = name === 'rest' ? restPath(`http://${a.addr}`) : await grpcPath(a.addr);
      try {
        await benchOne(name, p, a, c);
      } finally {
        await p.close();
      }
    }
  }
}

main().catch((e) => {
  console.error(`proto_bench.mjs: ${e.stack || e}`);
  process.exit(1);
});
