/* disclosure-gate console: the little behaviour the pages need (no inline script: the CSP forbids it).
 *
 * - htmx error responses are shown in #flash instead of being dropped;
 * - the review workspace: keyboard shortcuts, quick reasons, auto-advance, and the undo window. A resolution
 *   is held in this tab (sessionStorage) for UNDO_MS and only then sent to POST /review/resolve, the same
 *   action a plain form post reaches; undo simply never sends it. Closing the tab before then cancels it.
 */
(function () {
  "use strict";

  var UNDO_MS = 5000;
  var KEY = "dgate.pending", SKIP = "dgate.skip", HIST = "dgate.history", AUTO = "dgate.autoadvance";
  var body = document.body;
  var prefix = body.getAttribute("data-prefix") || "";
  var store = window.sessionStorage;

  function load(key, fallback) {
    try {
      var v = JSON.parse(store.getItem(key));
      return v === null || v === undefined ? fallback : v;
    } catch (e) {
      return fallback;
    }
  }
  function save(key, value) {
    try { store.setItem(key, JSON.stringify(value)); } catch (e) { /* storage full or disabled */ }
  }
  function csrf() { return body.getAttribute("data-csrf") || ""; }

  /* ---- htmx: errors into #flash --------------------------------------------------------------- */
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (status >= 400) {
      var flash = document.getElementById("flash");
      if (flash) {
        evt.detail.shouldSwap = true;
        evt.detail.isError = false;
        evt.detail.target = flash;
        evt.detail.swapOverride = "innerHTML";
      }
    }
  });

  /* ---- toasts ---------------------------------------------------------------------------------------- */
  var toasts = document.createElement("div");
  toasts.id = "toasts";
  toasts.className = "toasts";
  toasts.setAttribute("aria-live", "polite");
  body.appendChild(toasts);

  function pendingList() { return load(KEY, []); }
  function setPending(list) { save(KEY, list); drawPending(); }

  function drawPending() {
    var list = pendingList();
    var old = toasts.querySelectorAll(".toast.pending");
    for (var i = 0; i < old.length; i++) { old[i].remove(); }
    var undo = document.getElementById("undo");
    if (undo) { undo.disabled = !list.some(function (p) { return !p.sending; }); }
    list.forEach(function (p) {
      var el = document.createElement("div");
      el.className = "toast pending";
      var secs = Math.max(0, Math.ceil((p.due - Date.now()) / 1000));
      var text = document.createElement("span");
      text.textContent = p.sending ? (p.decision + " " + p.rid + ": sending…")
        : (p.decision + " " + p.rid + (p.group ? " and its address group" : "") + " in " + secs + " s");
      el.appendChild(text);
      if (!p.sending) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = "Undo (U)";
        b.addEventListener("click", function () { undo(p.id); });
        el.appendChild(b);
      }
      toasts.prepend(el);
    });
  }

  /* results outlive a page change (auto-advance moves on before they arrive): kept for a while in this tab */
  var RESULTS = "dgate.results", KEEP_MS = 15000;

  function drawResults() {
    var old = toasts.querySelectorAll(".toast.result");
    for (var i = 0; i < old.length; i++) { old[i].remove(); }
    var now = Date.now();
    var list = load(RESULTS, []).filter(function (r) { return !r.ok || now - r.at < KEEP_MS; });
    save(RESULTS, list.slice(-20));
    list.forEach(function (r) {
      var el = document.createElement("div");
      el.className = "toast result " + (r.ok ? "success" : "error");
      el.setAttribute("role", r.ok ? "status" : "alert");
      var span = document.createElement("span");
      span.textContent = r.text;
      el.appendChild(span);
      var close = document.createElement("button");
      close.type = "button";
      close.textContent = "Dismiss";
      close.setAttribute("aria-label", "Dismiss this message");
      close.addEventListener("click", function () {
        save(RESULTS, load(RESULTS, []).filter(function (x) { return x.id !== r.id; }));
        drawResults();
      });
      el.appendChild(close);
      toasts.appendChild(el);
    });
  }

  function result(ok, text) {
    var list = load(RESULTS, []);
    list.push({id: String(Date.now()) + Math.random().toString(16).slice(2), ok: ok, text: text, at: Date.now()});
    save(RESULTS, list.slice(-20));
    drawResults();
  }

  /* ---- the undo window ------------------------------------------------------------------------------- */
  function schedule(item) {
    setTimeout(function () { send(item.id); }, Math.max(0, item.due - Date.now()));
  }

  function send(id) {
    var list = pendingList();
    var item = null;
    for (var i = 0; i < list.length; i++) { if (list[i].id === id) { item = list[i]; } }
    if (!item) { return; }
    if (item.sending) {
      // it was on its way when the previous page closed: give it time to arrive, then ask whether it did
      var wait = (item.sentAt || 0) + 2000 - Date.now();
      if (wait > 0) { setTimeout(function () { send(id); }, wait); return; }
      fetch(prefix + "/review/vote?" + new URLSearchParams({batch: item.batch, id: item.rid}).toString(),
            {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : {}; })
        .then(function (v) {
          if (v.mine === item.decision) {
            finish(id, true, item.rid + ": your " + item.decision + " is recorded" +
              (v.effective === "REVIEW" ? "; it takes effect when a second reviewer agrees" : "; now " + v.effective),
              item);
          } else {
            post(item);
          }
        })
        .catch(function () { post(item); });
      return;
    }
    post(item);
  }

  function post(item) {
    var list = pendingList();
    for (var i = 0; i < list.length; i++) {
      if (list[i].id === item.id) { list[i].sending = true; list[i].sentAt = Date.now(); }
    }
    setPending(list);
    var form = new URLSearchParams();
    form.set("batch_id", item.batch);
    form.set("request_id", item.rid);
    form.set("decision", item.decision);
    form.set("reason", item.reason);
    form.set("group", item.group || "");
    fetch(prefix + "/review/resolve", {
      method: "POST", credentials: "same-origin", keepalive: true, body: form.toString(),
      headers: {"X-CSRF-Token": csrf(), "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded"}
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        finish(item.id, r.ok, r.ok ? data.message : (data.error ? data.error.code + ": " + data.error.message
          : "HTTP " + r.status), item);
      });
    }).catch(function () {
      finish(item.id, false, item.rid + " was not resolved: the server could not be reached", item);
    });
  }

  function finish(id, ok, text, item) {
    setPending(pendingList().filter(function (p) { return p.id !== id; }));
    result(ok, ok ? text : (item.decision + " " + item.rid + " refused: " + text));
    body.dispatchEvent(new CustomEvent("dgate:resolved", {bubbles: true}));
  }

  function undo(id) {
    var list = pendingList();
    var item = null;
    for (var i = list.length - 1; i >= 0; i--) {
      if (!list[i].sending && (id === undefined || list[i].id === id)) { item = list[i]; break; }
    }
    if (!item) { return; }
    setPending(list.filter(function (p) { return p.id !== item.id; }));
    result(true, "Undone: " + item.decision + " " + item.rid + " was not sent.");
    if (item.url && item.url !== window.location.href) { window.location.assign(item.url); }
  }

  pendingList().forEach(schedule);
  drawPending();
  drawResults();
  setInterval(function () { if (pendingList().length) { drawPending(); } }, 500);
  setInterval(drawResults, 5000);

  /* ---- the review workspace -------------------------------------------------------------------------- */
  function nextUrl(base, extraSkip) {
    var skips = load(SKIP, []);
    if (extraSkip) { skips.push(extraSkip); save(SKIP, skips.slice(-400)); skips = load(SKIP, []); }
    pendingList().forEach(function (p) { skips.push(p.batch + ":" + p.rid); });
    var url = new URL(base, window.location.href);
    if (skips.length) { url.searchParams.set("skip", skips.slice(-450).join(",")); }
    return url.toString();
  }

  function typing(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable ||
      (tag === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(el.type));
  }

  var form = document.getElementById("resolve-form");
  var start = document.getElementById("start");
  if (start) {
    start.href = nextUrl(start.getAttribute("data-next-base"));
  }

  if (body.getAttribute("data-page") === "case") {
    var hist = load(HIST, []);
    if (hist[hist.length - 1] !== window.location.href) { hist.push(window.location.href); }
    save(HIST, hist.slice(-50));
    var prev = document.getElementById("prev");
    if (prev && hist.length > 1) { prev.href = hist[hist.length - 2]; }
  }

  if (form) {
    var reason = document.getElementById("reason");
    var auto = document.getElementById("autoadvance");
    var batch = form.getAttribute("data-batch"), rid = form.getAttribute("data-rid");
    var me = batch + ":" + rid;
    var skipLink = document.getElementById("skip"), nextLink = document.getElementById("next");
    if (auto) {
      auto.checked = load(AUTO, true);
      auto.addEventListener("change", function () { save(AUTO, auto.checked); });
    }
    // "skip" and "next" both move on without deciding; the case stays claimed by you for its 15 minutes
    [skipLink, nextLink].forEach(function (link) {
      if (!link) { return; }
      link.href = nextUrl(form.getAttribute("data-next"));
      link.addEventListener("click", function (e) {
        e.preventDefault();
        window.location.assign(nextUrl(form.getAttribute("data-next"), me));
      });
    });
    var chips = form.querySelectorAll("[data-reason]");
    for (var c = 0; c < chips.length; c++) {
      chips[c].addEventListener("click", function (e) {
        reason.value = e.currentTarget.getAttribute("data-reason");
        reason.focus();
      });
    }
    form.addEventListener("submit", function (e) {
      var button = e.submitter;
      if (!button || !button.value) { return; }
      e.preventDefault();
      var text = reason.value.trim();
      if (!text) { reason.focus(); reason.reportValidity(); return; }
      var group = form.querySelector("input[name=group]");
      var item = {id: String(Date.now()) + Math.random().toString(16).slice(2), batch: batch, rid: rid,
                  decision: button.value, reason: text, group: group && group.checked ? "address" : "",
                  due: Date.now() + UNDO_MS, url: window.location.href};
      var list = pendingList();
      list.push(item);
      setPending(list);
      schedule(item);
      if (!auto || auto.checked) {
        window.location.assign(nextUrl(form.getAttribute("data-next")));
      } else {
        var buttons = form.querySelectorAll("button[type=submit]");
        for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
      }
    });
    var undoButton = document.getElementById("undo");
    if (undoButton) { undoButton.addEventListener("click", function () { undo(); }); }
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (typing(e.target)) {
      if (e.key === "Escape") { e.target.blur(); }
      return;
    }
    var key = e.key.toLowerCase();
    var page = body.getAttribute("data-page");
    function click(id) { var el = document.getElementById(id); if (el) { e.preventDefault(); el.click(); } }
    if (page === "review" && key === "n") { click("start"); return; }
    if (page !== "case") { return; }
    if (key === "?") {
      var keys = document.getElementById("keys");
      if (keys) { e.preventDefault(); keys.open = !keys.open; }
      return;
    }
    if (key === "u") { e.preventDefault(); undo(); return; }
    if (key === "b") {
      e.preventDefault();
      var url = new URL(window.location.href);
      if (url.searchParams.get("blind")) { url.searchParams.delete("blind"); } else { url.searchParams.set("blind", "1"); }
      window.location.assign(url.toString());
      return;
    }
    if (!form) {
      if (key === "j" || key === "n" || key === "s") {
        var more = document.querySelector(".alert a");
        if (more) { e.preventDefault(); more.click(); }
      }
      return;
    }
    var r = document.getElementById("reason");
    if (key === "d" || key === "x") {
      var target = form.querySelector("button[data-key=" + key + "]");
      if (target && !target.disabled) { e.preventDefault(); form.requestSubmit(target); }
    } else if (key === "r") {
      e.preventDefault();
      r.focus();
    } else if (key >= "1" && key <= "9") {
      var chip = form.querySelectorAll("[data-reason]")[Number(key) - 1];
      if (chip) { e.preventDefault(); r.value = chip.getAttribute("data-reason"); }
    } else if (key === "s") {
      click("skip");
    } else if (key === "j" || key === "n") {
      click("next");
    } else if (key === "k") {
      click("prev");
    }
  });
})();
