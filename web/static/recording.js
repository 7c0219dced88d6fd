/* livedesk recording bar: the "Recording" indicator, the consent question, the agent's controls.
 *
 * Loaded after media.js; exposes LD.recording.Bar and LD.recording.describe.
 *
 * A Bar follows one session's timeline (recording.* events) and shows, on both sides:
 * a red "Recording" indicator whenever recording is on ("Recording paused" while paused),
 * the question when one's own agreement is needed, and for the agent the buttons to
 * start, pause, resume and stop. Every text reaches the DOM through textContent.
 */
(function () {
  "use strict";

  var LD = window.LD;
  var el = LD.el;

  var TEXT = {
    en: {
      "rec.on": "Recording",
      "rec.paused": "Recording paused",
      "rec.asking": "Waiting for agreement to record",
      "rec.q.customer": "The agent would like to record this session for quality review: your voice, camera, any screen you share, and this chat. Nothing is recorded unless you agree.",
      "rec.q.customer_required": "This service records video and screen-sharing sessions for quality review: your voice, camera, any screen you share, and this chat. If you decline, we carry on in chat only.",
      "rec.q.agent": "This entry records sessions. Both you and the customer must agree before recording starts.",
      "rec.accept": "Allow recording",
      "rec.decline": "Don't record",
      "rec.accept_agent": "Agree",
      "rec.decline_agent": "Decline",
      "rec.start": "Record",
      "rec.pause": "Pause recording",
      "rec.resume": "Resume recording",
      "rec.stop": "Stop recording",
      "rec.chat_only": "Recording was declined, so this session continues in chat only.",
      "rec.error": "Recording: {message}",
      "rec.ev.requested.agent": "The agent asked to record this session.",
      "rec.ev.requested.you": "You asked to record this session.",
      "rec.ev.requested.system": "This service asks to record this session.",
      "rec.ev.consented.customer": "The customer agreed to recording.",
      "rec.ev.consented.agent": "The agent agreed to recording.",
      "rec.ev.consented.you": "You agreed to recording.",
      "rec.ev.declined.customer": "The customer declined recording.",
      "rec.ev.declined.agent": "The agent declined recording.",
      "rec.ev.declined.you": "You declined recording.",
      "rec.ev.started": "Recording started.",
      "rec.ev.paused": "Recording paused.",
      "rec.ev.resumed": "Recording resumed.",
      "rec.ev.stopped": "Recording stopped.",
      "rec.ev.stopped.disk_full": "Recording stopped: the server ran out of disk space. The session goes on.",
      "rec.ev.stopped.write_failed": "Recording stopped: it could not be saved. The session goes on.",
    },
    ko: {
      "rec.on": "녹화 중",
      "rec.paused": "녹화 일시 중지",
      "rec.asking": "녹화 동의를 기다리는 중",
      "rec.q.customer": "상담원이 상담 품질 검토를 위해 이 상담을 녹화하려고 합니다. 음성, 카메라, 공유하는 화면, 이 채팅이 녹화됩니다. 동의하지 않으면 아무것도 녹화되지 않아요.",
      "rec.q.customer_required": "이 서비스는 품질 검토를 위해 영상 통화와 화면 공유 상담을 녹화합니다. 음성, 카메라, 공유하는 화면, 이 채팅이 녹화됩니다. 거절하시면 채팅으로만 상담을 이어갑니다.",
      "rec.q.agent": "이 창구는 상담을 녹화합니다. 상담원과 고객이 모두 동의해야 녹화가 시작됩니다.",
      "rec.accept": "녹화 허용",
      "rec.decline": "녹화 안 함",
      "rec.accept_agent": "동의",
      "rec.decline_agent": "거절",
      "rec.start": "녹화",
      "rec.pause": "녹화 일시 중지",
      "rec.resume": "녹화 다시 시작",
      "rec.stop": "녹화 중지",
      "rec.chat_only": "녹화를 거절하셔서 이 상담은 채팅으로만 이어집니다.",
      "rec.error": "녹화: {message}",
      "rec.ev.requested.agent": "상담원이 이 상담의 녹화를 요청했어요.",
      "rec.ev.requested.you": "이 상담의 녹화를 요청했어요.",
      "rec.ev.requested.system": "이 서비스가 상담 녹화 동의를 요청합니다.",
      "rec.ev.consented.customer": "고객이 녹화에 동의했어요.",
      "rec.ev.consented.agent": "상담원이 녹화에 동의했어요.",
      "rec.ev.consented.you": "녹화에 동의했어요.",
      "rec.ev.declined.customer": "고객이 녹화를 거절했어요.",
      "rec.ev.declined.agent": "상담원이 녹화를 거절했어요.",
      "rec.ev.declined.you": "녹화를 거절했어요.",
      "rec.ev.started": "녹화가 시작되었어요.",
      "rec.ev.paused": "녹화가 일시 중지되었어요.",
      "rec.ev.resumed": "녹화가 다시 시작되었어요.",
      "rec.ev.stopped": "녹화가 중지되었어요.",
      "rec.ev.stopped.disk_full": "녹화가 중지되었어요: 서버의 저장 공간이 부족합니다. 상담은 계속됩니다.",
      "rec.ev.stopped.write_failed": "녹화가 중지되었어요: 저장할 수 없었습니다. 상담은 계속됩니다.",
    },
  };

  LD.media.addStrings(TEXT);
  var say = LD.media.say;

  function sideOf(role) {
    return role === "customer" ? "customer" : (role === "agent" || role === "supervisor") ? "agent" : "system";
  }

  /** A readable timeline line for a recording.* event, seen from ``side``, or null. */
  function describe(ev, side) {
    var kind = ev.kind || "";
    if (kind.indexOf("recording.") !== 0) return null;
    var d = ev.data || {};
    var what = kind.slice(10);
    if (what === "requested") {
      var by = sideOf(ev.actor_role);
      return say("rec.ev.requested." + (by === "system" ? "system" : by === side ? "you" : "agent"));
    }
    if (what === "consented" || what === "declined") {
      var who = d.side === side ? "you" : d.side === "customer" ? "customer" : "agent";
      return say("rec.ev." + what + "." + who);
    }
    if (what === "stopped" && (d.reason === "disk_full" || d.reason === "write_failed")) {
      return say("rec.ev.stopped." + d.reason);
    }
    if (what === "started" || what === "paused" || what === "resumed" || what === "stopped") {
      return say("rec.ev." + what);
    }
    return null;  // finished, rendered: for QA, not for the people in the session
  }

  /** What the timeline says about recording, folded into one state. */
  function RecordingState() {
    this.state = "off";
    this.consents = {};
    this.required = false;
    this.chatOnly = false;
  }

  RecordingState.prototype.apply = function (ev) {
    var d = ev.data || {};
    switch (ev.kind) {
      case "recording.requested":
        this.state = "asking";
        this.required = !!d.required;
        this.chatOnly = false;
        this.consents = sideOf(ev.actor_role) === "agent" ? { agent: true } : {};
        return true;
      case "recording.consented":
        this.consents[d.side] = true;
        return true;
      case "recording.started":
        this.state = "recording";
        return true;
      case "recording.declined":
        this.state = "declined";
        this.chatOnly = !!d.chat_only;
        return true;
      case "recording.paused":
        this.state = "paused";
        return true;
      case "recording.resumed":
        this.state = "recording";
        return true;
      case "recording.stopped":
        this.state = "stopped";
        return true;
      default:
        return false;
    }
  };

  /**
   * opts.socket, opts.session, opts.side ("customer" | "agent"), opts.root (element)
   */
  function Bar(opts) {
    this.opts = opts;
    this.socket = opts.socket;
    this.sid = opts.session;
    this.side = opts.side;
    this.rec = new RecordingState();
    this.enabled = false;
    this.busy = false;
    this.error = "";
    this._build();
    this.render();
  }

  Bar.prototype._build = function () {
    var self = this;
    var root = this.opts.root;
    root.classList.add("rec");
    root.textContent = "";
    var ui = this.ui = {};
    ui.indicator = el("p", {
      class: "rec__indicator",
      attrs: { role: "status", "aria-live": "polite", "data-testid": "recording-indicator", hidden: true },
    });
    ui.question = el("p", { class: "rec__question", attrs: { "data-testid": "recording-question" } });
    function button(testid, cls, key, onClick) {
      return el("button", {
        class: "btn btn--small " + cls,
        text: say(key),
        attrs: { type: "button", "data-testid": testid },
        on: { click: onClick },
      });
    }
    var agent = this.side === "agent";
    ui.accept = button("recording-accept", "btn--primary", agent ? "rec.accept_agent" : "rec.accept",
      function () { self._send("recording.respond", { accept: true }); });
    ui.decline = button("recording-decline", "btn--secondary", agent ? "rec.decline_agent" : "rec.decline",
      function () { self._send("recording.respond", { accept: false }); });
    ui.ask = el("div", {
      class: "rec__ask",
      attrs: { role: "group", "aria-label": say("rec.on"), "data-testid": "recording-consent", hidden: true },
    }, ui.question, el("div", { class: "rec__actions" }, ui.decline, ui.accept));
    ui.start = button("recording-start", "btn--secondary", "rec.start",
      function () { self._send("recording.request", {}); });
    ui.pause = button("recording-pause", "btn--secondary", "rec.pause",
      function () { self._send("recording.pause", {}); });
    ui.resume = button("recording-resume", "btn--secondary", "rec.resume",
      function () { self._send("recording.resume", {}); });
    ui.stop = button("recording-stop", "btn--ghost", "rec.stop",
      function () { self._send("recording.stop", {}); });
    ui.controls = el("div", {
      class: "rec__controls",
      attrs: { role: "group", "aria-label": say("rec.on"), "data-testid": "recording-controls", hidden: true },
    }, ui.start, ui.pause, ui.resume, ui.stop);
    ui.notice = el("p", { class: "rec__notice", attrs: { role: "status", "data-testid": "recording-notice", hidden: true } });
    root.appendChild(ui.indicator);
    root.appendChild(ui.ask);
    root.appendChild(ui.controls);
    root.appendChild(ui.notice);
  };

  /** Every timeline event of the session, in order (replayed ones too). */
  Bar.prototype.event = function (ev) {
    if (this.rec.apply(ev)) {
      this.error = "";
      this.render();
    }
  };

  /** The session is active and this person takes part in it. */
  Bar.prototype.setEnabled = function (on) {
    this.enabled = !!on;
    this.render();
  };

  Bar.prototype._send = function (type, fields) {
    var self = this;
    if (this.busy) return;
    this.busy = true;
    this.render();
    fields.session = this.sid;
    this.socket.request(type, fields).then(function () {
      self.busy = false;
      self.error = "";
      self.render();
    }, function (err) {
      self.busy = false;
      self.error = say("rec.error", { message: err.message || err.code });
      self.render();
    });
  };

  Bar.prototype.render = function () {
    var ui = this.ui;
    var r = this.rec;
    var on = r.state === "recording" || r.state === "paused";
    ui.indicator.hidden = !(on || r.state === "asking");
    ui.indicator.textContent = r.state === "paused" ? say("rec.paused")
      : r.state === "asking" ? say("rec.asking") : say("rec.on");
    ui.indicator.dataset.state = r.state;
    var mine = this.side;
    var needMe = this.enabled && r.state === "asking" && !Object.prototype.hasOwnProperty.call(r.consents, mine);
    ui.ask.hidden = !needMe;
    if (needMe) {
      ui.question.textContent = mine === "agent" ? say("rec.q.agent")
        : say(r.required ? "rec.q.customer_required" : "rec.q.customer");
    }
    ui.accept.disabled = ui.decline.disabled = this.busy;
    var agent = mine === "agent" && this.enabled;
    ui.controls.hidden = !agent;
    ui.start.hidden = !(r.state === "off" || r.state === "declined" || r.state === "stopped");
    ui.pause.hidden = r.state !== "recording";
    ui.resume.hidden = r.state !== "paused";
    ui.stop.hidden = !on;
    [ui.start, ui.pause, ui.resume, ui.stop].forEach(function (b) { b.disabled = this.busy; }, this);
    var notice = this.error || (r.chatOnly ? say("rec.chat_only") : "");
    ui.notice.textContent = notice;
    ui.notice.hidden = !notice;
    this.opts.root.hidden = ui.indicator.hidden && ui.ask.hidden && ui.controls.hidden && ui.notice.hidden;
    this.opts.root.dataset.state = r.state;
  };

  LD.recording = { Bar: Bar, describe: describe, RecordingState: RecordingState, say: say };
})();
