// Kite search-by-image page: upload (drop, browse, paste) -> POST /api/search/<k>,
// "more like this" -> GET /api/similar/<id>/<k>, thumbnails from /api/thumb/<id>.
// Plain DOM, no framework.  Every server string is inserted as text, never as HTML.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const drop = $('drop'), file = $('file'), preview = $('preview'), results = $('results');
  const topSel = $('top'), errBox = $('error'), info = $('info');
  let lastQuery = null; // {kind: 'upload', blob} or {kind: 'similar', id}

  function showError(msg) {
    errBox.textContent = msg;
    errBox.hidden = !msg;
  }

  function render(data, label) {
    results.textContent = '';
    info.textContent = label + ': ' + data.results.length + ' results in ' + Math.round(data.took_ms) + ' ms';
    for (const r of data.results) {
      const card = document.createElement('figure');
      card.className = 'card';
      card.dataset.id = r.id;
      const a = document.createElement('a');
      a.className = 'open';
      a.href = '/api/image/' + r.id;
      a.target = '_blank';
      const img = document.createElement('img');
      img.loading = 'lazy';
      img.alt = r.name;
      img.src = '/api/thumb/' + r.id;
      a.appendChild(img);
      const meta = document.createElement('figcaption');
      meta.className = 'meta';
      const name = document.createElement('div');
      name.className = 'name';
      name.textContent = r.name;
      name.title = r.name;
      const dist = document.createElement('div');
      dist.className = 'dist';
      dist.textContent = 'distance ' + r.distance.toFixed(4);
      meta.append(name, dist);
      const more = document.createElement('button');
      more.type = 'button';
      more.className = 'more';
      more.textContent = 'More like this';
      more.addEventListener('click', () => similar(r.id, r.name));
      card.append(a, meta, more);
      results.appendChild(card);
    }
  }

  async function request(url, opts, label) {
    showError('');
    info.textContent = 'Searching…';
    try {
      const resp = await fetch(url, opts);
      const data = await resp.json().catch(() => ({ error: 'HTTP ' + resp.status }));
      if (!resp.ok || data.error) {
        results.textContent = '';
        info.textContent = '';
        showError(data.error || ('HTTP ' + resp.status));
        return;
      }
      render(data, label);
    } catch (e) {
      info.textContent = '';
      showError('Request failed: ' + e.message);
    }
  }

  function upload(blob) {
    if (!blob) return;
    lastQuery = { kind: 'upload', blob: blob };
    preview.src = URL.createObjectURL(blob);
    preview.hidden = false;
    request('/api/search/' + topSel.value,
            { method: 'POST', body: blob,
              headers: { 'Content-Type': blob.type || 'application/octet-stream' } },
            'Query "' + (blob.name || 'pasted image') + '"');
  }

  function similar(id, name) {
    lastQuery = { kind: 'similar', id: id, name: name };
    preview.src = '/api/thumb/' + id;
    preview.hidden = false;
    window.scrollTo({ top: 0, behavior: 'smooth' });
    request('/api/similar/' + id + '/' + topSel.value, {}, 'More like "' + name + '"');
  }

  file.addEventListener('change', () => upload(file.files[0]));
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); file.click(); }
  });
  for (const ev of ['dragenter', 'dragover']) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  }
  for (const ev of ['dragleave', 'drop']) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('over'); });
  }
  drop.addEventListener('drop', (e) => upload(e.dataTransfer.files[0]));
  document.addEventListener('paste', (e) => {
    for (const item of e.clipboardData.items) {
      if (item.kind === 'file') { upload(item.getAsFile()); return; }
    }
  });
  topSel.addEventListener('change', () => {
    if (!lastQuery) return;
    if (lastQuery.kind === 'upload') upload(lastQuery.blob);
    else similar(lastQuery.id, lastQuery.name);
  });

  async function poll() {
    try {
      const s = await (await fetch('/api/status')).json();
      $('count').textContent = s.count + ' images in "' + s.collection + '"';
      const job = s.index_job;
      const running = job && job.state === 'running';
      $('job').hidden = !running;
      if (running) {
        const pct = job.total ? Math.floor(100 * job.done / job.total) : 0;
        $('job-bar').value = pct;
        $('job-text').textContent = 'indexing ' + job.done + '/' + job.total;
      }
      setTimeout(poll, running ? 1000 : 5000);
    } catch (e) {
      setTimeout(poll, 5000);
    }
  }
  poll();
})();
