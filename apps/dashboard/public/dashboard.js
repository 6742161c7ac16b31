/*
 * Progressive enhancement for the dashboard: every page is complete without this file. With it,
 * the overview and its slot feed follow the server's live stream (server-sent events), and flow
 * tables gain charts (Chart.js). Text is always set with textContent, never as HTML.
 */
(function () {
  'use strict';

  var STATE_LABEL = { too_late: 'too late', open: 'waiting', offering: 'offered', booked: 'filled', unfilled: 'closed unfilled', withdrawn: 'withdrawn' };

  function fmtDate(iso) {
    if (!iso) return '–';
    var d = new Date(iso);
    return d.toLocaleString('en-GB', { timeZone: 'Europe/London', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }
  function fmt(v, kind) {
    if (v === null || v === undefined) return '–';
    if (kind === 'pct') return (v * 100).toFixed(1) + '%';
    return Number(v).toLocaleString('en-GB', { maximumFractionDigits: 1 });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderOverview(o) {
    var at = document.getElementById('overview-at');
    if (at) at.textContent = fmtDate(o.at);
    o.windows.forEach(function (w) {
      document.querySelectorAll('[data-window="' + w.window + '"][data-metric]').forEach(function (cell) {
        cell.textContent = fmt(w[cell.getAttribute('data-metric')], cell.getAttribute('data-format'));
      });
      var closed = document.querySelector('[data-closed="' + w.window + '"]');
      if (closed) {
        closed.textContent = '';
        if (!w.closedUnfilled.length) closed.textContent = 'none';
        w.closedUnfilled.forEach(function (c, i) {
          if (i) closed.appendChild(document.createElement('br'));
          closed.appendChild(document.createTextNode(c.reason + ': ' + c.count));
        });
      }
    });
  }

  function renderFeed(rows, specialty) {
    var body = document.getElementById('slot-feed-body');
    if (!body) return;
    var fresh = document.createDocumentFragment();
    rows.forEach(function (s) {
      var tr = el('tr', 'nhsuk-table__row');
      tr.setAttribute('data-slot-id', s.id);
      var c1 = el('td', 'nhsuk-table__cell');
      var a = el('a', null, fmtDate(s.released_at));
      a.href = '/slots/' + s.id;
      c1.appendChild(a);
      tr.appendChild(c1);
      tr.appendChild(el('td', 'nhsuk-table__cell', s.trust_ods + ' ' + s.site_ods));
      tr.appendChild(el('td', 'nhsuk-table__cell', (specialty[s.tfc] || s.tfc) + ' (' + s.appointment_type + ')'));
      tr.appendChild(el('td', 'nhsuk-table__cell', fmtDate(s.start_at)));
      tr.appendChild(el('td', 'nhsuk-table__cell', s.offers + ' in ' + s.waves + ' wave' + (s.waves === 1 ? '' : 's')));
      var c6 = el('td', 'nhsuk-table__cell');
      var tag = el('strong', 'nhsuk-tag state-' + s.status, STATE_LABEL[s.status] || s.status);
      tag.setAttribute('data-state', '');
      c6.appendChild(tag);
      tr.appendChild(c6);
      fresh.appendChild(tr);
    });
    if (!rows.length) {
      var empty = el('tr', 'nhsuk-table__row');
      var td = el('td', 'nhsuk-table__cell', 'No freed slots yet.');
      td.colSpan = 6;
      empty.appendChild(td);
      fresh.appendChild(empty);
    }
    body.textContent = '';
    body.appendChild(fresh);
  }

  function live() {
    if (!document.getElementById('overview') || !window.EventSource) return;
    // Specialty names as the server rendered them, so live rows read the same.
    var specialty = {};
    document.querySelectorAll('#slot-feed-body tr').forEach(function (tr) {
      var cell = tr.children[2];
      if (cell) { var m = /^(\d{3}) (.*) \((NEW|FUP)\)$/.exec(cell.textContent.trim()); if (m) specialty[m[1]] = m[1] + ' ' + m[2]; }
    });
    var status = document.getElementById('live-status');
    var source = new EventSource('/events');
    source.addEventListener('update', function (e) {
      var data = JSON.parse(e.data);
      renderOverview(data.overview);
      renderFeed(data.feed, specialty);
      document.body.setAttribute('data-live', 'connected');
    });
    // The server ends the stream when this session has ended (signed out elsewhere, expired, account disabled).
    source.addEventListener('signed-out', function () {
      source.close();
      document.body.setAttribute('data-live', 'signed-out');
      if (status) status.textContent = 'Live updates stopped: you are signed out. Sign in again to carry on.';
    });
    source.addEventListener('error', function () {
      document.body.setAttribute('data-live', 'reconnecting');
      if (status && source.readyState === EventSource.CLOSED) status.textContent = 'Live updates stopped: reload the page.';
    });
  }

  function charts() {
    if (!window.Chart) return;
    document.querySelectorAll('.chart[data-chart]').forEach(function (box) {
      fetch(box.getAttribute('data-source'), { headers: { accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          var canvas = document.createElement('canvas');
          box.appendChild(canvas);
          var kind = box.getAttribute('data-chart');
          if (kind === 'tfc') {
            new window.Chart(canvas, {
              type: 'bar',
              data: {
                labels: data.tfc.map(function (r) { return r.tfc; }),
                datasets: [
                  { label: 'Freed', data: data.tfc.map(function (r) { return r.freed; }), backgroundColor: '#768692' },
                  { label: 'Filled', data: data.tfc.map(function (r) { return r.filled; }), backgroundColor: '#005eb8' },
                  { label: 'Filled by another trust', data: data.tfc.map(function (r) { return r.cross_trust; }), backgroundColor: '#007f3b' },
                ],
              },
              options: { responsive: true, maintainAspectRatio: false, animation: false },
            });
          } else {
            var from = Array.from(new Set(data.matrix.map(function (c) { return c.from_trust; })));
            var to = Array.from(new Set(data.matrix.map(function (c) { return c.to_trust; })));
            var palette = ['#005eb8', '#007f3b', '#ffb81c', '#d5281b', '#330072', '#768692'];
            new window.Chart(canvas, {
              type: 'bar',
              data: {
                labels: from,
                datasets: to.map(function (t, i) {
                  return {
                    label: 'to ' + t, backgroundColor: palette[i % palette.length],
                    data: from.map(function (f) { var c = data.matrix.find(function (m) { return m.from_trust === f && m.to_trust === t; }); return c ? c.bookings : 0; }),
                  };
                }),
              },
              options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { x: { stacked: true }, y: { stacked: true } } },
            });
          }
        })
        .catch(function () { /* the table is still there */ });
    });
  }

  live();
  charts();
})();
