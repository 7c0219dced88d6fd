/* QA recording page: the transcript follows the review video, and a click on a line (or a
 * flag) seeks the video to that moment. ``?t=SECONDS`` (session clock) opens there.
 *
 * Times in the transcript are on the session clock; the review video starts at
 * ``data-offset`` seconds on that clock. No framework, text only through the DOM.
 */
(function () {
  "use strict";

  var video = document.querySelector('[data-testid="review-video"]');
  var lines = Array.prototype.slice.call(document.querySelectorAll(".qa-line"));

  function send(method, url, body) {
    return fetch(url, {
      method: method,
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
        return data;
      });
    });
  }

  var card = document.querySelector('[data-testid="scorecard"]');
  if (card) {
    card.addEventListener("submit", function (e) {
      e.preventDefault();
      var answers = {};
      Array.prototype.forEach.call(card.querySelectorAll(".qa-criterion"), function (fs) {
        var id = fs.dataset.criterion;
        var picked = fs.querySelector('input[type="radio"]:checked');
        if (!picked) return;
        var value = fs.dataset.kind === "yes_no" ? picked.value === "yes" : parseInt(picked.value, 10);
        var comment = fs.querySelector('input[type="text"]').value;
        answers[id] = { value: value, comment: comment };
      });
      var error = card.querySelector('[data-testid="score-error"]');
      send("PUT", "/api/recordings/" + card.dataset.session + "/score", { answers: answers })
        .then(function () { location.reload(); }, function (err) {
          error.textContent = err.message;
          error.hidden = false;
        });
    });
  }

  var commentForm = document.querySelector('[data-testid="comment-form"]');
  if (commentForm) {
    commentForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var offsetNow = video ? parseFloat(video.dataset.offset || "0") + video.currentTime : 0;
      var text = commentForm.querySelector('input[name="text"]').value;
      send("POST", "/api/recordings/" + commentForm.dataset.session + "/comments",
        { at: Math.max(0, offsetNow), text: text })
        .then(function () { location.reload(); }, function () {});
    });
  }

  var offset = video ? parseFloat(video.dataset.offset || "0") || 0 : 0;

  function seek(sessionSeconds) {
    if (!video) return;
    var t = Math.max(0, sessionSeconds - offset);
    var go = function () { video.currentTime = t; };
    if (video.readyState >= 1) go();
    else video.addEventListener("loadedmetadata", go, { once: true });
  }

  // Bring the list item a mark stands for into view, and mark it current for a moment.
  var shown = null;
  function show(ref) {
    var el = ref && document.getElementById(ref);
    if (!el) return;
    if (shown) shown.removeAttribute("aria-current");
    shown = el;
    el.setAttribute("aria-current", "true");
    if (el.scrollIntoView) el.scrollIntoView({ block: "nearest" });
  }

  Array.prototype.forEach.call(document.querySelectorAll(".qa-line__seek"), function (button) {
    button.addEventListener("click", function () {
      seek(parseFloat(button.dataset.start || "0"));
      if (video) video.play().catch(function () {});
    });
  });

  // The scrubber spans the whole session (data-span seconds on the session clock); the
  // recorded media is the shaded band from data-offset. Marks are placed here rather than
  // in the markup because the page's CSP allows no inline styles.
  var scrubber = document.querySelector('[data-testid="scrubber"]');
  if (scrubber) {
    var span = parseFloat(scrubber.dataset.span) || 1;
    var track = scrubber.querySelector(".qa-scrubber__track");
    var head = scrubber.querySelector(".qa-scrubber__head");
    var band = scrubber.querySelector(".qa-scrubber__media");
    var pct = function (sec) { return Math.min(100, Math.max(0, sec / span * 100)) + "%"; };
    var placeBand = function () {
      var media = video && isFinite(video.duration) ? video.duration
        : parseFloat(scrubber.dataset.media || "0");
      band.style.left = pct(parseFloat(scrubber.dataset.offset || "0"));
      band.style.width = pct(media);
    };
    Array.prototype.forEach.call(scrubber.querySelectorAll("[data-testid=scrubber-mark]"), function (m) {
      m.style.left = pct(parseFloat(m.dataset.start));
      m.addEventListener("click", function (e) {
        e.stopPropagation();
        seek(parseFloat(m.dataset.start));
        show(m.dataset.ref);
      });
    });
    placeBand();
    head.hidden = !video;
    if (video) {
      video.addEventListener("loadedmetadata", placeBand);
      video.addEventListener("timeupdate", function () {
        head.style.left = pct(video.currentTime + offset);
      });
    }
    track.addEventListener("click", function (e) {
      var box = track.getBoundingClientRect();
      var at = (e.clientX - box.left) / box.width * span;
      seek(at);
      // the timeline line at or just before that moment
      var lines = document.querySelectorAll(".qa-event");
      var ref = null;
      for (var i = 0; i < lines.length; i++) {
        if (parseFloat(lines[i].dataset.start) <= at) ref = lines[i].id;
        else break;
      }
      show(ref);
    });
  }

  // ?t= opens the page at that moment: the media there, and the chat or event line too.
  var start = parseFloat(new URLSearchParams(location.search).get("t"));
  if (!isNaN(start)) {
    seek(start);
    var near = null;
    Array.prototype.forEach.call(document.querySelectorAll(".qa-event"), function (li) {
      if (Math.abs(parseFloat(li.dataset.start) - start) < 0.5 && !near) near = li.id;
    });
    show(near);
  }

  if (!video) return;

  var current = null;
  video.addEventListener("timeupdate", function () {
    var now = video.currentTime + offset;
    var found = null;
    for (var i = 0; i < lines.length; i++) {
      if (parseFloat(lines[i].dataset.start) <= now) found = lines[i];
      else break;
    }
    if (found === current) return;
    if (current) current.removeAttribute("aria-current");
    current = found;
    if (current) {
      current.setAttribute("aria-current", "true");
      if (current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
    }
  });

})();
