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
