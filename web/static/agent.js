/* The agent console: /agent.
 *
 * Without a login it is a login form. With one, a single socket (the login
 * cookie authenticates it) carries console snapshots (queue, offers, agents,
 * my sessions) and the timelines of every session this agent holds, offered
 * ones included, so an offer can show the customer's first message.
 */
(function () {
  "use strict";

  var LD = window.LD;
  var t = LD.t;
  var cfg = LD.page;

  if (!cfg.me) {
    initLogin();
    return;
  }

  // ================================================================== login

  function initLogin() {
    var form = document.getElementById("login-form");
    if (!form) return;
    var user = document.getElementById("login-username");
    var pass = document.getElementById("login-password");
    var error = document.getElementById("login-error");
    var button = form.querySelector("button[type=submit]");
    user.focus();
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      error.hidden = true;
      if (!user.value.trim() || !pass.value) {
        (user.value.trim() ? pass : user).focus();
        return;
      }
      button.disabled = true;
      var r = await LD.postJSON("/api/login", { username: user.value.trim(), password: pass.value });
      if (r.ok) {
        location.reload();
        return;
      }
      button.disabled = false;
      error.textContent = r.status === 401 ? t("agent.login_failed")
        : t("common.error", { message: r.message || r.code });
      error.hidden = false;
      pass.value = "";
      pass.focus();
    });
  }

  // ================================================================== console

  var me = cfg.me;
  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    banner: $("banner"),
    status: $("status-select"),
    statusDot: $("status-dot"),
    load: $("load"),
    logout: $("logout"),
    offersPanel: $("offers-panel"),
    offers: $("offers"),
    offersCount: $("offers-count"),
    queue: $("queue"),
    queueCount: $("queue-count"),
    queueEmpty: $("queue-empty"),
    agents: $("agents"),
    fallbacks: $("fallbacks"),
    fallbacksCount: $("fallbacks-count"),
    fallbacksEmpty: $("fallbacks-empty"),
    all: $("all-sessions"),
    allCount: $("all-count"),
    tabs: $("tabs"),
    panes: $("panes"),
    empty: $("no-sessions"),
    template: $("tpl-session"),
  };
  var baseTitle = document.title;

  var snapshot = null;
  var snapshotAt = 0;
  var ctls = new Map();          // session id -> SessionCtl
  var tabOrder = [];             // session ids with a tab, left to right
  var active = null;             // the selected tab's session id
  var statusBusy = false;
  var wantedStatus = null;       // picked while the socket was down; sent on reconnect
  var lastStatus = "offline";
  var fallbacksVersion = null;   // from console snapshots; a change means refetch the list
  var fallbacksLoading = false;
  var fallbacksAgain = false;
  var fallbackItems = [];

  // kinds of fallback items: what a visitor left when no channel was open
  var FALLBACK_LABELS = { callback: "agent.fallback.callback", message: "agent.fallback.message" };

  /** The customer's name, or "Customer #ab12" (from the session id) so that
   * several anonymous customers can be told apart. */
  function customerLabel(name, sid) {
    if (name) return name;
    var base = t("agent.customer", null, "agent.offer");
    return sid ? base + " #" + sid.slice(-4) : base;
  }

  function errText(err) {
    if (err && err.code === "disconnected") return t("customer.reconnecting");
    return (err && (err.message || err.code)) || "";
  }

  function tierBadge(tier, extra) {
    var safe = String(tier || "standard").toLowerCase().replace(/[^a-z0-9_-]/g, "");
    return LD.el("span", {
      class: "badge badge--tier badge--" + safe + (extra ? " " + extra : ""),
      text: tier || "standard",
      attrs: { title: t("agent.tier") },
    });
  }

  function pageLink(url, cls) {
    var href = LD.safeUrl(url);
    var node = LD.el(href ? "a" : "span", { class: cls, text: url || "", attrs: { title: url || "" } });
    if (href) {
      node.href = href;
      node.target = "_blank";
      node.rel = "noopener noreferrer";
    }
    return node;
  }

  /** Keep ``ul``'s children in the order of ``items``, reusing nodes by key. */
  function syncList(ul, items, keyOf, create, update) {
    var existing = new Map();
    Array.prototype.forEach.call(ul.children, function (li) { existing.set(li.dataset.key, li); });
    var prev = null;
    items.forEach(function (item) {
      var key = keyOf(item);
      var li = existing.get(key);
      if (li) existing.delete(key);
      else {
        li = create(item);
        li.dataset.key = key;
      }
      update(li, item);
      var want = prev ? prev.nextSibling : ul.firstChild;
      if (li !== want) ul.insertBefore(li, want);
      prev = li;
    });
    existing.forEach(function (li) { li.remove(); });
  }

  // ------------------------------------------------------------------ socket

  var socket = new LD.Socket({
    hello: function () {
      var resume = {};
      var n = 0;
      ctls.forEach(function (c, sid) {
        if (n < 64 && !c.ended && c.view.lastSeq > 0 && !c.watched) {
          resume[sid] = c.view.lastSeq;
          n += 1;
        }
      });
      return { resume: resume };
    },
    onReady: function () {
      ui.banner.hidden = true;
      sendStatus();
      ctls.forEach(function (c) {
        if (c.watched && !c.ended) {
          socket.request("session.watch", { session: c.sid }).catch(function () {});
        }
        c.flush();
        c.receipts.resync();
        c.call.socketReady();
        if (c.viewer) { c.viewer.started = false; c.viewer.start(); }  // a fresh snapshot after a reconnect
      });
    },
    onHelloError: function (err) {
      if (err.code === "unauthorized") {
        location.reload();  // the login ended: show the form again
        return true;
      }
      return false;
    },
    onMessage: onMessage,
    onStatus: function (s) {
      if (s === "reconnecting") {
        ui.banner.textContent = t("customer.reconnecting");
        ui.banner.hidden = false;
      } else if (s === "open") {
        ui.banner.hidden = true;
      }
    },
  });

  function onMessage(msg) {
    if (msg.type === "console") {
      applySnapshot(msg);
      return;
    }
    if (!msg.session) return;
    var c = msg.type === "event" ? ensureCtl(msg.session) : ctls.get(msg.session);
    if (!c) return;
    switch (msg.type) {
      case "event":
        c.view.addEvent(msg.seq, msg.event);
        break;
      case "session.resync":
        c.view.resync(msg.from_seq);
        break;
      case "typing":
        if (msg.role === "customer") {
          if (msg.typing && !c.ended) c.typing.show(customerLabel(msg.name || c.customerName, c.sid));
          else c.typing.hide();
        }
        break;
      case "receipt":
        if (msg.role === "customer") c.view.setMarks(msg);
        break;
      case "receipts":
        if (msg.receipts && msg.receipts.customer) c.view.setMarks(msg.receipts.customer);
        break;
      case "media.publications":
      case "media.state":
        c.call.push(msg);
        break;
      case "cobrowse.events":
      case "cobrowse.gap":
      case "cobrowse.result":
        if (c.viewer) c.viewer.push(msg);
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ sessions

  function ensureCtl(sid) {
    var c = ctls.get(sid);
    if (!c) {
      c = new SessionCtl(sid);
      ctls.set(sid, c);
    }
    return c;
  }

  function SessionCtl(sid) {
    var self = this;
    this.sid = sid;
    this.summary = null;
    this.customerName = "";
    this.tier = "";
    this.page = "";
    this.firstText = "";
    this.state = "offered";     // offered | active | wrap_up | transferring | gone | ended
    this.watched = false;
    this.ended = false;
    this.unread = 0;
    this.outbox = [];
    this.inflight = new Set();

    var pane = document.importNode(ui.template.content, true).firstElementChild;
    this.pane = pane;
    pane.id = "pane-" + sid;
    pane.dataset.session = sid;
    pane.hidden = true;
    this.refs = {};
    Array.prototype.forEach.call(pane.querySelectorAll("[data-ref]"), function (n) {
      self.refs[n.dataset.ref] = n;
    });
    var r = this.refs;
    r.input.id = "msg-" + sid;
    r["message-label"].htmlFor = r.input.id;

    this.view = new LD.ChatView(r.log, {
      side: "agent",
      me: me.username,
      nameOf: function (ev) {
        var d = ev.data || {};
        return ev.actor_role === "customer" ? customerLabel(d.name || self.customerName, sid)
          : (d.name || t("customer.agent"));
      },
      describe: function (ev) { return self.describe(ev); },
      onRendered: function (info) { self.onRendered(info); },
    });
    this.typing = new LD.TypingIndicator(r.typing);
    this.receipts = new LD.ReceiptSender(function (st, seq) {
      if (self.watched || !(self.state === "offered" || self.state === "active" || self.state === "wrap_up")) {
        return false;
      }
      return socket.send("chat.receipt", { session: sid, seq: seq, state: st });
    });
    this.composer = new LD.Composer(r.composer, r.input, {
      onSend: function (text) { return self.send(text); },
      onTyping: function (on) {
        if (self.state === "active") socket.send("chat.typing", { session: sid, typing: on });
      },
    });

    r["transfer-toggle"].addEventListener("click", function () { self.toggleTransfer(); });
    r["transfer-target"].addEventListener("change", function () { self.syncSkillRow(); });
    r.transfer.addEventListener("submit", function (e) {
      e.preventDefault();
      self.transfer();
    });
    r.wrapup.addEventListener("click", function () { self.wrapUp(); });
    r["wrapup-form"].addEventListener("submit", function (e) {
      e.preventDefault();
      self.complete();
    });
    r.close.addEventListener("click", function () { closeTab(sid); });

    // voice, video and screen sharing
    LD.media.fillTexts(pane);
    this.call = new LD.media.Call({
      socket: socket,
      session: sid,
      side: "agent",
      me: me.username,
      root: r.call,
      quality: "panel",
      onVisible: function (on) { pane.classList.toggle("session--call", on); },
      onChange: function () { self.renderUpgrade(); },
    });
    this.call.setEnabled(false);
    this.recording = new LD.recording.Bar({
      socket: socket, session: sid, side: "agent", root: r.recording,
    });
    r["ask-voice"].addEventListener("click", function () { self.ask(r["ask-voice"], "voice"); });
    r["ask-video"].addEventListener("click", function () { self.ask(r["ask-video"], "video"); });
    r["ask-screen"].addEventListener("click", function () { self.ask(r["ask-screen"], "screen", "customer"); });
    r["share-screen"].addEventListener("click", function () { self.ask(r["share-screen"], "screen", "agent"); });
    r["ask-cobrowse"].addEventListener("click", function () { self.ask(r["ask-cobrowse"], "cobrowse"); });
    this.viewer = null;
    this.render();
  }

  SessionCtl.prototype.describe = function (ev) {
    var d = ev.data || {};
    switch (ev.kind) {
      case "session.accepted":
        return t("customer.agent_joined", { name: d.agent_name || t("customer.agent") });
      case "session.transfer_requested":
        return t("agent.transfer_requested", { name: d.to_agent_name || "" }, null) ||
          t("agent.transfer") + " → " + (d.to_agent_name || d.to_agent || "");
      case "session.transferred":
        if (Object.prototype.hasOwnProperty.call(d, "to_queue")) {
          return t("agent.transfer") + " → " + t("agent.queue") + (d.to_queue ? " · " + d.to_queue : "");
        }
        return null;
      case "session.declined":
        return d.returned_to ? t("agent.decline") + " · " + t("agent.transfer") : null;
      case "session.agent_left":
        return d.agent_name ? t("customer.agent_left", { name: d.agent_name })
          : t("customer.agent_left_generic");
      case "session.customer_left":
        return t("agent.customer_left");
      case "participant.disconnected":
        return d.side === "customer" ? t("agent.customer_disconnected") : null;
      case "participant.reconnected":
        return d.side === "customer" ? t("agent.customer_reconnected") : null;
      case "session.ended":
        return t("agent.ended");
      case "cobrowse.control_requested":
        return t("cobrowse.ev.control_requested", { name: d.agent_name || "" });
      case "cobrowse.control_granted":
        return t("cobrowse.ev.control_granted");
      case "cobrowse.control_declined":
        return t("cobrowse.ev.control_declined");
      case "cobrowse.control_ended":
        return d.by === "customer" ? t("cobrowse.ev.control_taken_back") : t("cobrowse.ev.control_ended");
      case "cobrowse.action":
        return t(d.ok ? "cobrowse.ev.action" : "cobrowse.ev.action_refused",
          { action: d.action || "", selector: d.selector || "", code: d.code || "" });
      case "cobrowse.limit":
        return t("cobrowse.ev.limit");
      default:
        return LD.media.describe(ev, "agent", me.username);
    }
  };

  SessionCtl.prototype.onRendered = function (info) {
    var ev = info.event;
    var d = ev.data || {};
    switch (ev.kind) {
      case "session.created":
        this.customerName = d.customer_name || this.customerName;
        this.tier = d.tier || this.tier;
        this.page = d.page || this.page;
        break;
      case "session.accepted":
        if (d.agent_id === me.username) this.setState("active");
        else if (!this.watched) this.setState("gone");
        break;
      case "session.transfer_requested":
        if (d.from_agent === me.username) this.setState("transferring");
        break;
      case "session.transferred":
        if (d.from_agent === me.username && d.to_agent !== me.username) this.setState("gone");
        break;
      case "session.declined":
      case "session.offer_expired":
        if (d.returned_to === me.username) this.setState("active");
        else if (d.agent_id === me.username && !this.watched) this.setState("gone");
        break;
      case "session.agent_left":
      case "session.wrap_up":
      case "session.customer_left":
        if (this.state === "active") this.setState("wrap_up");
        break;
      case "session.ended":
        this.ended = true;
        this.setState("ended");
        break;
      default:
        break;
    }
    this.call.event(ev);
    if (this.recording) this.recording.event(ev);
    this.syncCobrowse(ev);
    if (ev.kind === "chat.message") {
      if (info.own) {
        this.dropFromOutbox(d.client_msg_id);
      } else if (ev.actor_role === "customer") {
        this.typing.hide();
        if (!this.firstText) {
          this.firstText = d.text || "";
          renderOffersSoon();
        }
        this.receipts.mark("delivered", info.seq);
        if (this.isViewed()) this.receipts.mark("read", info.seq);
        else if (tabOrder.indexOf(this.sid) >= 0) {
          this.unread += 1;
          renderTab(this);
        }
      }
    }
    if (ev.kind === "session.created") this.render();
  };

  SessionCtl.prototype.isViewed = function () {
    return active === this.sid && document.visibilityState === "visible" &&
      (this.state === "active" || this.state === "wrap_up");
  };

  SessionCtl.prototype.markRead = function () {
    this.unread = 0;
    if (this.isViewed() && this.view.lastOtherSeq) this.receipts.mark("read", this.view.lastOtherSeq);
    renderTab(this);
  };

  SessionCtl.prototype.setSummary = function (s) {
    this.summary = s;
    this.customerName = s.customer_name || this.customerName;
    this.tier = s.tier || this.tier;
    this.page = s.page || this.page;
    if (s.state === "offered" && s.offered_to === me.username) {
      if (this.state !== "active") this.setState("offered");
    } else if (s.state === "active" && s.agent_id === me.username) {
      this.setState("active");
    } else if (s.state === "wrap_up" && s.agent_id === me.username) {
      this.setState("wrap_up");
    } else if (s.state === "offered" && s.agent_id === me.username) {
      this.setState("transferring");
    }
    this.render();
  };

  SessionCtl.prototype.setState = function (state) {
    if (this.ended && state !== "ended") return;
    if (this.state === state) return;
    var was = this.state;
    this.state = state;
    if (state === "active" || state === "wrap_up") ensureTab(this);
    if (state === "wrap_up" && was !== "wrap_up") {
      var self = this;
      setTimeout(function () { if (active === self.sid) self.refs.disposition.focus(); }, 0);
    }
    if (state !== "active") this.typing.hide();
    this.render();
    if (state === "active" && active === this.sid) this.markRead();
  };

  SessionCtl.prototype.render = function () {
    var r = this.refs;
    var s = this.state;
    r.name.textContent = customerLabel(this.customerName, this.sid);
    r.tier.replaceWith(r.tier = tierBadge(this.tier));
    r.tier.dataset.ref = "tier";
    r.page.textContent = this.page;
    r.page.title = this.page;
    var href = LD.safeUrl(this.page);
    if (href) r.page.href = href;
    else r.page.removeAttribute("href");
    r.page.hidden = !this.page;

    var mine = s === "active";
    r.composer.hidden = !(s === "active" || s === "offered" || s === "transferring");
    this.composer.setEnabled(mine);
    r["wrapup-form"].hidden = s !== "wrap_up" || this.watched;
    r["transfer-toggle"].hidden = !mine || this.watched;
    r.wrapup.hidden = !mine || this.watched;
    if (!mine) r.transfer.hidden = true;
    r["transfer-toggle"].setAttribute("aria-expanded", r.transfer.hidden ? "false" : "true");
    var closable = this.watched || s === "ended" || s === "gone";
    r.close.hidden = !closable;

    var notice = "";
    if (this.watched && s !== "ended") notice = t("agent.watching", null, "agent.watch");
    else if (s === "ended") notice = t("agent.ended");
    else if (s === "gone") notice = t("agent.transferred_away", null, "agent.transfer");
    else if (s === "transferring") notice = t("agent.transfer_pending", null, "agent.transfer");
    r.notice.textContent = notice;
    r.notice.hidden = !notice;
    r.state.textContent = s === "wrap_up" ? t("agent.wrapup") : "";
    r.state.hidden = s !== "wrap_up";
    this.pane.dataset.state = s;
    if (this.watched) r.composer.hidden = true;
    if (this.recording) this.recording.setEnabled(mine && !this.watched);
    if (this.call) {
      this.call.setEnabled(mine && !this.watched);
      this.renderUpgrade();
    }
    renderTab(this);
  };

  // ---------------------------------------------------------------- voice, video, screen

  SessionCtl.prototype.renderUpgrade = function () {
    var r = this.refs;
    var on = this.state === "active" && !this.watched && LD.media.MediaSession.supported();
    r.upgrade.hidden = !on;
    if (!on) return;
    var call = this.call;
    var chans = call.channels;
    // what already runs needs no button (a video call carries the voice too)
    r["ask-voice"].hidden = chans.agreed("voice") || chans.agreed("video");
    r["ask-video"].hidden = chans.agreed("video");
    r["ask-screen"].hidden = r["share-screen"].hidden = chans.agreed("screen");
    r["ask-voice"].disabled = !call.canRequest("voice") || r["ask-voice"].dataset.busy === "1";
    r["ask-video"].disabled = !call.canRequest("video") || r["ask-video"].dataset.busy === "1";
    var screenFree = call.canRequest("screen");
    r["ask-screen"].disabled = !screenFree || r["ask-screen"].dataset.busy === "1";
    r["share-screen"].disabled = !screenFree || r["share-screen"].dataset.busy === "1";
    r["ask-cobrowse"].hidden = chans.agreed("cobrowse");
    r["ask-cobrowse"].disabled = !call.canRequest("cobrowse") || r["ask-cobrowse"].dataset.busy === "1";
    r.upgrade.hidden = !Array.prototype.some.call(r.upgrade.children, function (b) { return !b.hidden; });
  };

  /** The co-browse view is there while the channel is agreed and the session ours. */
  SessionCtl.prototype.syncCobrowse = function (ev) {
    var on = this.call.channels.agreed("cobrowse") && (this.state === "active" || this.watched);
    var r = this.refs;
    if (on && !this.viewer && window.rrweb) {
      this.viewer = new LD.cobrowse.Viewer({ socket: socket, session: this.sid, root: r.cobrowse });
      r.cobrowse.hidden = false;
      this.pane.classList.add("session--cobrowse");
      if (socket.ready) this.viewer.start();
    } else if (!on && this.viewer) {
      this.viewer.destroy();
      this.viewer = null;
      r.cobrowse.hidden = true;
      this.pane.classList.remove("session--cobrowse");
    }
    if (this.viewer && ev && ev.kind.indexOf("cobrowse.") === 0) this.viewer.event(ev);
  };

  /** Ask the customer for a channel; the call panel shows the answer or why not. */
  SessionCtl.prototype.ask = function (button, channel, sharer) {
    var self = this;
    if (this.state !== "active") return;
    button.dataset.busy = "1";
    this.renderUpgrade();
    this.call.request(channel, sharer).catch(function () {}).then(function () {
      delete button.dataset.busy;
      self.renderUpgrade();
    });
  };

  // ---------------------------------------------------------------- chat

  SessionCtl.prototype.send = function (text) {
    if (this.state !== "active") return false;
    this.showError("");
    var cmid = LD.uid();
    this.outbox.push({ cmid: cmid, text: text });
    this.view.addPending(cmid, text);
    this.flush();
    return true;
  };

  SessionCtl.prototype.flush = function () {
    var self = this;
    if (!socket.ready) return;
    this.outbox = this.outbox.filter(function (m) { return self.view.hasPending(m.cmid); });
    this.outbox.forEach(function (m) {
      if (self.inflight.has(m.cmid)) return;
      self.inflight.add(m.cmid);
      socket.request("chat.send", { session: self.sid, text: m.text, client_msg_id: m.cmid })
        .then(function (reply) {
          self.inflight.delete(m.cmid);
          self.view.acknowledge(m.cmid, reply.seq);
          self.dropFromOutbox(m.cmid);
        }, function (err) {
          self.inflight.delete(m.cmid);
          if (err.code === "disconnected") return;
          if (err.code === "rate_limited" || err.code === "conflict" ||
              err.code === "unavailable" || err.code === "internal") {
            setTimeout(function () { self.flush(); }, 1500);
            return;
          }
          self.dropFromOutbox(m.cmid);
          self.view.fail(m.cmid);
          self.showError(errText(err));
        });
    });
  };

  SessionCtl.prototype.dropFromOutbox = function (cmid) {
    if (!cmid) return;
    this.outbox = this.outbox.filter(function (m) { return m.cmid !== cmid; });
  };

  SessionCtl.prototype.showError = function (message) {
    this.refs.error.textContent = message ? t("common.error", { message: message }) : "";
    this.refs.error.hidden = !message;
  };

  // ---------------------------------------------------------------- actions

  SessionCtl.prototype.toggleTransfer = function () {
    var r = this.refs;
    r.transfer.hidden = !r.transfer.hidden;
    r["transfer-toggle"].setAttribute("aria-expanded", r.transfer.hidden ? "false" : "true");
    if (!r.transfer.hidden) {
      this.fillTransferTargets();
      r["transfer-target"].focus();
    }
  };

  SessionCtl.prototype.fillTransferTargets = function () {
    var r = this.refs;
    var select = r["transfer-target"];
    var keep = select.value;
    var group = r["transfer-agents"];
    group.textContent = "";
    var agents = (snapshot && snapshot.agents) || [];
    agents.forEach(function (a) {
      if (a.id === me.username || a.status === "offline") return;
      var full = a.load >= a.capacity;
      group.appendChild(LD.el("option", {
        text: a.name + " · " + t("agent.status." + a.status) + " · " +
          t("agent.load", { load: a.load, capacity: a.capacity }),
        attrs: { value: "agent:" + a.id, disabled: full },
      }));
    });
    group.hidden = !group.children.length;
    if (keep.indexOf("agent:") === 0 &&
        select.querySelector('option[value="' + CSS.escape(keep) + '"]:not([disabled])')) {
      select.value = keep;
    } else {
      var first = select.querySelector("option:not([disabled])");
      if (first) select.value = first.value;
    }
    this.syncSkillRow();
  };

  SessionCtl.prototype.syncSkillRow = function () {
    var isQueue = this.refs["transfer-target"].value === "queue:";
    this.refs["skill-row"].hidden = !isQueue;
    if (isQueue && this.summary && !this.refs.skill.value) this.refs.skill.value = this.summary.skill || "";
  };

  SessionCtl.prototype.transfer = function () {
    var self = this;
    var r = this.refs;
    var target = r["transfer-target"].value;
    var fields = { session: this.sid };
    if (target === "queue:") fields.to_queue = r.skill.value.trim();
    else if (target.indexOf("agent:") === 0) fields.to_agent = target.slice(6);
    else return;
    var button = r.transfer.querySelector("button[type=submit]");
    button.disabled = true;
    this.showError("");
    socket.request("session.transfer", fields).then(function () {
      button.disabled = false;
      r.transfer.hidden = true;
      self.setState(fields.to_queue != null ? "gone" : "transferring");
    }, function (err) {
      button.disabled = false;
      self.showError(errText(err));
    });
  };

  SessionCtl.prototype.wrapUp = function () {
    var self = this;
    this.refs.wrapup.disabled = true;
    this.showError("");
    socket.request("session.wrapup", { session: this.sid }).then(function () {
      self.refs.wrapup.disabled = false;
      self.setState("wrap_up");
    }, function (err) {
      self.refs.wrapup.disabled = false;
      self.showError(errText(err));
    });
  };

  SessionCtl.prototype.complete = function () {
    var self = this;
    var r = this.refs;
    var button = r["wrapup-form"].querySelector("button[type=submit]");
    button.disabled = true;
    this.showError("");
    socket.request("session.complete", {
      session: this.sid, disposition: r.disposition.value.trim(), notes: r.notes.value.trim(),
    }).then(function () {
      self.ended = true;
      self.state = "ended";
      closeTab(self.sid);
    }, function (err) {
      button.disabled = false;
      self.showError(errText(err));
    });
  };

  // ------------------------------------------------------------------ tabs

  function ensureTab(c) {
    if (tabOrder.indexOf(c.sid) >= 0) return;
    tabOrder.push(c.sid);
    var tab = LD.el("button", {
      class: "tab",
      attrs: {
        type: "button", role: "tab", id: "tab-" + c.sid, "aria-controls": c.pane.id,
        "aria-selected": "false", tabindex: "-1", "data-testid": "session-tab", "data-session": c.sid,
      },
      on: {
        click: function () { select(c.sid, true); },
        keydown: onTabKey,
      },
    }, LD.el("span", { class: "tab__dot", attrs: { "aria-hidden": "true" } }),
      LD.el("span", { class: "tab__name" }),
      LD.el("span", { class: "tab__badge", attrs: { hidden: true } }));
    c.tab = tab;
    c.pane.setAttribute("aria-labelledby", tab.id);
    ui.tabs.appendChild(tab);
    ui.panes.appendChild(c.pane);
    renderTab(c);
    if (!active || !ctls.get(active) || tabOrder.indexOf(active) < 0) select(c.sid, false);
    updateEmpty();
  }

  function renderTab(c) {
    if (!c.tab) return;
    c.tab.querySelector(".tab__name").textContent = customerLabel(c.customerName, c.sid);
    var badge = c.tab.querySelector(".tab__badge");
    badge.textContent = c.unread > 99 ? "99+" : String(c.unread);
    badge.hidden = !c.unread;
    c.tab.dataset.state = c.watched ? "watching" : c.state;
  }

  function select(sid, focusComposer) {
    var c = ctls.get(sid);
    if (!c || tabOrder.indexOf(sid) < 0) return;
    active = sid;
    tabOrder.forEach(function (id) {
      var other = ctls.get(id);
      var on = id === sid;
      other.tab.setAttribute("aria-selected", on ? "true" : "false");
      other.tab.tabIndex = on ? 0 : -1;
      other.pane.hidden = !on;
    });
    c.view.scrollToEnd();
    c.markRead();
    if (focusComposer && c.state === "active") c.refs.input.focus();
  }

  function closeTab(sid) {
    var c = ctls.get(sid);
    var i = tabOrder.indexOf(sid);
    if (!c || i < 0) return;
    tabOrder.splice(i, 1);
    c.tab.remove();
    c.tab = null;
    c.pane.remove();
    c.watched = false;
    if (active === sid) {
      active = null;
      var next = tabOrder[Math.min(i, tabOrder.length - 1)];
      if (next) select(next, false);
    }
    updateEmpty();
  }

  function onTabKey(e) {
    var i = tabOrder.indexOf(active);
    var next = null;
    if (e.key === "ArrowRight") next = tabOrder[(i + 1) % tabOrder.length];
    else if (e.key === "ArrowLeft") next = tabOrder[(i - 1 + tabOrder.length) % tabOrder.length];
    else if (e.key === "Home") next = tabOrder[0];
    else if (e.key === "End") next = tabOrder[tabOrder.length - 1];
    if (!next) return;
    e.preventDefault();
    select(next, false);
    ctls.get(next).tab.focus();
  }

  function updateEmpty() {
    ui.empty.hidden = tabOrder.length > 0;
    ui.tabs.hidden = tabOrder.length === 0;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && active && ctls.get(active)) ctls.get(active).markRead();
  });

  // ------------------------------------------------------------------ snapshot

  function applySnapshot(msg) {
    snapshot = msg;
    snapshotAt = Date.now();
    renderMe(msg.me);
    var mine = new Set();
    (msg.sessions || []).forEach(function (s) {
      mine.add(s.session);
      ensureCtl(s.session).setSummary(s);
    });
    // tabs for sessions that left me without an event saying so (e.g. ended elsewhere)
    tabOrder.slice().forEach(function (sid) {
      var c = ctls.get(sid);
      if (!mine.has(sid) && !c.watched && (c.state === "active" || c.state === "wrap_up")) {
        c.setState("gone");
      }
    });
    renderOffers();
    renderQueue();
    renderAgents();
    renderAll();
    if (msg.fallbacks_version != null && msg.fallbacks_version !== fallbacksVersion) {
      fallbacksVersion = msg.fallbacks_version;
      loadFallbacks();
    }
    ctls.forEach(function (c) {
      if (c.tab && !c.refs.transfer.hidden) c.fillTransferTargets();
    });
  }

  function renderMe(m) {
    var wrap = $("status-wrap");
    if (!m) {
      wrap.hidden = true;
      ui.load.hidden = true;
      return;
    }
    wrap.hidden = false;
    ui.load.hidden = false;
    lastStatus = m.status;
    if (!statusBusy && !wantedStatus) {
      ui.status.value = m.status;
      ui.status.dataset.confirmed = m.status;
      ui.status.disabled = false;
    }
    ui.statusDot.className = "status-dot status-dot--" + m.status;
    ui.load.textContent = t("agent.load", { load: m.load, capacity: m.capacity });
    ui.load.classList.toggle("load--full", m.load >= m.capacity);
    ui.load.title = m.load >= m.capacity ? t("agent.capacity_full") : "";
  }

  var offersTimer = null;
  function renderOffersSoon() {
    if (offersTimer) return;
    offersTimer = setTimeout(function () {
      offersTimer = null;
      renderOffers();
    }, 30);
  }

  function myOffers() {
    if (!snapshot) return [];
    return (snapshot.sessions || []).filter(function (s) {
      return s.state === "offered" && s.offered_to === me.username;
    });
  }

  function renderOffers() {
    var offers = myOffers();
    ui.offersPanel.hidden = offers.length === 0;
    ui.offersCount.textContent = offers.length ? String(offers.length) : "";
    document.title = offers.length ? "(" + offers.length + ") " + baseTitle : baseTitle;
    syncList(ui.offers, offers, function (s) { return s.session; }, createOffer, updateOffer);
    tick();
  }

  function createOffer(s) {
    var li = LD.el("li", { class: "offer", attrs: { "data-testid": "offer", "data-session": s.session } });
    var accept = LD.el("button", {
      class: "btn btn--primary btn--small", text: t("agent.accept"),
      attrs: { type: "button", "data-testid": "offer-accept" },
    });
    var decline = LD.el("button", {
      class: "btn btn--secondary btn--small", text: t("agent.decline"),
      attrs: { type: "button", "data-testid": "offer-decline" },
    });
    accept.addEventListener("click", function () { answerOffer(li, s.session, true); });
    decline.addEventListener("click", function () { answerOffer(li, s.session, false); });
    li.appendChild(LD.el("div", { class: "offer__top" },
      LD.el("span", { class: "offer__name", attrs: { "data-ref": "name" } }),
      LD.el("span", { attrs: { "data-ref": "tier" } }),
      LD.el("span", { class: "offer__timer", attrs: { "data-ref": "timer", "data-testid": "offer-countdown" } })));
    li.appendChild(LD.el("div", { class: "offer__page" },
      LD.el("span", { class: "offer__label", text: t("agent.page") }),
      LD.el("span", { attrs: { "data-ref": "page" } })));
    li.appendChild(LD.el("div", { class: "offer__preview", attrs: { "data-ref": "preview-box" } },
      LD.el("p", { class: "offer__preview-text", attrs: { "data-ref": "preview", "data-testid": "offer-preview" } })));
    li.appendChild(LD.el("div", { class: "offer__bar", attrs: { "aria-hidden": "true" } },
      LD.el("span", { class: "offer__bar-fill", attrs: { "data-ref": "bar" } })));
    li.appendChild(LD.el("p", { class: "form-error", attrs: { "data-ref": "error", role: "alert", hidden: true } }));
    li.appendChild(LD.el("div", { class: "offer__actions" }, decline, accept));
    return li;
  }

  function ref(node, name) { return node.querySelector('[data-ref="' + name + '"]'); }

  function updateOffer(li, s) {
    var c = ctls.get(s.session);
    ref(li, "name").textContent = customerLabel(s.customer_name, s.session);
    var tierNode = ref(li, "tier");
    var badge = tierBadge(s.tier);
    badge.dataset.ref = "tier";
    tierNode.replaceWith(badge);
    var page = ref(li, "page");
    var link = pageLink(s.page, "offer__url");
    link.dataset.ref = "page";
    link.dataset.testid = "offer-page";
    page.replaceWith(link);
    var preview = c && c.firstText ? c.firstText : "";
    ref(li, "preview").textContent = preview;
    ref(li, "preview-box").hidden = !preview;
    if (s.offer_expires_in != null) {
      li.dataset.deadline = String(snapshotAt + s.offer_expires_in * 1000);
      if (!li.dataset.total) li.dataset.total = String(Math.max(s.offer_expires_in, 1) * 1000);
    }
  }

  function answerOffer(li, sid, accept) {
    var buttons = li.querySelectorAll("button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    var err = ref(li, "error");
    err.hidden = true;
    socket.request(accept ? "offer.accept" : "offer.decline", { session: sid }).then(function () {
      if (accept) {
        var c = ensureCtl(sid);
        c.setState("active");
        select(sid, true);
      }
      li.remove();
      renderOffers();
    }, function (e) {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      err.textContent = t("common.error", { message: errText(e) });
      err.hidden = false;
    });
  }

  function renderQueue() {
    var queue = (snapshot && snapshot.queue) || [];
    // the server lists the head of the queue and counts the whole of it
    var total = (snapshot && typeof snapshot.queue_total === "number") ? snapshot.queue_total : queue.length;
    ui.queueCount.textContent = String(total);
    ui.queueEmpty.hidden = queue.length > 0;
    syncList(ui.queue, queue, function (s) { return s.session; }, function (s) {
      return LD.el("li", { class: "queue-item", attrs: { "data-testid": "queue-item", "data-session": s.session } },
        LD.el("div", { class: "queue-item__top" },
          LD.el("span", { class: "queue-item__name", attrs: { "data-ref": "name" } }),
          LD.el("span", { attrs: { "data-ref": "tier" } }),
          LD.el("span", { class: "queue-item__wait", attrs: { "data-ref": "wait" } })),
        LD.el("div", { class: "queue-item__page", attrs: { "data-ref": "page" } }));
    }, function (li, s) {
      ref(li, "name").textContent = customerLabel(s.customer_name, s.session);
      var badge = tierBadge(s.tier);
      badge.dataset.ref = "tier";
      ref(li, "tier").replaceWith(badge);
      ref(li, "page").textContent = s.page || "";
      ref(li, "page").title = s.page || "";
      ref(li, "page").hidden = !s.page;
      li.dataset.waited = String(s.waited_s || 0);
    });
    tick();
  }

  function renderAgents() {
    var agents = (snapshot && snapshot.agents) || [];
    syncList(ui.agents, agents, function (a) { return a.id; }, function () {
      return LD.el("li", { class: "agent-row", attrs: { "data-testid": "agent-row" } },
        LD.el("span", { class: "status-dot", attrs: { "data-ref": "dot", "aria-hidden": "true" } }),
        LD.el("span", { class: "agent-row__name", attrs: { "data-ref": "name" } }),
        LD.el("span", { class: "agent-row__status", attrs: { "data-ref": "status" } }),
        LD.el("span", { class: "agent-row__load", attrs: { "data-ref": "load" } }));
    }, function (li, a) {
      li.dataset.agent = a.id;
      li.classList.toggle("agent-row--me", a.id === me.username);
      ref(li, "dot").className = "status-dot status-dot--" + a.status;
      ref(li, "name").textContent = a.name;
      ref(li, "status").textContent = t("agent.status." + a.status);
      ref(li, "load").textContent = a.load + "/" + a.capacity;
      ref(li, "load").title = t("agent.load", { load: a.load, capacity: a.capacity });
    });
  }

  function stateLabel(s) {
    if (s.state === "queued") return t("agent.queue");
    if (s.state === "offered") return t("agent.offer") + " → " + (s.offered_to || "");
    if (s.state === "wrap_up") return t("agent.wrapup") + " · " + (s.agent_name || "");
    return s.agent_name || "";
  }

  function renderAll() {
    if (!ui.all) return;
    var all = (snapshot && snapshot.all_sessions) || [];
    ui.allCount.textContent = String(all.length);
    syncList(ui.all, all, function (s) { return s.session; }, function (s) {
      var watch = LD.el("button", {
        class: "btn btn--secondary btn--small", text: t("agent.watch"),
        attrs: { type: "button", "data-testid": "watch" },
      });
      watch.addEventListener("click", function () { watchSession(s.session); });
      return LD.el("li", { class: "all-item", attrs: { "data-testid": "all-session", "data-session": s.session } },
        LD.el("div", { class: "all-item__main" },
          LD.el("span", { class: "all-item__name", attrs: { "data-ref": "name" } }),
          LD.el("span", { class: "all-item__state", attrs: { "data-ref": "state" } })),
        watch);
    }, function (li, s) {
      ref(li, "name").textContent = customerLabel(s.customer_name, s.session);
      ref(li, "state").textContent = stateLabel(s);
      li.querySelector("button").hidden = s.agent_id === me.username || s.offered_to === me.username;
    });
  }

  // ------------------------------------------------------------------ callbacks & messages

  function loadFallbacks() {
    if (fallbacksLoading) {
      fallbacksAgain = true;
      return;
    }
    fallbacksLoading = true;
    fetch("/api/fallbacks", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (body) {
        fallbackItems = (body && body.items) || [];
        renderFallbacks();
      }, function () { /* the next version change or reload tries again */ })
      .then(function () {
        fallbacksLoading = false;
        if (fallbacksAgain) {
          fallbacksAgain = false;
          loadFallbacks();
        }
      });
  }

  function renderFallbacks() {
    ui.fallbacksCount.textContent = fallbackItems.length ? String(fallbackItems.length) : "";
    ui.fallbacksEmpty.hidden = fallbackItems.length > 0;
    syncList(ui.fallbacks, fallbackItems, function (f) { return String(f.id); }, createFallback, updateFallback);
    tick();
  }

  function createFallback(f) {
    var done = LD.el("button", {
      class: "btn btn--secondary btn--small", text: t("agent.fallback.done", null, "agent.complete"),
      attrs: { type: "button", "data-testid": "fallback-done" },
    });
    var li = LD.el("li", { class: "fallback", attrs: { "data-testid": "fallback-item", "data-id": f.id } },
      LD.el("div", { class: "fallback__top" },
        LD.el("span", { attrs: { "data-ref": "kind" } }),
        LD.el("span", { class: "fallback__name", attrs: { "data-ref": "name", "data-testid": "fallback-name" } }),
        LD.el("span", { class: "fallback__age", attrs: { "data-ref": "age" } })),
      LD.el("p", { class: "fallback__contact", attrs: { "data-ref": "contact", "data-testid": "fallback-contact" } }),
      LD.el("p", { class: "fallback__when", attrs: { "data-ref": "when-row" } },
        LD.el("span", { class: "fallback__label", text: t("agent.fallback.preferred_time") }),
        LD.el("span", { attrs: { "data-ref": "when", "data-testid": "fallback-time" } })),
      LD.el("p", { class: "fallback__text", attrs: { "data-ref": "text", "data-testid": "fallback-text" } }),
      LD.el("div", { class: "fallback__page", attrs: { "data-ref": "page-row" } },
        LD.el("span", { class: "fallback__label", text: t("agent.page") }),
        LD.el("span", { attrs: { "data-ref": "page" } })),
      LD.el("p", { class: "form-error", attrs: { "data-ref": "error", role: "alert", hidden: true } }),
      LD.el("div", { class: "fallback__actions" }, done));
    done.addEventListener("click", function () { markHandled(li, f.id); });
    return li;
  }

  function updateFallback(li, f) {
    var kind = ref(li, "kind");
    var safeKind = f.kind === "message" ? "message" : "callback";
    kind.className = "badge badge--" + safeKind;
    kind.textContent = t(FALLBACK_LABELS[safeKind], null, safeKind === "message" ? "customer.message_label" : null);
    li.dataset.kind = safeKind;
    ref(li, "name").textContent = f.name || "";
    ref(li, "contact").textContent = f.contact || "";
    ref(li, "when").textContent = f.preferred_time || "";
    ref(li, "when-row").hidden = !f.preferred_time;
    ref(li, "text").textContent = f.text || "";
    ref(li, "text").hidden = !f.text;
    var page = pageLink(f.page, "fallback__url");
    page.dataset.ref = "page";
    ref(li, "page").replaceWith(page);
    ref(li, "page-row").hidden = !f.page;
    li.dataset.created = String(f.created_at || 0);
    var when = new Date((f.created_at || 0) * 1000);
    ref(li, "age").title = (f.entry ? f.entry + " · " : "") + when.toLocaleString(LD.lang);
  }

  function markHandled(li, id) {
    var button = li.querySelector('[data-testid="fallback-done"]');
    var err = ref(li, "error");
    button.disabled = true;
    err.hidden = true;
    LD.postJSON("/api/fallbacks/" + encodeURIComponent(id) + "/handled", {}).then(function (r) {
      if (r.ok || r.status === 404) {
        // done here, or already done by someone else: either way it leaves the list
        fallbackItems = fallbackItems.filter(function (f) { return f.id !== id; });
        renderFallbacks();
        return;
      }
      button.disabled = false;
      err.textContent = t("common.error", { message: r.message || r.code });
      err.hidden = false;
    });
  }

  function watchSession(sid) {
    var c = ensureCtl(sid);
    if (c.tab) {
      select(sid, false);
      return;
    }
    c.watched = true;
    socket.request("session.watch", { session: sid }).then(function (reply) {
      var info = reply.session || {};
      c.customerName = info.customer_name || c.customerName;
      c.tier = info.tier || c.tier;
      c.render();
      ensureTab(c);
      select(sid, false);
    }, function (e) {
      c.watched = false;
      window.alert(t("common.error", { message: errText(e) }));
    });
  }

  /** Once a second: offer countdowns and waiting times. */
  function tick() {
    var now = Date.now();
    Array.prototype.forEach.call(ui.offers.children, function (li) {
      if (!li.dataset.deadline) return;
      var left = Math.max(0, Number(li.dataset.deadline) - now);
      ref(li, "timer").textContent = t("common.seconds", { n: Math.ceil(left / 1000) });
      var total = Number(li.dataset.total) || 1;
      ref(li, "bar").style.width = Math.max(0, Math.min(100, (left / total) * 100)) + "%";
      li.classList.toggle("offer--urgent", left < 5000);
    });
    Array.prototype.forEach.call(ui.fallbacks.children, function (li) {
      var created = Number(li.dataset.created || 0);
      if (created) ref(li, "age").textContent = LD.formatDuration(now / 1000 - created);
    });
    var elapsed = (now - snapshotAt) / 1000;
    Array.prototype.forEach.call(ui.queue.children, function (li) {
      var waited = Number(li.dataset.waited || 0) + elapsed;
      ref(li, "wait").textContent = t("agent.waited") + " " + LD.formatDuration(waited);
    });
  }
  setInterval(tick, 1000);

  // ------------------------------------------------------------------ top bar

  function sendStatus() {
    var want = wantedStatus;
    if (!want || statusBusy || !socket.ready) return;
    statusBusy = true;
    ui.status.disabled = true;
    socket.request("agent.status", { status: want }).then(function (reply) {
      if (wantedStatus === want) wantedStatus = null;
      lastStatus = reply.status || want;
      ui.statusDot.className = "status-dot status-dot--" + lastStatus;
    }, function (err) {
      if (err.code !== "disconnected") {
        wantedStatus = null;
        ui.status.value = lastStatus;
      }
    }).then(function () {
      statusBusy = false;
      ui.status.disabled = false;
      if (wantedStatus && wantedStatus !== want) sendStatus();
      else if (!wantedStatus) ui.status.dataset.confirmed = ui.status.value;
    });
  }

  ui.status.addEventListener("change", function () {
    wantedStatus = ui.status.value;
    sendStatus();
  });


  // ------------------------------------------------------------------ phone call invitation
  // An agent on the phone opens a case and sends the caller a link that joins it.
  (function () {
    var form = document.getElementById("invite-form");
    if (!form) return;
    var nameInput = document.getElementById("invite-name");
    var entrySelect = document.getElementById("invite-entry");
    var error = document.getElementById("invite-error");
    var result = document.getElementById("invite-result");
    var link = document.getElementById("invite-link");
    var copy = document.getElementById("invite-copy");
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      error.hidden = true;
      var entry = entrySelect.value;
      var made = await LD.postJSON("/api/cases", { entry: entry, customer_name: nameInput.value.trim() });
      if (!made.ok) { error.textContent = made.message || made.code; error.hidden = false; return; }
      var inv = await LD.postJSON("/api/links", { entry: entry, case: made.data.session });
      if (!inv.ok) { error.textContent = inv.message || inv.code; error.hidden = false; return; }
      link.value = inv.data.url;
      result.hidden = false;
      link.focus();
      link.select();
    });
    copy.addEventListener("click", function () {
      link.select();
      if (navigator.clipboard) navigator.clipboard.writeText(link.value).catch(function () {});
      copy.textContent = t("agent.copied");
    });
  })();

  ui.logout.addEventListener("click", async function () {
    ui.logout.disabled = true;
    try {
      await Promise.race([
        socket.request("agent.status", { status: "offline" }),
        new Promise(function (resolve) { setTimeout(resolve, 1500); }),
      ]);
    } catch (err) { /* logging out anyway */ }
    socket.stop();
    await LD.postJSON("/api/logout", {});
    location.reload();
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (node) {
    node.textContent = t(node.dataset.i18n);
  });
  updateEmpty();
  loadFallbacks();
  socket.start();
})();
