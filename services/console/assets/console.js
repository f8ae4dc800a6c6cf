// The console's only script (no inline script: the CSP allows 'self' only). Every value from the
// server is put into the page with textContent, never as HTML.
(function () {
  'use strict';

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text == null ? '' : String(text);
    tr.appendChild(td);
    return td;
  }

  function stateSpan(state, id) {
    var s = document.createElement('span');
    s.className = 'state state-' + state;
    s.textContent = state;
    if (id) s.setAttribute('data-state-of', id);
    return s;
  }

  function setState(id, state) {
    document.querySelectorAll('[data-state-of="' + CSS.escape(id) + '"]').forEach(function (el) {
      el.textContent = state;
      el.className = 'state state-' + state;
    });
  }

  function follow(params, onEvent, status) {
    var qs = Object.keys(params)
      .filter(function (k) {
        return params[k];
      })
      .map(function (k) {
        return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]);
      })
      .join('&');
    var es = new EventSource('/api/live' + (qs ? '?' + qs : ''));
    es.addEventListener('open', function () {
      if (status) status.textContent = 'live';
    });
    es.addEventListener('error', function () {
      if (status) status.textContent = 'reconnecting…';
    });
    es.addEventListener('action', function (m) {
      onEvent(JSON.parse(m.data));
    });
    return es;
  }

  function actionsPage(table) {
    var tbody = table.querySelector('tbody');
    var prepend = table.getAttribute('data-live-actions') === 'first-page' && !table.getAttribute('data-filtered');
    follow({ tenant: table.getAttribute('data-tenant'), type: table.getAttribute('data-type') }, function (e) {
      if (tbody.querySelector('tr[data-action="' + CSS.escape(e.action_id) + '"]'))
        return setState(e.action_id, e.to_state);
      if (!prepend || e.from_state !== null) return;
      var tr = document.createElement('tr');
      tr.setAttribute('data-action', e.action_id);
      tr.className = 'fresh';
      var a = document.createElement('a');
      a.href = '/actions/' + encodeURIComponent(e.action_id);
      a.textContent = e.action_id;
      cell(tr, '').appendChild(a);
      cell(tr, e.tenant_id);
      cell(tr, e.type);
      cell(tr, '');
      cell(tr, '').appendChild(stateSpan(e.to_state, e.action_id));
      cell(tr, '');
      cell(tr, '');
      cell(tr, e.at);
      cell(tr, '');
      cell(tr, '', 'mono');
      cell(tr, '', 'error');
      tbody.insertBefore(tr, tbody.firstChild);
    });
  }

  function actionPage(box) {
    var id = box.getAttribute('data-action-id');
    var tbody = document.querySelector('#events tbody');
    // Each event (and the stream's opening, for what happened before it) re-reads the action:
    // the page then shows what PostgreSQL has, whatever the stream missed.
    var refresh = function () {
      fetch('/api/actions/' + encodeURIComponent(id), { credentials: 'same-origin' })
        .then(function (r) {
          return r.ok ? r.json() : null;
        })
        .then(function (d) {
          if (!d) return;
          setState(id, d.action.state);
          var result = document.getElementById('result');
          if (result) result.textContent = d.result_json;
          while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
          d.events.forEach(function (e) {
            var tr = document.createElement('tr');
            cell(tr, e.at);
            cell(tr, e.from_state || '(new)');
            cell(tr, '').appendChild(stateSpan(e.to_state));
            cell(tr, e.actor);
            cell(tr, e.duration_ms == null ? '' : (e.duration_ms / 1000).toFixed(3) + ' s');
            cell(tr, e.reason || '');
            tbody.appendChild(tr);
          });
        });
    };
    var es = follow({ action: id, tenant: box.getAttribute('data-tenant') }, refresh);
    es.addEventListener('open', refresh);
  }

  function eventsPage(table) {
    var tbody = table.querySelector('tbody');
    var status = document.getElementById('live-status');
    follow(
      { tenant: table.getAttribute('data-tenant'), type: table.getAttribute('data-type') },
      function (e) {
        var tr = document.createElement('tr');
        tr.className = 'fresh';
        cell(tr, e.at);
        cell(tr, e.tenant_id);
        cell(tr, e.type);
        var a = document.createElement('a');
        a.href = '/actions/' + encodeURIComponent(e.action_id);
        a.textContent = e.action_id;
        cell(tr, '').appendChild(a);
        cell(tr, e.from_state || '(new)');
        cell(tr, '').appendChild(stateSpan(e.to_state));
        cell(tr, e.actor);
        cell(tr, e.reason || '');
        tbody.insertBefore(tr, tbody.firstChild);
        while (tbody.rows.length > 500) tbody.deleteRow(-1);
      },
      status,
    );
  }

  var PALETTE = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280'];

  function plot(el, title, xs, series) {
    if (typeof uPlot === 'undefined') return;
    var opts = {
      width: Math.max(320, el.clientWidth || 440),
      height: 200,
      series: [{}].concat(
        series.map(function (s, i) {
          return { label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true };
        }),
      ),
      axes: [{}, { size: 50 }],
      legend: { show: true },
    };
    el.textContent = '';
    new uPlot(
      opts,
      [xs].concat(
        series.map(function (s) {
          return s.values;
        }),
      ),
      el,
    );
  }

  function charts(box) {
    fetch('/api/charts', { credentials: 'same-origin' })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (c) {
        if (!c) return;
        var families = c.families;
        var hx = c.history.map(function (p) {
          return Date.parse(p.at) / 1000;
        });
        var by = function (pick) {
          return families.map(function (f) {
            return {
              label: f,
              values: c.history.map(function (p) {
                var v = p.families[f];
                return v ? pick(v) : null;
              }),
            };
          });
        };
        var buckets = Array.from(
          new Set(
            c.throughput.map(function (t) {
              return Date.parse(t.at) / 1000;
            }),
          ),
        ).sort(function (a, b) {
          return a - b;
        });
        var tp = families.map(function (f) {
          return {
            label: f,
            values: buckets.map(function (b) {
              var hit = c.throughput.find(function (t) {
                return t.family === f && Date.parse(t.at) / 1000 === b;
              });
              return hit ? hit.n : 0;
            }),
          };
        });
        var el = function (name) {
          return box.querySelector('[data-chart="' + name + '"]');
        };
        plot(el('throughput'), 'throughput', buckets, tp);
        plot(
          el('canary'),
          'canary',
          hx,
          by(function (v) {
            return v.canary_ms;
          }),
        );
        plot(
          el('backlog'),
          'backlog',
          hx,
          by(function (v) {
            return v.backlog;
          }),
        );
        plot(el('dead'), 'dead', hx, [
          {
            label: 'dead',
            values: c.history.map(function (p) {
              return p.dead;
            }),
          },
        ]);
      });
  }

  // A destructive type's form: Submit stays disabled until the target's name is typed again.
  function confirmGate(form) {
    var button = form.querySelector('button[type="submit"]');
    var confirm = form.querySelector('input[name="confirm"]');
    var key = form.getAttribute('data-confirm-key');
    function check() {
      var target = key ? form.querySelector('[name="' + CSS.escape(key) + '"]') : null;
      var want = target ? target.value.trim() : '';
      button.disabled = want === '' || confirm.value.trim() !== want;
    }
    form.addEventListener('input', check);
    check();
  }

  function start() {
    var t = document.querySelector('table[data-live-actions]');
    if (t) actionsPage(t);
    var a = document.getElementById('action-live');
    if (a) actionPage(a);
    var ev = document.getElementById('live-events');
    if (ev) eventsPage(ev);
    var ch = document.getElementById('charts');
    if (ch) charts(ch);
    var lf = document.querySelector('form[data-confirm-key]');
    if (lf) confirmGate(lf);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
