/* livedesk widget: help on a company's own pages.
 *
 *   <script src="https://HOST/static/widget.js" data-entry="support-video"
 *           data-token="<optional customer JWT from your backend>" async></script>
 *
 * One file, no dependencies. It asks HOST which channels are open for this
 * visitor on this page (GET /api/entry/<entry>/availability, readable only by the
 * entry's site_origins), and shows a launcher at the bottom right whose panel lists
 * the open channels. Closed ones get the server's reason ("We open Mon 09:00 ...");
 * when nothing is open, a call-back form and a leave-a-message form. When the page
 * rules exclude this page, nothing is shown at all.
 *
 * Everything lives in a shadow root with its own styles, so the page's CSS cannot
 * reach it. Reasons and channel names are the server's own localized words; the
 * few strings of the widget itself come from the availability answer's "strings"
 * when the server sends them, else from the table below (a copy of the widget.*
 * keys of signaling/i18n.py). Text only ever reaches the DOM as textContent.
 */
(function () {
  "use strict";

  var STRINGS = {
    "en": {
      "widget.launcher": "Help",
      "widget.open": "Open {title}",
      "widget.back": "Back to the options",
      "widget.choose": "How would you like to reach us?",
      "widget.unavailable": "Not available right now",
      "widget.fallback_intro": "We can still help: ask us to call you back, or leave a message.",
      "widget.callback.tab": "Call me back",
      "widget.message.tab": "Leave a message",
      "widget.field.name": "Your name",
      "widget.field.contact": "Phone or e-mail",
      "widget.field.preferred_time": "Preferred time (optional)",
      "widget.field.preferred_time_hint": "e.g. weekdays after 2 pm",
      "widget.field.text": "Your message",
      "widget.callback.submit": "Request a call back",
      "widget.message.submit": "Send message",
      "widget.sending": "Sending…",
      "widget.callback.done": "Thank you! We will call you back as soon as we can.",
      "widget.message.done": "Thank you! Your message has reached us; we will reply soon.",
      "widget.error.name": "Please give your name.",
      "widget.error.contact": "Please give a phone number or an e-mail address.",
      "widget.error.preferred_time": "Please keep this under 100 characters.",
      "widget.error.text": "Please write a message.",
      "widget.error.send": "This could not be sent. Please try again in a moment.",
      "common.close": "Close"
    },
    "ko": {
      "widget.launcher": "상담하기",
      "widget.open": "{title} 열기",
      "widget.back": "상담 방법 선택으로 돌아가기",
      "widget.choose": "어떤 방법으로 상담하시겠어요?",
      "widget.unavailable": "지금은 이용할 수 없음",
      "widget.fallback_intro": "전화 상담을 예약하시거나 메시지를 남겨 주시면 연락드리겠습니다.",
      "widget.callback.tab": "전화 요청",
      "widget.message.tab": "메시지 남기기",
      "widget.field.name": "이름",
      "widget.field.contact": "전화번호 또는 이메일",
      "widget.field.preferred_time": "통화 희망 시간 (선택)",
      "widget.field.preferred_time_hint": "예: 평일 오후 2시 이후",
      "widget.field.text": "메시지",
      "widget.callback.submit": "전화 요청하기",
      "widget.message.submit": "메시지 보내기",
      "widget.sending": "보내는 중…",
      "widget.callback.done": "감사합니다! 최대한 빨리 전화드리겠습니다.",
      "widget.message.done": "감사합니다! 메시지가 전달되었습니다. 곧 답변드리겠습니다.",
      "widget.error.name": "이름을 입력해 주세요.",
      "widget.error.contact": "전화번호 또는 이메일 주소를 입력해 주세요.",
      "widget.error.preferred_time": "100자 이내로 입력해 주세요.",
      "widget.error.text": "메시지를 입력해 주세요.",
      "widget.error.send": "보내지 못했습니다. 잠시 후 다시 시도해 주세요.",
      "common.close": "닫기"
    }
  };

  // the form fields, their labels, and what to say when the server refuses one
  var FIELD_LABELS = {
    name: "widget.field.name",
    contact: "widget.field.contact",
    preferred_time: "widget.field.preferred_time",
    text: "widget.field.text"
  };
  var ERROR_LABELS = {
    name: "widget.error.name",
    contact: "widget.error.contact",
    preferred_time: "widget.error.preferred_time",
    text: "widget.error.text"
  };
  var FORMS = {
    callback: ["name", "contact", "preferred_time"],
    message: ["name", "contact", "text"]
  };
  var TAB_LABELS = { callback: "widget.callback.tab", message: "widget.message.tab" };
  var SUBMIT_LABELS = { callback: "widget.callback.submit", message: "widget.message.submit" };
  var DONE_LABELS = { callback: "widget.callback.done", message: "widget.message.done" };
  var FIELD_ATTRS = {
    name: { autocomplete: "name", maxlength: "100" },
    contact: { autocomplete: "tel", maxlength: "200", spellcheck: "false", autocapitalize: "none" },
    preferred_time: { autocomplete: "off", maxlength: "100" },
    text: { maxlength: "4000", rows: "4" }
  };

  var REFRESH_MS = 30000;
  var NARROW_PX = 600;
  var PAGE_RULES = { page_excluded: true, page_not_included: true };
  var MAX_TIMER_MS = 2147483000;

  var script = document.currentScript || findScript();
  if (!script || !script.src || !script.getAttribute("data-entry")) return;
  var entry = script.getAttribute("data-entry");
  var token = script.getAttribute("data-token") || "";
  var base;
  try {
    base = new URL(script.src, location.href).origin;
  } catch (err) {
    return;
  }
  var FLAG = "__livedeskWidget:" + entry;
  if (window[FLAG]) return;  // the snippet pasted twice: one widget is enough
  window[FLAG] = true;

  // ------------------------------------------------------------------ co-browsing
  //
  // The chat page in the panel says when the customer agreed to co-browse; this page
  // then loads cobrowse.js, which records it (masked here) and keeps the session in
  // sessionStorage, so every later page of the site carrying this script resumes it.
  // data-mode="cobrowse" loads only that part, with no launcher.
  var COBROWSE_KEY = "livedesk.cobrowse." + entry;

  function cobrowseSaved() {
    try { return !!sessionStorage.getItem(COBROWSE_KEY); } catch (err) { return false; }
  }

  function startCobrowse(handoff) {
    var running = window.__livedeskCobrowse;
    if (running) {  // loaded already: start again only when it has stopped
      if (handoff && (running.state === null || running.state === "stopped")) running.start(handoff);
      return;
    }
    if (handoff) {
      try { sessionStorage.setItem(COBROWSE_KEY, JSON.stringify(handoff)); } catch (err) { return; }
    }
    var s = document.createElement("script");
    s.src = base + "/static/cobrowse.js";
    s.async = true;
    s.setAttribute("data-entry", entry);
    s.setAttribute("data-livedesk-ui", "");
    (document.head || document.documentElement).appendChild(s);
  }

  window.addEventListener("message", function (e) {
    var d = e.data;
    if (e.origin !== base || !d || d.livedesk !== "cobrowse") return;
    if (!ui || !ui.frame || e.source !== ui.frame.contentWindow) return;
    if (typeof d.session !== "string" || typeof d.token !== "string") return;
    startCobrowse({ session: d.session, token: d.token, seq: +d.seq || 0 });
  });

  if (cobrowseSaved()) startCobrowse(null);
  if (script.getAttribute("data-mode") === "cobrowse") return;

  /** The script tag, when document.currentScript is not available. */
  function findScript() {
    var all = document.querySelectorAll("script[src][data-entry]");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/static\/widget\.js(?:[?#]|$)/.test(all[i].src)) return all[i];
    }
    return null;
  }

  // ------------------------------------------------------------------ state

  var lang = "en";
  var served = null;       // widget strings from the server, when it sends them
  var data = null;         // the last availability answer
  var ui = null;           // the DOM, built with the first answer
  var isOpen = false;
  var frameChannel = null; // the channel whose customer page is in the panel
  var loading = false;
  var again = false;
  var changeTimer = null;
  var lastSignature = "";
  var activeForm = "callback";

  function t(key, vars) {
    var own = STRINGS[lang] || {};
    var text = (served && served[key]) || own[key] || STRINGS.en[key] || "";
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole;
    });
  }

  function pageUrl() {
    return String(location.href).slice(0, 2048);
  }

  function api(path) {
    return base + "/api/entry/" + encodeURIComponent(entry) + path;
  }

  // ------------------------------------------------------------------ availability

  function load() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    var headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    fetch(api("/availability?page=" + encodeURIComponent(pageUrl())), {
      headers: headers,
      mode: "cors",
      credentials: "omit",
      cache: "no-store"
    }).then(function (resp) {
      if (resp.status === 401 && token) {
        // the page's token ran out (or was never valid): carry on as a guest
        token = "";
        again = true;
        return null;
      }
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.json();
    }).then(function (answer) {
      if (answer && answer.channels) apply(answer);
    }, function () {
      /* offline or not allowed here: keep showing what we knew, if anything */
    }).then(function () {
      loading = false;
      if (again) {
        again = false;
        load();
      }
    });
  }

  function apply(answer) {
    data = answer;
    if (answer.language) lang = answer.language;
    if (answer.strings && typeof answer.strings === "object") served = answer.strings;
    if (!ui) {
      if (!document.body || !document.body.attachShadow) return;  // too old a browser
      build();
    }
    render();
    scheduleChange();
  }

  /** Ask again right after the next opening or closing the server announced. */
  function scheduleChange() {
    clearTimeout(changeTimer);
    changeTimer = null;
    var now = Date.parse(data.evaluated_at || "");
    if (isNaN(now)) return;
    var soonest = null;
    offeredChannels().forEach(function (ch) {
      var at = Date.parse(data.channels[ch].next_change || "");
      if (!isNaN(at) && (soonest === null || at < soonest)) soonest = at;
    });
    if (soonest === null) return;
    // measured on the server's clock, which is what the rules use
    var delay = Math.max(1000, soonest - now + 1000);
    if (delay < MAX_TIMER_MS) changeTimer = setTimeout(load, delay);
  }

  function offeredChannels() {
    return (data.offered || []).filter(function (ch) {
      return data.channels && data.channels[ch];
    });
  }

  // ------------------------------------------------------------------ DOM helpers

  function h(tag, attrs) {
    var node = document.createElement(tag);
    var a = attrs || {};
    Object.keys(a).forEach(function (k) {
      var v = a[k];
      if (v == null || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.indexOf("on") === 0 && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    for (var i = 2; i < arguments.length; i++) {
      var kid = arguments[i];
      if (kid == null || kid === false) continue;
      node.appendChild(typeof kid === "string" ? document.createTextNode(kid) : kid);
    }
    return node;
  }

  var SVG = "http://www.w3.org/2000/svg";
  var ICONS = {
    chat: ["M5 5h14a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2h-7l-5 4v-4H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z",
      "M8 10h8", "M8 13h5"],
    voice: ["M7 3.5h2.6l1.4 4.2-2.1 1.4a11 11 0 0 0 6 6l1.4-2.1 4.2 1.4V17a2.5 2.5 0 0 1-2.5 2.5A15 15 0 0 1 4.5 6 2.5 2.5 0 0 1 7 3.5z"],
    video: ["M4 7h10a2 2 0 0 1 2 2v6a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2z",
      "M16 10.5l5-3v9l-5-3"],
    screen: ["M4 4.5h16a1.5 1.5 0 0 1 1.5 1.5v9a1.5 1.5 0 0 1-1.5 1.5H4A1.5 1.5 0 0 1 2.5 15V6A1.5 1.5 0 0 1 4 4.5z",
      "M9 20.5h6", "M12 16.5v4"],
    cobrowse: ["M5 3.5l13 6.5-5.5 1.8L10.7 17.5z", "M13 12.5l5 5"],
    close: ["M6 6l12 12", "M18 6L6 18"],
    back: ["M15 5l-7 7 7 7"],
    next: ["M9 5l7 7-7 7"],
    clock: ["M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18z", "M12 7.5V12l3 2"],
    check: ["M5 12.5l4.5 4.5L19 7.5"]
  };

  function icon(name, cls) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    if (cls) svg.setAttribute("class", cls);
    (ICONS[name] || ICONS.chat).forEach(function (d) {
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  // ------------------------------------------------------------------ build

  function build() {
    var host = document.createElement("livedesk-widget");
    host.setAttribute("data-entry", entry);
    host.setAttribute("data-livedesk-ui", "");  // never part of a co-browse recording
    // the page's CSS may style unknown elements; these inline rules win
    host.style.setProperty("display", "block", "important");
    host.style.setProperty("position", "static", "important");
    host.style.setProperty("width", "0", "important");
    host.style.setProperty("height", "0", "important");
    host.style.setProperty("margin", "0", "important");
    host.style.setProperty("padding", "0", "important");
    host.style.setProperty("border", "0", "important");
    var shadow = host.attachShadow({ mode: "open" });
    addStyles(shadow);

    ui = { shadow: shadow, host: host, forms: {} };
    ui.launcherText = h("span", { class: "ld-launcher__text" });
    ui.launcher = h("button", {
      type: "button",
      class: "ld-launcher",
      "aria-haspopup": "dialog",
      "aria-expanded": "false",
      "aria-controls": "ld-panel",
      "data-testid": "widget-launcher",
      onclick: function () { if (isOpen) closePanel(true); else openPanel(); }
    }, icon("chat", "ld-launcher__icon"), icon("close", "ld-launcher__close"), ui.launcherText);

    ui.title = h("h2", { class: "ld-title", id: "ld-title", tabindex: "-1", "data-testid": "widget-title" });
    ui.subDot = h("span", { class: "ld-dot", "aria-hidden": "true" });
    ui.subText = h("span", { "data-testid": "widget-subtitle" });
    ui.back = h("button", {
      type: "button", class: "ld-icon-btn ld-back", hidden: true, "data-testid": "widget-back",
      onclick: showHome
    }, icon("back"));
    ui.close = h("button", {
      type: "button", class: "ld-icon-btn", "data-testid": "widget-close",
      onclick: function () { closePanel(true); }
    }, icon("close"));

    ui.status = h("div", { class: "ld-status", "data-testid": "widget-status", "aria-live": "polite", hidden: true });
    ui.choose = h("p", { class: "ld-lead", id: "ld-choose" });
    ui.channels = h("div", { class: "ld-channels", role: "group", "aria-labelledby": "ld-choose", "data-testid": "widget-channels" });
    ui.offTitle = h("h3", { class: "ld-section-title", id: "ld-off-title" });
    ui.offList = h("ul", { class: "ld-off-list", "aria-labelledby": "ld-off-title", "data-testid": "widget-unavailable" });
    ui.offBox = h("div", { class: "ld-off-box", hidden: true }, ui.offTitle, ui.offList);
    ui.openBox = h("div", { class: "ld-open-box", hidden: true }, ui.choose, ui.channels);
    ui.fallback = buildFallback();
    ui.home = h("div", { class: "ld-home" }, ui.status, ui.openBox, ui.offBox, ui.fallback);
    ui.frameBox = h("div", { class: "ld-frame-box", hidden: true });
    ui.body = h("div", { class: "ld-body" }, ui.home, ui.frameBox);

    ui.panel = h("div", {
      class: "ld-panel", id: "ld-panel", role: "dialog", "aria-modal": "true",
      "aria-labelledby": "ld-title", "data-testid": "widget-panel", hidden: true,
      onkeydown: onPanelKey
    },
    h("div", { class: "ld-head" },
      ui.back,
      h("div", { class: "ld-head__text" }, ui.title, h("p", { class: "ld-sub" }, ui.subDot, ui.subText)),
      ui.close),
    ui.body);

    // on a phone the panel is a sheet over a dimmed page; a tap on the page closes it
    ui.backdrop = h("div", { class: "ld-backdrop", "aria-hidden": "true", onclick: function () { closePanel(true); } });
    ui.root = h("div", { class: "ld", hidden: true, "data-testid": "widget" }, ui.backdrop, ui.panel, ui.launcher);
    ui.root.addEventListener("keydown", function (e) {
      if ((e.key === "Escape" || e.key === "Esc") && isOpen) {
        e.stopPropagation();
        closePanel(true);
      }
    });
    shadow.appendChild(ui.root);
    document.body.appendChild(host);
  }

  function buildFallback() {
    ui.fallbackIntro = h("p", { class: "ld-lead" });
    ui.tabs = h("div", { class: "ld-tabs", role: "tablist", onkeydown: onTabsKey });
    var box = h("div", { class: "ld-fallback", "data-testid": "widget-fallback", hidden: true }, ui.fallbackIntro, ui.tabs);
    Object.keys(FORMS).forEach(function (kind) {
      var tab = h("button", {
        type: "button", role: "tab", class: "ld-tab", id: "ld-tab-" + kind,
        "aria-controls": "ld-form-" + kind, "data-testid": "widget-tab-" + kind,
        onclick: function () { selectForm(kind, false); }
      });
      ui.tabs.appendChild(tab);
      var form = h("form", {
        class: "ld-form", id: "ld-form-" + kind, role: "tabpanel", "aria-labelledby": "ld-tab-" + kind,
        novalidate: true, "data-testid": "widget-form-" + kind
      });
      var inputs = {};
      var errors = {};
      var labels = {};
      FORMS[kind].forEach(function (name) {
        var id = "ld-" + kind + "-" + name;
        var attrs = { id: id, name: name, class: "ld-input", "data-testid": "widget-" + kind + "-" + name,
          "aria-describedby": id + "-error" };
        var extra = FIELD_ATTRS[name] || {};
        Object.keys(extra).forEach(function (k) { attrs[k] = extra[k]; });
        var input = h(name === "text" ? "textarea" : "input", attrs);
        if (name !== "text") input.type = "text";
        inputs[name] = input;
        labels[name] = h("label", { class: "ld-label", for: id });
        errors[name] = h("p", { class: "ld-field-error", id: id + "-error", hidden: true, "data-testid": "widget-error-" + name });
        form.appendChild(h("div", { class: "ld-field" }, labels[name], input, errors[name]));
      });
      var general = h("p", { class: "ld-form-error", role: "alert", hidden: true, "data-testid": "widget-form-error" });
      var submit = h("button", { type: "submit", class: "ld-submit", "data-testid": "widget-submit-" + kind });
      form.appendChild(general);
      form.appendChild(submit);
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        send(kind);
      });
      var doneText = h("p", { class: "ld-done__text" });
      var done = h("div", { class: "ld-done", role: "status", tabindex: "-1", hidden: true, "data-testid": "widget-done-" + kind },
        h("span", { class: "ld-done__icon" }, icon("check")), doneText);
      box.appendChild(form);
      box.appendChild(done);
      ui.forms[kind] = { tab: tab, form: form, inputs: inputs, errors: errors, labels: labels,
        general: general, submit: submit, done: done, doneText: doneText, sending: false };
    });
    return box;
  }

  function addStyles(shadow) {
    try {
      if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet &&
          typeof CSSStyleSheet.prototype.replaceSync === "function") {
        // a constructed sheet: no <style> element for the page's CSP to object to
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        shadow.adoptedStyleSheets = [sheet];
        return;
      }
    } catch (err) {
      /* fall through to a <style> element */
    }
    var style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);
  }

  // ------------------------------------------------------------------ render

  function render() {
    var offered = offeredChannels();
    // page rules apply to every channel alike: not on this page means no widget at all
    var shown = offered.filter(function (ch) { return !PAGE_RULES[data.channels[ch].reason]; });
    if (!shown.length) {
      if (isOpen) closePanel(false);
      ui.root.hidden = true;
      lastSignature = "";
      return;
    }
    ui.root.hidden = false;
    ui.root.setAttribute("lang", lang);
    var openChs = shown.filter(function (ch) { return data.channels[ch].open; });
    var closedChs = shown.filter(function (ch) { return !data.channels[ch].open; });

    var signature = JSON.stringify([lang, served, data.title, shown.map(function (ch) {
      var c = data.channels[ch];
      return [ch, c.open, c.label, c.message];
    })]);
    if (signature === lastSignature) return;  // nothing changed since the last answer
    lastSignature = signature;
    var hadFocus = isOpen && ui.shadow.activeElement;

    var title = data.title || t("widget.launcher");
    ui.launcherText.textContent = t("widget.launcher");
    ui.launcher.setAttribute("aria-label", t("widget.open", { title: title }));
    ui.title.textContent = title;
    ui.root.classList.toggle("ld--closed", !openChs.length);
    if (!frameChannel || ui.frameBox.hidden) setSubtitle();
    ui.back.setAttribute("aria-label", t("widget.back"));
    ui.close.setAttribute("aria-label", t("common.close"));

    // open channels: one button each
    ui.openBox.hidden = !openChs.length;
    ui.choose.textContent = t("widget.choose");
    ui.channels.textContent = "";
    openChs.forEach(function (ch) {
      var c = data.channels[ch];
      ui.channels.appendChild(h("button", {
        type: "button", class: "ld-channel", "data-channel": ch, "data-testid": "widget-channel",
        "aria-label": c.label + " · " + c.message,
        onclick: function () { choose(ch); }
      },
      h("span", { class: "ld-channel__icon" }, icon(ch)),
      h("span", { class: "ld-channel__text" },
        h("span", { class: "ld-channel__label", text: c.label }),
        h("span", { class: "ld-channel__hint", text: c.message })),
      icon("next", "ld-channel__go")));
    });

    // nothing open: why, once per distinct reason
    ui.status.hidden = openChs.length > 0;
    ui.status.textContent = "";
    if (!openChs.length) {
      var messages = [];
      closedChs.forEach(function (ch) {
        if (messages.indexOf(data.channels[ch].message) < 0) messages.push(data.channels[ch].message);
      });
      var lines = h("div", { class: "ld-status__text" });
      if (messages.length === 1) {
        lines.appendChild(h("p", { text: messages[0] }));
      } else {
        closedChs.forEach(function (ch) {
          var c = data.channels[ch];
          lines.appendChild(h("p", null, h("strong", { text: c.label }), " " + c.message));
        });
      }
      ui.status.appendChild(h("span", { class: "ld-status__icon" }, icon("clock")));
      ui.status.appendChild(lines);
    }

    // some open, some not: the closed ones in a muted list, with the reason
    ui.offBox.hidden = !(openChs.length && closedChs.length);
    ui.offTitle.textContent = t("widget.unavailable");
    ui.offList.textContent = "";
    if (openChs.length) {
      closedChs.forEach(function (ch) {
        var c = data.channels[ch];
        ui.offList.appendChild(h("li", { class: "ld-off", "data-channel": ch, "data-reason": c.reason, "data-testid": "widget-closed-channel" },
          h("span", { class: "ld-off__icon" }, icon(ch)),
          h("span", { class: "ld-off__text" },
            h("span", { class: "ld-off__label", text: c.label }),
            h("span", { class: "ld-off__why", text: c.message }))));
      });
    }

    renderFallback(!openChs.length);
    if (hadFocus && !ui.shadow.activeElement) focusFirst();
  }

  function setSubtitle(channel) {
    var anyOpen = data && offeredChannels().some(function (ch) { return data.channels[ch].open; });
    ui.subDot.className = "ld-dot" + (anyOpen ? "" : " ld-dot--off");
    if (channel) ui.subText.textContent = data.channels[channel] ? data.channels[channel].label : "";
    else if (anyOpen) ui.subText.textContent = data.channels[firstOpen()].message;
    else ui.subText.textContent = t("widget.unavailable");
  }

  function firstOpen() {
    return offeredChannels().filter(function (ch) { return data.channels[ch].open; })[0];
  }

  function renderFallback(show) {
    ui.fallback.hidden = !show;
    ui.fallbackIntro.textContent = t("widget.fallback_intro");
    Object.keys(ui.forms).forEach(function (kind) {
      var f = ui.forms[kind];
      f.tab.textContent = t(TAB_LABELS[kind]);
      Object.keys(f.labels).forEach(function (name) { f.labels[name].textContent = t(FIELD_LABELS[name]); });
      if (f.inputs.preferred_time) f.inputs.preferred_time.placeholder = t("widget.field.preferred_time_hint");
      if (!f.sending) f.submit.textContent = t(SUBMIT_LABELS[kind]);
      f.doneText.textContent = t(DONE_LABELS[kind]);
    });
    selectForm(activeForm, true);
  }

  function selectForm(kind, quiet) {
    activeForm = kind;
    Object.keys(ui.forms).forEach(function (k) {
      var f = ui.forms[k];
      var on = k === kind;
      f.tab.setAttribute("aria-selected", on ? "true" : "false");
      f.tab.tabIndex = on ? 0 : -1;
      var finished = f.done.getAttribute("data-shown") === "1";
      f.form.hidden = !on || finished;
      f.done.hidden = !on || !finished;
    });
    if (!quiet) {
      var f = ui.forms[kind];
      if (!f.form.hidden) f.inputs.name.focus();
    }
  }

  function onTabsKey(e) {
    var kinds = Object.keys(FORMS);
    var i = kinds.indexOf(activeForm);
    var next = null;
    if (e.key === "ArrowRight") next = kinds[(i + 1) % kinds.length];
    else if (e.key === "ArrowLeft") next = kinds[(i - 1 + kinds.length) % kinds.length];
    if (!next) return;
    e.preventDefault();
    selectForm(next, true);
    ui.forms[next].tab.focus();
  }

  // ------------------------------------------------------------------ call back, message

  function send(kind) {
    var f = ui.forms[kind];
    if (f.sending) return;
    clearErrors(f);
    var body = { page: pageUrl() };
    FORMS[kind].forEach(function (name) { body[name] = f.inputs[name].value.trim(); });
    f.sending = true;
    f.submit.disabled = true;
    f.submit.textContent = t("widget.sending");
    fetch(api("/" + kind), {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (d) { return d; }, function () { return null; }).then(function (d) {
        return { ok: resp.ok, data: d };
      });
    }).then(function (r) {
      if (r.ok) {
        f.done.setAttribute("data-shown", "1");
        selectForm(kind, true);
        f.done.focus();
        return;
      }
      showError(f, kind, (r.data && r.data.error) || {});
    }, function () {
      showError(f, kind, {});
    }).then(function () {
      f.sending = false;
      f.submit.disabled = false;
      f.submit.textContent = t(SUBMIT_LABELS[kind]);
    });
  }

  function clearErrors(f) {
    Object.keys(f.errors).forEach(function (name) {
      f.errors[name].hidden = true;
      f.errors[name].textContent = "";
      f.inputs[name].removeAttribute("aria-invalid");
    });
    f.general.hidden = true;
  }

  /** The server names the field it refused ("contact: ..." or "... at `$.contact`"). */
  function showError(f, kind, err) {
    var message = String(err.message || "");
    var m = /^(\w+):/.exec(message) || /\$\.(\w+)/.exec(message);
    var field = m && f.inputs[m[1]] ? m[1] : "";
    if (field && err.code === "bad_message") {
      f.errors[field].textContent = t(ERROR_LABELS[field]) || message;
      f.errors[field].hidden = false;
      f.inputs[field].setAttribute("aria-invalid", "true");
      f.inputs[field].focus();
      return;
    }
    f.general.textContent = err.code === "bad_message" && message ? message : t("widget.error.send");
    f.general.hidden = false;
  }

  // ------------------------------------------------------------------ channels

  function customerUrl(ch) {
    var url = base + "/l/" + encodeURIComponent(entry) +
      "?page=" + encodeURIComponent(pageUrl()) + "&channel=" + encodeURIComponent(ch);
    // in the fragment, the token never reaches a server or its logs; the page takes it out
    if (token) url += "#ct=" + encodeURIComponent(token);
    return url;
  }

  function choose(ch) {
    var url = customerUrl(ch);
    if (window.innerWidth < NARROW_PX) {
      window.open(url, "_blank", "noopener");
      return;
    }
    if (!ui.frame || frameChannel !== ch) {
      if (ui.frame) ui.frame.remove();
      var c = data.channels[ch];
      ui.frame = h("iframe", {
        class: "ld-frame",
        title: (c ? c.label + " · " : "") + (data.title || ""),
        allow: "camera; microphone; display-capture; autoplay; clipboard-write",
        referrerpolicy: "no-referrer",
        "data-testid": "widget-frame"
      });
      ui.frame.src = url;
      ui.frameBox.appendChild(ui.frame);
      frameChannel = ch;
    }
    showFrame();
  }

  function showFrame() {
    ui.home.hidden = true;
    ui.frameBox.hidden = false;
    ui.back.hidden = false;
    ui.panel.classList.add("ld-panel--frame");
    setSubtitle(frameChannel);
    ui.frame.focus();
  }

  function showHome() {
    // the customer page stays loaded, so a chat in progress carries on when picked again
    ui.home.hidden = false;
    ui.frameBox.hidden = true;
    ui.back.hidden = true;
    ui.panel.classList.remove("ld-panel--frame");
    setSubtitle();
    focusFirst();
  }

  // ------------------------------------------------------------------ the dialog

  function openPanel() {
    isOpen = true;
    ui.panel.hidden = false;
    ui.root.classList.add("ld--open");
    ui.launcher.setAttribute("aria-expanded", "true");
    if (!ui.frameBox.hidden && ui.frame) ui.frame.focus();
    else focusFirst();
    load();
  }

  function closePanel(restoreFocus) {
    isOpen = false;
    ui.panel.hidden = true;
    ui.root.classList.remove("ld--open");
    ui.launcher.setAttribute("aria-expanded", "false");
    if (restoreFocus) ui.launcher.focus();
  }

  function focusables() {
    var all = ui.panel.querySelectorAll("button, input, textarea, select, iframe, [href], [tabindex]:not([tabindex='-1'])");
    return Array.prototype.filter.call(all, function (n) {
      return !n.disabled && n.getClientRects().length > 0;
    });
  }

  function focusFirst() {
    var first = ui.panel.querySelector(".ld-channel");
    if (first && first.getClientRects().length) first.focus();
    else ui.title.focus();
  }

  /** Keep Tab inside the dialog while it is open. */
  function onPanelKey(e) {
    if (e.key !== "Tab") return;
    var list = focusables();
    if (!list.length) return;
    var current = ui.shadow.activeElement;
    var i = list.indexOf(current);
    if (e.shiftKey && (i <= 0)) {
      e.preventDefault();
      list[list.length - 1].focus();
    } else if (!e.shiftKey && (i === list.length - 1 || i < 0)) {
      e.preventDefault();
      list[0].focus();
    }
  }

  // ------------------------------------------------------------------ styles

  var CSS = [
    ":host { all: initial; }",
    ".ld { --ld-accent: #2855d8; --ld-accent-dark: #1f46b9; --ld-text: #182132; --ld-muted: #5f6b7d;",
    "  --ld-border: #e3e7ee; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans KR',",
    "  'Apple SD Gothic Neo', 'Malgun Gothic', 'Helvetica Neue', Arial, sans-serif; font-size: 15px;",
    "  line-height: 1.45; color: var(--ld-text); -webkit-font-smoothing: antialiased; text-align: left; }",
    // resets inside :where(), so that they weigh nothing against the rules below
    ":where(.ld *, .ld *::before, .ld *::after) { box-sizing: border-box; }",
    ".ld [hidden] { display: none !important; }",
    ":where(.ld h2, .ld h3, .ld p, .ld ul) { margin: 0; padding: 0; }",
    ":where(.ld button, .ld input, .ld textarea) { font: inherit; color: inherit; letter-spacing: normal;",
    "  text-transform: none; }",
    ":where(.ld svg) { width: 20px; height: 20px; fill: none; stroke: currentColor; stroke-width: 1.8;",
    "  stroke-linecap: round; stroke-linejoin: round; flex: none; }",
    ":where(.ld :focus-visible) { outline: 3px solid rgba(40, 85, 216, .45); outline-offset: 2px; }",
    ".ld-title:focus { outline: none; }",

    ".ld-launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; display: inline-flex;",
    "  align-items: center; gap: 8px; height: 52px; margin: 0; padding: 0 22px 0 18px; border: 0; border-radius: 26px;",
    "  background: var(--ld-accent); color: #fff; font-size: 15px; font-weight: 600; line-height: 1; cursor: pointer;",
    "  box-shadow: 0 8px 24px rgba(16, 24, 40, .22), 0 2px 6px rgba(16, 24, 40, .12);",
    "  transition: background-color .15s, transform .15s, box-shadow .15s; }",
    ".ld-launcher:hover { background: var(--ld-accent-dark); transform: translateY(-1px); }",
    ".ld-launcher svg { width: 22px; height: 22px; }",
    ".ld-launcher__close { display: none; }",
    ".ld--open .ld-launcher__icon { display: none; }",
    ".ld--open .ld-launcher__close { display: block; }",

    ".ld-panel { position: fixed; right: 20px; bottom: 86px; z-index: 2147483000; width: 380px;",
    "  max-height: calc(100vh - 110px); display: flex; flex-direction: column; overflow: hidden;",
    "  background: #fff; border: 1px solid rgba(16, 24, 40, .08); border-radius: 16px;",
    "  box-shadow: 0 16px 48px rgba(16, 24, 40, .22), 0 2px 8px rgba(16, 24, 40, .08);",
    "  animation: ld-in .18s ease-out; }",
    ".ld-panel--frame { width: 400px; height: min(680px, calc(100vh - 110px)); }",
    "@keyframes ld-in { from { opacity: 0; transform: translateY(8px); } }",

    ".ld-head { display: flex; align-items: center; gap: 10px; padding: 16px 14px 16px 20px; color: #fff;",
    "  background: linear-gradient(135deg, #3f6ff2, #2855d8 55%, #1d42ae); }",
    ".ld-back { margin-left: -8px; }",
    ".ld-head__text { flex: 1; min-width: 0; }",
    ".ld-title { font-size: 17px; font-weight: 700; line-height: 1.3; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }",
    ".ld-sub { display: flex; align-items: center; gap: 7px; margin-top: 3px; font-size: 13px; color: rgba(255, 255, 255, .88); }",
    ".ld-sub span:last-child { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }",
    ".ld-dot { width: 8px; height: 8px; border-radius: 50%; flex: none; background: #4ade80;",
    "  box-shadow: 0 0 0 3px rgba(74, 222, 128, .25); }",
    ".ld-dot--off { background: #cbd5e1; box-shadow: none; }",
    ".ld-icon-btn { flex: none; display: inline-flex; align-items: center; justify-content: center; width: 36px;",
    "  height: 36px; margin: 0; padding: 0; border: 0; border-radius: 10px; background: rgba(255, 255, 255, .14);",
    "  color: #fff; cursor: pointer; transition: background-color .15s; }",
    ".ld-icon-btn:hover { background: rgba(255, 255, 255, .26); }",
    ".ld-icon-btn:focus-visible { outline-color: rgba(255, 255, 255, .8); }",

    ".ld-body { flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain; padding: 18px 18px 20px; background: #fff; }",
    ".ld-panel--frame .ld-body { padding: 0; overflow: hidden; display: flex; }",
    ".ld-panel--frame .ld-head { padding-top: 12px; padding-bottom: 12px; }",
    ".ld-frame-box { flex: 1; display: flex; }",
    ".ld-frame { flex: 1; width: 100%; height: 100%; border: 0; display: block; background: #f3f5f9; }",

    ".ld-lead { margin-bottom: 12px; font-size: 14px; color: var(--ld-muted); }",
    ".ld-channels { display: flex; flex-direction: column; gap: 10px; }",
    ".ld-channel { display: flex; align-items: center; gap: 14px; width: 100%; margin: 0; padding: 13px 14px;",
    "  border: 1px solid var(--ld-border); border-radius: 12px; background: #fff; text-align: left; cursor: pointer;",
    "  transition: border-color .15s, box-shadow .15s, transform .15s; }",
    ".ld-channel:focus-visible { outline: none; border-color: var(--ld-accent); box-shadow: 0 0 0 3px rgba(40, 85, 216, .25); }",
    ".ld-channel:hover { border-color: #b9cbff; box-shadow: 0 6px 18px rgba(40, 85, 216, .12); transform: translateY(-1px); }",
    ".ld-channel__icon { flex: none; display: flex; align-items: center; justify-content: center; width: 42px; height: 42px;",
    "  border-radius: 11px; background: #eaf0ff; color: var(--ld-accent); }",
    ".ld-channel__icon svg { width: 22px; height: 22px; }",
    ".ld-channel__text { flex: 1; min-width: 0; display: flex; flex-direction: column; gap: 1px; }",
    ".ld-channel__label { font-weight: 650; font-size: 15px; }",
    ".ld-channel__hint { font-size: 13px; color: #15803d; }",
    ".ld-channel__go { color: #98a2b3; width: 18px; height: 18px; }",

    ".ld-section-title { margin: 22px 0 6px; font-size: 11.5px; font-weight: 700; letter-spacing: .06em;",
    "  text-transform: uppercase; color: #6b7688; }",
    ".ld-off-list { list-style: none; }",
    ".ld-off { display: flex; align-items: flex-start; gap: 12px; padding: 8px 0; }",
    ".ld-off__icon { flex: none; display: flex; align-items: center; justify-content: center; width: 32px; height: 32px;",
    "  border-radius: 9px; background: #f1f3f7; color: #98a2b3; }",
    ".ld-off__icon svg { width: 18px; height: 18px; }",
    ".ld-off__text { display: flex; flex-direction: column; min-width: 0; font-size: 13.5px; color: var(--ld-muted); }",
    ".ld-off__label { font-weight: 600; color: #475467; }",

    ".ld-status { display: flex; gap: 12px; padding: 14px; margin-bottom: 16px; border-radius: 12px;",
    "  background: #fff7ed; border: 1px solid #fde1c0; color: #7a4a00; font-size: 14px; }",
    ".ld-status__icon { flex: none; color: #d97706; }",
    ".ld-status__text { display: flex; flex-direction: column; gap: 4px; }",
    ".ld-status strong { font-weight: 650; }",

    ".ld-tabs { display: flex; gap: 4px; padding: 4px; margin-bottom: 16px; border-radius: 11px; background: #eef1f6; }",
    ".ld-tab { flex: 1; height: 36px; margin: 0; padding: 0 8px; border: 0; border-radius: 8px; background: transparent;",
    "  font-size: 13.5px; font-weight: 600; color: var(--ld-muted); cursor: pointer; }",
    ".ld-tab[aria-selected='true'] { background: #fff; color: var(--ld-text); box-shadow: 0 1px 3px rgba(16, 24, 40, .12); }",
    ".ld-field { display: flex; flex-direction: column; gap: 6px; margin-bottom: 12px; }",
    ".ld-label { font-size: 13px; font-weight: 600; color: #344054; }",
    ".ld-input { width: 100%; height: 42px; margin: 0; padding: 0 12px; border: 1px solid #cfd6e1; border-radius: 9px;",
    "  background: #fff; font-size: 15px; box-shadow: none; transition: border-color .15s, box-shadow .15s; }",
    "textarea.ld-input { height: auto; min-height: 96px; padding: 10px 12px; resize: vertical; line-height: 1.45; }",
    ".ld-input::placeholder { color: #98a2b3; }",
    ".ld-input:focus { outline: none; border-color: var(--ld-accent); box-shadow: 0 0 0 3px rgba(40, 85, 216, .2); }",
    ".ld-input[aria-invalid='true'] { border-color: #c9302c; }",
    ".ld-input[aria-invalid='true']:focus { box-shadow: 0 0 0 3px rgba(201, 48, 44, .18); }",
    ".ld-field-error { font-size: 13px; color: #c9302c; }",
    ".ld-form-error { margin-bottom: 12px; padding: 8px 12px; border-radius: 8px; background: #fdecec; color: #c9302c; font-size: 13.5px; }",
    ".ld-submit { width: 100%; height: 44px; margin: 4px 0 0; border: 0; border-radius: 10px; background: var(--ld-accent);",
    "  color: #fff; font-size: 15px; font-weight: 650; cursor: pointer; transition: background-color .15s; }",
    ".ld-submit:hover { background: var(--ld-accent-dark); }",
    ".ld-submit:disabled { opacity: .6; cursor: progress; }",
    ".ld-done { display: flex; flex-direction: column; align-items: center; gap: 12px; padding: 20px 8px 8px; text-align: center; }",
    ".ld-done:focus { outline: none; }",
    ".ld-done__icon { display: flex; align-items: center; justify-content: center; width: 48px; height: 48px;",
    "  border-radius: 50%; background: #e7f7ee; color: #16a34a; }",
    ".ld-done__icon svg { width: 26px; height: 26px; stroke-width: 2.2; }",
    ".ld-done__text { font-size: 15px; color: var(--ld-text); }",

    ".ld-backdrop { display: none; }",
    "@keyframes ld-fade { from { opacity: 0; } }",

    "@media (max-width: 599.98px) {",
    "  .ld--open .ld-backdrop { display: block; position: fixed; inset: 0; z-index: 2147482999;",
    "    background: rgba(16, 24, 40, .45); animation: ld-fade .18s ease-out; }",
    "  .ld-launcher { right: 16px; bottom: 16px; }",
    "  .ld-panel, .ld-panel--frame { left: 0; right: 0; bottom: 0; width: 100%; height: auto;",
    "    max-height: 100vh; max-height: 100dvh; border-radius: 16px 16px 0 0; border-width: 1px 0 0; }",
    "  .ld--open .ld-launcher { display: none; }",
    "  .ld-body { padding-bottom: max(20px, env(safe-area-inset-bottom)); }",
    "  .ld-input { font-size: 16px; }",
    "}",
    "@media (prefers-reduced-motion: reduce) {",
    "  .ld-panel, .ld-backdrop { animation: none !important; }",
    "  .ld-launcher, .ld-channel { transition: none; }",
    "}"
  ].join("\n");

  // ------------------------------------------------------------------ start

  function start() {
    load();
    setInterval(function () {
      if (document.visibilityState !== "hidden") load();
    }, REFRESH_MS);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") load();
    });
    window.addEventListener("online", load);
    window.addEventListener("popstate", load);  // a single-page site moved to another page
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
