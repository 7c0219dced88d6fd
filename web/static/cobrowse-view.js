/* livedesk co-browse viewer: the customer's page, live, in the agent console.
 *
 * Loaded after common.js and /vendor/rrweb.js; exposes LD.cobrowse.Viewer.
 *
 * The page arrives as rrweb event batches (cobrowse.events pushes, big ones in parts)
 * and is rebuilt by rrweb's Replayer in live mode, inside the sandboxed iframe the
 * Replayer makes ("allow-same-origin" only: the customer's scripts never run here).
 * Each full snapshot (a new page, a late join, a catch-up) starts a fresh Replayer, so
 * memory holds one page's events at most. Timestamps are shifted onto this clock at
 * each snapshot: a customer's clock that runs ahead or behind does not delay the view.
 *
 * The agent's hands, addressed by rrweb node id (never by coordinates):
 * - pointing: moving over the view shows a labelled pointer on the customer's page;
 * - highlight: the next click outlines that element on the customer's page;
 * - control (after the customer agrees): clicks, wheel scrolls, and typing into the
 *   field last clicked. The customer's page refuses hidden fields and says so.
 */
(function () {
  "use strict";

  var LD = window.LD;
  var t = LD.t;

  /** el("button", {class, click: fn, other: "attribute"}, "text" or [children]) */
  function el(tag, attrs, content) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (typeof v === "function") node.addEventListener(k, v);
      else node.setAttribute(k, v);
    });
    if (Array.isArray(content)) content.forEach(function (c) { node.appendChild(c); });
    else if (content != null) node.textContent = content;
    return node;
  }

  var POINTER_MS = 80;   // pointer updates at most this often
  var TYPE_MS = 250;     // typed text goes out after this pause

  function Viewer(opts) {
    this.socket = opts.socket;
    this.session = opts.session;
    this.root = opts.root;
    this.replayer = null;
    this.parts = {};       // batch -> [data...]
    this.shift = 0;
    this.control = "";
    this.mode = "point";   // point | highlight
    this.started = false;
    this.field = null;     // {node, selector} the agent types into
    this.cmdNo = 0;
    this.lastPointer = 0;
    this.size = { width: 0, height: 0 };
    this.href = "";
    this.build();
  }

  Viewer.prototype.build = function () {
    var self = this;
    var r = this.root;
    r.textContent = "";
    this.status = el("p", { class: "cobrowse__status", role: "status", "data-testid": "cobrowse-view-status" },
      t("cobrowse.view.waiting"));
    this.modePoint = el("button", { type: "button", class: "btn btn--small btn--secondary", "aria-pressed": "true",
      "data-testid": "cobrowse-point", click: function () { self.setMode("point"); } }, t("cobrowse.view.point"));
    this.modeHighlight = el("button", { type: "button", class: "btn btn--small btn--secondary", "aria-pressed": "false",
      "data-testid": "cobrowse-highlight", click: function () { self.setMode("highlight"); } },
      t("cobrowse.view.highlight"));
    this.controlBtn = el("button", { type: "button", class: "btn btn--small btn--primary",
      "data-testid": "cobrowse-control", click: function () { self.toggleControl(); } },
      t("cobrowse.view.ask_control"));
    this.refresh = el("button", { type: "button", class: "btn btn--small btn--ghost",
      "data-testid": "cobrowse-refresh", click: function () { self.askSnapshot(); } }, t("cobrowse.view.refresh"));
    var bar = el("div", { class: "cobrowse__bar", role: "toolbar", "aria-label": t("cobrowse.view.title") },
      [this.modePoint, this.modeHighlight, this.controlBtn, this.refresh]);
    this.stage = el("div", { class: "cobrowse__stage", "data-testid": "cobrowse-stage" });
    this.frame = el("div", { class: "cobrowse__frame" });
    this.glass = el("div", { class: "cobrowse__glass", "data-testid": "cobrowse-glass", tabindex: "0",
      "aria-label": t("cobrowse.view.title") });
    this.stage.appendChild(this.frame);
    this.stage.appendChild(this.glass);
    this.typeLabel = el("span", { class: "field__label" }, "");
    this.typeInput = el("input", { class: "input input--small", autocomplete: "off", "data-testid": "cobrowse-type" });
    this.typeRow = el("label", { class: "field cobrowse__type", hidden: "" }, [this.typeLabel, this.typeInput]);
    this.notice = el("p", { class: "cobrowse__notice", role: "alert", "data-testid": "cobrowse-notice", hidden: "" });
    r.appendChild(el("h3", { class: "cobrowse__title" }, t("cobrowse.view.title")));
    [bar, this.status, this.notice, this.stage, this.typeRow].forEach(function (n) { r.appendChild(n); });

    this.glass.addEventListener("mousemove", function (e) { self.onMove(e); });
    this.glass.addEventListener("mouseleave", function () { self.pointer(null); });
    this.glass.addEventListener("click", function (e) { self.onClick(e); });
    this.glass.addEventListener("wheel", function (e) { self.onWheel(e); }, { passive: false });
    var typing = null;
    this.typeInput.addEventListener("input", function () {
      if (typing) clearTimeout(typing);
      typing = setTimeout(function () { self.sendTyped(); }, TYPE_MS);
    });
    this.resizer = new ResizeObserver(function () { self.fit(); });
    this.resizer.observe(this.stage);
  };

  Viewer.prototype.start = function () {
    if (this.started) return;
    this.started = true;
    this.askSnapshot();
  };

  Viewer.prototype.askSnapshot = function () {
    this.socket.request("cobrowse.snapshot", { session: this.session }).catch(function () {});
  };

  Viewer.prototype.destroy = function () {
    if (this.replayer) { try { this.replayer.destroy(); } catch (err) { /* gone */ } }
    this.replayer = null;
    if (this.resizer) this.resizer.disconnect();
    this.root.textContent = "";
  };

  // ------------------------------------------------------------------ the page stream

  Viewer.prototype.push = function (msg) {
    if (msg.type === "cobrowse.gap") {
      this.status.textContent = t("cobrowse.view.catching_up");
      this.waitSnapshot = true;
      return;
    }
    if (msg.type === "cobrowse.result") { this.onResult(msg); return; }
    if (msg.type !== "cobrowse.events") return;
    var got = this.parts[msg.batch] || (this.parts[msg.batch] = []);
    if (msg.part !== got.length) { delete this.parts[msg.batch]; return; }
    got.push(msg.data);
    if (got.length < msg.parts) return;
    delete this.parts[msg.batch];
    var events;
    try { events = JSON.parse(got.join("")); } catch (err) { return; }
    if (!Array.isArray(events) || !events.length) return;
    this.apply(events, msg.snapshot);
  };

  Viewer.prototype.apply = function (events, snapshot) {
    var self = this;
    if (snapshot) {
      var last = events[events.length - 1].timestamp;
      this.shift = Date.now() - last;
      this.fresh(events);
      this.waitSnapshot = false;
      return;
    }
    if (!this.replayer || this.waitSnapshot) return;
    events.forEach(function (e) {
      e.timestamp += self.shift;
      self.note(e);
      self.replayer.addEvent(e);
    });
  };

  /** A new Replayer for a full snapshot: a new page, a late join, or a catch-up. */
  Viewer.prototype.fresh = function (events) {
    var self = this;
    if (this.replayer) { try { this.replayer.destroy(); } catch (err) { /* gone */ } }
    this.frame.textContent = "";
    var rr = window.rrweb;
    this.replayer = new rr.Replayer([], {
      root: this.frame,
      liveMode: true,
      mouseTail: false,
      showWarning: false,
      triggerFocus: false,
      UNSAFE_replayCanvas: false,
    });
    this.replayer.on("resize", function (size) { self.size = size; self.fit(); self.describe(); });
    this.replayer.startLive(Date.now() - 50);
    events.forEach(function (e) {
      e.timestamp += self.shift;
      self.note(e);
      self.replayer.addEvent(e);
    });
    this.describe();
  };

  Viewer.prototype.note = function (e) {
    if (e.type === 5 && e.data && e.data.tag === "livedesk" && e.data.payload) {
      this.pageId = String(e.data.payload.page || "");  // which page load the node ids are of
    }
    if (e.type === 4 && e.data) {  // meta: the page's address and window size
      this.href = e.data.href || this.href;
      this.size = { width: e.data.width, height: e.data.height };
      this.fit();
    }
  };

  Viewer.prototype.describe = function () {
    var where = this.href;
    try { var u = new URL(this.href); where = u.host + u.pathname; } catch (err) { /* as sent */ }
    this.status.textContent = t("cobrowse.view.live", {
      page: where, width: this.size.width || "?", height: this.size.height || "?",
    });
    this.root.dataset.href = this.href;
  };

  /** Scale the customer's window into the stage. */
  Viewer.prototype.fit = function () {
    var w = this.size.width;
    var h = this.size.height;
    if (!w || !h) return;
    var avail = this.stage.clientWidth || w;
    var tall = Math.max(240, window.innerHeight * 0.6);  // leave the chat in sight
    this.scale = Math.min(1, avail / w, tall / h);
    var wrapper = this.frame.querySelector(".replayer-wrapper");
    if (wrapper) {
      wrapper.style.transform = "scale(" + this.scale + ")";
      wrapper.style.transformOrigin = "0 0";
    }
    this.stage.style.height = Math.round(h * this.scale) + "px";
  };

  // ------------------------------------------------------------------ the agent's hands

  Viewer.prototype.iframe = function () {
    return this.frame.querySelector("iframe");
  };

  /** The element under the mouse in the replayed page, its rrweb id and where in its box. */
  Viewer.prototype.target = function (e) {
    var frame = this.iframe();
    if (!frame || !this.replayer || !frame.contentDocument) return null;
    var box = frame.getBoundingClientRect();
    var s = this.scale || 1;
    var x = (e.clientX - box.left) / s;
    var y = (e.clientY - box.top) / s;
    var node = frame.contentDocument.elementFromPoint(x, y);
    if (!node) return null;
    var id = this.replayer.getMirror().getId(node);
    if (id == null || id < 0) return null;
    var r = node.getBoundingClientRect();
    return {
      node: id,
      el: node,
      x: r.width ? Math.min(1, Math.max(0, (x - r.left) / r.width)) : 0.5,
      y: r.height ? Math.min(1, Math.max(0, (y - r.top) / r.height)) : 0.5,
    };
  };

  Viewer.prototype.setMode = function (mode) {
    this.mode = mode;
    this.modePoint.setAttribute("aria-pressed", String(mode === "point"));
    this.modeHighlight.setAttribute("aria-pressed", String(mode === "highlight"));
  };

  Viewer.prototype.onMove = function (e) {
    var now = Date.now();
    if (now - this.lastPointer < POINTER_MS) return;
    this.lastPointer = now;
    this.pointer(this.target(e));
  };

  Viewer.prototype.pointer = function (tg) {
    var fields = { session: this.session, node: tg ? tg.node : null, page: this.pageId || "" };
    if (tg) { fields.x = tg.x; fields.y = tg.y; }
    this.socket.send("cobrowse.pointer", fields);
  };

  Viewer.prototype.command = function (action, node, extra) {
    this.cmdNo += 1;
    var fields = Object.assign({ session: this.session, cmd: "c" + this.cmdNo, action: action, node: node,
      page: this.pageId || "" }, extra || {});
    var self = this;
    return this.socket.request("cobrowse.command", fields).catch(function (err) {
      self.say(err && err.message ? err.message : String(err));
    });
  };

  Viewer.prototype.onClick = function (e) {
    e.preventDefault();
    var tg = this.target(e);
    if (!tg) return;
    if (this.mode === "highlight" || this.control !== "granted") {
      this.command("highlight", tg.node);
      return;
    }
    this.command("click", tg.node);
    var tag = tg.el.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") {
      this.field = { node: tg.node, name: tg.el.getAttribute("name") || tg.el.id || tag.toLowerCase() };
      this.typeLabel.textContent = t("cobrowse.view.type_into", { field: this.field.name });
      this.typeInput.value = "";
      this.typeRow.hidden = false;
      this.typeInput.focus();
    } else {
      this.typeRow.hidden = true;
      this.field = null;
    }
  };

  Viewer.prototype.onWheel = function (e) {
    if (this.control !== "granted") return;
    e.preventDefault();
    var tg = this.target(e);
    var s = this.scale || 1;
    if (this.wheelTimer) return;  // one scroll command per 100 ms
    var self = this;
    this.wheelTimer = setTimeout(function () { self.wheelTimer = null; }, 100);
    this.command("scroll", tg ? tg.node : 1, { dx: e.deltaX / s, dy: e.deltaY / s });
  };

  Viewer.prototype.sendTyped = function () {
    if (!this.field || this.control !== "granted") return;
    this.command("input", this.field.node, { text: this.typeInput.value });
  };

  Viewer.prototype.onResult = function (msg) {
    if (msg.ok) { this.notice.hidden = true; return; }
    var key = {
      masked: "cobrowse.view.refused_masked",
      no_control: "cobrowse.view.refused_control",
      gone: "cobrowse.view.refused_gone",
      stale: "cobrowse.view.refused_gone",
    }[msg.code] || "cobrowse.view.refused";
    this.say(t(key, { selector: msg.selector || "" }));
    if (msg.code === "masked") { this.typeRow.hidden = true; this.field = null; }
  };

  Viewer.prototype.say = function (text) {
    this.notice.textContent = text;
    this.notice.hidden = false;
  };

  // ------------------------------------------------------------------ control

  Viewer.prototype.toggleControl = function () {
    var self = this;
    var action = this.control ? "release" : "request";
    this.socket.request("cobrowse.control", { session: this.session, action: action }).then(function (r) {
      self.setControl(r.control);
    }, function (err) { self.say(err.message || String(err)); });
  };

  Viewer.prototype.setControl = function (state) {
    this.control = state || "";
    this.controlBtn.textContent = t(this.control === "granted" ? "cobrowse.view.release"
      : this.control === "asked" ? "cobrowse.view.asked" : "cobrowse.view.ask_control");
    this.controlBtn.disabled = this.control === "asked";
    this.root.dataset.control = this.control;
    if (this.control !== "granted") { this.typeRow.hidden = true; this.field = null; }
  };

  /** Timeline events about control. */
  Viewer.prototype.event = function (ev) {
    switch (ev.kind) {
      case "cobrowse.control_requested": this.setControl("asked"); break;
      case "cobrowse.control_granted": this.setControl("granted"); break;
      case "cobrowse.control_declined":
        this.setControl("");
        this.say(t("cobrowse.view.declined"));
        break;
      case "cobrowse.control_ended":
        this.setControl("");
        if ((ev.data || {}).by === "customer") this.say(t("cobrowse.view.taken_back"));
        break;
      default: break;
    }
  };

  LD.cobrowse = { Viewer: Viewer };
})();
