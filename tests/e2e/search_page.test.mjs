// End-to-end test of the search-by-image page in a real browser.
//
// Indexes a small folder with `kite images index`, starts `kite serve` on an
// ephemeral port, and drives headless Chromium (Debian's /usr/bin/chromium) with
// playwright-core: upload an image (click-to-browse input), see the grid of
// top-k thumbnails, change k, follow "more like this", drop a file, and get an
// error message for a bad upload.  A screenshot is kept as an artifact in
// $KITE_E2E_ARTIFACTS (default build/e2e/).
//
// Environment: KITE_BIN (default build/kite), KITE_MODEL (default
// models/kite-mobilenetv2.onnx), CHROMIUM (default /usr/bin/chromium).
// Run: cd tests/e2e && npm ci && npm test
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const KITE = process.env.KITE_BIN || path.join(ROOT, 'build', 'kite');
const MODEL = process.env.KITE_MODEL || path.join(ROOT, 'models', 'kite-mobilenetv2.onnx');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.KITE_E2E_ARTIFACTS || path.join(ROOT, 'build', 'e2e');
const STAMPS = '/usr/share/tuxpaint/stamps';
const missing = [KITE, MODEL, CHROMIUM].filter((p) => !fs.existsSync(p));

let tmp, server, baseUrl, context, page, gallery;

// Pick up to `n` PNGs from a few stamp categories (varied, recognisable pictures).
function pickStamps(n) {
  const cats = ['animals/mammals', 'food/fruit', 'symbols/money', 'town/houses'];
  const out = [];
  for (const c of cats) {
    const dir = path.join(STAMPS, c);
    if (!fs.existsSync(dir)) continue;
    const files = [];
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.png')) files.push(p);
      }
    };
    walk(dir);
    out.push(...files.slice(0, Math.ceil(n / cats.length)));
  }
  return out.slice(0, n);
}

function startServer(dataDir) {
  return new Promise((resolve, reject) => {
    const proc = spawn(KITE, ['serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
                       { env: { ...process.env, KITE_MODEL: MODEL }, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    const timer = setTimeout(() => reject(new Error('server did not start in 60 s')), 60000);
    proc.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1] });
      }
    });
    proc.on('exit', (code) => reject(new Error('server exited with ' + code)));
  });
}

before(async () => {
  if (missing.length) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-e2e-'));
  const dir = path.join(tmp, 'pictures');
  fs.mkdirSync(dir);
  gallery = pickStamps(24).map((src, i) => {
    const dst = path.join(dir, String(i).padStart(2, '0') + '_' + path.basename(src));
    fs.copyFileSync(src, dst);
    return dst;
  });
  assert.ok(gallery.length >= 12, 'need tuxpaint-stamps-default for the e2e gallery');
  execFileSync(KITE, ['images', 'index', dir, '--data-dir', path.join(tmp, 'data'), '--quiet'],
               { env: { ...process.env, KITE_MODEL: MODEL }, stdio: 'inherit' });
  ({ proc: server, url: baseUrl } = await startServer(path.join(tmp, 'data')));
  context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] || await context.newPage();
});

after(async () => {
  if (context) await context.close();
  if (server) {
    const exited = new Promise((r) => server.on('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const cardIds = () => page.$$eval('#results .card', (cs) => cs.map((c) => c.dataset.id));

test('search page: upload, grid, k, more like this, drop, bad upload', { skip: missing.length ? 'missing ' + missing.join(', ') : false, timeout: 300000 }, async () => {
  await page.goto(baseUrl + '/');
  await page.waitForFunction(() => /\d+ images/.test(document.querySelector('#count').textContent));
  assert.match(await page.textContent('#count'), new RegExp(gallery.length + ' images'));

  // Click-to-browse upload of one gallery image: it comes back first, distance ~0.
  const query = gallery[5];
  await page.setInputFiles('#file', query);
  await page.waitForFunction(() => document.querySelectorAll('#results .card').length === 10);
  assert.equal(await page.isVisible('#preview'), true);
  const firstName = await page.textContent('#results .card:first-child .name');
  assert.equal(firstName, path.basename(query));
  assert.match(await page.textContent('#results .card:first-child .dist'), /distance 0\.0/);
  // The thumbnails in view are decoded; every thumbnail URL serves a JPEG (the
  // grid's images are loading="lazy", so off-screen ones are not fetched yet).
  await page.waitForFunction(() => {
    const img = document.querySelector('#results .card:first-child img');
    return img.complete && img.naturalWidth > 0;
  });
  for (const src of await page.$$eval('#results img', (is) => is.map((i) => i.src))) {
    const resp = await page.request.get(src);
    assert.equal(resp.status(), 200, src);
    assert.equal(resp.headers()['content-type'], 'image/jpeg');
  }

  // k is selectable: 5 results.
  await page.selectOption('#top', '5');
  await page.waitForFunction(() => document.querySelectorAll('#results .card').length === 5);

  // "More like this" on the second result: new grid without that image.
  const before = await cardIds();
  const target = before[1];
  await page.click(`#results .card[data-id="${target}"] button.more`);
  await page.waitForFunction(() => /^More like/.test(document.querySelector('#info').textContent));
  await page.waitForFunction(() => document.querySelectorAll('#results .card').length === 5);
  const after = await cardIds();
  assert.ok(!after.includes(target), 'the query image is not among its own results');
  assert.notDeepEqual(after, before);

  // Drag and drop onto the drop zone.
  const bytes = fs.readFileSync(gallery[0]).toString('base64');
  await page.evaluate(async ([b64, name]) => {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bin], name, { type: 'image/png' }));
    document.querySelector('#drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [bytes, path.basename(gallery[0])]);
  await page.waitForFunction((n) => document.querySelector('#results .card .name')?.textContent === n,
                             path.basename(gallery[0]));

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'search_page.png'), fullPage: true });

  // A bad upload shows an error message and clears the grid.
  await page.setInputFiles('#file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not an image at all') });
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /not an image/);
  assert.equal((await cardIds()).length, 0);
});
