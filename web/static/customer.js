/* The customer's chat page: /l/<entry>.
 *
 * The first message starts a session over HTTP; everything after that goes
 * over the socket. The session and any unsent messages are kept in
 * localStorage per entry, so a reload resumes the same chat: the page then
 * asks for the whole timeline (resume from 0) and renders it once, while a
 * mere reconnect resumes from the last seq it rendered.
 */
(function () {
  "use strict";

  var LD = window.LD;
  var t = LD.t;
  var cfg = LD.page;
  var STORE_KEY = "livedesk.chat." + cfg.entry;

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    scroller: $("scroller"),
    log: $("chat-log"),
    typing: $("typing"),
    banner: $("banner"),
    error: $("error"),
    statusText: $("status-text"),
    agentName: $("agent-name"),
    dot: $("presence-dot"),
    leave: $("leave"),
    queue: $("queue-status"),
    queuePosition: $("queue-position"),
    queueEta: $("queue-eta"),
    footer: $("footer"),
    nameRow: $("name-row"),
    name: $("name"),
    form: $("composer"),
    input: $("message"),
    ended: $("ended"),
    newChat: $("new-chat"),
    app: $("app"),
    call: $("call"),
    recording: $("recording"),
    csat: $("csat"),
    csatThanks: $("csat-thanks"),
    consent: $("consent"),
    upgrade: $("upgrade"),
    askVideo: $("ask-video"),
    askVoice: $("ask-voice"),
    askScreen: $("ask-screen"),
  };
  var media = LD.media;
  media.fillTexts(document);

  // "new" -> "starting" -> "waiting" <-> "active" -> "closed" -> "ended"
  var state = "new";
  // In the widget's panel this page is a third-party frame, where a browser may deny
  // storage altogether (reading window.localStorage throws): then the chat just won't
  // survive a reload.
  var storage = null;
  try { storage = window.localStorage; } catch (err) { storage = null; }
  var record = LD.storageGet(storage, STORE_KEY);
  // A personal link left a grant (start as that customer) or an invitation (join the
  // agent's case). The link is spent: take it out of the address so a reload resumes
  // the chat from storage instead of showing "already used".
  var grant = cfg.grant || null;
  // The widget hands the visitor's customer token over in the fragment (#ct=...), which
  // never reaches a server or its logs. Keep it in memory only and clear the address.
  var customerToken = null;
  var fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (fragment.has("ct")) {
    customerToken = fragment.get("ct") || null;
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (cfg.join && cfg.join.session && cfg.join.token) {
    record = { session: cfg.join.session, token: cfg.join.token, name: "", pending: [] };
    LD.storageSet(storage, STORE_KEY, record);
  }
  if (new URLSearchParams(location.search).has("t")) {
    var clean = new URL(location.href);
    clean.searchParams.delete("t");
    history.replaceState(null, "", clean.pathname + clean.search + clean.hash);
  }
  var agentName = "";
  var lastQueue = null;
  var inflight = new Set();
  var unread = 0;
  var baseTitle = document.title;
  var call = null;               // the session's voice, video and screen sharing
  var recordingBar = null;       // the "Recording" indicator and consent question
  var offeredChannels = null;    // which upgrades this entry offers (null: not known yet)

  var view = new LD.ChatView(ui.log, {
    side: "customer",
    scroller: function () { return ui.scroller; },
    nameOf: function (ev) { return (ev.data && ev.data.name) || agentName || t("customer.agent"); },
    describe: describe,
    onRendered: onRendered,
  });
  var typing = new LD.TypingIndicator(ui.typing);
  var receipts = new LD.ReceiptSender(function (st, seq) {
    return record ? socket.send("chat.receipt", { session: record.session, seq: seq, state: st }) : false;
  });
  var composer = new LD.Composer(ui.form, ui.input, {
    onSend: send,
    onTyping: function (on) {
      if (record && (state === "waiting" || state === "active")) {
        socket.send("chat.typing", { session: record.session, typing: on });
      }
    },
  });
  var socket = new LD.Socket({
    hello: function () {
      var resume = {};
      resume[record.session] = view.lastSeq;
      return { token: record.token, resume: resume };
    },
    onReady: onReady,
    onHelloError: function (err) {
      if (err.code === "unauthorized" || err.code === "not_found" || err.code === "forbidden") {
        // the token ran out or the session is gone: this chat cannot continue
        setState("ended");
        return true;
      }
      return false;
    },
    onMessage: onMessage,
    onStatus: onSocketStatus,
  });

  // ------------------------------------------------------------------ state

  function persist() {
    LD.storageSet(storage, STORE_KEY, record);
  }

  function setState(next) {
    state = next;
    var chatting = state === "new" || state === "waiting" || state === "active";
    var over = state === "closed" || state === "ended";
    // while the first message is on its way the box stays usable (a phone keeps
    // its keyboard); send() just holds further messages back until then
    composer.setEnabled(chatting || state === "starting");
    ui.footer.hidden = over;
    ui.ended.hidden = !over;
    // the one-question survey, once an agent has served this chat
    var asked = over && !!agentName && record && !record.csat;
    ui.csat.hidden = !asked;
    ui.csatThanks.hidden = !(over && record && record.csat);
    ui.nameRow.hidden = state !== "new";
    ui.leave.hidden = !(state === "waiting" || state === "active");
    ui.agentName.hidden = state !== "active" || !agentName;
    ui.agentName.textContent = agentName;
    ui.dot.className = "presence-dot" + (state === "active" ? " presence-dot--on" : "");
    ui.statusText.hidden = state === "active" && !!agentName;
    if (call) call.setEnabled(state === "active");
    if (recordingBar) recordingBar.setEnabled(state === "active");
    renderUpgrade();
    if (state === "new" || state === "waiting" || over) ui.statusText.textContent = t("customer.title");
    if (over) {
      typing.hide();
      socketIdle();
    }
    if (state === "ended") {
      socket.stop();
      ui.banner.hidden = true;
    }
    renderQueue();
  }

  function socketIdle() {
    // nothing more to send once the chat is over; drop what was never sent
    if (record && record.pending && record.pending.length) {
      record.pending.forEach(function (m) { view.fail(m.cmid); });
      record.pending = [];
      persist();
    }
  }

  function renderQueue() {
    if (state !== "waiting") {
      ui.queue.hidden = true;
      return;
    }
    ui.queue.hidden = false;
    if (lastQueue && lastQueue.position === 0) {
      // offered to an agent right now: no queue left to wait in
      ui.queuePosition.textContent = t("customer.waiting", null, "customer.connecting");
      ui.queueEta.hidden = true;
    } else if (lastQueue) {
      ui.queuePosition.textContent = t("customer.queued", { position: lastQueue.position });
      ui.queueEta.textContent = lastQueue.eta_s == null
        ? t("customer.eta_unknown")
        : t("customer.eta", { minutes: Math.max(1, Math.round(lastQueue.eta_s / 60)) });
      ui.queueEta.hidden = false;
    } else {
      ui.queuePosition.textContent = t("customer.waiting", null, "customer.connecting");
      ui.queueEta.hidden = true;
    }
  }

  function showError(message) {
    ui.error.textContent = message ? t("common.error", { message: message }) : "";
    ui.error.hidden = !message;
  }

  // ------------------------------------------------------------------ timeline

  function describe(ev) {
    var d = ev.data || {};
    switch (ev.kind) {
      case "session.accepted":
        return t("customer.agent_joined", { name: d.agent_name || t("customer.agent") });
      case "session.transfer_requested":
        return t("customer.transferred");
      case "session.transferred":
        return Object.prototype.hasOwnProperty.call(d, "to_queue") ? t("customer.transferred") : null;
      case "session.agent_left":
        return d.agent_name ? t("customer.agent_left", { name: d.agent_name })
          : t("customer.agent_left_generic");
      case "participant.disconnected":
        return d.side === "agent" ? t("customer.agent_disconnected") : null;
      case "participant.reconnected":
        return d.side === "agent" ? t("customer.agent_reconnected") : null;
      default:
        return media.describe(ev, "customer");
    }
  }

  function onRendered(info) {
    var ev = info.event;
    var d = ev.data || {};
    switch (ev.kind) {
      case "session.created":
      case "session.queued":
        if (state !== "closed" && state !== "ended") {
          lastQueue = null;
          setState("waiting");
        }
        break;
      case "session.accepted":
        agentName = d.agent_name || agentName;
        setState("active");
        break;
      case "session.transferred":
        if (Object.prototype.hasOwnProperty.call(d, "to_queue")) {
          agentName = "";
          lastQueue = null;
          setState("waiting");
        } else if (d.agent_name) {
          agentName = d.agent_name;
          setState("active");
        }
        break;
      case "session.agent_left":
      case "session.customer_left":
      case "session.wrap_up":
        setState("closed");
        break;
      case "session.ended":
        setState("ended");
        break;
      default:
        break;
    }
    ensureCall().event(ev);
    ensureRecording().event(ev);
    if ((ev.kind === "channel.accepted" || ev.kind === "channel.active") && d.channel === "cobrowse") {
      cobrowseHandoff(info.seq);
    }
    if (ev.kind === "chat.message") {
      if (info.own) {
        dropFromOutbox(d.client_msg_id);
      } else {
        typing.hide();
        receipts.mark("delivered", info.seq);
        if (document.visibilityState === "visible") receipts.mark("read", info.seq);
        else bumpUnread();
      }
    }
  }

  function bumpUnread() {
    unread += 1;
    document.title = "(" + unread + ") " + baseTitle;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    unread = 0;
    document.title = baseTitle;
    if (view.lastOtherSeq) receipts.mark("read", view.lastOtherSeq);
  });

  // ------------------------------------------------------------------ socket

  function onSocketStatus(s) {
    if (s === "reconnecting" && state !== "ended") {
      ui.banner.textContent = t("customer.reconnecting");
      ui.banner.hidden = false;
    } else if (s === "connecting") {
      if (state !== "active") ui.statusText.textContent = t("customer.connecting");
    } else {
      ui.banner.hidden = true;
    }
  }

  function onReady() {
    ui.banner.hidden = true;
    if (state === "waiting" || state === "new" || state === "starting") {
      ui.statusText.textContent = t("customer.title");
    }
    // anything the timeline already holds was sent; the rest goes (again) now
    if (record.pending) {
      record.pending = record.pending.filter(function (m) { return view.hasPending(m.cmid); });
      persist();
    }
    receipts.resync();
    flush();
    if (call) call.socketReady();
    loadOfferedChannels();
  }

  function onMessage(msg) {
    if (!record || (msg.session && msg.session !== record.session)) return;
    switch (msg.type) {
      case "event":
        view.addEvent(msg.seq, msg.event);
        break;
      case "session.resync":
        view.resync(msg.from_seq);
        break;
      case "queue":
        lastQueue = msg;
        renderQueue();
        break;
      case "typing":
        if (msg.role === "agent") {
          if (msg.typing && state === "active") typing.show(msg.name || agentName || t("customer.agent"));
          else typing.hide();
        }
        break;
      case "receipt":
        if (msg.role === "agent") view.setMarks(msg);
        break;
      case "receipts":
        if (msg.receipts && msg.receipts.agent) view.setMarks(msg.receipts.agent);
        break;
      case "media.publications":
      case "media.state":
        ensureCall().push(msg);
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ sending

  function send(text) {
    showError("");
    if (state === "new") {
      startSession(text);
      return true;
    }
    if (state !== "waiting" && state !== "active") return false;
    var cmid = LD.uid();
    record.pending = record.pending || [];
    record.pending.push({ cmid: cmid, text: text });
    persist();
    view.addPending(cmid, text);
    flush();
    return true;
  }

  function flush() {
    if (!record || !record.session || !socket.ready) return;
    (record.pending || []).forEach(function (m) {
      if (!inflight.has(m.cmid)) sendOne(m);
    });
  }

  function sendOne(m) {
    inflight.add(m.cmid);
    socket.request("chat.send", { session: record.session, text: m.text, client_msg_id: m.cmid })
      .then(function (reply) {
        inflight.delete(m.cmid);
        // a duplicate was already on the timeline; either way it is sent now
        view.acknowledge(m.cmid, reply.seq);
        dropFromOutbox(m.cmid);
      }, function (err) {
        inflight.delete(m.cmid);
        if (err.code === "disconnected") return;  // resent after the reconnect
        if (err.code === "rate_limited" || err.code === "conflict" ||
            err.code === "unavailable" || err.code === "internal") {
          setTimeout(flush, 1500);
          return;
        }
        dropFromOutbox(m.cmid);
        view.fail(m.cmid);
        if (err.code !== "wrong_state") showError(err.message);
      });
  }

  function dropFromOutbox(cmid) {
    if (!record || !record.pending || !cmid) return;
    var before = record.pending.length;
    record.pending = record.pending.filter(function (m) { return m.cmid !== cmid; });
    if (record.pending.length !== before) persist();
  }

  /** Co-browsing runs on the company's page around this panel: hand it the session.
   * Only the page this panel was opened from (its origin, from ?page=) receives it. */
  function cobrowseHandoff(seq) {
    if (window.parent === window || !record) return;
    var origin;
    try { origin = new URL(new URLSearchParams(location.search).get("page") || "").origin; } catch (err) { return; }
    if (!/^https?:/.test(origin)) return;
    window.parent.postMessage(
      { livedesk: "cobrowse", session: record.session, token: record.token, seq: seq }, origin);
  }

  function pageUrl() {
    var params = new URLSearchParams(location.search);
    return (params.get("page") || document.referrer || location.href).slice(0, 2048);
  }

  async function startSession(text) {
    setState("starting");
    view.addPending("", text);
    var name = ui.name.value.trim();
    var body = { entry: cfg.entry, text: text, name: name, page: pageUrl() };
    var asked = new URLSearchParams(location.search).get("channel");
    if (asked) body.channel = asked;
    // a personal link's grant, else the company's customer token from the widget
    var bearer = grant || customerToken;
    var r = await LD.postJSON("/api/sessions", body,
      bearer ? { Authorization: "Bearer " + bearer } : null);
    if (!r.ok || !r.data || !r.data.session) {
      var first = view.pending.get("");
      if (first) first.node.remove();
      view.pending.delete("");
      if (!ui.input.value) ui.input.value = text;
      setState("new");
      if (r.code === "policy") {
        // an entry rule: the server's own words say why and when ("We open Mon 09:00 ...")
        ui.error.textContent = r.message;
        ui.error.hidden = false;
      } else if (r.code === "unavailable" || r.status === 503) {
        // the service is recovering (its live store is away): a moment, then again
        showError(t("customer.unavailable"));
      } else {
        showError(r.message || r.code);
      }
      ui.input.focus();
      return;
    }
    record = { session: r.data.session, token: r.data.token, name: name, pending: [] };
    persist();
    setState("waiting");
    socket.start();
  }

  // ------------------------------------------------------------------ voice, video, screen

  function ensureRecording() {
    if (!recordingBar) {
      recordingBar = new LD.recording.Bar({
        socket: socket, session: record.session, side: "customer", root: ui.recording,
      });
      recordingBar.setEnabled(state === "active");
    }
    return recordingBar;
  }

  function ensureCall() {
    if (!call) {
      call = new media.Call({
        socket: socket,
        session: record.session,
        side: "customer",
        root: ui.call,
        dialog: ui.consent,
        quality: "indicator",
        onVisible: function (on) { ui.app.classList.toggle("cust--call", on); },
        onChange: renderUpgrade,
      });
      call.setEnabled(state === "active");
      if (socket.ready) call.socketReady();
    }
    return call;
  }

  /** The entry's own rules say which upgrades it offers at all. */
  function loadOfferedChannels() {
    if (offeredChannels) return;
    fetch("/api/entry/" + encodeURIComponent(cfg.entry) + "/availability?page=" +
      encodeURIComponent(pageUrl()), { headers: { Accept: "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (body) {
        var chans = body && body.channels;
        if (!chans) return;
        offeredChannels = {};
        Object.keys(chans).forEach(function (ch) {
          offeredChannels[ch] = !(chans[ch] && chans[ch].reason === "not_offered");
        });
        renderUpgrade();
      }, function () { /* every button stays; the server still checks each request */ });
  }

  function renderUpgrade() {
    var on = state === "active" && !!call && media.MediaSession.supported();
    ui.upgrade.hidden = !on;
    if (!on) return;
    var chans = call.channels;
    [["video", ui.askVideo], ["voice", ui.askVoice], ["screen", ui.askScreen]].forEach(function (pair) {
      var ch = pair[0];
      var button = pair[1];
      // what already runs needs no button (a video call carries the voice too)
      var running = chans.agreed(ch) || (ch === "voice" && chans.agreed("video"));
      button.hidden = running || (!!offeredChannels && offeredChannels[ch] === false);
      button.disabled = !call.canRequest(ch) || button.dataset.busy === "1";
    });
    var shown = Array.prototype.some.call(ui.upgrade.children, function (b) { return !b.hidden; });
    ui.upgrade.hidden = !shown;
  }

  function askFor(button, ch, sharer) {
    if (!call || state !== "active") return;
    button.dataset.busy = "1";
    renderUpgrade();
    call.request(ch, sharer).catch(function () { /* the call panel shows why */ }).then(function () {
      delete button.dataset.busy;
      renderUpgrade();
    });
  }

  ui.askVideo.addEventListener("click", function () { askFor(ui.askVideo, "video"); });
  ui.askVoice.addEventListener("click", function () { askFor(ui.askVoice, "voice"); });
  ui.askScreen.addEventListener("click", function () { askFor(ui.askScreen, "screen", "customer"); });

  // ------------------------------------------------------------------ buttons

  ui.leave.addEventListener("click", function () {
    if (!record) return;
    ui.leave.disabled = true;
    socket.request("session.leave", { session: record.session }).then(function () {
      ui.leave.disabled = false;
    }, function (err) {
      ui.leave.disabled = false;
      // leaving a queued chat ends it, and an ended chat closes its socket
      if (state === "closed" || state === "ended") return;
      showError(err.code === "disconnected" ? t("customer.reconnecting") : err.message);
    });
  });

  Array.prototype.forEach.call(ui.csat.querySelectorAll("[data-score]"), function (button) {
    button.addEventListener("click", function () {
      if (!record) return;
      var score = parseInt(button.dataset.score, 10);
      fetch("/api/sessions/" + encodeURIComponent(record.session) + "/csat", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + record.token },
        body: JSON.stringify({ score: score }),
      }).then(function (r) {
        if (r.ok || r.status === 409) {
          record.csat = score;
          persist();
          setState(state);
        }
      }, function () {});
    });
  });

  ui.newChat.addEventListener("click", function () {
    if (call) call.setEnabled(false);
    if (recordingBar) { recordingBar.setEnabled(false); recordingBar = null; }
    LD.storageSet(storage, STORE_KEY, null);
    socket.stop();
    location.reload();
  });

  // ------------------------------------------------------------------ start

  if (record && record.session && record.token) {
    // a reload: show unsent messages first so the timeline can reconcile them
    (record.pending || []).forEach(function (m) { view.addPending(m.cmid, m.text); });
    state = "waiting";
    setState("waiting");
    ui.queue.hidden = true;  // until the timeline says where we are
    socket.start();
  } else {
    record = null;
    setState("new");
  }
})();
