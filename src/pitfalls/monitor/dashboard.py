"""The dashboard at `/`: one self-contained page (no CDN, no external file) in English or
Japanese. The page itself holds no data: it asks for a read token, keeps it in
`sessionStorage`, and draws inline SVG charts from the API it calls with that token. Every value
from the API is put into the page as text (`textContent`), never as markup; thumbnails are
`<img>` elements whose `src` is a JPEG data URL the service wrote itself."""

from __future__ import annotations

import json

from markupsafe import escape

TEXT = {
    "en": {"title": "pitfalls monitor", "token": "Read token", "login": "Log in",
           "logout": "Log out", "accuracy": "Accuracy over time",
           "estimated": "estimated (ATC)", "estimated_replay": "estimated (capture replay)",
           "estimated_mixed": "estimated (capture replay; ATC where it has none)",
           "atc": "ATC (beside the replay)", "realised": "realised (labels)",
           "band": "agreed range", "conditions": "Capture conditions vs the lab",
           "mix": "Prediction mix (latest window)", "sources": "Per-source health",
           "alerts": "Alerts", "none": "No alerts.", "rule": "rule", "source": "source",
           "state": "state", "seen": "last seen", "n": "records", "bad_token":
           "The token was refused.", "lab": "lab", "window": "window",
           "shifted": "Most shifted recent inputs",
           "thumbs_off": "No recent input carries a thumbnail: thumbnails are off. Enable them "
                         "on the client with thumbnails=True (pitfalls monitor log "
                         "--thumbnails).",
           "distance": "distance from the lab photos"},
    "ja": {"title": "pitfalls 監視", "token": "読み取りトークン", "login": "ログイン",
           "logout": "ログアウト", "accuracy": "精度の推移", "estimated": "推定精度（ATC）",
           "estimated_replay": "推定精度（撮影条件の再現）",
           "estimated_mixed": "推定精度（撮影条件の再現。再現のない時間枠は ATC）",
           "atc": "ATC による推定（比較用）",
           "realised": "実測精度（正解ラベル）", "band": "合意した範囲",
           "conditions": "撮影条件（ラボとの比較）", "mix": "予測クラスの構成（最新の時間枠）",
           "sources": "ソースごとの状態", "alerts": "アラート", "none": "アラートはありません。",
           "rule": "ルール", "source": "ソース", "state": "状態", "seen": "最終検出",
           "n": "件数", "bad_token": "トークンが拒否されました。", "lab": "ラボ",
           "window": "時間枠", "shifted": "直近で最もずれた入力",
           "thumbs_off": "サムネイル付きの入力がありません（サムネイル送信が無効です）。"
                         "クライアントで thumbnails=True（pitfalls monitor log では "
                         "--thumbnails）を指定すると、ここに表示されます。",
           "distance": "ラボ画像からの距離"},
}

SCRIPT = r"""
const T = JSON.parse(document.getElementById('texts').textContent);
const NS = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
function el(tag, attrs, text) {
  const e = tag.startsWith('svg:') ? document.createElementNS(NS, tag.slice(4))
                                   : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
async function api(path) {
  const r = await fetch(path, {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('pfm_token')}});
  if (r.status === 401 || r.status === 403) { throw new Error('auth'); }
  return r.json();
}
function chart(box, series, band) {
  const W = 640, H = 200, P = 30;
  const svg = el('svg:svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img'});
  const n = Math.max(1, ...series.map(s => s.values.length));
  const x = (i) => P + (W - 2 * P) * (n === 1 ? 0.5 : i / (n - 1));
  const y = (v) => H - P - (H - 2 * P) * v;
  svg.append(el('svg:line', {x1: P, y1: y(0), x2: W - P, y2: y(0), stroke: '#999'}));
  if (band) svg.append(el('svg:rect', {x: P, y: y(band[1]), width: W - 2 * P,
    height: Math.max(1, y(band[0]) - y(band[1])), fill: '#c8e6c9', class: 'band'}));
  for (const s of series) {
    const pts = s.values.map((v, i) => v === null ? null : [x(i), y(v)]).filter(p => p);
    if (pts.length) svg.append(el('svg:polyline', {points: pts.map(p => p.join(',')).join(' '),
      fill: 'none', stroke: s.colour, 'stroke-width': 2, class: 'series',
      'stroke-dasharray': s.dash || 'none'}));
    for (const p of pts) svg.append(el('svg:circle', {cx: p[0], cy: p[1], r: 2.5, fill: s.colour}));
  }
  const legend = el('p', {class: 'legend'});
  for (const s of series) legend.append(el('span', {style: 'color:' + s.colour}, '— ' + s.name + ' '));
  box.replaceChildren(svg, legend);
}
function table(box, head, rows) {
  const t = el('table'); const tr = el('tr');
  for (const h of head) tr.append(el('th', {}, h));
  t.append(tr);
  for (const r of rows) { const row = el('tr'); for (const c of r) row.append(el('td', {}, c)); t.append(row); }
  box.replaceChildren(t);
}
function shifted(box, data) {
  const items = (data.items || []).filter(
    i => typeof i.thumbnail === 'string' && i.thumbnail.startsWith('data:image/jpeg;base64,'));
  if (!items.length) { box.replaceChildren(el('p', {class: 'note'}, T.thumbs_off)); return; }
  const grid = el('div', {class: 'grid'});
  for (const i of items) {
    const conf = typeof i.confidence === 'number' ? ` (${(100 * i.confidence).toFixed(0)}%)` : '';
    const conds = (i.conditions || []).map(
      c => `${c.label} ${c.z < 0 ? '−' : '+'}${Math.abs(c.z).toFixed(1)}σ`).join(', ');
    const fig = el('figure', {title: `${i.captured_at} · ${T.distance} ${Number(i.distance).toFixed(2)} · ${i.id}`});
    const cap = el('figcaption');
    cap.append(el('span', {class: 'src'}, i.source), el('br'), el('span', {}, i.pred + conf),
               el('br'), el('span', {class: 'conds'}, conds));
    fig.append(el('img', {src: i.thumbnail, alt: `${i.source}: ${i.pred}`}), cap);
    grid.append(fig);
  }
  box.replaceChildren(grid);
}
async function load() {
  const q = new URLSearchParams(location.search); const p = new URLSearchParams({every: '1h'});
  for (const k of ['start', 'end']) if (q.get(k)) p.set(k, q.get(k));
  const data = await api('/api/v1/windows?' + p);
  const alerts = (await api('/api/v1/alerts?lang=' + T.lang)).alerts;
  const tp = new URLSearchParams({lang: T.lang});
  for (const k of ['start', 'end']) if (q.get(k)) tp.set(k, q.get(k));
  shifted($('shifted'), await api('/api/v1/thumbnails?' + tp));
  const ws = data.windows; const ref = data.reference || {};
  const band = ((ref.expected_accuracy || {}).range) || null;
  const methods = new Set(ws.filter(w => w.estimated_accuracy !== null && w.estimated_accuracy !== undefined)
                            .map(w => w.estimate_method));
  const replayed = methods.has('replay');
  const estName = replayed ? (methods.has('atc') ? T.estimated_mixed : T.estimated_replay) : T.estimated;
  chart($('accuracy'), [
    {name: estName, colour: '#1565c0', values: ws.map(w => w.estimated_accuracy)},
    ...(replayed ? [{name: T.atc, colour: '#78909c', dash: '4 3', values: ws.map(w => w.atc_estimate)}] : []),
    {name: T.realised, colour: '#c62828', values: ws.map(w => w.realised_accuracy)}], band);
  const conds = [...new Set(ws.flatMap(w => Object.keys(w.conditions || {})))].slice(0, 4);
  const colours = ['#6a1b9a', '#ef6c00', '#2e7d32', '#00838f'];
  chart($('conditions'), conds.map((c, i) => {
    const vals = ws.map(w => (w.conditions || {})[c]);
    const f = vals.filter(v => v !== null && v !== undefined);
    const lo = Math.min(...f), hi = Math.max(...f), span = (hi - lo) || 1;
    return {name: c, colour: colours[i], values: vals.map(v => v === null || v === undefined ? null : (v - lo) / span)};
  }), null);
  const last = [...ws].reverse().find(w => w.n) || {prediction_mix: {}};
  table($('mix'), [T.window, '%'], Object.entries(last.prediction_mix || {}).map(
    ([k, v]) => [k, (100 * v).toFixed(1)]));
  const live = alerts.filter(a => a.state !== 'resolved');
  const bySource = {};
  for (const a of live) (bySource[a.source] = bySource[a.source] || []).push(a.rule);
  table($('sources'), [T.source, T.alerts], Object.entries(bySource).map(([s, r]) => [s, r.join(', ')]));
  if (!alerts.length) $('alerts').replaceChildren(el('p', {}, T.none));
  else table($('alerts'), [T.rule, T.source, T.state, T.seen, ''],
             alerts.map(a => [a.rule, a.source, a.state, a.last_seen, a.title]));
  $('login').hidden = true; $('board').hidden = false;
}
async function start() {
  try { await load(); }
  catch (e) {
    $('board').hidden = true; $('login').hidden = false;
    if (e.message === 'auth') { sessionStorage.removeItem('pfm_token'); $('error').textContent = T.bad_token; }
    else console.error(e);
  }
}
$('login').addEventListener('submit', (ev) => {
  ev.preventDefault(); sessionStorage.setItem('pfm_token', $('token').value); start();
});
$('logout').addEventListener('click', () => { sessionStorage.removeItem('pfm_token'); location.reload(); });
if (sessionStorage.getItem('pfm_token')) start();
setInterval(() => { if (sessionStorage.getItem('pfm_token')) start(); }, 30000);
"""  # noqa: E501 - JavaScript, kept readable on its own terms

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:60em;color:#222}
section{margin:1em 0}h2{font-size:1.1em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.legend{font-size:.85em}
#error{color:#c62828}.note{color:#555}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(9em,1fr));gap:.6em}
figure{margin:0}figure img{display:block;max-width:100%;height:auto;border:1px solid #ccc}
figcaption{font-size:.8em;overflow-wrap:anywhere}.src{font-weight:600}"""

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'")
"""The page loads nothing from anywhere and talks only to its own service; its only images are
the thumbnails the service re-encoded, as `data:` URLs."""


def page(lang: str = "en") -> str:
    """The dashboard's HTML in `lang` (en or ja; anything else is English)."""
    t = TEXT.get(lang, TEXT["en"])
    texts = json.dumps({**t, "lang": lang if lang in TEXT else "en"}, ensure_ascii=False)
    texts = texts.replace("<", "\\u003c")  # cannot close the script element
    e = {k: escape(v) for k, v in t.items()}
    sections = "".join(f'<section><h2>{e[k]}</h2><div id="{k}"></div></section>'
                       for k in ("accuracy", "conditions", "shifted", "mix", "sources",
                                 "alerts"))
    return f"""<!doctype html>
<html lang="{escape(lang if lang in TEXT else 'en')}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{e['title']}</title><style>{STYLE}</style></head><body>
<h1>{e['title']}</h1>
<form id="login"><label>{e['token']} <input id="token" type="password" autocomplete="off">
</label> <button type="submit">{e['login']}</button> <span id="error"></span></form>
<div id="board" hidden><button id="logout" type="button">{e['logout']}</button>{sections}</div>
<script type="application/json" id="texts">{texts}</script>
<script>{SCRIPT}</script></body></html>"""
