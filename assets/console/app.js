/* global document, sessionStorage, confirm, btoa, FileReader, URLSearchParams */
// The console's only script (the page's CSP allows no other). Every call is an ordinary admin API call on
// this origin with the operator's admin token; values of resources are never fetched. Text from the server is
// always set as textContent, never parsed as HTML.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'cocokit-admin-token';

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(method, path, body, type = 'application/json') {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}` };
  if (body !== undefined) headers['content-type'] = type;
  const r = await fetch(path, { method, headers, body, cache: 'no-store' });
  const text = await r.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!r.ok) {
    const err = new Error(json?.detail ?? `HTTP ${r.status}`);
    err.status = r.status;
    // A refused policy names where its parser or compiler stopped.
    if (json?.location) err.location = json.location;
    throw err;
  }
  return { json, headers: r.headers };
}

const PAGES = ['overview', 'decisions', 'resources', 'policies', 'rvs', 'workloads', 'inspector'];

function show(page) {
  for (const p of PAGES) $(`page-${p}`).hidden = p !== page;
  for (const b of document.querySelectorAll('nav [data-page]')) b.setAttribute('aria-current', b.dataset.page === page ? 'page' : 'false');
  if (page === 'decisions') void loadDecisions();
  if (page === 'resources') void loadResources();
  if (page === 'overview') void loadOverview();
  if (page === 'policies') {
    for (const ed of policyEditors) void ed.load().catch(ed.failed);
  }
  if (page === 'rvs') void loadRvs().catch((e) => void ($('rv-error').textContent = e.message));
  if (page === 'workloads') void loadWorkloads().catch((e) => void ($('wl-error').textContent = e.message));
}

function signedIn(yes) {
  $('signin').hidden = yes;
  $('nav').hidden = !yes;
  if (yes) show('overview');
  else for (const p of PAGES) $(`page-${p}`).hidden = true;
}

async function signIn() {
  const token = $('token').value.trim();
  $('signin-error').textContent = '';
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    await api('GET', '/kbs/v0/decisions?limit=1');
    $('token').value = '';
    signedIn(true);
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    $('signin-error').textContent = `Not signed in: ${e.message}`;
  }
}

// ---- overview -------------------------------------------------------------------------------------------

/** Counters of /metrics the overview shows, summed over their labels. */
const COUNTERS = [
  ['kbs_attestation_requests_total', 'attestation requests'],
  ['kbs_attestation_successes_total', 'attestations passed'],
  ['kbs_attestation_failures_total', 'attestations failed'],
  ['kbs_policy_approvals_total', 'releases approved'],
  ['kbs_policy_violations_total', 'releases denied'],
  ['kbs_resource_reads_total', 'resources read'],
  ['kbs_resource_writes_total', 'resources written'],
];
let firstSample;

/** Sums of each counter in Prometheus text exposition. */
function parseMetrics(text) {
  const sums = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m) sums[m[1]] = (sums[m[1]] ?? 0) + Number(m[2]);
  }
  return sums;
}

async function loadOverview() {
  const health = await fetch('/healthz', { cache: 'no-store' });
  $('ov-health').textContent = health.ok ? 'ok' : `HTTP ${health.status}`;
  const { json: st } = await api('GET', '/kbs/v0/status');
  $('ov-store').textContent = st.store;
  $('ov-tees').textContent = st.tees.join(', ') || 'none';
  const sums = parseMetrics(await (await fetch('/metrics', { cache: 'no-store' })).text());
  const now = Date.now();
  firstSample ??= { at: now, sums };
  const minutes = (now - firstSample.at) / 60000;
  const body = $('ov-counts').tBodies[0];
  body.replaceChildren();
  for (const [name, label] of COUNTERS) {
    const tr = el('tr');
    tr.dataset.metric = name;
    const rate = minutes > 0 ? ((sums[name] ?? 0) - (firstSample.sums[name] ?? 0)) / minutes : 0;
    tr.append(el('td', label), el('td', sums[name] ?? 0, 'count'), el('td', rate.toFixed(1)));
    body.append(tr);
  }
  const { json: denials } = await api('GET', '/kbs/v0/decisions?verdict=deny&limit=5');
  const dbody = $('ov-denials').tBodies[0];
  dbody.replaceChildren();
  for (const d of denials) {
    const tr = el('tr');
    tr.append(el('td', d.id), el('td', d.time), el('td', d.type), el('td', d.resource ?? d.tee), el('td', d.reason ?? ''));
    dbody.append(tr);
  }
}

// ---- policies -------------------------------------------------------------------------------------------

/** The ids of one editor's parts: `<p>-text`, `<p>-error`, `<p>-error-at`. */
function clearPolicyError(p) {
  $(`${p}-error`).textContent = '';
  delete $(`${p}-error`).dataset.line;
  delete $(`${p}-error`).dataset.col;
  $(`${p}-error-at`).hidden = true;
  $(`${p}-error-at`).textContent = '';
}

/**
 * Shows a refused policy's error where it is: the message with its line and column, the line itself with a
 * caret under the column, and the editor's cursor on that spot (from the column to the end of the line
 * selected). The server gives the location; an older message naming only `<file>.rego:<line>:` still places
 * the line.
 */
function showPolicyError(p, textId, err) {
  const box = $(`${p}-error`);
  box.textContent = err.message;
  let loc = err.location;
  if (!loc) {
    const m = /\.rego:(\d+):/.exec(err.message);
    if (m) loc = { row: Number(m[1]) };
  }
  if (!loc) return;
  const editor = $(textId);
  const lines = editor.value.split('\n');
  const row = Math.max(1, Math.min(loc.row, lines.length));
  const line = lines[row - 1];
  const col = loc.col === undefined ? 1 : Math.max(1, Math.min(loc.col, line.length + 1));
  box.textContent = loc.col === undefined ? `Line ${row}: ${err.message}` : `Line ${row}, column ${col}: ${err.message}`;
  box.dataset.line = String(row);
  if (loc.col !== undefined) {
    box.dataset.col = String(col);
    // Tabs are kept so the caret sits under the column however wide the browser draws them.
    $(`${p}-error-at`).textContent = `${line}\n${line.slice(0, col - 1).replace(/[^\t]/g, ' ')}^`;
    $(`${p}-error-at`).hidden = false;
  }
  const start = lines.slice(0, row - 1).reduce((n, l) => n + l.length + 1, 0);
  editor.focus();
  editor.setSelectionRange(start + col - 1, start + line.length);
}

function base64url(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * One policy editor (the page's `policy-editor` template) for one kind of policy: its parts get the ids
 * `<prefix>-<part>` (`-text`, `-error`, `-error-at`, `-decision`, `-result`, `-id` where a policy id is
 * chosen). `o` says what differs between kinds: where the text is read and saved, the dry-run's kind, and how
 * its answer reads.
 */
function policyEditor(p, o) {
  const node = $('policy-editor').content.cloneNode(true);
  for (const part of node.querySelectorAll('[data-part]')) part.id = `${p}-${part.dataset.part}`;
  for (const label of node.querySelectorAll('label[data-for]')) label.htmlFor = `${p}-${label.dataset.for}`;
  node.querySelector('[data-part="title"]').textContent = o.title;
  if (!o.ids) node.querySelector('[data-part="choose"]').remove();
  $('page-policies').append(node);
  $(`${p}-text`).setAttribute('aria-describedby', `${p}-error`);
  const id = () => (o.ids ? $(`${p}-id`).value : undefined);
  const failed = (e) => void ($(`${p}-error`).textContent = e.message);
  const loadText = async () => {
    clearPolicyError(p);
    $(`${p}-result`).replaceChildren();
    const url = o.url(id());
    if (!url) return;
    const r = await fetch(url, { headers: { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ''}` }, cache: 'no-store' });
    $(`${p}-text`).value = r.ok ? await r.text() : '';
  };
  const dryRun = async () => {
    clearPolicyError(p);
    $(`${p}-result`).replaceChildren();
    const decision = $(`${p}-decision`).value.trim();
    if (!/^[1-9][0-9]*$/.test(decision)) return void ($(`${p}-error`).textContent = `Enter the id of ${o.decisionKind} from the Decisions page.`);
    try {
      const { json: r } = await api('POST', `/kbs/v0/decisions/${decision}/dry-run`, JSON.stringify({ kind: o.kind, policy: $(`${p}-text`).value }));
      $(`${p}-result`).append(...o.dryRunResult(decision, r));
    } catch (e) {
      showPolicyError(p, `${p}-text`, e);
    }
  };
  const save = async () => {
    clearPolicyError(p);
    try {
      await api('POST', o.saveUrl, JSON.stringify({ ...o.saveBody(id()), policy: base64url($(`${p}-text`).value) }));
      $(`${p}-result`).replaceChildren(el('p', o.saved(id()), 'ok'));
    } catch (e) {
      showPolicyError(p, `${p}-text`, e);
    }
  };
  $(`${p}-dry-run`).addEventListener('click', () => void dryRun());
  $(`${p}-save`).addEventListener('click', () => void save());
  if (o.ids) $(`${p}-id`).addEventListener('change', () => void loadText().catch(failed));
  return {
    /** Reads the policy ids in force (where chosen), then the text of the one selected. */
    load: async () => {
      if (o.ids) {
        const ids = await o.ids();
        const sel = $(`${p}-id`);
        const keep = sel.value || o.defaultId;
        sel.replaceChildren(...ids.map((x) => el('option', x)));
        sel.value = ids.includes(keep) ? keep : (ids[0] ?? '');
      }
      await loadText();
    },
    failed,
  };
}

const policyEditors = [
  policyEditor('pol', {
    title: 'Resource policy',
    kind: 'resource',
    decisionKind: 'a decision',
    url: () => '/kbs/v0/resource-policy/resource-policy',
    saveUrl: '/kbs/v0/resource-policy',
    saveBody: () => ({}),
    saved: () => 'Saved.',
    dryRunResult: (id, r) => {
      const p = el('p');
      p.append(el('span', `Decision ${id} was ${r.was.verdict}; with this policy: `), el('span', r.verdict, `verdict-${r.verdict}`));
      const t = el('p');
      reasonWithRule(t, 'Deciding rule: ', r.trace.reason, r.verdict !== 'allow');
      return [p, t];
    },
  }),
  policyEditor('apol', {
    title: 'Attestation policy',
    kind: 'attestation',
    decisionKind: 'an attestation decision',
    ids: async () => (await api('GET', '/kbs/v0/status')).json.attestation_policies,
    defaultId: 'default_cpu',
    url: (id) => (id ? `/kbs/v0/attestation-policy/${encodeURIComponent(id)}` : undefined),
    saveUrl: '/kbs/v0/attestation-policy',
    saveBody: (id) => ({ policy_id: id }),
    saved: (id) => `Saved as ${id}.`,
    dryRunResult: (id, r) => {
      const p = el('p');
      p.append(el('span', `Decision ${id} with this policy: status `), el('span', r.status, `status-${r.status}`));
      return [p, el('pre', JSON.stringify(r.trace.trust_vector, null, 2))];
    },
  }),
];

// ---- reference values -----------------------------------------------------------------------------------

async function loadRvs() {
  const { json } = await api('GET', '/kbs/v0/reference-value');
  const body = $('rvs').tBodies[0];
  body.replaceChildren();
  for (const [name, value] of Object.entries(json)) {
    const tr = el('tr');
    tr.append(el('td', name), el('td', JSON.stringify(value), 'value'));
    body.append(tr);
  }
}

async function setRv() {
  $('rv-error').textContent = '';
  const name = $('rv-name').value.trim();
  if (!name) return void ($('rv-error').textContent = 'Enter a name.');
  let value;
  try {
    value = JSON.parse($('rv-value').value);
  } catch (e) {
    $('rv-value').focus();
    return void ($('rv-error').textContent = `Value is not JSON: ${e.message}`);
  }
  // An RVPS message of type "sample": the payload is the standard base64 of {name: value}.
  const payload = btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify({ [name]: value }))));
  try {
    await api('POST', '/kbs/v0/reference-value', JSON.stringify({ version: '0.1.0', type: 'sample', payload }));
    await loadRvs();
  } catch (e) {
    $('rv-error').textContent = e.message;
  }
}

// ---- workloads ------------------------------------------------------------------------------------------

async function loadWorkloads() {
  const { json } = await api('GET', '/kbs/v0/workloads?limit=1000');
  const body = $('workloads').tBodies[0];
  body.replaceChildren();
  for (const w of json) {
    const tr = el('tr');
    tr.append(el('td', w.workload_id), el('td', w.tee), el('td', w.version), el('td', w.updated), el('td', JSON.stringify(w.reference_values), 'value'), el('td', w.resources.join(', ')));
    const del = el('button', 'Delete');
    del.type = 'button';
    del.setAttribute('aria-label', `Delete workload ${w.workload_id}`);
    del.addEventListener('click', async () => {
      if (!confirm(`Delete workload ${w.workload_id} and its secrets? Its guests will no longer get them.`)) return;
      try {
        await api('DELETE', `/kbs/v0/workloads/${encodeURIComponent(w.workload_id)}`);
        await loadWorkloads();
      } catch (e) {
        $('wl-error').textContent = e.message;
      }
    });
    const td = el('td');
    td.append(del);
    tr.append(td);
    body.append(tr);
  }
}

async function registerWorkload() {
  $('wl-error').textContent = '';
  $('wl-result').textContent = '';
  let body;
  try {
    body = JSON.parse($('wl-json').value);
  } catch (e) {
    $('wl-error').textContent = `Not JSON: ${e.message}`;
    $('wl-json').focus();
    return;
  }
  try {
    const { json: r } = await api('POST', '/kbs/v0/workloads', JSON.stringify(body));
    $('wl-result').textContent = `Registered ${r.workload_id} (version ${r.version}).${r.warnings ? ` ${r.warnings.join(' ')}` : ''}`;
    await loadWorkloads();
  } catch (e) {
    $('wl-error').textContent = e.message;
  }
}

// ---- decisions ------------------------------------------------------------------------------------------

let current;

async function loadDecisions() {
  const q = new URLSearchParams({ limit: '100' });
  if ($('f-verdict').value) q.set('verdict', $('f-verdict').value);
  if ($('f-type').value) q.set('type', $('f-type').value);
  const { json } = await api('GET', `/kbs/v0/decisions?${q}`);
  const body = $('decisions').tBodies[0];
  body.replaceChildren();
  for (const d of json) {
    const tr = el('tr', undefined, 'clickable');
    tr.tabIndex = 0;
    tr.dataset.id = d.id;
    for (const v of [d.id, d.time, d.type, d.tee, d.resource ?? '', d.verdict, d.reason ?? '']) tr.append(el('td', v));
    tr.cells[5].className = `verdict-${d.verdict}`;
    const open = () => void openDecision(d.id);
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && open());
    body.append(tr);
  }
}

function renderChecks(list, checks) {
  list.replaceChildren();
  for (const c of checks) {
    const li = el('li', `${c.ok ? 'ok' : 'FAIL'} ${c.id}: ${c.detail}${c.expected !== undefined ? ` (expected ${c.expected}, actual ${c.actual})` : ''}`, c.ok ? 'ok' : 'fail');
    list.append(li);
  }
}

/** The reason with the deciding rule marked, so a denial shows at a glance which rule and values failed. */
function reasonWithRule(target, prefix, reason, failing) {
  target.replaceChildren(el('span', prefix));
  target.append(failing ? el('mark', reason, 'failing-rule') : el('span', reason));
}

async function openDecision(id) {
  const { json: d } = await api('GET', `/kbs/v0/decisions/${id}`);
  current = d;
  $('decision-detail').hidden = false;
  $('decision-title').textContent = `Decision ${d.id}: ${d.type} ${d.resource ?? d.tee} — ${d.verdict}`;
  reasonWithRule($('decision-reason'), 'Reason: ', d.reason ?? '(none)', d.verdict !== 'allow');
  const checks = Array.isArray(d.checks) ? d.checks.flatMap((c) => (Array.isArray(c.checks) ? c.checks : [c])) : [];
  renderChecks($('decision-checks'), checks);
  renderMismatches(d);
  renderTrace(d);
  $('decision-claims').textContent = JSON.stringify(d.claims ?? null, null, 2);
  $('dry-result').replaceChildren();
  clearPolicyError('dry');
}

/**
 * Why each reference value did not match, as the record says it, and for an SNP measurement registered from
 * artifacts the launch parameter change the server's search found to reproduce the reported value.
 */
function renderMismatches(d) {
  const list = $('decision-mismatches');
  list.replaceChildren();
  const explanations = d.explanations && typeof d.explanations === 'object' ? d.explanations : {};
  const search = d.parameter_search && typeof d.parameter_search === 'object' ? d.parameter_search : {};
  for (const [name, why] of Object.entries(explanations)) {
    const li = el('li');
    li.dataset.claim = name;
    li.append(el('code', name), el('span', `: ${why}`));
    const s = search[name];
    if (s && typeof s.hint === 'string') li.append(el('div', s.hint, 'search-hint'));
    else if (s && typeof s.note === 'string') li.append(el('div', s.note, 'search-note flags'));
    list.append(li);
  }
  $('decision-mismatch').hidden = list.children.length === 0;
}

/**
 * The deciding policy's trace: the explanation the server recomputed from the policy version that decided
 * (for a release every `allow` body tried, the failed ones with the expression and values that stopped them;
 * for an attestation see renderAttestationTrace); otherwise the trace the record holds.
 */
function renderTrace(d) {
  const ex = d.explain;
  const bodies = $('decision-bodies');
  bodies.replaceChildren();
  $('decision-rule').replaceChildren();
  if (Array.isArray(ex?.appraisals)) return renderAttestationTrace(ex);
  if (ex?.available) {
    reasonWithRule($('decision-rule'), `Policy ${ex.policy_id ?? ''} (sha256 ${ex.policy_hash.slice(0, 12)}…): `, ex.reason, ex.verdict !== 'allow');
    for (const b of ex.explanation?.bodies ?? []) {
      const li = el('li', undefined, b.succeeded ? 'body-succeeded' : 'body-failed');
      li.dataset.row = String(b.location.row);
      li.append(el('span', `${b.rule} (line ${b.location.row}${b.branch ? `, else branch ${b.branch}` : ''}): `));
      if (b.succeeded) li.append(el('span', 'succeeded'));
      else if (b.failed) {
        li.append(el('span', 'failed at '), el('mark', b.failed.text, 'failing-rule'));
        const ops = Object.entries(b.failed.operands ?? {}).map(([k, v]) => `${k} = ${JSON.stringify(v)}`);
        if (ops.length) li.append(el('div', ops.join('; '), 'flags'));
      } else li.append(el('span', 'failed'));
      bodies.append(li);
    }
    if (ex.note) $('decision-rule').append(el('div', ex.note, 'flags'));
    $('decision-trace').textContent = JSON.stringify(ex.explanation ?? null, null, 2);
  } else {
    if (ex?.note) $('decision-rule').append(el('span', ex.note, 'flags'));
    $('decision-trace').textContent = JSON.stringify(d.trace ?? null, null, 2);
  }
}

/** A failed body: the rule and line, then the expression that stopped it, marked, and its operands' values. */
function failedBody(b) {
  const li = el('li', undefined, 'body-failed');
  li.dataset.row = String(b.location.row);
  li.append(el('span', `${b.rule} (line ${b.location.row}): failed at `), el('mark', b.failed.text, 'failing-rule'));
  const ops = Object.entries(b.failed.operands ?? {}).map(([k, v]) => `${k} = ${JSON.stringify(v)}`);
  if (ops.length) li.append(el('div', ops.join('; '), 'flags'));
  return li;
}

/**
 * An attestation's trace, recomputed by the server from the policy versions and reference-value set the
 * record names: per appraisal (with the policy version it was evaluated with) its status and trust vector (beside the recorded ones), the trust claims that
 * came out worse than affirming with the rule bodies that failed, and whether redacted claims were read.
 */
function renderAttestationTrace(ex) {
  const set = ex.rv_set_hash ? `, reference values ${ex.rv_set_hash.slice(0, 12)}…` : '';
  $('decision-rule').append(el('span', `Policy ${ex.policy_id ?? ''} (sha256 ${ex.policy_hash.slice(0, 12)}…${set}), evaluated again:`));
  if (ex.note) $('decision-rule').append(el('div', ex.note, 'flags'));
  const bodies = $('decision-bodies');
  for (const a of ex.appraisals) {
    const li = el('li', undefined, 'appraisal');
    li.dataset.submod = a.submod;
    // Each appraisal (the CPU's, each device's) names the policy version it was evaluated with.
    const policy = a.policy_id ? el('span', ` policy ${a.policy_id} (sha256 ${a.policy_hash.slice(0, 12)}…)`, 'appraisal-policy flags') : undefined;
    if (!a.available) {
      li.append(el('span', `${a.submod}: ${a.note}`, 'flags'));
      if (policy) li.append(policy);
      bodies.append(li);
      continue;
    }
    const head = el('div');
    head.append(el('span', `${a.submod}: `), el('span', a.status, `status-${a.status}`));
    if (policy) head.append(policy);
    if (a.recorded_status) head.append(el('span', ` (recorded ${a.recorded_status}${a.same_as_recorded ? ', same trust vector' : ', other trust vector'})`, 'flags'));
    li.append(head);
    const tv = Object.entries(a.trust_vector).map(([k, v]) => `${k} ${v}`).join(', ');
    li.append(el('div', `trust vector: ${tv}`, 'flags'));
    const failing = el('ul', undefined, 'failing');
    for (const f of a.failing) {
      const fi = el('li', undefined, 'failing-claim');
      fi.dataset.claim = f.claim;
      fi.append(el('mark', `${f.rule} = ${f.value} (${f.tier})`, 'failing-rule'));
      if (f.bodies.length === 0) fi.append(el('span', ' — no body applied; the default decided', 'flags'));
      if (f.not_applicable) fi.append(el('span', ` — ${f.not_applicable} bodies for other platforms did not apply`, 'flags'));
      const ul = el('ul');
      for (const b of f.bodies) ul.append(failedBody(b));
      fi.append(ul);
      failing.append(fi);
    }
    li.append(failing);
    if (a.redaction) li.append(el('div', `Redacted claims: ${a.redaction.redacted.join(', ') || 'none'}. ${a.redaction.note}`, a.redaction.may_differ ? 'redaction may-differ' : 'redaction flags'));
    bodies.append(li);
  }
  $('decision-trace').textContent = JSON.stringify(ex.appraisals.map((a) => a.explanation ?? null), null, 2);
}

async function dryRun() {
  clearPolicyError('dry');
  $('dry-result').replaceChildren();
  try {
    const body = JSON.stringify({ kind: $('dry-kind').value, policy: $('dry-policy').value });
    const { json: r } = await api('POST', `/kbs/v0/decisions/${current.id}/dry-run`, body);
    const p = el('p');
    p.append(el('span', `Was ${r.was.verdict}; with this policy: `), el('span', r.verdict, `verdict-${r.verdict}`));
    $('dry-result').append(p);
    if (r.trace?.reason !== undefined) {
      const t = el('p');
      reasonWithRule(t, 'Deciding rule: ', r.trace.reason, r.verdict !== 'allow');
      $('dry-result').append(t);
    } else {
      $('dry-result').append(el('pre', JSON.stringify(r.trace, null, 2)));
    }
  } catch (e) {
    showPolicyError('dry', 'dry-policy', e);
  }
}

async function savePolicy() {
  clearPolicyError('dry');
  try {
    await api('POST', '/kbs/v0/resource-policy', JSON.stringify({ policy: base64url($('dry-policy').value) }));
    $('dry-result').replaceChildren(el('p', 'Saved as the resource policy.', 'ok'));
  } catch (e) {
    showPolicyError('dry', 'dry-policy', e);
  }
}

// ---- resources ------------------------------------------------------------------------------------------

async function loadResources() {
  const { json } = await api('GET', '/kbs/v0/resources?limit=1000');
  const body = $('resources').tBodies[0];
  body.replaceChildren();
  for (const r of json) {
    const tr = el('tr');
    tr.append(el('td', r.path), el('td', `${r.size} bytes`), el('td', r.updated));
    const del = el('button', 'Delete');
    del.type = 'button';
    del.setAttribute('aria-label', `Delete ${r.path}`);
    del.addEventListener('click', async () => {
      if (!confirm(`Delete ${r.path}? Guests will no longer get it.`)) return;
      try {
        await api('DELETE', `/kbs/v0/resource/${r.path}`);
        await loadResources();
      } catch (e) {
        $('res-error').textContent = e.message;
      }
    });
    const td = el('td');
    td.append(del);
    tr.append(td);
    body.append(tr);
  }
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(new Uint8Array(fr.result));
    fr.onerror = () => reject(fr.error);
    fr.readAsArrayBuffer(file);
  });
}

async function upload() {
  $('res-error').textContent = '';
  const path = $('res-path').value.trim();
  const file = $('res-file').files[0];
  if (!/^[^/]+\/[^/]+\/[^/]+$/.test(path)) return void ($('res-error').textContent = 'Path must be repository/type/tag.');
  if (!file) return void ($('res-error').textContent = 'Choose a file.');
  try {
    await api('POST', `/kbs/v0/resource/${path}`, await readFile(file), 'application/octet-stream');
    $('res-file').value = '';
    await loadResources();
  } catch (e) {
    $('res-error').textContent = e.message;
  }
}

// ---- inspector ------------------------------------------------------------------------------------------

async function inspectFile() {
  const file = $('insp-file').files[0];
  if (file) await inspectBytes(() => readFile(file));
}

/** Inspects what `bytes()` gives: a chosen, dropped or pasted artifact. */
async function inspectBytes(bytes) {
  $('insp-error').textContent = '';
  const body = $('insp-fields').tBodies[0];
  body.replaceChildren();
  $('insp-title').textContent = '';
  $('insp-checks').replaceChildren();
  $('insp-notes').replaceChildren();
  try {
    const { json: r } = await api('POST', '/kbs/v0/inspect', await bytes(), 'application/octet-stream');
    $('insp-title').textContent = r.title;
    renderChecks($('insp-checks'), r.checks);
    $('insp-notes').replaceChildren(...r.notes.map((n) => el('li', n)));
    for (const f of r.fields) {
      const tr = el('tr');
      tr.append(el('td', f.offset === undefined ? '' : `0x${f.offset.toString(16).padStart(3, '0')}`), el('td', f.name), el('td', f.value, 'value'));
      const m = el('td', f.meaning);
      if (f.flags) m.append(el('div', Object.entries(f.flags).map(([k, v]) => `${k}=${v}`).join(' '), 'flags'));
      if (f.reference) {
        const ref = f.reference;
        const text = ref.status === 'matched' ? `matched reference value ${ref.name}` : ref.status === 'not-matched' ? `does not match reference value ${ref.name}` : 'no reference value';
        m.append(el('div', text, `reference ref-${ref.status}`));
      }
      tr.append(m);
      body.append(tr);
    }
  } catch (e) {
    $('insp-error').textContent = e.message;
  }
}

// ---- wiring ---------------------------------------------------------------------------------------------

$('signin-button').addEventListener('click', () => void signIn());
$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  signedIn(false);
});
for (const b of document.querySelectorAll('nav [data-page]')) b.addEventListener('click', () => show(b.dataset.page));
$('decision-filter').addEventListener('submit', (e) => {
  e.preventDefault();
  void loadDecisions();
});
$('dry-run').addEventListener('click', () => void dryRun());
$('save-policy').addEventListener('click', () => void savePolicy());
$('res-upload').addEventListener('click', () => void upload());
$('ov-refresh').addEventListener('click', () => void loadOverview());
$('rv-set').addEventListener('click', () => void setRv());
$('wl-register').addEventListener('click', () => void registerWorkload());
$('insp-file').addEventListener('change', () => void inspectFile());
$('insp-paste-go').addEventListener('click', () => {
  const text = $('insp-paste').value.trim();
  if (!text) return void ($('insp-error').textContent = 'Paste an artifact first.');
  void inspectBytes(async () => new TextEncoder().encode(text));
});
$('insp-drop').addEventListener('dragover', (e) => {
  e.preventDefault();
  $('insp-drop').classList.add('over');
});
$('insp-drop').addEventListener('dragleave', () => $('insp-drop').classList.remove('over'));
$('insp-drop').addEventListener('drop', (e) => {
  e.preventDefault();
  $('insp-drop').classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) void inspectBytes(() => readFile(file));
});
if (sessionStorage.getItem(TOKEN_KEY)) signedIn(true);
