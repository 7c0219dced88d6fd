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

  if (!video) return;
  var offset = parseFloat(video.dataset.offset || "0") || 0;

  function seek(sessionSeconds) {
    var t = Math.max(0, sessionSeconds - offset);
    var go = function () { video.currentTime = t; };
    if (video.readyState >= 1) go();
    else video.addEventListener("loadedmetadata", go, { once: true });
  }

  Array.prototype.forEach.call(document.querySelectorAll(".qa-line__seek"), function (button) {
    button.addEventListener("click", function () {
      seek(parseFloat(button.dataset.start || "0"));
      video.play().catch(function () {});
    });
  });

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

  var start = new URLSearchParams(location.search).get("t");
  if (start !== null && !isNaN(parseFloat(start))) seek(parseFloat(start));
})();
