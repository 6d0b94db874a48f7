// watan dashboard: counts pending orders' ages up and keeps pages current by
// polling /live, updating only the fields marked data-field, data-count and the
// timeline, and adds new orders to an open orders list. No framework; texts are set
// with textContent. The only HTML taken from the server is what its templates
// rendered (escaped) for the timeline, the provider message and new order rows.
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
        el.querySelectorAll('[data-field="message"][data-html]').forEach(function (m) {
          if (m.dataset.last !== o.message) { m.dataset.last = o.message; m.innerHTML = o.message_html; }
        });
        ['provider', 'referans', 'provider_order_id', 'sent_at', 'updated_at', 'last_checked_at', 'next_check_at',
          'completed_at', 'deadline', 'check_count', 'dispatch_count'].forEach(function (f) {
          if (o[f] !== undefined) { set(el, f, String(o[f])); }
        });
      });
    });
    tickAges();
    var tl = document.querySelector('[data-timeline]');
    if (tl && d.events && d.events.length !== tl.children.length && d.timeline_html !== undefined) {
      tl.innerHTML = d.timeline_html;
    }
  }

  // New orders join an open orders list where they belong (pending orders are
  // listed oldest first, ahead of the rest), without moving what the operator is
  // looking at: the first row on screen keeps its place, and ticked boxes stay.
  function addRows(table, html) {
    var tpl = document.createElement('template');
    tpl.innerHTML = html.trim();
    var rows = Array.prototype.slice.call(tpl.content.querySelectorAll('tr[data-order-id]'));
    if (!rows.length) { return; }
    var body = table.tBodies[0];
    var anchor = null, top = 0;
    Array.prototype.some.call(body.rows, function (r) {
      var b = r.getBoundingClientRect();
      if (b.bottom > 0) { anchor = r; top = b.top; return true; }
      return false;
    });
    rows.forEach(function (r) {
      if (document.querySelector('tr[data-order-id="' + r.dataset.orderId + '"]')) { return; }
      // Pending: last of the pending block (the newest); decided: first of the rest.
      var before = body.querySelector('tr[data-order-id]:not([data-status="pending"])');
      r.classList.add('arrived');
      body.insertBefore(r, before);
      table.dataset.after = Math.max(parseInt(table.dataset.after || '0', 10), parseInt(r.dataset.orderId, 10));
    });
    var none = document.getElementById('orders-none');
    if (none) { none.hidden = true; }
    if (anchor) { window.scrollBy(0, anchor.getBoundingClientRect().top - top); }
    tickAges();
  }

  function pollRows() {
    var table = document.querySelector('[data-live-orders]');
    if (!table) { return Promise.resolve(); }
    var q = new URLSearchParams(window.location.search);
    q.delete('cursor');
    q.set('after', table.dataset.after || '0');
    return fetch('/orders/rows?' + q.toString(), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : ''; })
      .then(function (html) { if (html) { addRows(table, html); } })
      .catch(function () {});
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
      .then(pollRows)
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
    // Filters and bulk actions fold away on a phone, unless a filter is set.
    if (window.matchMedia && window.matchMedia('(max-width: 40rem)').matches) {
      document.querySelectorAll('details[data-fold]:not([data-keep-open])').forEach(function (d) { d.open = false; });
    }
    var every = parseInt(document.body.dataset.poll || '0', 10);
    if (every > 0) { setTimeout(function () { poll(every); }, every); }
  });
})();
