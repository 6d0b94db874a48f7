// watan dashboard: counts pending orders' ages up and keeps pages current by
// polling /live, updating only the fields marked data-field, data-count and the
// timeline. No framework; every text is set with textContent, never as HTML.
(function () {
  'use strict';

  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function fmtAge(sec) {
    sec = Math.max(0, Math.floor(sec));
    var h = Math.floor(sec / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
    return h > 0 ? h + ':' + pad(m) + ':' + pad(s) : m + ':' + pad(s);
  }

  function tickAges() {
    var now = Date.now();
    document.querySelectorAll('[data-since]').forEach(function (el) {
      var holder = el.closest('[data-status]');
      if (holder && holder.dataset.status !== 'pending') { el.textContent = ''; return; }
      el.textContent = fmtAge((now - Date.parse(el.dataset.since)) / 1000);
    });
  }

  function set(root, field, text) {
    root.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) {
      if (el.textContent !== text) { el.textContent = text; }
    });
  }

  function apply(d) {
    Object.keys(d.counts || {}).forEach(function (k) {
      document.querySelectorAll('[data-count="' + k + '"]').forEach(function (el) { el.textContent = d.counts[k]; });
    });
    (d.orders || []).forEach(function (o) {
      document.querySelectorAll('[data-order-id="' + o.id + '"]').forEach(function (el) {
        el.dataset.status = o.status;
        el.querySelectorAll('[data-field="status"]').forEach(function (b) {
          b.textContent = o.status_label;
          b.className = 'badge badge-' + o.status;
        });
        set(el, 'provider_state', o.state_label);
        set(el, 'pin', o.pin);
        ['message', 'provider', 'referans', 'provider_order_id', 'sent_at', 'updated_at', 'last_checked_at', 'next_check_at',
          'completed_at', 'deadline', 'check_count', 'dispatch_count'].forEach(function (f) {
          if (o[f] !== undefined) { set(el, f, String(o[f])); }
        });
      });
    });
    tickAges();
    var tl = document.querySelector('[data-timeline]');
    if (tl && d.events && d.events.length !== tl.children.length) {
      var rows = d.events.map(function (e) {
        var tr = document.createElement('tr');
        [e.at, e.actor, e.kind, e.message].forEach(function (v) {
          var td = document.createElement('td');
          td.textContent = v;
          tr.appendChild(td);
        });
        return tr;
      });
      tl.replaceChildren.apply(tl, rows);
    }
  }

  function poll(every) {
    var ids = [];
    document.querySelectorAll('[data-order-id]').forEach(function (el) {
      if (el.dataset.status === 'pending' && ids.length < 200) { ids.push(el.dataset.orderId); }
    });
    var q = 'ids=' + ids.join(',');
    var tl = document.querySelector('[data-timeline]');
    if (tl) { q += '&events=' + encodeURIComponent(tl.dataset.timeline); }
    fetch('/live?' + q, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) {
        if (r.status === 401) { window.location.href = '/signin'; return null; }
        // 503: the database cannot be reached; the banner says so until it answers.
        var banner = document.querySelector('[data-db-banner]');
        if (banner) { banner.hidden = r.status !== 503; }
        return r.ok ? r.json() : null;
      })
      .then(function (d) { if (d) { apply(d); } })
      .catch(function () {})
      .finally(function () { setTimeout(function () { poll(every); }, every); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    tickAges();
    setInterval(tickAges, 1000);
    var all = document.querySelector('[data-select-all]');
    if (all) {
      all.addEventListener('change', function () {
        document.querySelectorAll('input[name="id"]').forEach(function (c) { c.checked = all.checked; });
      });
    }
    var every = parseInt(document.body.dataset.poll || '0', 10);
    if (every > 0) { setTimeout(function () { poll(every); }, every); }
  });
})();
