/* QA review: the recorded co-browsed page, replayed on the session clock.
 *
 * The recording (GET .../files/cobrowse) is JSON lines, one per batch part, each with
 * its arrival ``t`` on the session clock. Parts are joined into batches; each full
 * snapshot re-anchors the customer's clock onto the session clock (arrival of the
 * snapshot's last event), so the page lines up with the review video and transcript.
 * rrweb's Replayer (sandboxed iframe, no scripts) shows the page at any moment: it
 * follows the review video when there is one, and the range input always.
 */
(function () {
  "use strict";

  var strings = {};
  try { strings = JSON.parse(document.getElementById("ld-strings").textContent); } catch (err) { /* keys */ }
  function t(key, vars) {
    return String(strings[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return vars && vars[name] != null ? String(vars[name]) : whole;
    });
  }
  var box = document.querySelector('[data-testid="qa-cobrowse"]');
  if (!box || !window.rrweb) return;
  var stage = box.querySelector('[data-testid="qa-cobrowse-stage"]');
  var status = box.querySelector('[data-testid="qa-cobrowse-status"]');
  var scrub = box.querySelector('[data-testid="qa-cobrowse-scrub"]');
  var clock = box.querySelector('[data-testid="qa-cobrowse-time"]');
  var video = document.querySelector('[data-testid="review-video"]');
  var replayer = null;
  var firstMs = 0;
  var size = { width: 0, height: 0 };
  var metas = [];  // [session ms, href] for the status line

  function mmss(s) {
    s = Math.max(0, Math.floor(s));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  /** Recorded lines -> rrweb events with timestamps in ms on the session clock. */
  function events(text) {
    var out = [];
    var parts = [];
    var shift = null;
    text.split("\n").forEach(function (line) {
      if (!line) return;
      var rec;
      try { rec = JSON.parse(line); } catch (err) { return; }
      if (rec.part === 0) parts = [];
      if (rec.part !== parts.length) { parts = []; return; }  // a gap: skip the batch
      parts.push(rec.data);
      if (parts.length < rec.parts) return;
      var batch;
      try { batch = JSON.parse(parts.join("")); } catch (err) { parts = []; return; }
      parts = [];
      if (!Array.isArray(batch) || !batch.length) return;
      if (rec.snapshot || shift === null) shift = rec.t * 1000 - batch[batch.length - 1].timestamp;
      batch.forEach(function (e) {
        e.timestamp += shift;
        if (e.type === 4 && e.data) metas.push([e.timestamp, e.data.href || ""]);
        out.push(e);
      });
    });
    out.sort(function (a, b) { return a.timestamp - b.timestamp; });
    return out;
  }

  function fit() {
    var wrapper = stage.querySelector(".replayer-wrapper");
    if (!wrapper || !size.width) return;
    var s = Math.min(1, stage.clientWidth / size.width, Math.max(240, innerHeight * 0.6) / size.height);
    wrapper.style.transform = "scale(" + s + ")";
    stage.style.height = Math.round(size.height * s) + "px";
  }

  /** Show the page as it was at ``sec`` on the session clock. */
  function show(sec, playing) {
    if (!replayer) return;
    clock.textContent = mmss(sec);
    if (document.activeElement !== scrub) scrub.value = String(sec);
    var offset = sec * 1000 - firstMs;
    if (offset < 0) {
      status.textContent = t("qa.cobrowse_before");
      replayer.pause(0);
      return;
    }
    var href = "";
    metas.forEach(function (m) { if (m[0] <= sec * 1000) href = m[1]; });
    var where = href;
    try { var u = new URL(href); where = u.host + u.pathname; } catch (err) { /* as recorded */ }
    status.textContent = t("qa.cobrowse_page", { page: where });
    box.dataset.href = href;
    if (playing) replayer.play(offset);
    else replayer.pause(offset);
  }

  function videoSec() {
    return parseFloat(video.dataset.offset || "0") + video.currentTime;
  }

  fetch(box.dataset.src, { credentials: "same-origin" }).then(function (r) {
    if (!r.ok) throw new Error(r.statusText);
    return r.text();
  }).then(function (text) {
    var evs = events(text);
    if (!evs.length) throw new Error("empty");
    firstMs = evs[0].timestamp;
    var lastSec = evs[evs.length - 1].timestamp / 1000;
    if (!(parseFloat(scrub.max) >= lastSec)) scrub.max = String(Math.ceil(lastSec));
    replayer = new window.rrweb.Replayer(evs, {
      root: stage, mouseTail: false, showWarning: false, triggerFocus: false, skipInactive: false,
    });
    replayer.on("resize", function (d) { size = d; fit(); });
    window.addEventListener("resize", fit);
    box.dataset.ready = "1";
    show(video ? videoSec() : firstMs / 1000, false);
    if (video) {
      var playing = false;
      video.addEventListener("play", function () { playing = true; show(videoSec(), true); });
      video.addEventListener("pause", function () { playing = false; show(videoSec(), false); });
      video.addEventListener("seeked", function () { show(videoSec(), playing); });
      video.addEventListener("timeupdate", function () {
        clock.textContent = mmss(videoSec());
        if (!playing) return;
        var drift = Math.abs(replayer.getCurrentTime() - (videoSec() * 1000 - firstMs));
        if (drift > 600) show(videoSec(), true);
      });
    }
    scrub.addEventListener("input", function () {
      if (video && Number.isFinite(video.duration)) {
        video.currentTime = Math.max(0, parseFloat(scrub.value) - parseFloat(video.dataset.offset || "0"));
      }
      show(parseFloat(scrub.value), false);
    });
  }).catch(function () {
    status.textContent = t("qa.cobrowse_failed");
  });
})();
