/* livedesk shared browser code: strings, DOM helpers, the socket, the chat log
 * and the composer. Loaded before customer.js / agent.js; exposes window.LD.
 *
 * Rules kept throughout: every user-facing string comes from the ld-strings
 * table (LD.t), and chat text only ever reaches the DOM through textContent.
 */
(function () {
  "use strict";

  function readJSON(id) {
    var node = document.getElementById(id);
    if (!node) return {};
    try {
      return JSON.parse(node.textContent || "{}") || {};
    } catch (err) {
      return {};
    }
  }

  var strings = readJSON("ld-strings");
  var page = readJSON("ld-page");
  var lang = page.lang || document.documentElement.lang || "en";

  /** A string from the table, with {placeholders} filled. ``fallback`` names
   * another key to use while ``key`` is not in the table yet. */
  function t(key, vars, fallback) {
    var text = strings[key];
    if (text == null && fallback) text = strings[fallback];
    if (text == null) return "";
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
      });
    }
    return text;
  }

  /** Build an element. ``props``: class, text, attrs{}, data{}, on{}. */
  function el(tag, props) {
    var node = document.createElement(tag);
    var p = props || {};
    if (p.class) node.className = p.class;
    if (p.text != null) node.textContent = p.text;
    if (p.attrs) {
      Object.keys(p.attrs).forEach(function (k) {
        var v = p.attrs[k];
        if (v === false || v == null) return;
        node.setAttribute(k, v === true ? "" : String(v));
      });
    }
    if (p.data) {
      Object.keys(p.data).forEach(function (k) {
        if (p.data[k] != null) node.dataset[k] = String(p.data[k]);
      });
    }
    if (p.on) {
      Object.keys(p.on).forEach(function (k) { node.addEventListener(k, p.on[k]); });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child == null || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function uid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID().replace(/-/g, "");
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
  }

  function formatTime(at) {
    var d = at ? new Date(at * 1000) : new Date();
    try {
      return d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
    } catch (err) {
      return d.toTimeString().slice(0, 5);
    }
  }

  /** "42s" under a minute, "3 min" above. */
  function formatDuration(seconds) {
    var s = Math.max(0, Math.floor(seconds || 0));
    if (s < 60) return t("common.seconds", { n: s });
    return t("common.minutes", { n: Math.floor(s / 60) });
  }

  /** Only http(s) URLs become links; anything else stays plain text. */
  function safeUrl(value) {
    if (!value) return null;
    try {
      var u = new URL(value, location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (err) {
      return null;
    }
  }

  function storageGet(store, key) {
    try {
      var raw = store.getItem(key);
      return raw ? JSON.parse(raw) : null;
    } catch (err) {
      return null;
    }
  }

  function storageSet(store, key, value) {
    try {
      if (value == null) store.removeItem(key);
      else store.setItem(key, JSON.stringify(value));
    } catch (err) {
      /* private mode or quota: the chat still works, it just won't survive a reload */
    }
  }

  async function postJSON(url, body, extraHeaders) {
    var resp;
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
    try {
      resp = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: headers,
        body: JSON.stringify(body || {}),
      });
    } catch (err) {
      return { ok: false, status: 0, data: null, code: "network", message: String(err && err.message || err) };
    }
    var data = null;
    try { data = await resp.json(); } catch (err) { data = null; }
    var error = data && data.error ? data.error : {};
    return {
      ok: resp.ok, status: resp.status, data: data,
      code: error.code || (resp.ok ? null : "http_" + resp.status),
      message: error.message || resp.statusText || "",
    };
  }

  // ------------------------------------------------------------------ socket

  var BACKOFF_MIN = 500;
  var BACKOFF_MAX = 10000;
  var PING_EVERY = 25000;
  var PING_TIMEOUT = 10000;

  /**
   * One WebSocket at /ws that says hello, answers requests by id and
   * reconnects with backoff (0.5 s doubling to 10 s).
   *
   * opts.hello()          -> fields of the hello message (token, resume)
   * opts.onReady(reply)   -> hello accepted
   * opts.onHelloError(e)  -> hello refused; return true to stop reconnecting
   * opts.onMessage(msg)   -> every push that is not a reply
   * opts.onStatus(s)      -> "connecting" | "open" | "reconnecting" | "stopped"
   */
  function Socket(opts) {
    this.opts = opts;
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.delay = BACKOFF_MIN;
    this.nextId = 1;
    this.pending = new Map();
    this.retryTimer = null;
    this.pingTimer = null;
    this.everOpened = false;
    var self = this;
    window.addEventListener("online", function () { self.retryNow(); });
  }

  Socket.prototype.start = function () {
    this.stopped = false;
    this._connect();
  };

  Socket.prototype._status = function (s) {
    if (this.opts.onStatus) this.opts.onStatus(s);
  };

  Socket.prototype._connect = function () {
    var self = this;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.stopped) return;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    this._status(this.everOpened ? "reconnecting" : "connecting");
    ws.onopen = function () {
      if (self.ws !== ws) return;
      var hello = Object.assign({ type: "hello" }, self.opts.hello ? self.opts.hello() : {});
      self._request(hello, true).then(function (reply) {
        if (self.ws !== ws) return;
        self.ready = true;
        self.everOpened = true;
        self.delay = BACKOFF_MIN;
        self._status("open");
        self._startPing(ws);
        if (self.opts.onReady) self.opts.onReady(reply);
      }, function (err) {
        if (self.ws !== ws || err.code === "disconnected") return;
        var stop = self.opts.onHelloError ? self.opts.onHelloError(err) : false;
        if (stop) self.stop();
        else ws.close();
      });
    };
    ws.onmessage = function (e) {
      if (self.ws !== ws) return;
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if ((msg.type === "ok" || msg.type === "error") && msg.id != null && self.pending.has(msg.id)) {
        var p = self.pending.get(msg.id);
        self.pending.delete(msg.id);
        if (msg.type === "ok") p.resolve(msg);
        else p.reject({ code: msg.code, message: msg.message || msg.code });
        return;
      }
      if (msg.type === "ok") return;
      if (self.opts.onMessage) self.opts.onMessage(msg);
    };
    ws.onclose = function () {
      if (self.ws !== ws) return;
      self._dropped();
    };
    ws.onerror = function () { /* onclose follows */ };
  };

  Socket.prototype._dropped = function () {
    this.ws = null;
    this.ready = false;
    clearInterval(this.pingTimer);
    var pending = this.pending;
    this.pending = new Map();
    pending.forEach(function (p) { p.reject({ code: "disconnected", message: "" }); });
    if (this.stopped) {
      this._status("stopped");
      return;
    }
    this._status("reconnecting");
    this._scheduleRetry();
  };

  Socket.prototype._scheduleRetry = function () {
    var self = this;
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    var wait = this.delay;
    this.delay = Math.min(this.delay * 2, BACKOFF_MAX);
    this.retryTimer = setTimeout(function () { self._connect(); }, wait);
  };

  Socket.prototype.retryNow = function () {
    if (this.stopped || this.ws) return;
    this.delay = BACKOFF_MIN;
    this._connect();
  };

  Socket.prototype._startPing = function (ws) {
    var self = this;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(function () {
      if (self.ws !== ws || !self.ready) return;
      var timer = setTimeout(function () {
        if (self.ws === ws) ws.close();  // silent network: force a reconnect
      }, PING_TIMEOUT);
      self.request("ping").then(function () { clearTimeout(timer); },
        function () { clearTimeout(timer); });
    }, PING_EVERY);
  };

  Socket.prototype._request = function (msg, force) {
    var self = this;
    return new Promise(function (resolve, reject) {
      if (!self.ws || self.ws.readyState !== 1 || (!self.ready && !force)) {
        reject({ code: "disconnected", message: "" });
        return;
      }
      var id = self.nextId++;
      msg.id = id;
      self.pending.set(id, { resolve: resolve, reject: reject });
      try {
        self.ws.send(JSON.stringify(msg));
      } catch (err) {
        self.pending.delete(id);
        reject({ code: "disconnected", message: "" });
      }
    });
  };

  /** Send with an id; resolves with the ok reply, rejects with {code, message}. */
  Socket.prototype.request = function (type, fields) {
    return this._request(Object.assign({ type: type }, fields || {}), false);
  };

  /** Fire and forget. Returns false when not connected. */
  Socket.prototype.send = function (type, fields) {
    if (!this.ready || !this.ws || this.ws.readyState !== 1) return false;
    try {
      this.ws.send(JSON.stringify(Object.assign({ type: type }, fields || {})));
      return true;
    } catch (err) {
      return false;
    }
  };

  Socket.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    var ws = this.ws;
    if (ws) {
      this._dropped();
      try { ws.close(1000); } catch (err) { /* already closed */ }
    } else {
      this._status("stopped");
    }
  };

  // ------------------------------------------------------------------ chat log

  var STATE_RANK = { failed: -1, sending: 0, sent: 1, delivered: 2, read: 3 };
  var STATE_LABEL = {
    sending: "chat.sending", sent: "chat.sent", delivered: "chat.delivered",
    read: "chat.read", failed: "chat.failed",
  };

  /**
   * The rendered timeline of one session.
   *
   * Events are rendered once each, in seq order (anything at or below
   * ``lastSeq`` is ignored). Own messages not yet confirmed by their echoed
   * event are "pending" bubbles kept at the bottom, keyed by client_msg_id;
   * the echo moves them into place instead of adding a second bubble.
   *
   * opts.side      "customer" | "agent"
   * opts.me        agent username (agent side), used to tell own messages
   * opts.describe(ev) -> system text for a non-chat event, or null
   * opts.nameOf(ev)   -> the display name to show on another side's message
   * opts.onRendered(info) -> after each event: {seq, event, own, other}
   */
  function ChatView(logEl, opts) {
    var self = this;
    this.log = logEl;
    this.opts = opts;
    this.lastSeq = 0;
    this.pending = new Map();     // client_msg_id -> {node, text}
    this.own = [];                // [{seq, node}] confirmed own messages
    this.byCmid = new Map();      // client_msg_id -> node (confirmed)
    this.marks = { delivered: 0, read: 0 };
    this.lastOtherSeq = 0;        // last chat seq from the other side
    this.stuck = true;            // the reader is at the newest message
    var sc = this.scroller();
    sc.addEventListener("scroll", function () {
      // our own scrollToEnd lands here too, possibly after the layout changed
      // under it; only the reader's scrolling decides whether we stay pinned
      if (!sc.clientHeight) return;
      self.stuck = sc.scrollTop === self.autoTop || self._nearBottom();
    }, { passive: true });
    // the composer growing or a form replacing it must not hide the newest lines
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (self.stuck) self.scrollToEnd();
      }).observe(sc);
    }
  }

  ChatView.prototype.isOwn = function (ev) {
    if (ev.kind !== "chat.message") return false;
    if (this.opts.side === "customer") return ev.actor_role === "customer";
    return (ev.actor_role === "agent" || ev.actor_role === "supervisor") &&
      ev.actor_id === this.opts.me;
  };

  ChatView.prototype._nearBottom = function () {
    var sc = this.scroller();
    return !sc || sc.scrollHeight - sc.scrollTop - sc.clientHeight < 80;
  };

  ChatView.prototype.scroller = function () {
    return this.opts.scroller ? this.opts.scroller() : this.log;
  };

  ChatView.prototype.scrollToEnd = function () {
    var sc = this.scroller();
    if (sc) {
      sc.scrollTop = sc.scrollHeight;
      this.autoTop = sc.scrollTop;
    }
    this.stuck = true;
  };

  /** Insert a confirmed node: above the first pending bubble, else at the end. */
  ChatView.prototype._insert = function (node) {
    var firstPending = null;
    var kids = this.log.children;
    for (var i = 0; i < kids.length; i++) {
      if (kids[i].dataset.pending === "1") { firstPending = kids[i]; break; }
    }
    this.log.insertBefore(node, firstPending);
  };

  /** The node a new confirmed node will follow. */
  ChatView.prototype._prev = function () {
    var kids = this.log.children;
    for (var i = 0; i < kids.length; i++) {
      if (kids[i].dataset.pending === "1") return kids[i].previousElementSibling;
    }
    return this.log.lastElementChild;
  };

  ChatView.prototype._bubble = function (role, own, text, name, at) {
    var prev = this._prev();
    var node = el("div", {
      class: "msg " + (own ? "msg--own" : "msg--other") + " msg--" + role,
      attrs: { "data-testid": "message", "data-role": role },
    });
    if (!own && name) {
      var same = prev && prev.dataset.role === role && prev.dataset.name === name &&
        !prev.classList.contains("msg--own");
      node.dataset.name = name;
      if (!same) node.appendChild(el("div", { class: "msg__name", text: name }));
    }
    node.appendChild(el("div", { class: "msg__bubble", text: text }));
    var meta = el("div", { class: "msg__meta" },
      el("time", { class: "msg__time", text: formatTime(at) }));
    if (own) {
      meta.appendChild(el("span", { class: "msg__state", attrs: { "aria-live": "off" } }));
    }
    node.appendChild(meta);
    return node;
  };

  /** Only the newest own message spells its state out; the rest show ticks. */
  ChatView.prototype._markLatest = function () {
    var own = this.log.querySelectorAll(".msg--own");
    var latest = own.length ? own[own.length - 1] : null;
    if (latest === this.latest) return;
    if (this.latest) this.latest.classList.remove("msg--latest");
    if (latest) latest.classList.add("msg--latest");
    this.latest = latest;
  };

  ChatView.prototype._setState = function (node, state) {
    var cur = node.dataset.state;
    if (cur && STATE_RANK[state] <= STATE_RANK[cur] && state !== "failed") return;
    node.dataset.state = state;
    var span = node.querySelector(".msg__state");
    if (span) {
      span.textContent = t(STATE_LABEL[state]);
      span.className = "msg__state msg__state--" + state;
    }
  };

  /** A message the user just sent: shown at once, marked "sending". */
  ChatView.prototype.addPending = function (cmid, text) {
    var stick = true;
    var node = this._bubble(this.opts.side, true, text, "", null);
    node.dataset.pending = "1";
    node.dataset.cmid = cmid;
    this._setState(node, "sending");
    this.log.appendChild(node);
    this.pending.set(cmid, { node: node, text: text });
    this._markLatest();
    if (stick) this.scrollToEnd();
    return node;
  };

  /**
   * The server renumbered the log after ``fromSeq`` (it happens after an outage of its
   * live store): what is shown after it goes, and the server sends it again.
   */
  ChatView.prototype.resync = function (fromSeq) {
    if (fromSeq >= this.lastSeq) return;
    var nodes = this.log.querySelectorAll("[data-seq]");
    for (var i = 0; i < nodes.length; i++) {
      if (Number(nodes[i].dataset.seq) > fromSeq && !nodes[i].dataset.pending) nodes[i].remove();
    }
    this.own = this.own.filter(function (o) { return o.seq <= fromSeq; });
    var self = this;
    this.byCmid.forEach(function (node, cmid) {
      if (Number(node.dataset.seq || 0) > fromSeq) self.byCmid.delete(cmid);
    });
    if (this.lastOtherSeq > fromSeq) this.lastOtherSeq = 0;
    this.lastSeq = fromSeq;
  };

  /** The server accepted a pending message (ok reply). */
  ChatView.prototype.acknowledge = function (cmid, seq) {
    var p = this.pending.get(cmid);
    var node = p ? p.node : this.byCmid.get(cmid);
    if (!node) return;
    if (seq) node.dataset.seq = String(seq);
    this._setState(node, "sent");
    this._applyMarks(node);
  };

  ChatView.prototype.fail = function (cmid) {
    var p = this.pending.get(cmid);
    if (!p) return;
    this.pending.delete(cmid);
    delete p.node.dataset.pending;
    this._setState(p.node, "failed");
  };

  ChatView.prototype.hasPending = function (cmid) { return this.pending.has(cmid); };

  ChatView.prototype.system = function (text, kind) {
    var node = el("div", {
      class: "notice" + (kind ? " notice--" + kind.replace(/\./g, "-") : ""),
      attrs: { "data-testid": "message", "data-role": "system", "data-kind": kind || "" },
    }, el("span", { class: "notice__text", text: text }));
    this._insert(node);
    return node;
  };

  /** Render one pushed event. Returns false if it was already rendered. */
  ChatView.prototype.addEvent = function (seq, ev) {
    if (seq <= this.lastSeq) return false;
    var stick = this.stuck;
    this.lastSeq = seq;
    var own = false;
    var other = false;
    if (ev.kind === "chat.message") {
      var data = ev.data || {};
      own = this.isOwn(ev);
      var cmid = data.client_msg_id || "";
      var p = own ? this._pendingFor(cmid) : null;
      var node;
      if (p) {
        node = p.node;
        this.pending.delete(p.cmid);
        delete node.dataset.pending;
        node.querySelector(".msg__time").textContent = formatTime(ev.at);
        node.remove();
      } else {
        var role = ev.actor_role === "customer" ? "customer" : "agent";
        node = this._bubble(role, own, data.text || "", own ? "" : this.opts.nameOf(ev), ev.at);
      }
      node.dataset.seq = String(seq);
      if (cmid) node.dataset.cmid = cmid;
      this._insert(node);
      if (own) {
        if (cmid) this.byCmid.set(cmid, node);
        this.own.push({ seq: seq, node: node });
        this._setState(node, "sent");
        this._applyMarks(node);
      } else {
        other = true;
        this.lastOtherSeq = seq;
      }
    } else {
      var text = this.opts.describe ? this.opts.describe(ev) : null;
      if (text) this.system(text, ev.kind).dataset.seq = String(seq);
    }
    if (own) this._markLatest();
    if (stick || own) this.scrollToEnd();
    if (this.opts.onRendered) this.opts.onRendered({ seq: seq, event: ev, own: own, other: other });
    return true;
  };

  ChatView.prototype._pendingFor = function (cmid) {
    // "" is the first message, sent over HTTP when the session started
    if (this.pending.has(cmid)) return { cmid: cmid, node: this.pending.get(cmid).node };
    return null;
  };

  /** The other side's delivered/read marks: ``{delivered, read}`` seqs. */
  ChatView.prototype.setMarks = function (marks) {
    if (!marks) return;
    this.marks = {
      delivered: Math.max(this.marks.delivered, marks.delivered || 0, marks.read || 0),
      read: Math.max(this.marks.read, marks.read || 0),
    };
    for (var i = this.own.length - 1; i >= 0; i--) this._applyMarks(this.own[i].node);
  };

  ChatView.prototype._applyMarks = function (node) {
    var seq = Number(node.dataset.seq || 0);
    if (!seq) return;
    if (seq <= this.marks.read) this._setState(node, "read");
    else if (seq <= this.marks.delivered) this._setState(node, "delivered");
  };

  // ------------------------------------------------------------------ composer

  var TYPING_EVERY = 2000;
  var TYPING_IDLE = 3000;

  /**
   * A textarea + send button. Enter sends, Shift+Enter adds a line (and the
   * Enter that confirms an IME composition is left alone). Typing is reported
   * at most every 2 s, and stopped after 3 s idle or on send.
   */
  function Composer(form, input, opts) {
    this.form = form;
    this.input = input;
    this.opts = opts;
    this.typing = false;
    this.lastTypingSent = 0;
    this.idleTimer = null;
    var self = this;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      self.submit();
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        self.submit();
      }
    });
    input.addEventListener("input", function () {
      self._autosize();
      self._typed();
    });
    input.addEventListener("blur", function () { self.stopTyping(); });
  }

  Composer.prototype._autosize = function () {
    if (window.CSS && CSS.supports && CSS.supports("field-sizing", "content")) return;
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight, 160) + "px";
  };

  Composer.prototype._typed = function () {
    var self = this;
    if (!this.input.value.trim()) {
      this.stopTyping();
      return;
    }
    var now = Date.now();
    if (!this.typing || now - this.lastTypingSent >= TYPING_EVERY) {
      this.typing = true;
      this.lastTypingSent = now;
      if (this.opts.onTyping) this.opts.onTyping(true);
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(function () { self.stopTyping(); }, TYPING_IDLE);
  };

  Composer.prototype.stopTyping = function () {
    clearTimeout(this.idleTimer);
    if (!this.typing) return;
    this.typing = false;
    this.lastTypingSent = 0;
    if (this.opts.onTyping) this.opts.onTyping(false);
  };

  Composer.prototype.submit = function () {
    if (this.input.disabled) return;
    var text = this.input.value.replace(/^\s+|\s+$/g, "");
    if (!text) return;
    var accepted = this.opts.onSend(text);
    if (accepted === false) return;
    this.input.value = "";
    this._autosize();
    this.stopTyping();
    this.input.focus();
  };

  Composer.prototype.setEnabled = function (on) {
    this.input.disabled = !on;
    var buttons = this.form.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = !on;
    if (!on) this.stopTyping();
  };

  // ------------------------------------------------------------------ typing indicator

  /** Shows "{name} is typing…"; hides on typing:false, a message, or after 6 s. */
  function TypingIndicator(node) {
    this.node = node;
    this.timer = null;
  }

  TypingIndicator.prototype.show = function (name) {
    var self = this;
    this.node.textContent = "";
    this.node.appendChild(el("span", { class: "typing__dots", attrs: { "aria-hidden": "true" } },
      el("i"), el("i"), el("i")));
    this.node.appendChild(el("span", { text: t("customer.typing", { name: name }) }));
    this.node.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.hide(); }, 6000);
  };

  TypingIndicator.prototype.hide = function () {
    clearTimeout(this.timer);
    this.node.hidden = true;
    this.node.textContent = "";
  };

  // ------------------------------------------------------------------ receipts

  /**
   * Tells the other side how far their messages were delivered and read.
   * ``send(state, seq)`` does the wire part; marks only ever grow, and a burst
   * of messages (a backfill) produces one receipt.
   */
  function ReceiptSender(send) {
    this.send = send;
    this.sent = { delivered: 0, read: 0 };
    this.want = { delivered: 0, read: 0 };
    this.timer = null;
  }

  ReceiptSender.prototype.mark = function (state, seq) {
    if (!seq) return;
    if (seq > this.want[state]) this.want[state] = seq;
    if (state === "read" && seq > this.want.delivered) this.want.delivered = seq;
    this._schedule();
  };

  ReceiptSender.prototype._schedule = function () {
    var self = this;
    if (this.timer) return;
    this.timer = setTimeout(function () {
      self.timer = null;
      self.flush();
    }, 60);
  };

  ReceiptSender.prototype.flush = function () {
    if (this.want.read > this.sent.read) {
      if (this.send("read", this.want.read)) {
        this.sent.read = this.want.read;
        this.sent.delivered = Math.max(this.sent.delivered, this.want.read);
      }
    }
    if (this.want.delivered > this.sent.delivered) {
      if (this.send("delivered", this.want.delivered)) this.sent.delivered = this.want.delivered;
    }
  };

  /** After a reconnect the server still has our marks; re-send only what's new. */
  ReceiptSender.prototype.resync = function () { this.flush(); };

  window.LD = {
    strings: strings,
    page: page,
    lang: lang,
    t: t,
    el: el,
    uid: uid,
    formatTime: formatTime,
    formatDuration: formatDuration,
    safeUrl: safeUrl,
    storageGet: storageGet,
    storageSet: storageSet,
    postJSON: postJSON,
    Socket: Socket,
    ChatView: ChatView,
    Composer: Composer,
    TypingIndicator: TypingIndicator,
    ReceiptSender: ReceiptSender,
  };
})();
