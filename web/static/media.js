/* livedesk media: voice, video and screen sharing through the server.
 *
 * Loaded after common.js and before call.js; exposes window.LD.media.
 *
 * A MediaSession holds ONE RTCPeerConnection per session with the server
 * (docs/protocol.md, "Media"). The browser always offers and the server always
 * answers; aiortc does not trickle, so an offer leaves only after ICE gathering
 * has completed. Negotiations run one at a time: a change that arrives during
 * one (a new source, a new publication) makes another run right after.
 *
 * Transceivers are reused, never stopped: a source that ends gets
 * replaceTrack(null) and direction "inactive", and is free for the next source
 * of its kind; a receiving slot whose publication went away is re-pointed at
 * the next publication of its kind.
 *
 * What a side may send follows the channel states on the timeline (the
 * Channels tracker); the server checks the same thing on every offer.
 */
(function () {
  "use strict";

  var LD = window.LD;

  // ------------------------------------------------------------------ texts

  /* The strings of voice, video and screen sharing. The server's string table
   * (signaling/i18n.py) wins for any key it has; these are the defaults until
   * the keys move there. Read through say(), never with innerHTML. */
  var TEXT = {
    en: {
      "media.ch.voice": "voice call",
      "media.ch.video": "video",
      "media.ch.screen": "screen share",
      "media.ch.cobrowse": "co-browsing",
      "media.src.mic": "microphone",
      "media.src.camera": "camera",
      "media.src.screen": "screen",
      "media.start_video": "Start video",
      "media.voice_call": "Voice call",
      "media.share_screen": "Share screen",
      "media.upgrade_voice": "Upgrade to voice",
      "media.upgrade_video": "Upgrade to video",
      "media.ask_screen": "Ask to share screen",
      "media.share_my_screen": "Share my screen",
      "media.accept": "Accept",
      "media.decline": "Decline",
      "media.cancel": "Cancel",
      "media.mute_mic": "Mute microphone",
      "media.unmute_mic": "Unmute microphone",
      "media.camera_off": "Pause camera",
      "media.camera_on": "Resume camera",
      "media.stop_camera": "Stop camera",
      "media.start_camera": "Start camera",
      "media.stop_screen": "Stop screen share",
      "media.start_screen": "Share your screen now",
      "media.join": "Join the call",
      "media.hangup": "Hang up",
      "media.controls": "Call controls",
      "media.area": "Voice, video and screen sharing",
      "media.upgrade": "Talk or show instead of typing",
      "media.stage": "Video from the other side",
      "media.preview": "What you are sending",
      "media.you": "You",
      "media.customer": "Customer",
      "media.agent": "Agent",
      "media.tile": "{name} · {source}",
      "media.live.mic": "Microphone is live",
      "media.live.mic_muted": "Microphone is muted",
      "media.live.camera": "Camera is live",
      "media.live.camera_muted": "Camera is paused",
      "media.live.screen": "Screen is live",
      "media.lost": "Video connection lost — you can keep chatting; reconnecting…",
      "media.connecting": "Connecting the call…",
      "media.device_error": "Could not start your {source}: {message}",
      "media.screen_click": "Press “Share your screen now” to choose what to share.",
      "media.join_hint": "The call is still on. Press “Join the call” to take part again.",
      "media.error": "Call problem: {message}",
      "media.consent.title": "Share with the agent?",
      "media.consent.note": "Nothing is shared until you accept. You can stop at any time.",
      "media.consent.agent.video": "The agent asks to see your camera and hear your microphone.",
      "media.consent.agent.voice": "The agent asks to hear your microphone for a voice call.",
      "media.consent.agent.screen": "The agent asks to see your screen.",
      "media.consent.agent.screen_agent": "The agent wants to show you their screen. Nothing of yours will be shared.",
      "media.consent.agent.cobrowse": "The agent asks to co-browse this page with you.",
      "media.consent.bot.video": "Our assistant suggests a video call, so the agent can see your camera and hear your microphone, because: {reason}",
      "media.consent.bot.voice": "Our assistant suggests a voice call with your microphone because: {reason}",
      "media.consent.bot.screen": "Our assistant suggests sharing your screen with the agent because: {reason}",
      "media.consent.bot.cobrowse": "Our assistant suggests co-browsing this page with the agent because: {reason}",
      "media.ask.customer.video": "The customer asks for a video call.",
      "media.ask.customer.voice": "The customer asks for a voice call.",
      "media.ask.customer.screen": "The customer wants to share their screen with you.",
      "media.ask.customer.cobrowse": "The customer asks to co-browse.",
      "media.wait.agent": "Waiting for the customer to accept {channel}…",
      "media.wait.customer": "Waiting for the agent to accept your {channel} request…",
      "media.wait.bot": "Bot proposed {channel}: {reason} — waiting for the customer",
      "media.ev.offered.you": "You asked for {channel}.",
      "media.ev.offered.customer": "Customer asked for {channel}.",
      "media.ev.offered.agent": "The agent asked for {channel}.",
      "media.ev.offered.bot": "Bot proposed {channel}: {reason} — waiting for the customer",
      "media.ev.offered.bot_customer": "Our assistant suggests {channel}: {reason}",
      "media.ev.accepted.you": "You accepted {channel}.",
      "media.ev.accepted.customer": "Customer accepted {channel}.",
      "media.ev.accepted.agent": "The agent accepted {channel}.",
      "media.ev.declined.you": "You declined {channel}.",
      "media.ev.declined.customer": "Customer declined {channel}.",
      "media.ev.declined.agent": "The agent declined {channel}.",
      "media.ev.stopped.you": "You stopped {channel}.",
      "media.ev.stopped.customer": "Customer stopped {channel}.",
      "media.ev.stopped.agent": "The agent stopped {channel}.",
      "media.ev.stopped.system": "{Channel} ended.",
      "media.ev.active": "{Channel} is live.",
      "media.ev.bot_answer": "Assistant: {text}",
      "media.ev.bot_suggested.customer": "Our assistant suggests {channel} once an agent joins: {reason}",
      "media.ev.bot_suggested.agent": "Bot suggested {channel} while the customer waited: {reason}",
      "media.ev.published": "{owner} {source} is on.",
      "media.ev.unpublished": "{owner} {source} is off.",
      "media.ev.muted": "{owner} {source} is muted.",
      "media.ev.unmuted": "{owner} {source} is unmuted.",
      "media.ev.connected": "Call connected ({who}).",
      "media.ev.failed": "Call connection lost ({who}): {reason}",
      "media.ev.recovered": "Call connection restored ({who}).",
      "media.ev.closed": "Call ended ({who}).",
      "media.ev.closed_all": "The call ended.",
      "node.ev.draining": "The server is restarting: this conversation will end in about {seconds} s.",
      "node.ev.lost": "The server carrying the call stopped. Chat goes on; start the call again if you need it.",
      "media.owner.you": "Your",
      "media.owner.customer": "Customer's",
      "media.owner.agent": "The agent's",
      "media.who.you": "you",
      "media.who.customer": "customer",
      "media.who.agent": "agent",
      "media.q.title": "Call quality",
      "media.q.rtt": "Round trip",
      "media.q.loss": "Packet loss",
      "media.q.in": "Incoming",
      "media.q.out": "Outgoing",
      "media.q.fps": "Frame rate",
      "media.q.ms": "{n} ms",
      "media.q.pct": "{n} %",
      "media.q.kbps": "{n} kbps",
      "media.q.fps_n": "{n} fps",
      "media.q.none": "–",
      "media.q.good": "Connection: good",
      "media.q.fair": "Connection: fair",
      "media.q.poor": "Connection: poor",
    },
    ko: {
      "media.ch.voice": "음성 통화",
      "media.ch.video": "영상",
      "media.ch.screen": "화면 공유",
      "media.ch.cobrowse": "공동 브라우징",
      "media.src.mic": "마이크",
      "media.src.camera": "카메라",
      "media.src.screen": "화면",
      "media.start_video": "영상 시작",
      "media.voice_call": "음성 통화",
      "media.share_screen": "화면 공유",
      "media.upgrade_voice": "음성으로 전환",
      "media.upgrade_video": "영상으로 전환",
      "media.ask_screen": "화면 공유 요청",
      "media.share_my_screen": "내 화면 공유",
      "media.accept": "수락",
      "media.decline": "거절",
      "media.cancel": "취소",
      "media.mute_mic": "마이크 끄기",
      "media.unmute_mic": "마이크 켜기",
      "media.camera_off": "카메라 일시 정지",
      "media.camera_on": "카메라 다시 켜기",
      "media.stop_camera": "카메라 중지",
      "media.start_camera": "카메라 시작",
      "media.stop_screen": "화면 공유 중지",
      "media.start_screen": "지금 화면 공유하기",
      "media.join": "통화 참여",
      "media.hangup": "통화 종료",
      "media.controls": "통화 조작",
      "media.area": "음성, 영상 및 화면 공유",
      "media.upgrade": "글 대신 말하거나 보여 주기",
      "media.stage": "상대방 영상",
      "media.preview": "내가 보내는 화면",
      "media.you": "나",
      "media.customer": "고객",
      "media.agent": "상담원",
      "media.tile": "{name} · {source}",
      "media.live.mic": "마이크 켜짐",
      "media.live.mic_muted": "마이크 꺼짐",
      "media.live.camera": "카메라 켜짐",
      "media.live.camera_muted": "카메라 일시 정지됨",
      "media.live.screen": "화면 공유 중",
      "media.lost": "영상 연결이 끊겼습니다 — 채팅은 계속하실 수 있어요. 다시 연결 중…",
      "media.connecting": "통화 연결 중…",
      "media.device_error": "{source}을(를) 시작할 수 없습니다: {message}",
      "media.screen_click": "“지금 화면 공유하기”를 눌러 공유할 화면을 고르세요.",
      "media.join_hint": "통화가 계속되고 있습니다. “통화 참여”를 눌러 다시 참여하세요.",
      "media.error": "통화 문제: {message}",
      "media.consent.title": "상담원과 공유할까요?",
      "media.consent.note": "수락하기 전에는 아무것도 공유되지 않습니다. 언제든 중지할 수 있어요.",
      "media.consent.agent.video": "상담원이 고객님의 카메라를 보고 마이크 소리를 듣기를 요청합니다.",
      "media.consent.agent.voice": "상담원이 음성 통화를 위해 고객님의 마이크 소리를 듣기를 요청합니다.",
      "media.consent.agent.screen": "상담원이 고객님의 화면을 보기를 요청합니다.",
      "media.consent.agent.screen_agent": "상담원이 자신의 화면을 보여 드리려고 합니다. 고객님의 것은 공유되지 않습니다.",
      "media.consent.agent.cobrowse": "상담원이 이 페이지를 함께 보기를 요청합니다.",
      "media.consent.bot.video": "도우미가 영상 통화를 제안합니다 (상담원이 카메라를 보고 마이크 소리를 듣게 됩니다). 이유: {reason}",
      "media.consent.bot.voice": "도우미가 마이크를 사용하는 음성 통화를 제안합니다. 이유: {reason}",
      "media.consent.bot.screen": "도우미가 상담원과 화면 공유를 제안합니다. 이유: {reason}",
      "media.consent.bot.cobrowse": "도우미가 상담원과 이 페이지를 함께 보기를 제안합니다. 이유: {reason}",
      "media.ask.customer.video": "고객이 영상 통화를 요청합니다.",
      "media.ask.customer.voice": "고객이 음성 통화를 요청합니다.",
      "media.ask.customer.screen": "고객이 화면을 공유하려고 합니다.",
      "media.ask.customer.cobrowse": "고객이 공동 브라우징을 요청합니다.",
      "media.wait.agent": "고객이 {channel}을(를) 수락하기를 기다리는 중…",
      "media.wait.customer": "상담원이 {channel} 요청을 수락하기를 기다리는 중…",
      "media.wait.bot": "도우미가 {channel}을(를) 제안함: {reason} — 고객의 응답을 기다리는 중",
      "media.ev.offered.you": "{channel}을(를) 요청했습니다.",
      "media.ev.offered.customer": "고객이 {channel}을(를) 요청했습니다.",
      "media.ev.offered.agent": "상담원이 {channel}을(를) 요청했습니다.",
      "media.ev.offered.bot": "도우미가 {channel}을(를) 제안함: {reason} — 고객의 응답을 기다리는 중",
      "media.ev.offered.bot_customer": "도우미가 {channel}을(를) 제안합니다: {reason}",
      "media.ev.accepted.you": "{channel}을(를) 수락했습니다.",
      "media.ev.accepted.customer": "고객이 {channel}을(를) 수락했습니다.",
      "media.ev.accepted.agent": "상담원이 {channel}을(를) 수락했습니다.",
      "media.ev.declined.you": "{channel}을(를) 거절했습니다.",
      "media.ev.declined.customer": "고객이 {channel}을(를) 거절했습니다.",
      "media.ev.declined.agent": "상담원이 {channel}을(를) 거절했습니다.",
      "media.ev.stopped.you": "{channel}을(를) 중지했습니다.",
      "media.ev.stopped.customer": "고객이 {channel}을(를) 중지했습니다.",
      "media.ev.stopped.agent": "상담원이 {channel}을(를) 중지했습니다.",
      "media.ev.stopped.system": "{Channel} 종료.",
      "media.ev.active": "{Channel} 연결됨.",
      "media.ev.bot_answer": "도우미: {text}",
      "media.ev.bot_suggested.customer": "상담원이 연결되면 {channel}을(를) 권해 드려요: {reason}",
      "media.ev.bot_suggested.agent": "고객 대기 중 도우미가 {channel}을(를) 제안함: {reason}",
      "media.ev.published": "{owner} {source} 켜짐.",
      "media.ev.unpublished": "{owner} {source} 꺼짐.",
      "media.ev.muted": "{owner} {source} 음소거됨.",
      "media.ev.unmuted": "{owner} {source} 음소거 해제됨.",
      "media.ev.connected": "통화 연결됨 ({who}).",
      "media.ev.failed": "통화 연결 끊김 ({who}): {reason}",
      "media.ev.recovered": "통화 연결 복구됨 ({who}).",
      "media.ev.closed": "통화 종료 ({who}).",
      "media.ev.closed_all": "통화가 종료되었습니다.",
      "node.ev.draining": "서버가 재시작됩니다. 약 {seconds}초 후 상담이 종료됩니다.",
      "node.ev.lost": "통화를 처리하던 서버가 중단되었습니다. 채팅은 계속됩니다. 필요하면 통화를 다시 시작하세요.",
      "media.owner.you": "내",
      "media.owner.customer": "고객",
      "media.owner.agent": "상담원",
      "media.who.you": "나",
      "media.who.customer": "고객",
      "media.who.agent": "상담원",
      "media.q.title": "통화 품질",
      "media.q.rtt": "왕복 지연",
      "media.q.loss": "패킷 손실",
      "media.q.in": "수신",
      "media.q.out": "송신",
      "media.q.fps": "영상 프레임",
      "media.q.ms": "{n} ms",
      "media.q.pct": "{n} %",
      "media.q.kbps": "{n} kbps",
      "media.q.fps_n": "{n} fps",
      "media.q.none": "–",
      "media.q.good": "연결 상태: 좋음",
      "media.q.fair": "연결 상태: 보통",
      "media.q.poor": "연결 상태: 나쁨",
    },
  };

  /** A media string in the page's language, with {placeholders} filled. */
  function say(key, vars) {
    var table = LD.strings || {};
    var text = table[key];
    if (text == null) text = (TEXT[LD.lang] || {})[key];
    if (text == null) text = TEXT.en[key];
    if (text == null) return key;
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
      });
    }
    return text;
  }

  /** More strings for ``say`` (recording.js adds its own): {lang: {key: text}}. */
  function addStrings(tables) {
    Object.keys(tables).forEach(function (lang) {
      TEXT[lang] = TEXT[lang] || {};
      Object.keys(tables[lang]).forEach(function (key) { TEXT[lang][key] = tables[lang][key]; });
    });
  }

  function capitalize(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  }

  /** "video", "screen share", ... in the page's language. */
  function channelName(ch) {
    return say("media.ch." + ch);
  }

  function sourceName(source) {
    return say("media.src." + source);
  }

  /** Fill every [data-mtext="key"] node under ``root`` with its text. */
  function fillTexts(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-mtext]"), function (n) {
      n.textContent = say(n.dataset.mtext);
    });
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-mlabel]"), function (n) {
      n.setAttribute("aria-label", say(n.dataset.mlabel));
    });
  }

  // ------------------------------------------------------------------ channels

  var KIND = { mic: "audio", camera: "video", screen: "video" };
  var SOURCES = ["mic", "camera", "screen"];
  var MEDIA_CHANNELS = ["voice", "video", "screen"];
  var SOURCE_CHANNELS = { mic: ["voice", "video"], camera: ["video"], screen: ["screen"] };
  var CHANNEL_SOURCES = { voice: ["mic"], video: ["camera", "mic"], screen: ["screen"] };

  /**
   * The channel states of one session as its timeline tells them: what was
   * offered by whom (and why, and whose screen), accepted, declined, running
   * or stopped. ``accepted``, ``declined``, ``active`` and ``stopped`` events
   * do not repeat the sharer, so it is remembered from the offer.
   */
  function Channels() {
    this.byName = {};
  }

  /** Apply one timeline event; returns the change or null. */
  Channels.prototype.apply = function (ev) {
    if (!ev || typeof ev.kind !== "string" || ev.kind.indexOf("channel.") !== 0) return null;
    var d = ev.data || {};
    var name = d.channel;
    if (!name) return null;
    var state = ev.kind.slice("channel.".length);
    var prev = this.byName[name] || null;
    var offered = state === "offered";
    var info = {
      state: state,
      origin: d.origin || (prev ? prev.origin : ""),
      sharer: offered ? (d.sharer || (name === "screen" ? "customer" : "")) : (prev ? prev.sharer : ""),
      reason: offered ? (d.reason || "") : (prev ? prev.reason : ""),
      by: ev.actor_role || "",
      at: ev.at || 0,
    };
    this.byName[name] = info;
    return { channel: name, state: state, prev: prev ? prev.state : null, info: info, event: ev };
  };

  Channels.prototype.get = function (name) {
    return this.byName[name] || null;
  };

  Channels.prototype.stateOf = function (name) {
    var c = this.byName[name];
    return c ? c.state : "";
  };

  Channels.prototype.agreed = function (name) {
    var s = this.stateOf(name);
    return s === "accepted" || s === "active";
  };

  /** Offered, accepted or running: a new request for it would be refused. */
  Channels.prototype.busy = function (name) {
    return this.agreed(name) || this.stateOf(name) === "offered";
  };

  /** Whether ``side`` ("customer" | "agent") may send ``source`` now. */
  Channels.prototype.allows = function (side, source) {
    var list = SOURCE_CHANNELS[source] || [];
    for (var i = 0; i < list.length; i++) {
      var name = list[i];
      if (!this.agreed(name)) continue;
      var c = this.byName[name];
      if (name === "screen" && c.sharer && c.sharer !== side) continue;
      return true;
    }
    return false;
  };

  /** Every channel stops with the session (wrap-up, leaving, a transfer to the queue). */
  Channels.prototype.stopAll = function () {
    var self = this;
    Object.keys(this.byName).forEach(function (name) {
      var c = self.byName[name];
      if (c.state === "offered" || c.state === "accepted" || c.state === "active") c.state = "stopped";
    });
  };

  Channels.prototype.anyAgreed = function () {
    var self = this;
    return MEDIA_CHANNELS.some(function (n) { return self.agreed(n); });
  };

  // ------------------------------------------------------------------ clock

  /* The server's clock minus ours, in seconds, from one ping: events carry the
   * server's time, and a page tells a live event from a replayed one by it. */
  var clock = { offset: 0, synced: false };

  function syncClock(socket) {
    if (clock.synced) return;
    var sent = Date.now();
    socket.request("ping").then(function (reply) {
      var now = Date.now();
      if (typeof reply.pong === "number") {
        clock.offset = reply.pong - (sent + now) / 2000;
        clock.synced = true;
      }
    }, function () { /* try again on the next ready socket */ });
  }

  /** Seconds since a server timestamp. */
  function ageOf(at) {
    if (!at) return Infinity;
    return Date.now() / 1000 + clock.offset - at;
  }

  // ------------------------------------------------------------------ helpers

  function gathered(pc, ms) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(done, ms);
      function check() {
        if (pc.iceGatheringState === "complete") done();
      }
      function done() {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  function supported() {
    return typeof window.RTCPeerConnection === "function" &&
      !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  function errMessage(err) {
    if (!err) return "";
    return err.message || err.name || err.code || String(err);
  }

  // ------------------------------------------------------------------ MediaSession

  var GATHER_TIMEOUT_MS = 5000;
  var DISCONNECTED_GRACE_MS = 5000;
  var STATS_EVERY_MS = 2000;
  var RETRY_MS = [1000, 2000, 4000, 8000];
  var MAX_RETRIES = 8;

  /**
   * One participant's media in one session.
   *
   * opts.socket    the LD.Socket
   * opts.session   session id
   * opts.side      "customer" | "agent"
   * opts.channels  the session's Channels tracker
   * opts.onChange()            sources, publications or tracks changed
   * opts.onNotice(key, vars)   a notice to show (key null: clear it)
   * opts.onQuality(q)          every 2 s while connected: {rtt, loss, inKbps, outKbps, fps}
   */
  function MediaSession(opts) {
    this.socket = opts.socket;
    this.sid = opts.session;
    this.side = opts.side;
    this.channels = opts.channels;
    this.onChange = opts.onChange || function () {};
    this.onNotice = opts.onNotice || function () {};
    this.onQuality = opts.onQuality || function () {};
    this.pc = null;
    this.you = null;
    this.maxKbps = 0;
    this.sources = {};        // source -> {track, stream, muted, tx}
    this.starting = {};       // source -> true while its permission prompt is open
    this.senders = [];        // [{tx, kind, source|null}] transceivers that send
    this.slots = [];          // [{tx, kind, pub|null}] transceivers that receive
    this.rawPubs = [];        // the server's whole list
    this.dirty = false;
    this.running = null;
    this.closed = false;
    this.lost = false;        // the media path failed; a fresh connection is on its way
    this.retries = 0;
    this.retryTimer = null;
    this.discTimer = null;
    this.statsTimer = null;
    this.sample = null;
    this.waitingSocket = false;
    this.refusals = 0;
    this.pcCreatedAt = 0;
    this.state = "idle";      // idle | connecting | connected | lost
    MediaSession.all.add(this);
  }

  /** Every open MediaSession of the page (for the browser's console and the tests). */
  MediaSession.all = new Set();
  MediaSession.supported = supported;

  /** A live local track for ``source``. */
  MediaSession.prototype.has = function (source) {
    var s = this.sources[source];
    return !!(s && s.track && s.track.readyState === "live");
  };

  MediaSession.prototype.isMuted = function (source) {
    var s = this.sources[source];
    return !!(s && s.muted);
  };

  MediaSession.prototype.localStream = function (source) {
    var s = this.sources[source];
    return s && s.track ? s.stream : null;
  };

  MediaSession.prototype.sending = function () {
    var self = this;
    return SOURCES.filter(function (s) { return self.has(s); });
  };

  /** The other side's publications (never our own). */
  MediaSession.prototype.remotePubs = function () {
    var self = this;
    return this.rawPubs.filter(function (p) { return !self._own(p); });
  };

  MediaSession.prototype._own = function (pub) {
    if (this.you) return pub.owner === this.you;
    // before media.config answers: a session has one customer and one staff side
    var customer = pub.role === "customer";
    return this.side === "customer" ? customer : !customer;
  };

  /** Receiving slots bound to a publication, with the track that plays it. */
  MediaSession.prototype.remoteTracks = function () {
    return this.slots.filter(function (s) { return s.pub && s.negotiated; }).map(function (s) {
      return { pub: s.pub, kind: s.kind, track: s.tx.receiver.track, mid: s.tx.mid };
    });
  };

  /** Anything going on: local sources, remote publications or a connection. */
  MediaSession.prototype.active = function () {
    return !!this.pc || this.sending().length > 0 || this.remotePubs().length > 0;
  };

  // ---------------------------------------------------------------- sources

  /**
   * Start ``sources`` (a list of "mic" | "camera" | "screen") that the channels
   * allow and that are not already running. getUserMedia asks for camera and
   * microphone together, so a person sees one permission prompt.
   * Resolves with the list of failures [{source, error}].
   */
  MediaSession.prototype.start = async function (sources) {
    var self = this;
    var want = sources.filter(function (s) {
      return !self.has(s) && !self.starting[s] && self.channels.allows(self.side, s);
    });
    if (!want.length || this.closed) return [];
    want.forEach(function (s) { self.starting[s] = true; });
    this.onChange();
    try {
      return await this._capture(want);
    } finally {
      want.forEach(function (s) { delete self.starting[s]; });
      this.onChange();
      this.renegotiate();
    }
  };

  MediaSession.prototype._capture = async function (want) {
    var self = this;
    var failures = [];
    var user = want.filter(function (s) { return s !== "screen"; });
    if (user.length) {
      try {
        var stream = await navigator.mediaDevices.getUserMedia({
          audio: user.indexOf("mic") >= 0 ? { echoCancellation: true, noiseSuppression: true } : false,
          video: user.indexOf("camera") >= 0
            ? { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } } : false,
        });
        stream.getAudioTracks().forEach(function (tr) { self._adopt("mic", tr); });
        stream.getVideoTracks().forEach(function (tr) { self._adopt("camera", tr); });
      } catch (err) {
        user.forEach(function (s) { failures.push({ source: s, error: err }); });
      }
    }
    if (want.indexOf("screen") >= 0) {
      try {
        var display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        display.getVideoTracks().forEach(function (tr) { self._adopt("screen", tr); });
      } catch (err) {
        failures.push({ source: "screen", error: err });
      }
    }
    return failures;
  };

  /** A prompt for this source is open. */
  MediaSession.prototype.isStarting = function (source) {
    return !!this.starting[source];
  };

  MediaSession.prototype._adopt = function (source, track) {
    var self = this;
    if (this.closed || !this.channels.allows(this.side, source)) {
      track.stop();  // the channel stopped while the prompt was open
      return;
    }
    var old = this.sources[source];
    if (old && old.track && old.track !== track) old.track.stop();
    var entry = {
      track: track,
      stream: new MediaStream([track]),
      muted: old ? !!old.muted : false,
      tx: old ? old.tx : null,
    };
    if (source === "screen") {
      // the screen is shown to the agent as it is; text must stay legible
      try { track.contentHint = "detail"; } catch (err) { /* older browsers */ }
    }
    track.enabled = !entry.muted;
    track.addEventListener("ended", function () {
      // the person ended it in the browser's own UI, or the device went away
      if (self.sources[source] && self.sources[source].track === track) {
        self.stop(source);
        if (self.onEnded) self.onEnded(source);
      }
    });
    this.sources[source] = entry;
  };

  /** Stop sending ``source``: the track ends, its transceiver becomes free. */
  MediaSession.prototype.stop = function (source) {
    var s = this.sources[source];
    if (!s) return;
    if (s.track) s.track.stop();
    s.track = null;
    this.onChange();
    this.renegotiate();
  };

  /** Stop every source the channels no longer allow. Returns what was stopped. */
  MediaSession.prototype.enforce = function () {
    var self = this;
    var stopped = SOURCES.filter(function (s) {
      return self.has(s) && !self.channels.allows(self.side, s);
    });
    stopped.forEach(function (s) { self.stop(s); });
    return stopped;
  };

  /** Pause or resume a source: the track sends silence or black, the server is told. */
  MediaSession.prototype.setMuted = function (source, muted) {
    var s = this.sources[source];
    if (!s) return Promise.resolve();
    s.muted = !!muted;
    if (s.track) s.track.enabled = !muted;
    this.onChange();
    return this._tellMuted(source);
  };

  MediaSession.prototype._tellMuted = function (source) {
    var s = this.sources[source];
    if (!s || !s.tx || !this.pc) return Promise.resolve();
    return this.socket.request("media.mute", { session: this.sid, source: source, muted: s.muted })
      .catch(function () { /* not published yet: the next offer's mute follows */ });
  };

  // ---------------------------------------------------------------- publications

  /** The server's media.publications push. */
  MediaSession.prototype.setPublications = function (list) {
    this.rawPubs = Array.isArray(list) ? list.slice() : [];
    var remote = this.remotePubs();
    var bound = {};
    this.slots.forEach(function (s) { if (s.pub) bound[s.pub.pub] = s; });
    var changed = false;
    var self = this;
    // keep fresh copies (name, muted) on the bound slots
    remote.forEach(function (p) {
      if (bound[p.pub]) {
        bound[p.pub].pub = p;
        delete bound[p.pub];
      } else {
        changed = true;
      }
    });
    Object.keys(bound).forEach(function (id) {
      bound[id].pub = null;  // gone; the slot is free for the next publication of its kind
      bound[id].negotiated = false;
    });
    this.onChange();
    if (changed && !this.closed) {
      if (!this.pc && remote.length === 0) return;
      this.renegotiate();
    } else if (!remote.length && !self.sending().length) {
      this._idle();
    }
  };

  /** Nothing to send or receive and no agreed channel: let the connection go. */
  MediaSession.prototype._idle = function () {
    if (!this.pc || this.channels.anyAgreed()) return;
    if (this.sending().length || this.remotePubs().length) return;
    this.hangup();
  };

  // ---------------------------------------------------------------- negotiation

  /** Negotiate now, or right after the negotiation that is running. */
  MediaSession.prototype.renegotiate = function () {
    var self = this;
    this.dirty = true;
    if (this.closed) return Promise.resolve();
    if (!this.running) {
      this.running = (async function () {
        try {
          while (self.dirty && !self.closed) {
            self.dirty = false;
            await self._negotiateOnce();
          }
        } finally {
          self.running = null;
        }
      })();
    }
    return this.running;
  };

  MediaSession.prototype._negotiateOnce = async function () {
    var sending = this.sending();
    var remote = this.remotePubs();
    if (!this.pc && !sending.length && !remote.length) return;
    if (!this.socket.ready) {
      this.waitingSocket = true;
      return;
    }
    var pc = null;
    try {
      if (!this.pc) await this._open();
      pc = this.pc;
      if (!pc) return;
      await this._syncSenders(pc);
      if (pc !== this.pc) return;
      this._syncSlots(pc, this.remotePubs());
      if (!pc.getTransceivers().length) return;
      var offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      await gathered(pc, GATHER_TIMEOUT_MS);
      if (pc !== this.pc) return;
      var send = [];
      this.senders.forEach(function (e) {
        if (e.source && e.tx.mid != null) send.push({ mid: e.tx.mid, source: e.source });
      });
      var recv = [];
      this.slots.forEach(function (s) {
        if (s.pub && s.tx.mid != null) recv.push({ mid: s.tx.mid, pub: s.pub.pub });
      });
      var reply;
      try {
        reply = await this.socket.request("media.offer", {
          session: this.sid, sdp: pc.localDescription.sdp, send: send, recv: recv,
        });
      } catch (err) {
        if (pc === this.pc && pc.signalingState === "have-local-offer") {
          await pc.setLocalDescription({ type: "rollback" }).catch(function () {});
        }
        throw err;
      }
      if (pc !== this.pc) return;
      if (reply.you) this.you = reply.you;
      await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
      this.slots.forEach(function (s) { s.negotiated = !!s.pub; });
      this.refusals = 0;
      this.retries = 0;
      this._applyBitrate();
      var self = this;
      SOURCES.forEach(function (s) {
        if (self.sources[s] && self.sources[s].muted && self.sources[s].tx) self._tellMuted(s);
      });
      if (!this.lost) this.onNotice(null);
      this.onChange();
    } catch (err) {
      // a connection hung up or replaced meanwhile fails in all sorts of ways: no matter
      if (pc && pc !== this.pc) return;
      this._failed(err);
    }
  };

  MediaSession.prototype._failed = function (err) {
    var code = err && err.code;
    if (code === "disconnected") {
      this.waitingSocket = true;  // offered again when the socket is back
      return;
    }
    if (code === "consent" && this.refusals < 3) {
      // the server saw a channel stop before this page did: drop what it refused
      this.refusals += 1;
      if (!this.enforce().length) {
        var self = this;
        SOURCES.forEach(function (s) { if (self.has(s)) self.stop(s); });
      }
      return;
    }
    if (code === "wrong_state" || code === "not_assigned" || code === "forbidden" || code === "not_found") {
      // the session is no longer active for us; the timeline says what happened
      this.close();
      return;
    }
    this.onNotice("media.error", { message: errMessage(err) });
    if (this.retries < MAX_RETRIES) this._scheduleRetry();
  };

  MediaSession.prototype._scheduleRetry = function () {
    var self = this;
    if (this.closed || this.retryTimer) return;
    var wait = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
    this.retries += 1;
    this.retryTimer = setTimeout(function () {
      self.retryTimer = null;
      if (self.lost || !self.pc) self._reset();
      self.renegotiate();
    }, wait);
  };

  MediaSession.prototype._open = async function () {
    var cfg = await this.socket.request("media.config", { session: this.sid });
    if (this.closed) return;
    this.you = cfg.you || this.you;
    this.maxKbps = cfg.max_bitrate_kbps || 0;
    var pc = new RTCPeerConnection({
      iceServers: Array.isArray(cfg.ice_servers) ? cfg.ice_servers : [],
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require",
    });
    var self = this;
    pc.addEventListener("connectionstatechange", function () { self._pcState(pc); });
    this.pc = pc;
    this.pcCreatedAt = Date.now();
    this.state = "connecting";
    this.senders = [];
    this.slots = [];
    SOURCES.forEach(function (s) { if (self.sources[s]) self.sources[s].tx = null; });
    this._startStats();
    // publications may have arrived before we knew which were ours
    this.onChange();
  };

  MediaSession.prototype._syncSenders = async function (pc) {
    var self = this;
    for (var i = 0; i < SOURCES.length; i++) {
      var source = SOURCES[i];
      var s = this.sources[source];
      var live = this.has(source);
      var entry = s && s.tx ? this._senderOf(s.tx) : null;
      if (live) {
        if (!entry) {
          entry = this.senders.filter(function (e) {
            return !e.source && e.kind === KIND[source];
          })[0] || null;
          if (entry) {
            await entry.tx.sender.replaceTrack(s.track);
            try { entry.tx.sender.setStreams(s.stream); } catch (err) { /* not everywhere */ }
          } else {
            var tx = pc.addTransceiver(s.track, { direction: "sendonly", streams: [s.stream] });
            entry = { tx: tx, kind: KIND[source], source: null };
            this.senders.push(entry);
          }
          entry.source = source;
          s.tx = entry.tx;
        } else if (entry.tx.sender.track !== s.track) {
          await entry.tx.sender.replaceTrack(s.track);
        }
        if (entry.tx.direction !== "sendonly") entry.tx.direction = "sendonly";
      } else if (entry) {
        await entry.tx.sender.replaceTrack(null);
        entry.tx.direction = "inactive";
        entry.source = null;
        s.tx = null;
      }
    }
    // a source dropped before its transceiver existed leaves nothing behind
    SOURCES.forEach(function (source) {
      var s = self.sources[source];
      if (s && !s.track && !s.tx) delete self.sources[source];
    });
  };

  MediaSession.prototype._senderOf = function (tx) {
    for (var i = 0; i < this.senders.length; i++) if (this.senders[i].tx === tx) return this.senders[i];
    return null;
  };

  MediaSession.prototype._syncSlots = function (pc, remote) {
    var self = this;
    var bound = {};
    this.slots.forEach(function (s) { if (s.pub) bound[s.pub.pub] = s; });
    var live = {};
    remote.forEach(function (p) { live[p.pub] = true; });
    this.slots.forEach(function (s) {
      if (s.pub && !live[s.pub.pub]) {
        s.pub = null;
        s.negotiated = false;
      }
    });
    // the screen first, so that it takes the first free video slot
    var ordered = remote.slice().sort(function (a, b) {
      return (a.source === "screen" ? 0 : 1) - (b.source === "screen" ? 0 : 1);
    });
    ordered.forEach(function (p) {
      if (bound[p.pub]) return;
      var kind = p.kind === "audio" ? "audio" : "video";
      var slot = self.slots.filter(function (s) { return !s.pub && s.kind === kind; })[0];
      if (!slot) {
        slot = { tx: pc.addTransceiver(kind, { direction: "recvonly" }), kind: kind, pub: null };
        self.slots.push(slot);
      }
      slot.pub = p;
      slot.negotiated = false;
    });
  };

  MediaSession.prototype._applyBitrate = function () {
    var kbps = this.maxKbps;
    if (!kbps) return;
    this.senders.forEach(function (e) {
      if (e.kind !== "video" || !e.source) return;
      var sender = e.tx.sender;
      try {
        var params = sender.getParameters();
        if (!params.encodings || !params.encodings.length) params.encodings = [{}];
        if (params.encodings[0].maxBitrate === kbps * 1000) return;
        params.encodings[0].maxBitrate = kbps * 1000;
        sender.setParameters(params).catch(function () {});
      } catch (err) { /* left at the browser's default */ }
    });
  };

  // ---------------------------------------------------------------- connection state

  MediaSession.prototype._pcState = function (pc) {
    if (pc !== this.pc) return;
    var st = pc.connectionState;
    var self = this;
    if (st === "connected") {
      clearTimeout(this.discTimer);
      this.discTimer = null;
      this.state = "connected";
      this.retries = 0;
      if (this.lost) {
        this.lost = false;
        this.onNotice(null);
      }
      this.onChange();
    } else if (st === "failed" || st === "closed") {
      // closed under us (we drop our own connections before closing them): as good as failed
      this.recover(st);
    } else if (st === "disconnected") {
      clearTimeout(this.discTimer);
      this.discTimer = setTimeout(function () {
        if (pc === self.pc && pc.connectionState === "disconnected") self.recover("disconnected");
      }, DISCONNECTED_GRACE_MS);
    }
  };

  /**
   * The media path failed: tell the person, and start over on a fresh
   * RTCPeerConnection with the current sources and publications. The chat is
   * not touched.
   */
  MediaSession.prototype.recover = function (reason) {
    if (this.closed || (!this.pc && !this.active())) return;
    this.lost = true;
    this.state = "lost";
    this.lostReason = reason || "";
    this.onNotice("media.lost");
    this._reset();
    this.onChange();
    this.renegotiate();
  };

  MediaSession.prototype._reset = function () {
    var pc = this.pc;
    this.pc = null;
    clearTimeout(this.discTimer);
    this.discTimer = null;
    this.senders = [];
    this.slots = [];
    var self = this;
    SOURCES.forEach(function (s) { if (self.sources[s]) self.sources[s].tx = null; });
    if (pc) {
      try { pc.close(); } catch (err) { /* already closed */ }
    }
  };

  /** The server's media.state push for our own peer. */
  MediaSession.prototype.serverState = function (state) {
    // the push does not say which connection failed: ignore it while we are already
    // starting over, or when our connection is newer than the failure could be
    if (state !== "failed" || !this.pc || this.lost) return;
    if (Date.now() - this.pcCreatedAt < 2000) return;
    this.recover("server");
  };

  /** A media.failed note on the timeline about our own connection. */
  MediaSession.prototype.serverFailed = function (at) {
    // only for the connection we hold now, not a replayed note about an older one
    if (!this.pc || this.lost || ageOf(at) > (Date.now() - this.pcCreatedAt) / 1000 + 2) return;
    this.recover("server");
  };

  MediaSession.prototype.socketReady = function () {
    syncClock(this.socket);
    if (this.waitingSocket) {
      this.waitingSocket = false;
      this.renegotiate();
    }
  };

  // ---------------------------------------------------------------- ending

  /** Leave the call: every source stops and the server closes our connection. */
  MediaSession.prototype.hangup = function () {
    var pc = this.pc;
    this._stopAll();
    this.pc = null;  // nothing negotiates on it any more
    this._reset();
    this._stopStats();
    this.state = "idle";
    this.lost = false;
    this.onNotice(null);
    this.onChange();
    var close = function () {
      try { pc.close(); } catch (err) { /* already closed */ }
    };
    if (!pc) return Promise.resolve();
    if (!this.socket.ready) {
      close();
      return Promise.resolve();
    }
    // the server hears "hung up" before the connection closes, which it would take for a failure
    return this.socket.request("media.hangup", { session: this.sid }).catch(function () {}).then(close);
  };

  /** The session is over (or no longer ours): drop everything, tell no one. */
  MediaSession.prototype.close = function () {
    this.closed = true;
    MediaSession.all.delete(this);
    this._stopAll();
    this._reset();
    this._stopStats();
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.rawPubs = [];
    this.state = "idle";
    this.lost = false;
    this.onNotice(null);
    this.onChange();
  };

  MediaSession.prototype._stopAll = function () {
    var self = this;
    SOURCES.forEach(function (s) {
      var e = self.sources[s];
      if (e && e.track) e.track.stop();
    });
    this.sources = {};
  };

  // ---------------------------------------------------------------- quality

  MediaSession.prototype._startStats = function () {
    var self = this;
    if (this.statsTimer) return;
    this.sample = null;
    this.statsTimer = setInterval(function () { self._sampleStats(); }, STATS_EVERY_MS);
  };

  MediaSession.prototype._stopStats = function () {
    clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.sample = null;
    this.onQuality(null);
  };

  MediaSession.prototype._sampleStats = async function () {
    var pc = this.pc;
    if (!pc) return;
    var report;
    try {
      report = await pc.getStats();
    } catch (err) {
      return;
    }
    if (pc !== this.pc) return;
    var q = summarize(report, this.sample, performance.now());
    this.sample = q.raw;
    this.onQuality(q);
  };

  /**
   * Call quality from a getStats() report and the previous sample:
   * round-trip time (ms) of the selected candidate pair, packet loss (%) of
   * what we receive, bitrates in and out (kbps) and the remote video frame rate.
   */
  function summarize(report, prev, now) {
    var pairId = null;
    report.forEach(function (s) {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    var rtt = null;
    var lost = 0;
    var received = 0;
    var bytesIn = 0;
    var bytesOut = 0;
    var fps = null;
    report.forEach(function (s) {
      if (s.type === "candidate-pair") {
        var selected = pairId ? s.id === pairId : (s.nominated && s.state === "succeeded");
        if (selected && typeof s.currentRoundTripTime === "number") rtt = s.currentRoundTripTime * 1000;
      } else if (s.type === "inbound-rtp") {
        lost += Math.max(0, s.packetsLost || 0);
        received += s.packetsReceived || 0;
        bytesIn += s.bytesReceived || 0;
        if (s.kind === "video" && typeof s.framesPerSecond === "number") {
          fps = Math.max(fps || 0, s.framesPerSecond);
        }
      } else if (s.type === "outbound-rtp") {
        bytesOut += s.bytesSent || 0;
      }
    });
    var raw = { at: now, lost: lost, received: received, bytesIn: bytesIn, bytesOut: bytesOut };
    var q = { rtt: rtt, loss: null, inKbps: null, outKbps: null, fps: fps, raw: raw };
    var total = lost + received;
    if (prev && now > prev.at) {
      var dt = (now - prev.at) / 1000;
      q.inKbps = Math.max(0, bytesIn - prev.bytesIn) * 8 / dt / 1000;
      q.outKbps = Math.max(0, bytesOut - prev.bytesOut) * 8 / dt / 1000;
      var dl = Math.max(0, lost - prev.lost);
      var dr = Math.max(0, received - prev.received);
      q.loss = dl + dr > 0 ? (100 * dl) / (dl + dr) : (total > 0 ? (100 * lost) / total : null);
    } else if (total > 0) {
      q.loss = (100 * lost) / total;
    }
    return q;
  }

  // ------------------------------------------------------------------ frames

  /** Count the frames a <video> presents, in its data-frames attribute. */
  function countFrames(video) {
    if (video.dataset.counting) return;
    video.dataset.counting = "1";
    video.dataset.frames = video.dataset.frames || "0";
    if (typeof video.requestVideoFrameCallback === "function") {
      var tick = function () {
        video.dataset.frames = String(Number(video.dataset.frames || 0) + 1);
        video.requestVideoFrameCallback(tick);
      };
      video.requestVideoFrameCallback(tick);
      return;
    }
    // without requestVideoFrameCallback: the decoder's own count, twice a second
    var timer = setInterval(function () {
      if (!video.isConnected) {
        clearInterval(timer);
        return;
      }
      var q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      if (q) video.dataset.frames = String(q.totalVideoFrames);
    }, 500);
  }

  LD.media = {
    say: say,
    addStrings: addStrings,
    capitalize: capitalize,
    channelName: channelName,
    sourceName: sourceName,
    fillTexts: fillTexts,
    Channels: Channels,
    MediaSession: MediaSession,
    summarize: summarize,
    countFrames: countFrames,
    syncClock: syncClock,
    ageOf: ageOf,
    errMessage: errMessage,
    KIND: KIND,
    SOURCES: SOURCES,
    MEDIA_CHANNELS: MEDIA_CHANNELS,
    CHANNEL_SOURCES: CHANNEL_SOURCES,
  };
})();
