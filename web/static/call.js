/* livedesk call panel: what a person sees and presses around a MediaSession.
 *
 * Loaded after media.js; exposes LD.media.Call and LD.media.describe.
 *
 * A Call follows one session's timeline (channel.* events, media.* pushes)
 * and shows: the consent question or the pending requests, the other side's
 * video tiles (a screen share large), local previews, what is live, the
 * controls (mute, stop, hang up) and the call quality. Every text reaches the
 * DOM through textContent.
 */
(function () {
  "use strict";

  var LD = window.LD;
  var M = LD.media;
  var say = M.say;
  var el = LD.el;

  var LIVE_WINDOW_S = 30;   // an event younger than this happened while the page was open
  var ALL_CHANNELS = ["voice", "video", "screen", "cobrowse"];
  var ENDING = {
    "session.wrap_up": true, "session.agent_left": true, "session.customer_left": true,
    "session.ended": true, "session.transfer_requested": true,
  };

  // ------------------------------------------------------------------ timeline text

  /** Who did it, seen from ``side``: you | customer | agent | bot | system. */
  function whoOf(ev, side, me) {
    var role = ev.actor_role;
    if (role === "bot") return "bot";
    if (!role || role === "system") return "system";
    if (role === "customer") return side === "customer" ? "you" : "customer";
    if (side === "agent" && (!me || ev.actor_id === me)) return "you";
    return "agent";
  }

  /** A readable line for the channel, bot and media events, or null. */
  function describe(ev, side, me) {
    var d = ev.data || {};
    var kind = ev.kind || "";
    var who = whoOf(ev, side, me);
    var ch = d.channel ? M.channelName(d.channel) : "";
    var vars = { channel: ch, Channel: M.capitalize(ch), reason: d.reason || "" };
    switch (kind) {
      case "channel.offered":
        if (d.origin === "bot" || who === "bot") {
          return say(side === "customer" ? "media.ev.offered.bot_customer" : "media.ev.offered.bot", vars);
        }
        return say("media.ev.offered." + (who === "system" ? "agent" : who), vars);
      case "channel.accepted":
      case "channel.declined":
        return say("media.ev." + kind.slice(8) + "." + (who === "you" || who === "customer" ? who : "agent"), vars);
      case "channel.stopped":
        if (who === "system" || who === "bot") return say("media.ev.stopped.system", vars);
        return say("media.ev.stopped." + who, vars);
      case "channel.active":
        return say("media.ev.active", vars);
      case "bot.answer":
        return d.text ? say("media.ev.bot_answer", { text: d.text }) : null;
      case "bot.suggested":
        return say("media.ev.bot_suggested." + (side === "customer" ? "customer" : "agent"), vars);
      case "media.published":
      case "media.unpublished":
      case "media.muted": {
        var owner = say("media.owner." + (who === "you" || who === "customer" ? who : "agent"));
        var src = M.sourceName(d.source || "");
        var key = kind === "media.muted" ? (d.muted ? "media.ev.muted" : "media.ev.unmuted")
          : "media.ev." + kind.slice(6);
        return say(key, { owner: owner, source: src });
      }
      case "media.connected":
      case "media.recovered":
      case "media.failed":
      case "media.closed": {
        if (kind === "media.closed" && (who === "system" || who === "bot")) return say("media.ev.closed_all");
        var whom = say("media.who." + (who === "you" || who === "customer" ? who : "agent"));
        return say("media.ev." + kind.slice(6), { who: whom, reason: d.reason || "" });
      }
      case "node.draining":
        return say("node.ev.draining", { seconds: d.ends_in_s != null ? d.ends_in_s : "" });
      case "node.lost":
        return say("node.ev.lost");
      default:
        return LD.recording ? LD.recording.describe(ev, side) : null;
    }
  }

  // ------------------------------------------------------------------ Call

  /**
   * opts.socket, opts.session, opts.side ("customer" | "agent"), opts.me (staff username)
   * opts.root      the element the panel is built in; hidden while nothing goes on
   * opts.dialog    a <dialog> for consent questions (customer); without one they show inline
   * opts.quality   "panel" (numbers) or "indicator" (good / fair / poor)
   * opts.onVisible(bool)  the panel appeared or went away (layout)
   * opts.onChange()       channel states changed (upgrade buttons)
   */
  function Call(opts) {
    this.opts = opts;
    this.socket = opts.socket;
    this.sid = opts.session;
    this.side = opts.side;
    this.channels = new M.Channels();
    this.enabled = true;      // the session is active and we take part in it
    this.notice = null;       // {key, text}
    this.visible = null;
    this.consentFor = null;   // the channel the dialog asks about
    this.dismissed = {};      // channel -> true: the dialog was answered or dismissed for this offer
    this.answering = {};      // channel -> true: our answer is on its way
    this.tiles = new Map();   // pub id -> {node, media, track}
    this._build();
    this.media = this._newMedia();
    this.render();
  }

  Call.prototype._newMedia = function () {
    var self = this;
    var media = new M.MediaSession({
      socket: this.socket,
      session: this.sid,
      side: this.side,
      channels: this.channels,
      onChange: function () { self.render(); },
      onNotice: function (key, vars) { self._mediaNotice(key, vars); },
      onQuality: function (q) { self._renderQuality(q); },
    });
    media.onEnded = function (source) {
      // the person stopped the share in the browser's own bar: the screen channel ends too
      if (source === "screen" && self.channels.agreed("screen")) self.stopChannel("screen");
    };
    return media;
  };

  // ---------------------------------------------------------------- building

  Call.prototype._build = function () {
    var self = this;
    var root = this.opts.root;
    root.classList.add("call");
    root.textContent = "";
    this.ui = {};
    var ui = this.ui;
    ui.notice = el("p", {
      class: "call__notice",
      attrs: { role: "status", "aria-live": "polite", "data-testid": "media-notice", hidden: true },
    });
    ui.requests = el("div", { class: "call__requests", attrs: { "data-testid": "media-requests", "aria-live": "polite" } });
    ui.stage = el("div", {
      class: "call__stage",
      attrs: { "data-testid": "remote-videos", role: "region", "aria-label": say("media.stage") },
    });
    ui.audio = el("div", { class: "call__audio", attrs: { hidden: true } });
    ui.localCamera = this._localTile("camera", "local-video");
    ui.localScreen = this._localTile("screen", "local-screen");
    ui.local = el("div", {
      class: "call__local",
      attrs: { role: "region", "aria-label": say("media.preview"), "data-testid": "local-previews" },
    }, ui.localCamera.node, ui.localScreen.node);
    ui.live = el("ul", { class: "call__live", attrs: { "data-testid": "media-live", "aria-live": "polite" } });

    function button(testid, cls, onClick) {
      return el("button", {
        class: "btn btn--small " + cls,
        attrs: { type: "button", "data-testid": testid },
        on: { click: onClick },
      });
    }
    ui.mic = button("mute-mic", "btn--secondary call__btn--mic", function () {
      self.media.setMuted("mic", !self.media.isMuted("mic"));
    });
    ui.cameraPause = button("mute-camera", "btn--secondary call__btn--camera", function () {
      self.media.setMuted("camera", !self.media.isMuted("camera"));
    });
    ui.cameraStop = button("stop-camera", "btn--secondary", function () { self.media.stop("camera"); });
    ui.cameraStart = button("start-camera", "btn--secondary", function () { self._start(["camera"]); });
    ui.screenStart = button("start-screen", "btn--primary", function () { self._start(["screen"]); });
    ui.screenStop = button("stop-screen", "btn--secondary", function () { self.stopChannel("screen"); });
    ui.join = button("join-call", "btn--primary", function () { self.join(); });
    ui.hangup = button("hangup", "btn--danger", function () { self.hangup(); });
    ui.controls = el("div", {
      class: "call__controls",
      attrs: { role: "group", "aria-label": say("media.controls"), "data-testid": "media-controls" },
    }, ui.mic, ui.cameraPause, ui.cameraStop, ui.cameraStart, ui.screenStart, ui.screenStop, ui.join, ui.hangup);
    ui.cameraStop.textContent = say("media.stop_camera");
    ui.cameraStart.textContent = say("media.start_camera");
    ui.screenStart.textContent = say("media.start_screen");
    ui.screenStop.textContent = say("media.stop_screen");
    ui.join.textContent = say("media.join");
    ui.hangup.textContent = say("media.hangup");

    ui.quality = this._buildQuality();
    root.appendChild(ui.notice);
    root.appendChild(ui.requests);
    root.appendChild(el("div", { class: "call__media" }, ui.stage, ui.local));
    root.appendChild(ui.audio);
    root.appendChild(ui.live);
    root.appendChild(ui.controls);
    if (ui.quality) root.appendChild(ui.quality.node);

    var dialog = this.opts.dialog;
    if (dialog) {
      var ref = function (name) { return dialog.querySelector('[data-ref="' + name + '"]'); };
      ui.dialogText = ref("text");
      ref("accept").addEventListener("click", function () { self._answerConsent(true); });
      ref("decline").addEventListener("click", function () { self._answerConsent(false); });
      dialog.addEventListener("cancel", function () {
        // Escape: the question stays open in the panel, answerable there
        if (self.consentFor) self.dismissed[self.consentFor] = true;
        self.consentFor = null;
        setTimeout(function () { self.render(); }, 0);
      });
    }
  };

  Call.prototype._localTile = function (source, testid) {
    var video = el("video", {
      class: "tile__video",
      attrs: { autoplay: true, playsinline: true, "data-testid": testid, "data-source": source },
    });
    video.muted = true;
    var node = el("figure", { class: "tile tile--local tile--" + source, attrs: { hidden: true } },
      video, el("figcaption", { class: "tile__label", text: say("media.tile", { name: say("media.you"), source: M.sourceName(source) }) }));
    return { node: node, video: video };
  };

  Call.prototype._buildQuality = function () {
    var mode = this.opts.quality;
    if (mode === "panel") {
      var node = el("dl", {
        class: "quality",
        attrs: { "data-testid": "quality-panel", "aria-label": say("media.q.title"), hidden: true },
      });
      var cells = {};
      [["rtt", "media.q.rtt"], ["loss", "media.q.loss"], ["in", "media.q.in"],
        ["out", "media.q.out"], ["fps", "media.q.fps"]].forEach(function (row) {
        cells[row[0]] = el("dd", { class: "quality__value", text: say("media.q.none"), attrs: { "data-testid": "quality-" + row[0] } });
        node.appendChild(el("div", { class: "quality__item" },
          el("dt", { class: "quality__label", text: say(row[1]) }), cells[row[0]]));
      });
      return { node: node, cells: cells, mode: mode };
    }
    if (mode === "indicator") {
      return {
        node: el("p", { class: "quality-indicator", attrs: { "data-testid": "quality-indicator", hidden: true } }),
        mode: mode,
      };
    }
    return null;
  };

  // ---------------------------------------------------------------- inputs

  /** Every timeline event of the session, in order (replayed ones too). */
  Call.prototype.event = function (ev) {
    var live = M.ageOf(ev.at) < LIVE_WINDOW_S;
    if (ENDING[ev.kind] || (ev.kind === "session.transferred" && ev.data &&
        Object.prototype.hasOwnProperty.call(ev.data, "to_queue"))) {
      this.channels.stopAll();
      this.media.enforce();
      this.render();
      return;
    }
    if (ev.kind === "media.failed" && whoOf(ev, this.side, this.opts.me) === "you") {
      this.media.serverFailed(ev.at);
      return;
    }
    var change = this.channels.apply(ev);
    if (!change) return;
    var ch = change.channel;
    var info = change.info;
    if (change.state === "offered") delete this.dismissed[ch];
    if (change.state === "accepted" && live && this.enabled) {
      this._start(this._sourcesFor(ch));
    } else if (change.state === "stopped" || change.state === "declined") {
      this.media.enforce();
      if (this.consentFor === ch) this._closeDialog();
    }
    if (change.state === "offered" && live && this.enabled && this.opts.dialog && this._mayAnswer(info)) {
      this._askConsent(ch);
    }
    if (this.opts.onChange) this.opts.onChange(change);
    this.render();
    if (!this.channels.anyAgreed()) this.media._idle();
  };

  /** media.publications and media.state pushes for this session. */
  Call.prototype.push = function (msg) {
    if (!this.enabled) return;
    if (msg.type === "media.publications") this.media.setPublications(msg.publications);
    else if (msg.type === "media.state" && msg.owner && msg.owner === this.media.you) {
      this.media.serverState(msg.state);  // only our own connection's state
    }
  };

  Call.prototype.socketReady = function () {
    this.media.socketReady();
  };

  /** The session is active and ours (true), or not any more (false). */
  Call.prototype.setEnabled = function (on) {
    if (on === this.enabled) return;
    this.enabled = on;
    if (!on) {
      this.channels.stopAll();
      this.media.close();
      this._closeDialog();
    } else if (this.media.closed) {
      this.media = this._newMedia();
    }
    this.render();
  };

  // ---------------------------------------------------------------- actions

  /** Which of my sources a channel carries. */
  Call.prototype._sourcesFor = function (ch) {
    if (ch === "screen") {
      var c = this.channels.get("screen");
      return c && c.sharer === this.side ? ["screen"] : [];
    }
    return (M.CHANNEL_SOURCES[ch] || []).slice();
  };

  Call.prototype._mayAnswer = function (info) {
    if (!info || info.state !== "offered") return false;
    if (info.origin === "bot") return this.side === "customer";
    return info.origin !== this.side;
  };

  Call.prototype.canRequest = function (ch) {
    return this.enabled && !this.channels.busy(ch);
  };

  /** Ask the other side for a channel. Rejects with the server's {code, message}. */
  Call.prototype.request = function (ch, sharer) {
    var fields = { session: this.sid, channel: ch };
    if (ch === "screen") fields.sharer = sharer || "customer";
    var self = this;
    return this.socket.request("channel.request", fields).catch(function (err) {
      self._setNotice("media.error", { message: err.message || err.code });
      throw err;
    });
  };

  /** Answer an offered channel; on yes, start what it carries from this side. */
  Call.prototype.respond = function (ch, accept) {
    var self = this;
    this.answering[ch] = true;
    this.render();
    return this.socket.request("channel.respond", { session: this.sid, channel: ch, accept: !!accept })
      .then(function (reply) {
        delete self.answering[ch];
        if (accept) {
          // the accepted event follows; start now so the browser's prompt follows the click
          if (self.channels.stateOf(ch) === "offered") {
            self.channels.apply({
              kind: "channel.accepted", data: { channel: ch }, actor_role: self.side, at: 0,
            });
          }
          self._start(self._sourcesFor(ch));
        }
        self.render();
        return reply;
      }, function (err) {
        delete self.answering[ch];
        self._setNotice("media.error", { message: err.message || err.code });
        throw err;
      });
  };

  Call.prototype.stopChannel = function (ch) {
    var self = this;
    if (ch === "screen" && this.media.has("screen")) this.media.stop("screen");
    return this.socket.request("channel.stop", { session: this.sid, channel: ch }).catch(function (err) {
      if (err.code !== "channel_state") self._setNotice("media.error", { message: err.message || err.code });
    });
  };

  /** Hang up: every running media channel stops, and our connection closes. */
  Call.prototype.hangup = function () {
    var self = this;
    var running = M.MEDIA_CHANNELS.filter(function (ch) { return self.channels.busy(ch); });
    running.forEach(function (ch) { self.stopChannel(ch); });
    return this.media.hangup();
  };

  /** Take part again (after a reload): start what the agreed channels allow. */
  Call.prototype.join = function () {
    var self = this;
    var want = [];
    M.MEDIA_CHANNELS.forEach(function (ch) {
      if (self.channels.agreed(ch)) want = want.concat(self._sourcesFor(ch));
    });
    this._start(want);
  };

  Call.prototype._start = function (sources) {
    var self = this;
    if (!sources.length || !this.enabled) return;
    if (!M.MediaSession.supported()) {
      this._setNotice("media.device_error", { source: M.sourceName(sources[0]), message: "WebRTC" });
      return;
    }
    this.media.start(sources).then(function (failures) {
      if (!failures.length) {
        if (self.notice && self.notice.key === "media.device_error") self._setNotice(null);
        return;
      }
      var f = failures[0];
      self._setNotice("media.device_error", {
        source: M.sourceName(f.source), message: M.errMessage(f.error),
      });
    });
  };

  // ---------------------------------------------------------------- consent (customer)

  Call.prototype._askConsent = function (ch) {
    var dialog = this.opts.dialog;
    if (!dialog || this.consentFor) return;
    this.consentFor = ch;
    this.ui.dialogText.textContent = this._question(ch);
    dialog.dataset.channel = ch;
    if (!dialog.open) {
      try { dialog.showModal(); } catch (err) { dialog.setAttribute("open", ""); }
    }
  };

  Call.prototype._closeDialog = function () {
    var dialog = this.opts.dialog;
    this.consentFor = null;
    if (dialog && dialog.open) dialog.close();
  };

  Call.prototype._answerConsent = function (accept) {
    var ch = this.consentFor;
    this._closeDialog();
    if (!ch) return;
    this.dismissed[ch] = true;
    this.respond(ch, accept).catch(function () {});
    this._nextConsent();
  };

  Call.prototype._nextConsent = function () {
    var self = this;
    var next = ALL_CHANNELS.filter(function (ch) {
      var info = self.channels.get(ch);
      return info && info.state === "offered" && self._mayAnswer(info) && !self.dismissed[ch] &&
        M.ageOf(info.at) < LIVE_WINDOW_S;
    })[0];
    if (next) this._askConsent(next);
  };

  /** Exactly what accepting shares, in words. */
  Call.prototype._question = function (ch) {
    var info = this.channels.get(ch) || {};
    if (info.origin === "bot") return say("media.consent.bot." + ch, { reason: info.reason || "" });
    if (this.side === "customer") {
      if (ch === "screen" && info.sharer === "agent") return say("media.consent.agent.screen_agent");
      return say("media.consent.agent." + ch);
    }
    return say("media.ask.customer." + ch);
  };

  // ---------------------------------------------------------------- notices

  Call.prototype._setNotice = function (key, vars) {
    this.notice = key ? { key: key, text: say(key, vars) } : null;
    this.render();
  };

  Call.prototype._mediaNotice = function (key, vars) {
    if (key) {
      this._setNotice(key, vars);
    } else if (this.notice && (this.notice.key === "media.lost" || this.notice.key === "media.error")) {
      this._setNotice(null);
    }
  };

  // ---------------------------------------------------------------- rendering

  Call.prototype.render = function () {
    var ui = this.ui;
    var media = this.media;
    var side = this.side;
    var channels = this.channels;
    var self = this;

    ui.notice.textContent = this.notice ? this.notice.text : "";
    ui.notice.hidden = !this.notice;
    ui.notice.dataset.kind = this.notice ? this.notice.key : "";
    ui.notice.classList.toggle("call__notice--lost", !!this.notice && this.notice.key === "media.lost");

    this._renderRequests();
    this._renderTiles();
    this._renderLocal();

    // what is live
    ui.live.textContent = "";
    M.SOURCES.forEach(function (s) {
      if (!media.has(s)) return;
      var muted = media.isMuted(s);
      var key = "media.live." + s + (muted && s !== "screen" ? "_muted" : "");
      ui.live.appendChild(el("li", {
        class: "live-chip live-chip--" + s + (muted ? " live-chip--muted" : ""),
        text: say(key),
        attrs: { "data-testid": "live-" + s, "data-muted": muted ? "true" : "false" },
      }));
    });
    ui.live.hidden = !ui.live.children.length;

    // controls
    var hasMic = media.has("mic");
    var hasCam = media.has("camera");
    var sendingAny = media.sending().length > 0;
    var micMuted = media.isMuted("mic");
    var camMuted = media.isMuted("camera");
    // the label says what a press does; the live line below says what the state is
    ui.mic.hidden = !hasMic;
    ui.mic.textContent = say(micMuted ? "media.unmute_mic" : "media.mute_mic");
    ui.mic.dataset.muted = micMuted ? "true" : "false";
    ui.cameraPause.hidden = !hasCam;
    ui.cameraPause.textContent = say(camMuted ? "media.camera_on" : "media.camera_off");
    ui.cameraPause.dataset.muted = camMuted ? "true" : "false";
    ui.cameraStop.hidden = !hasCam;
    var camAllowed = channels.allows(side, "camera");
    ui.cameraStart.hidden = !(camAllowed && !hasCam && sendingAny && !media.isStarting("camera"));
    var screenAllowed = channels.allows(side, "screen");
    ui.screenStart.hidden = !(screenAllowed && !media.has("screen") && !media.isStarting("screen"));
    ui.screenStop.hidden = !channels.agreed("screen");
    var mayJoin = M.MEDIA_CHANNELS.some(function (ch) {
      return channels.agreed(ch) && ch !== "screen" && self._sourcesFor(ch).length > 0;
    });
    var starting = M.SOURCES.some(function (s) { return media.isStarting(s); });
    ui.join.hidden = !(this.enabled && mayJoin && !sendingAny && !starting);
    ui.hangup.hidden = !(media.pc || sendingAny || channels.anyAgreed());
    ui.controls.hidden = !Array.prototype.some.call(ui.controls.children, function (b) { return !b.hidden; });

    if (ui.quality && !media.pc) ui.quality.node.hidden = true;

    var busy = ALL_CHANNELS.some(function (ch) { return channels.busy(ch); });
    var visible = !!(this.notice || busy || media.active() || !ui.requests.hidden);
    this.opts.root.hidden = !visible;
    this.opts.root.dataset.state = media.state;
    if (visible !== this.visible) {
      this.visible = visible;
      if (this.opts.onVisible) this.opts.onVisible(visible);
    }
  };

  Call.prototype._renderRequests = function () {
    var self = this;
    var box = this.ui.requests;
    box.textContent = "";
    ALL_CHANNELS.forEach(function (ch) {
      var info = self.channels.get(ch);
      if (!info || info.state !== "offered") return;
      var row = el("div", { class: "request", attrs: { "data-channel": ch } });
      if (self._mayAnswer(info)) {
        if (self.consentFor === ch || self.answering[ch]) return;  // the dialog asks it, or it is answered
        row.dataset.testid = "incoming-request";
        row.appendChild(el("p", { class: "request__text", text: self._question(ch) }));
        row.appendChild(el("div", { class: "request__actions" },
          el("button", {
            class: "btn btn--secondary btn--small", text: say("media.decline"),
            attrs: { type: "button", "data-testid": "request-decline", "data-channel": ch },
            on: { click: function () { self.respond(ch, false).catch(function () {}); } },
          }),
          el("button", {
            class: "btn btn--primary btn--small", text: say("media.accept"),
            attrs: { type: "button", "data-testid": "request-accept", "data-channel": ch },
            on: { click: function () { self.respond(ch, true).catch(function () {}); } },
          })));
      } else if (info.origin === "bot") {
        row.dataset.testid = "bot-proposal";
        row.appendChild(el("p", {
          class: "request__text",
          text: say("media.wait.bot", { channel: M.channelName(ch), reason: info.reason }),
        }));
      } else {
        row.dataset.testid = "pending-request";
        row.appendChild(el("p", {
          class: "request__text",
          text: say(self.side === "agent" ? "media.wait.agent" : "media.wait.customer", { channel: M.channelName(ch) }),
        }));
        row.appendChild(el("div", { class: "request__actions" },
          el("button", {
            class: "btn btn--ghost btn--small", text: say("media.cancel"),
            attrs: { type: "button", "data-testid": "request-cancel", "data-channel": ch },
            on: { click: function () { self.stopChannel(ch); } },
          })));
      }
      box.appendChild(row);
    });
    box.hidden = !box.children.length;
  };

  Call.prototype._renderTiles = function () {
    var self = this;
    var tracks = this.media.remoteTracks();
    var seen = new Set();
    var hasScreen = false;
    tracks.forEach(function (r) {
      var id = r.pub.pub;
      seen.add(id);
      var tile = self.tiles.get(id);
      if (tile && tile.track !== r.track) {
        tile.node.remove();
        tile = null;
      }
      if (!tile) {
        tile = r.kind === "audio" ? self._audioTile(r) : self._videoTile(r);
        self.tiles.set(id, tile);
      }
      if (r.kind === "video") {
        if (r.pub.source === "screen") hasScreen = true;
        tile.label.textContent = say("media.tile", {
          name: r.pub.name || say(r.pub.role === "customer" ? "media.customer" : "media.agent"),
          source: M.sourceName(r.pub.source),
        });
        tile.node.dataset.muted = r.pub.muted ? "true" : "false";
      }
    });
    this.tiles.forEach(function (tile, id) {
      if (seen.has(id)) return;
      tile.node.remove();
      if (tile.media) tile.media.srcObject = null;
      self.tiles.delete(id);
    });
    // the screen share first and large, the cameras after it
    var order = tracks.filter(function (r) { return r.kind === "video"; }).sort(function (a, b) {
      return (a.pub.source === "screen" ? 0 : 1) - (b.pub.source === "screen" ? 0 : 1);
    });
    order.forEach(function (r) {
      var node = self.tiles.get(r.pub.pub).node;
      self.ui.stage.appendChild(node);  // moves it into order
    });
    this.ui.stage.classList.toggle("call__stage--screen", hasScreen);
    this.ui.stage.hidden = order.length === 0;
  };

  Call.prototype._videoTile = function (r) {
    var video = el("video", {
      class: "tile__video",
      attrs: {
        autoplay: true, playsinline: true, "data-testid": "remote-video",
        "data-source": r.pub.source, "data-role": r.pub.role, "data-frames": "0",
      },
    });
    video.muted = true;  // sound plays through the audio elements
    video.srcObject = new MediaStream([r.track]);
    M.countFrames(video);
    var label = el("figcaption", { class: "tile__label", attrs: { "data-testid": "remote-label" } });
    var node = el("figure", {
      class: "tile tile--remote tile--" + r.pub.source,
      attrs: { "data-testid": "remote-tile", "data-source": r.pub.source, "data-pub": r.pub.pub },
    }, video, label);
    this.ui.stage.appendChild(node);
    video.play().catch(function () {});
    return { node: node, media: video, label: label, track: r.track };
  };

  Call.prototype._audioTile = function (r) {
    var audio = el("audio", { attrs: { autoplay: true, "data-testid": "remote-audio", "data-pub": r.pub.pub } });
    audio.srcObject = new MediaStream([r.track]);
    this.ui.audio.appendChild(audio);
    audio.play().catch(function () { /* autoplay refused: the next click starts it */ });
    return { node: audio, media: audio, label: null, track: r.track };
  };

  Call.prototype._renderLocal = function () {
    var self = this;
    var any = false;
    [["camera", this.ui.localCamera], ["screen", this.ui.localScreen]].forEach(function (pair) {
      var stream = self.media.has(pair[0]) ? self.media.localStream(pair[0]) : null;
      var video = pair[1].video;
      if (stream) {
        any = true;
        if (video.srcObject !== stream) {
          video.srcObject = stream;
          video.play().catch(function () {});
        }
        pair[1].node.dataset.muted = self.media.isMuted(pair[0]) ? "true" : "false";
      } else if (video.srcObject) {
        video.srcObject = null;
      }
      pair[1].node.hidden = !stream;
    });
    this.ui.local.hidden = !any;
  };

  Call.prototype._renderQuality = function (q) {
    var qual = this.ui.quality;
    if (!qual) return;
    if (!q) {
      qual.node.hidden = true;
      return;
    }
    qual.node.hidden = false;
    if (qual.mode === "panel") {
      var none = say("media.q.none");
      var c = qual.cells;
      c.rtt.textContent = q.rtt == null ? none : say("media.q.ms", { n: Math.round(q.rtt) });
      c.loss.textContent = q.loss == null ? none : say("media.q.pct", { n: q.loss.toFixed(1) });
      c["in"].textContent = q.inKbps == null ? none : say("media.q.kbps", { n: Math.round(q.inKbps) });
      c.out.textContent = q.outKbps == null ? none : say("media.q.kbps", { n: Math.round(q.outKbps) });
      c.fps.textContent = q.fps == null ? none : say("media.q.fps_n", { n: Math.round(q.fps) });
      c.rtt.dataset.value = q.rtt == null ? "" : String(q.rtt);
      c.fps.dataset.value = q.fps == null ? "" : String(q.fps);
    } else {
      var level = "good";
      if ((q.rtt != null && q.rtt > 800) || (q.loss != null && q.loss > 10)) level = "poor";
      else if ((q.rtt != null && q.rtt > 300) || (q.loss != null && q.loss > 3)) level = "fair";
      qual.node.textContent = say("media.q." + level);
      qual.node.dataset.level = level;
    }
  };

  M.Call = Call;
  M.describe = describe;
  M.whoOf = whoOf;
})();
