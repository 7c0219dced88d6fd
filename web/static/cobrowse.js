/* livedesk co-browsing, the customer's side. It runs on the company's own page.
 *
 * widget.js loads it (base + "/static/cobrowse.js", data-entry) once the customer has
 * agreed to co-browse in the chat, and again on every page of the site while
 * co-browsing runs: the session is kept in this tab's sessionStorage, so the agent's
 * view follows the customer from page to page.
 *
 * What it does:
 * - records this page with rrweb (served by livedesk at /vendor/rrweb.js), and masks
 *   what is private *here*, before anything is sent: password fields, card fields
 *   (autocomplete="cc-*"), long digit runs typed into fields, [data-livedesk-mask]
 *   (same-length placeholder), [data-livedesk-block] (an empty box), and the entry's
 *   own CSS selectors. A quiet badge tells the customer which fields are hidden;
 * - sends the events over its own WebSocket to the session, in batches of at most
 *   max_batch_bytes (a big snapshot in parts), with at most WINDOW parts unacknowledged;
 *   when the server falls behind, what waits is dropped and a fresh full snapshot sent;
 * - shows the agent's pointer and highlights, and asks the customer before the agent
 *   may click, scroll or type. Control ends with one button or Esc. Commands on masked
 *   or blocked elements, or on livedesk's own UI, are refused here as well as refused
 *   control is refused by the server.
 *
 * Everything it shows lives in a shadow root marked data-livedesk-ui, which is blocked
 * from the recording. Text only reaches the DOM through textContent.
 */
(function () {
  "use strict";

  var STRINGS = {
    "en": {
      "cobrowse.badge": "hidden from the agent",
      "cobrowse.live": "{name} sees this page with you. Hidden fields stay hidden.",
      "cobrowse.stop": "Stop sharing this page",
      "cobrowse.control.ask": "{name} asks to control this page: click, scroll and type in fields. Hidden fields stay out of reach.",
      "cobrowse.control.allow": "Allow",
      "cobrowse.control.decline": "Decline",
      "cobrowse.control.on": "{name} is controlling this page.",
      "cobrowse.control.take_back": "Take back control (Esc)",
      "cobrowse.pointer": "{name}",
      "cobrowse.agent": "Agent"
    },
    "ko": {
      "cobrowse.badge": "상담원에게 보이지 않음",
      "cobrowse.live": "{name}님이 이 페이지를 함께 보고 있습니다. 가려진 항목은 보이지 않습니다.",
      "cobrowse.stop": "페이지 공유 중지",
      "cobrowse.control.ask": "{name}님이 이 페이지를 조작하려고 합니다: 클릭, 스크롤, 입력란 입력. 가려진 항목에는 접근할 수 없습니다.",
      "cobrowse.control.allow": "허용",
      "cobrowse.control.decline": "거절",
      "cobrowse.control.on": "{name}님이 이 페이지를 조작하고 있습니다.",
      "cobrowse.control.take_back": "조작 권한 되찾기 (Esc)",
      "cobrowse.pointer": "{name}",
      "cobrowse.agent": "상담원"
    }
  };

  var WINDOW = 4;                 // batch parts in flight, unacknowledged
  var FLUSH_MS = 100;             // how often queued events go out
  var MAX_WAITING = 8 * 1024 * 1024;  // bytes waiting to be sent before we start afresh
  var DIGITS = /\d(?:[ .\-]?\d){7,}/g;  // a run of 8+ digits: card, account or phone numbers
  var ALWAYS_MASK = "input[type=password], [autocomplete^='cc-'], [data-livedesk-mask]";
  var ALWAYS_BLOCK = "[data-livedesk-block], [data-livedesk-ui]";
  var INPUT_TYPES = ["color", "date", "datetime-local", "email", "month", "number", "range",
    "search", "tel", "text", "time", "url", "week", "textarea", "select", "password"];

  var script = document.currentScript;
  if (!script || window.__livedeskCobrowse) return;
  var entry = script.getAttribute("data-entry") || "";
  var base;
  try { base = new URL(script.src, location.href).origin; } catch (err) { return; }
  var KEY = "livedesk.cobrowse." + entry;
  var lang = /^ko\b/i.test(document.documentElement.lang || navigator.language || "") ? "ko" : "en";

  var api = window.__livedeskCobrowse = { start: start, stop: stop, state: null };
  // rrweb numbers nodes afresh on every page load: commands name the page they mean
  var pageId = Math.random().toString(36).slice(2, 12);

  function t(key, vars) {
    var text = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return vars && vars[name] != null ? String(vars[name]) : whole;
    });
  }

  function load() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (err) { return null; }
  }
  function save(s) {
    try {
      if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
      else sessionStorage.removeItem(KEY);
    } catch (err) { /* storage denied: co-browsing then ends with this page */ }
  }

  // ------------------------------------------------------------------ the socket

  var ws = null;
  var session = null;        // {session, token, seq}
  var rules = null;          // the entry's masking rules and caps (hello reply)
  var ids = 0;
  var waiting = {};          // request id -> callback
  var retryMs = 500;
  var stopped = false;
  var agentName = "";
  var control = "";

  function start(s) {
    if (!s || !s.session || !s.token) return;
    session = { session: s.session, token: s.token, seq: s.seq || 0 };
    api.state = "connecting";
    save(session);
    stopped = false;
    connect();
  }

  function connect() {
    if (stopped) return;
    var url = base.replace(/^http/, "ws") + "/ws";
    var sock = ws = new WebSocket(url);
    sock.onopen = function () {
      var resume = {};
      resume[session.session] = session.seq;
      request({ type: "hello", token: session.token, resume: resume }, function (reply) {
        if (reply.type === "error") { stop(); return; }
        retryMs = 500;
        onHello(reply);
      });
    };
    sock.onmessage = function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      onMessage(msg);
    };
    sock.onclose = function () {
      if (sock !== ws) return;
      ws = null;
      inflight = 0;
      waiting = {};
      if (stopped) return;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }

  function request(msg, cb) {
    if (!ws || ws.readyState !== 1) return false;
    ids += 1;
    msg.id = ids;
    if (cb) waiting[ids] = cb;
    // the type goes first: the server charges co-browse frames to their byte budget
    ws.send(JSON.stringify(Object.assign({ type: msg.type }, msg)));
    return true;
  }

  function onHello(reply) {
    var s = reply.session || {};
    var ch = (s.channels || {}).cobrowse;
    if (s.state !== "active" || (ch !== "accepted" && ch !== "active")) { stop(); return; }
    rules = reply.cobrowse || { mask: [], block: [], max_batch_bytes: 49152, max_parts: 512 };
    agentName = s.agent_name || t("cobrowse.agent");
    setControl(s.control || "");
    api.state = "live";
    showLive();
    if (!recorder) record();
    else snapshot();
  }

  function onMessage(msg) {
    if (msg.type === "ok" || msg.type === "error") {
      var cb = waiting[msg.id];
      delete waiting[msg.id];
      if (cb) cb(msg);
      return;
    }
    if (msg.session && session && msg.session !== session.session) return;
    switch (msg.type) {
      case "event":
        session.seq = msg.seq;
        save(session);
        onEvent(msg.event);
        break;
      case "cobrowse.snapshot":
        snapshot();
        break;
      case "cobrowse.pointer":
        showPointer(msg);
        break;
      case "cobrowse.command":
        runCommand(msg);
        break;
      default:
        break;
    }
  }

  function onEvent(ev) {
    var d = ev.data || {};
    switch (ev.kind) {
      case "channel.stopped":
      case "channel.declined":
        if (d.channel === "cobrowse") stop();
        break;
      case "session.wrap_up":
      case "session.ended":
      case "session.agent_left":
      case "session.customer_left":
      case "session.transferred":
        stop();
        break;
      case "cobrowse.control_requested":
        if (d.agent_name) agentName = d.agent_name;
        setControl("asked");
        break;
      case "cobrowse.control_granted":
        setControl("granted");
        break;
      case "cobrowse.control_declined":
      case "cobrowse.control_ended":
        setControl("");
        break;
      default:
        break;
    }
  }

  function stop() {
    stopped = true;
    api.state = "stopped";
    save(null);
    if (recorder) { try { recorder(); } catch (err) { /* already stopped */ } }
    recorder = null;
    queue = [];
    if (ws) { var s = ws; ws = null; try { s.close(1000); } catch (err) { /* closed */ } }
    if (ui) { ui.host.remove(); ui = null; }
    window.removeEventListener("keydown", onKey, true);
  }

  // ------------------------------------------------------------------ masking

  function maskSelector() {
    return [ALWAYS_MASK].concat(rules.mask || []).join(", ");
  }
  function blockSelector() {
    return [ALWAYS_BLOCK].concat(rules.block || []).join(", ");
  }

  /** Masked or blocked: nothing of it may reach the agent, and no command may touch it. */
  function hidden(el) {
    if (!el || el.nodeType !== 1) return false;
    try {
      return !!(el.closest(maskSelector()) || el.closest(blockSelector()));
    } catch (err) {
      return true;  // a selector the browser cannot read: refuse rather than leak
    }
  }

  function maskInput(text, el) {
    if (hidden(el)) return "*".repeat(text.length);
    return text.replace(DIGITS, function (run) { return run.replace(/\d/g, "*"); });
  }

  // ------------------------------------------------------------------ recording

  var recorder = null;
  var queue = [];            // events waiting for the next batch
  var queued = 0;            // their JSON length
  var parts = [];            // batch parts ready to send: {batch, part, parts, snapshot, data}
  var partsBytes = 0;
  var inflight = 0;
  var batchNo = 0;
  var startAfresh = false;
  var flushTimer = null;

  function record() {
    var rr = window.rrweb;
    if (!rr) { loadRrweb(record); return; }
    var opts = { maskInputOptions: {} };
    INPUT_TYPES.forEach(function (k) { opts.maskInputOptions[k] = true; });
    recorder = rr.record({
      emit: onRecorded,
      maskAllInputs: false,
      maskInputOptions: opts.maskInputOptions,
      maskInputFn: maskInput,
      maskTextSelector: maskSelector(),
      blockSelector: blockSelector(),
      slimDOMOptions: "all",
      inlineStylesheet: true,
      recordCanvas: false,
      collectFonts: false,
      sampling: { mousemove: 50, scroll: 100, input: "last", media: 800 },
    });
  }

  function loadRrweb(then) {
    var s = document.createElement("script");
    s.src = base + "/vendor/rrweb.js";
    s.async = true;
    s.setAttribute("data-livedesk-ui", "");
    s.onload = then;
    document.head.appendChild(s);
  }

  function snapshot() {
    if (!recorder || !window.rrweb) return;
    flush();  // what came before goes first
    window.rrweb.record.takeFullSnapshot(true);
  }

  function onRecorded(ev) {
    if (ev.type === 2) setTimeout(function () {
      if (recorder) window.rrweb.record.addCustomEvent("livedesk", { page: pageId });
    }, 0);
    var text = JSON.stringify(ev);
    if (ev.type === 4) flush();  // a snapshot (meta, then the full snapshot) starts a batch
    queue.push(text);
    queued += text.length + 1;
    if (queued >= rules.max_batch_bytes) flush();
    else if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
  }

  function flush() {
    if (flushTimer) { clearTimeout(flushTimer); flushTimer = null; }
    if (!queue.length) return;
    var isSnapshot = queue[0].indexOf('{"type":4') === 0;
    var text = "[" + queue.join(",") + "]";
    queue = [];
    queued = 0;
    if (startAfresh && !isSnapshot) return;  // useless without the snapshot that follows
    if (isSnapshot) startAfresh = false;
    var pieces = split(text, rules.max_batch_bytes);
    if (pieces.length > rules.max_parts) return;  // the server would refuse it
    batchNo += 1;
    for (var i = 0; i < pieces.length; i++) {
      parts.push({ batch: batchNo, part: i, parts: pieces.length, snapshot: isSnapshot, data: pieces[i] });
      partsBytes += pieces[i].length;
    }
    if (partsBytes > MAX_WAITING) {
      // the server is not keeping up: drop what waits and start again from a snapshot
      parts = [];
      partsBytes = 0;
      startAfresh = true;
      setTimeout(snapshot, 1000);
    }
    pump();
  }

  /** Cut JSON text into pieces of at most ``limit`` UTF-8 bytes, never inside a character. */
  function split(text, limit) {
    var out = [];
    var ascii = !/[^\u0000-\u007f]/.test(text);
    var step = ascii ? limit : Math.floor(limit / 3);
    for (var i = 0; i < text.length;) {
      var end = Math.min(text.length, i + step);
      var code = text.charCodeAt(end - 1);
      if (end < text.length && code >= 0xd800 && code <= 0xdbff) end -= 1;
      out.push(text.slice(i, end));
      i = end;
    }
    return out;
  }

  function pump() {
    while (inflight < WINDOW && parts.length && ws && ws.readyState === 1) {
      var p = parts.shift();
      partsBytes -= p.data.length;
      inflight += 1;
      var sent = request({
        type: "cobrowse.events", session: session.session, batch: p.batch, part: p.part,
        parts: p.parts, snapshot: p.snapshot, data: p.data,
      }, onAck);
      if (!sent) { inflight -= 1; parts.unshift(p); partsBytes += p.data.length; return; }
    }
  }

  function onAck(reply) {
    inflight = Math.max(0, inflight - 1);
    if (reply.type === "error") {
      if (reply.code === "channel_state" || reply.code === "forbidden") { stop(); return; }
      // a refused part leaves its batch unreadable: start again from a snapshot
      parts = parts.filter(function (p) { return p.snapshot; });
      startAfresh = true;
      setTimeout(snapshot, 1000);
    }
    pump();
  }

  // ------------------------------------------------------------------ what the customer sees

  var ui = null;

  function h(tag, attrs, text) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k.indexOf("on") === 0) el.addEventListener(k.slice(2), attrs[k]);
      else el.setAttribute(k, attrs[k]);
    });
    if (text != null) el.textContent = text;
    return el;
  }

  var CSS = [
    ":host { all: initial; }",
    ".bar { position: fixed; left: 50%; top: 8px; transform: translateX(-50%); z-index: 2147483646;",
    "  display: flex; gap: 8px; align-items: center; max-width: calc(100vw - 16px); padding: 6px 8px 6px 12px;",
    "  border-radius: 999px; background: #1f3b4d; color: #fff; font: 13px/1.3 system-ui, sans-serif;",
    "  box-shadow: 0 2px 10px rgba(0,0,0,.25); }",
    ".bar--control { background: #8a2c0d; }",
    ".bar button, .ask button { font: inherit; border: 0; border-radius: 999px; padding: 6px 12px; cursor: pointer; }",
    ".bar button { background: #fff; color: #1f3b4d; }",
    ".ask { position: fixed; left: 50%; top: 56px; transform: translateX(-50%); z-index: 2147483647;",
    "  width: min(26rem, calc(100vw - 16px)); padding: 14px; border-radius: 12px; background: #fff; color: #1d2a24;",
    "  font: 14px/1.45 system-ui, sans-serif; box-shadow: 0 6px 28px rgba(0,0,0,.3); }",
    ".ask p { margin: 0 0 10px; }",
    ".ask .row { display: flex; gap: 8px; justify-content: flex-end; }",
    ".ask .yes { background: #1f6f43; color: #fff; } .ask .no { background: #e5e8e3; color: #1d2a24; }",
    "button:focus-visible { outline: 3px solid #f2b705; outline-offset: 2px; }",
    ".badge { position: fixed; z-index: 2147483645; padding: 1px 6px; border-radius: 999px; pointer-events: none;",
    "  background: rgba(31,59,77,.85); color: #fff; font: 11px/1.5 system-ui, sans-serif; white-space: nowrap; }",
    ".pointer { position: fixed; z-index: 2147483647; pointer-events: none; transition: left .08s linear, top .08s linear; }",
    ".pointer svg { display: block; }",
    ".pointer span { display: inline-block; margin: 2px 0 0 14px; padding: 1px 6px; border-radius: 4px;",
    "  background: #d9622b; color: #fff; font: 12px/1.4 system-ui, sans-serif; white-space: nowrap; }",
    ".outline { position: fixed; z-index: 2147483644; box-sizing: border-box; pointer-events: none; border: 3px solid #d9622b;",
    "  border-radius: 6px; box-shadow: 0 0 0 4px rgba(217,98,43,.25); }",
    "[hidden] { display: none !important; }",
  ].join("\n");

  function ensureUi() {
    if (ui) return ui;
    var host = h("div", { "data-livedesk-ui": "", "data-testid": "livedesk-cobrowse-ui" });
    var root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
      } catch (err) { root.appendChild(h("style", {}, CSS)); }
    } else {
      root.appendChild(h("style", {}, CSS));
    }
    ui = { host: host, root: root, badges: [] };
    ui.text = h("span", { "data-testid": "cobrowse-status" });
    ui.stop = h("button", { type: "button", "data-testid": "cobrowse-stop", onclick: stopSharing }, t("cobrowse.stop"));
    ui.takeBack = h("button", { type: "button", "data-testid": "cobrowse-take-back", hidden: "",
      onclick: function () { revoke("button"); } }, t("cobrowse.control.take_back"));
    ui.bar = h("div", { class: "bar", role: "status" });
    ui.bar.appendChild(ui.text);
    ui.bar.appendChild(ui.takeBack);
    ui.bar.appendChild(ui.stop);
    ui.askText = h("p", { id: "ld-ask-text" });
    ui.yes = h("button", { type: "button", class: "yes", "data-testid": "cobrowse-allow",
      onclick: function () { answer(true); } }, t("cobrowse.control.allow"));
    ui.no = h("button", { type: "button", class: "no", "data-testid": "cobrowse-decline",
      onclick: function () { answer(false); } }, t("cobrowse.control.decline"));
    var row = h("div", { class: "row" });
    row.appendChild(ui.no);
    row.appendChild(ui.yes);
    ui.ask = h("div", { class: "ask", role: "alertdialog", "aria-labelledby": "ld-ask-text",
      "data-testid": "cobrowse-ask", hidden: "" });
    ui.ask.appendChild(ui.askText);
    ui.ask.appendChild(row);
    ui.pointer = h("div", { class: "pointer", "data-testid": "cobrowse-pointer", hidden: "" });
    ui.pointer.innerHTML = '<svg width="20" height="22" viewBox="0 0 20 22" aria-hidden="true">' +
      '<path d="M2 2l15 8-6.5 1.8L7 19z" fill="#d9622b" stroke="#fff" stroke-width="1.5"/></svg>';
    ui.pointerName = h("span");
    ui.pointer.appendChild(ui.pointerName);
    ui.outline = h("div", { class: "outline", "data-testid": "cobrowse-outline", hidden: "" });
    ui.badgeBox = h("div");
    [ui.badgeBox, ui.outline, ui.bar, ui.ask, ui.pointer].forEach(function (n) { root.appendChild(n); });
    document.documentElement.appendChild(host);
    window.addEventListener("keydown", onKey, true);
    window.addEventListener("scroll", placeAll, true);
    window.addEventListener("resize", placeAll);
    document.addEventListener("input", placeBadgesSoon, true);
    setInterval(placeBadges, 1000);
    return ui;
  }

  function showLive() {
    ensureUi();
    renderControl();
    placeBadges();
  }

  function renderControl() {
    if (!ui) return;
    var granted = control === "granted";
    ui.bar.classList.toggle("bar--control", granted);
    ui.text.textContent = granted ? t("cobrowse.control.on", { name: agentName })
      : t("cobrowse.live", { name: agentName });
    ui.takeBack.hidden = !granted;
    ui.ask.hidden = control !== "asked";
    if (control === "asked") {
      ui.askText.textContent = t("cobrowse.control.ask", { name: agentName });
      ui.yes.focus();
    }
  }

  function setControl(state) {
    control = state;
    renderControl();
  }

  function answer(yes) {
    request({ type: "cobrowse.control", session: session.session, action: yes ? "grant" : "decline" });
    setControl(yes ? "granted" : "");
  }

  function revoke(how) {
    if (control !== "granted" && control !== "asked") return;
    request({ type: "cobrowse.control", session: session.session, action: "revoke",
      reason: how === "escape" ? "escape key" : "take back button" });
    setControl("");
  }

  function onKey(e) {
    if (e.key === "Escape" && (control === "granted" || control === "asked")) {
      e.stopPropagation();
      revoke("escape");
    }
  }

  function stopSharing() {
    request({ type: "channel.stop", session: session.session, channel: "cobrowse" });
    stop();
  }

  // badges on the fields the agent cannot see
  var badgeTimer = null;
  function placeBadgesSoon() {
    if (!badgeTimer) badgeTimer = setTimeout(function () { badgeTimer = null; placeBadges(); }, 150);
  }

  function maskedFields() {
    var found = [];
    var sel = maskSelector() + ", " + blockSelector();
    var nodes;
    try { nodes = document.querySelectorAll(sel + ", input, textarea"); } catch (err) { return found; }
    for (var i = 0; i < nodes.length && found.length < 40; i++) {
      var el = nodes[i];
      if (el.hasAttribute("data-livedesk-ui") || el.closest("[data-livedesk-ui]")) continue;
      var isField = el.tagName === "INPUT" || el.tagName === "TEXTAREA";
      var hide = hidden(el) || (isField && el.value && el.value.replace(DIGITS, "") !== el.value);
      // a masked container shows one badge, not one per field inside it
      if (hide && !(el.parentElement && hidden(el.parentElement))) found.push(el);
    }
    return found;
  }

  function placeBadges() {
    if (!ui) return;
    var els = maskedFields();
    while (ui.badges.length < els.length) {
      var b = h("span", { class: "badge", "data-testid": "cobrowse-badge" }, t("cobrowse.badge"));
      ui.badgeBox.appendChild(b);
      ui.badges.push(b);
    }
    ui.badges.forEach(function (b, i) {
      var el = els[i];
      var r = el && el.getBoundingClientRect();
      if (!r || !r.width || r.bottom < 0 || r.top > innerHeight) { b.hidden = true; return; }
      b.hidden = false;
      b.style.top = Math.max(0, r.top - 9) + "px";
      b.style.left = Math.max(0, Math.min(innerWidth - 150, r.right - 140)) + "px";
    });
  }

  function placeAll() {
    placeBadges();
    if (outlined) place(ui.outline, outlined, 4);
    if (pointed) placePointer();
  }

  // ------------------------------------------------------------------ the agent's hands

  var pointed = null;
  var outlined = null;
  var outlineTimer = null;

  function nodeOf(id) {
    var mirror = window.rrweb && window.rrweb.record.mirror;
    var n = mirror ? mirror.getNode(id) : null;
    if (n && n.nodeType === 9) return document.documentElement;
    if (n && n.nodeType !== 1) n = n.parentElement;
    return n;
  }

  function mine(el) {
    return !!(el && el.closest && el.closest("[data-livedesk-ui]"));
  }

  function showPointer(msg) {
    ensureUi();
    var el = msg.node == null || msg.page !== pageId ? null : nodeOf(msg.node);
    if (!el || mine(el)) { ui.pointer.hidden = true; pointed = null; return; }
    pointed = { el: el, x: msg.x, y: msg.y };
    ui.pointerName.textContent = t("cobrowse.pointer", { name: msg.name || agentName });
    placePointer();
  }

  function placePointer() {
    var r = pointed.el.getBoundingClientRect();
    ui.pointer.hidden = false;
    ui.pointer.style.left = (r.left + pointed.x * r.width) + "px";
    ui.pointer.style.top = (r.top + pointed.y * r.height) + "px";
  }

  function place(box, el, pad) {
    var r = el.getBoundingClientRect();
    box.style.left = (r.left - pad) + "px";
    box.style.top = (r.top - pad) + "px";
    box.style.width = (r.width + 2 * pad) + "px";
    box.style.height = (r.height + 2 * pad) + "px";
  }

  /** A short CSS selector naming the element for the timeline: ids and classes, never values. */
  function selectorOf(el) {
    var path = [];
    for (var n = el; n && n.nodeType === 1 && path.length < 4; n = n.parentElement) {
      if (n.id && /^[A-Za-z][\w-]*$/.test(n.id)) { path.unshift("#" + n.id); break; }
      var part = n.tagName.toLowerCase();
      var cls = Array.prototype.filter.call(n.classList, function (c) { return /^[A-Za-z][\w-]*$/.test(c); });
      if (cls.length) part += "." + cls.slice(0, 2).join(".");
      var parent = n.parentElement;
      if (parent) {
        var same = Array.prototype.filter.call(parent.children, function (c) { return c.tagName === n.tagName; });
        if (same.length > 1) part += ":nth-of-type(" + (same.indexOf(n) + 1) + ")";
      }
      path.unshift(part);
    }
    return path.join(" > ").slice(0, 300);
  }

  function reply(msg, ok, code, el, masked) {
    request({ type: "cobrowse.result", session: session.session, cmd: msg.cmd, ok: ok,
      code: code || "", selector: el ? selectorOf(el) : "", masked: !!masked });
  }

  function runCommand(msg) {
    if (msg.page !== pageId) { reply(msg, false, "stale", null); return; }
    var el = nodeOf(msg.node);
    if (!el) { reply(msg, false, "gone", null); return; }
    if (mine(el)) { reply(msg, false, "livedesk_ui", null); return; }
    if (hidden(el)) { reply(msg, false, "masked", el, true); return; }
    if (msg.action === "highlight") {
      ensureUi();
      outlined = el;
      place(ui.outline, el, 4);
      ui.outline.hidden = false;
      if (outlineTimer) clearTimeout(outlineTimer);
      outlineTimer = setTimeout(function () { ui.outline.hidden = true; outlined = null; }, 6000);
      reply(msg, true, "", el);
      return;
    }
    if (control !== "granted") { reply(msg, false, "no_control", el); return; }
    if (msg.action === "click") {
      if (el.scrollIntoView) el.scrollIntoView({ block: "nearest" });
      if (el.focus) el.focus();
      el.click();
      reply(msg, true, "", el);
    } else if (msg.action === "scroll") {
      var root = el === document.documentElement || el === document.body;
      if (root) window.scrollBy(msg.dx || 0, msg.dy || 0);
      else el.scrollBy(msg.dx || 0, msg.dy || 0);
      reply(msg, true, "", el);
    } else if (msg.action === "input") {
      if (!typeIn(el, msg.text || "")) { reply(msg, false, "not_a_field", el); return; }
      // a value the agent typed that holds a long digit run is masked in the stream too
      reply(msg, true, "", el, DIGITS.test(msg.text || ""));
      DIGITS.lastIndex = 0;
    } else {
      reply(msg, false, "unknown_action", el);
    }
  }

  function typeIn(el, text) {
    var proto = el.tagName === "INPUT" ? HTMLInputElement.prototype
      : el.tagName === "TEXTAREA" ? HTMLTextAreaElement.prototype
      : el.tagName === "SELECT" ? HTMLSelectElement.prototype : null;
    if (!proto || el.disabled || el.readOnly) return false;
    if (el.tagName === "INPUT" && /^(hidden|file|password|checkbox|radio|submit|button|image|reset)$/i.test(el.type)) {
      return false;
    }
    var setter = Object.getOwnPropertyDescriptor(proto, "value").set;
    if (el.focus) el.focus();
    setter.call(el, text);
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  // ------------------------------------------------------------------ start

  var saved = load();
  if (saved) start(saved);
})();
