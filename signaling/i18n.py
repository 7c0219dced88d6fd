"""Every user-facing string, in one table. English and Korean ship.

Templates call ``t(key)``; pages hand the browser the table for their language
as JSON, so scripts use the same strings. A missing Korean string falls back
to English; a missing key is a programming error caught by the unit tests.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("en", "ko")

STRINGS: dict[str, dict[str, str]] = {
    "app.name": {"en": "livedesk", "ko": "livedesk"},
    # customer page
    "customer.title": {"en": "Live help", "ko": "실시간 상담"},
    "customer.intro": {
        "en": "Ask your question and an agent will join you here.",
        "ko": "질문을 남겨 주시면 상담원이 여기로 연결됩니다.",
    },
    "customer.name_label": {"en": "Your name (optional)", "ko": "이름 (선택)"},
    "customer.message_label": {"en": "Message", "ko": "메시지"},
    "customer.placeholder": {"en": "Type your question…", "ko": "질문을 입력하세요…"},
    "customer.send": {"en": "Send", "ko": "보내기"},
    "customer.leave": {"en": "End chat", "ko": "상담 종료"},
    "customer.queued": {
        "en": "You are number {position} in the queue.",
        "ko": "대기 순서: {position}번째입니다.",
    },
    "customer.eta": {
        "en": "Estimated wait: about {minutes} min.",
        "ko": "예상 대기 시간: 약 {minutes}분",
    },
    "customer.eta_unknown": {
        "en": "No agent is online right now; we will connect you as soon as one is.",
        "ko": "지금은 연결 가능한 상담원이 없습니다. 상담원이 접속하면 바로 연결해 드립니다.",
    },
    "customer.connecting": {"en": "Connecting…", "ko": "연결 중…"},
    "customer.unavailable": {
        "en": "We can't start a new chat this very moment. Please try again in a few seconds.",
        "ko": "지금은 새 상담을 시작할 수 없습니다. 몇 초 후에 다시 시도해 주세요.",
    },
    "customer.reconnecting": {
        "en": "Connection lost. Reconnecting…",
        "ko": "연결이 끊겼습니다. 다시 연결 중…",
    },
    "customer.agent_joined": {
        "en": "{name} joined the chat.",
        "ko": "{name} 상담원이 입장했습니다.",
    },
    "customer.agent_left": {"en": "{name} left the chat.", "ko": "{name} 상담원이 퇴장했습니다."},
    "customer.agent_left_generic": {
        "en": "The agent left the chat.",
        "ko": "상담원이 퇴장했습니다.",
    },
    "customer.agent_disconnected": {
        "en": "The agent's connection dropped. They may be back in a moment.",
        "ko": "상담원의 연결이 끊겼습니다. 곧 다시 연결될 수 있습니다.",
    },
    "customer.agent_reconnected": {
        "en": "The agent is connected again.",
        "ko": "상담원이 다시 연결되었습니다.",
    },
    "customer.transferred": {
        "en": "You are being transferred to another agent.",
        "ko": "다른 상담원에게 연결하고 있습니다.",
    },
    "customer.ended": {
        "en": "This chat has ended. Thank you!",
        "ko": "상담이 종료되었습니다. 감사합니다!",
    },
    "customer.new_chat": {"en": "Start a new chat", "ko": "새 상담 시작"},
    "customer.typing": {"en": "{name} is typing…", "ko": "{name} 님이 입력 중…"},
    "customer.you": {"en": "You", "ko": "나"},
    "customer.waiting": {"en": "Connecting you to an agent…", "ko": "상담원을 연결하고 있습니다…"},
    "customer.agent": {"en": "Agent", "ko": "상담원"},
    # message delivery
    "chat.sending": {"en": "Sending…", "ko": "보내는 중…"},
    "chat.sent": {"en": "Sent", "ko": "전송됨"},
    "chat.delivered": {"en": "Delivered", "ko": "전달됨"},
    "chat.read": {"en": "Read", "ko": "읽음"},
    "chat.failed": {"en": "Not sent — retrying", "ko": "전송 실패 — 다시 시도 중"},
    # agent console
    "agent.title": {"en": "Agent console", "ko": "상담원 콘솔"},
    "agent.login": {"en": "Log in", "ko": "로그인"},
    "agent.logout": {"en": "Log out", "ko": "로그아웃"},
    "agent.username": {"en": "Username", "ko": "아이디"},
    "agent.password": {"en": "Password", "ko": "비밀번호"},
    "agent.login_failed": {
        "en": "Wrong username or password.",
        "ko": "아이디 또는 비밀번호가 올바르지 않습니다.",
    },
    "agent.status": {"en": "Status", "ko": "상태"},
    "agent.status.available": {"en": "Available", "ko": "상담 가능"},
    "agent.status.busy": {"en": "Busy", "ko": "바쁨"},
    "agent.status.away": {"en": "Away", "ko": "자리 비움"},
    "agent.status.offline": {"en": "Offline", "ko": "오프라인"},
    "agent.queue": {"en": "Queue", "ko": "대기열"},
    "agent.queue_empty": {"en": "Nobody is waiting.", "ko": "대기 중인 고객이 없습니다."},
    "agent.agents": {"en": "Agents", "ko": "상담원"},
    "agent.sessions": {"en": "My sessions", "ko": "내 상담"},
    "agent.no_sessions": {
        "en": "No sessions yet. Set yourself available to receive customers.",
        "ko": "진행 중인 상담이 없습니다. 상담 가능으로 설정하면 고객이 연결됩니다.",
    },
    "agent.offer": {"en": "New customer", "ko": "새 고객"},
    "agent.accept": {"en": "Accept", "ko": "수락"},
    "agent.decline": {"en": "Decline", "ko": "거절"},
    "agent.tier": {"en": "Tier", "ko": "등급"},
    "agent.customer": {"en": "Customer", "ko": "고객"},
    "agent.watching": {
        "en": "You are watching this session; only its agent can reply.",
        "ko": "이 상담을 모니터링 중입니다. 답변은 담당 상담원만 할 수 있습니다.",
    },
    "agent.transfer_requested": {
        "en": "Transfer to {name} requested.",
        "ko": "{name} 상담원에게 이관을 요청했습니다.",
    },
    "agent.transfer_pending": {
        "en": "Waiting for the other agent to accept…",
        "ko": "상대 상담원의 수락을 기다리는 중…",
    },
    "agent.transferred_away": {
        "en": "This session was transferred.",
        "ko": "다른 상담원에게 이관된 상담입니다.",
    },
    "agent.page": {"en": "Page", "ko": "페이지"},
    "agent.waited": {"en": "Waiting", "ko": "대기"},
    "agent.transfer": {"en": "Transfer", "ko": "이관"},
    "agent.transfer_to_agent": {"en": "To agent", "ko": "상담원에게"},
    "agent.transfer_to_queue": {"en": "To queue (skill)", "ko": "대기열로 (스킬)"},
    "agent.wrapup": {"en": "Wrap up", "ko": "상담 마무리"},
    "agent.complete": {"en": "Complete", "ko": "완료"},
    "agent.disposition": {"en": "Outcome", "ko": "처리 결과"},
    "agent.notes": {"en": "Notes", "ko": "메모"},
    "agent.customer_left": {"en": "The customer left.", "ko": "고객이 나갔습니다."},
    "agent.customer_disconnected": {
        "en": "The customer's connection dropped (page closed, or offline).",
        "ko": "고객의 연결이 끊겼습니다 (페이지를 닫았거나 오프라인).",
    },
    "agent.customer_reconnected": {
        "en": "The customer is connected again.",
        "ko": "고객이 다시 연결되었습니다.",
    },
    "agent.ended": {"en": "Session ended.", "ko": "상담이 종료되었습니다."},
    "agent.load": {"en": "{load} of {capacity} sessions", "ko": "상담 {load}/{capacity}"},
    "agent.capacity_full": {"en": "You are at capacity.", "ko": "최대 상담 수에 도달했습니다."},
    "agent.supervisor_view": {"en": "All queues and agents", "ko": "전체 대기열 및 상담원"},
    "agent.watch": {"en": "Watch", "ko": "모니터링"},
    # entry rules: why a channel is closed (docs/access.md lists the codes)
    "entry.reason.open": {"en": "Available now", "ko": "지금 이용 가능"},
    "entry.reason.not_offered": {
        "en": "This channel is not offered here.",
        "ko": "이 채널은 여기에서 제공되지 않습니다.",
    },
    "entry.reason.page_excluded": {
        "en": "Help is not available on this page.",
        "ko": "이 페이지에서는 상담을 이용할 수 없습니다.",
    },
    "entry.reason.page_not_included": {
        "en": "Help is not available on this page.",
        "ko": "이 페이지에서는 상담을 이용할 수 없습니다.",
    },
    "entry.reason.closed_hours": {
        "en": "We are closed. We open {opens} ({timezone} time).",
        "ko": "지금은 상담 시간이 아닙니다. {opens}에 시작합니다 ({timezone} 기준).",
    },
    "entry.reason.holiday": {
        "en": "We are closed for {holiday_en}. We open {opens} ({timezone} time).",
        "ko": "{holiday} 휴무입니다. {opens}에 시작합니다 ({timezone} 기준).",
    },
    "entry.reason.closed_date": {
        "en": "We are closed today. We open {opens} ({timezone} time).",
        "ko": "오늘은 휴무입니다. {opens}에 시작합니다 ({timezone} 기준).",
    },
    "entry.reason.tier": {
        "en": "This is available to {tiers} members.",
        "ko": "{tiers} 회원에게 제공되는 서비스입니다.",
    },
    "entry.reason.no_agent": {
        "en": "No agent for this is available right now.",
        "ko": "지금은 연결 가능한 상담원이 없습니다.",
    },
    "entry.reason.busy": {
        "en": "All our agents are busy. Please leave a message or ask for a call back.",
        "ko": "모든 상담원이 상담 중입니다. 메시지를 남기시거나 전화 예약을 요청해 주세요.",
    },
    "entry.channel.chat": {"en": "Chat", "ko": "채팅"},
    "entry.channel.voice": {"en": "Voice call", "ko": "음성 통화"},
    "entry.channel.video": {"en": "Video help", "ko": "영상 상담"},
    "entry.channel.screen": {"en": "Share screen", "ko": "화면 공유"},
    "entry.channel.cobrowse": {"en": "Co-browse", "ko": "공동 브라우징"},
    # personal and invitation links
    "link.expired.title": {"en": "This link has expired", "ko": "만료된 링크입니다"},
    "link.expired.text": {
        "en": "Ask for a new link, or start a chat from the website.",
        "ko": "새 링크를 요청하시거나 웹사이트에서 상담을 시작해 주세요.",
    },
    "link.used.title": {"en": "This link was already used", "ko": "이미 사용된 링크입니다"},
    "link.used.text": {
        "en": "Each link works once. Ask for a new one, or start a chat from the website.",
        "ko": (
            "링크는 한 번만 사용할 수 있습니다. "
            "새 링크를 요청하시거나 웹사이트에서 상담을 시작해 주세요."
        ),
    },
    "link.tampered.title": {"en": "This link is not valid", "ko": "유효하지 않은 링크입니다"},
    "link.tampered.text": {
        "en": "Check that the whole link was copied, or ask for a new one.",
        "ko": "링크 전체가 복사되었는지 확인하시거나 새 링크를 요청해 주세요.",
    },
    "link.malformed.title": {"en": "This link is not valid", "ko": "유효하지 않은 링크입니다"},
    "link.malformed.text": {
        "en": "Check that the whole link was copied, or ask for a new one.",
        "ko": "링크 전체가 복사되었는지 확인하시거나 새 링크를 요청해 주세요.",
    },
    # admin page
    "admin.title": {"en": "Entries and links", "ko": "상담 창구 및 링크"},
    "admin.as_of": {"en": "As of {now}", "ko": "{now} 기준"},
    "admin.entries": {"en": "Entry points", "ko": "상담 창구"},
    "admin.entry": {"en": "Entry", "ko": "창구"},
    "admin.state": {"en": "State", "ko": "상태"},
    "admin.why": {"en": "Why", "ko": "사유"},
    "admin.next_change": {"en": "Next change", "ko": "다음 변경"},
    "admin.agents": {"en": "Agents", "ko": "상담원"},
    "admin.agents_count": {
        "en": "{online} online, {available} free",
        "ko": "접속 {online}명, 상담 가능 {available}명",
    },
    "admin.channels": {"en": "Channels", "ko": "채널"},
    "admin.open": {"en": "Open", "ko": "운영 중"},
    "admin.closed": {"en": "Closed", "ko": "운영 종료"},
    "admin.links": {"en": "Personal links issued", "ko": "발급된 개인 링크"},
    "admin.customer": {"en": "Customer", "ko": "고객"},
    "admin.issued_by": {"en": "Issued by", "ko": "발급자"},
    "admin.issued_at": {"en": "Issued", "ko": "발급"},
    "admin.expires_at": {"en": "Expires", "ko": "만료"},
    "admin.used_at": {"en": "Used", "ko": "사용"},
    "admin.unused": {"en": "not used", "ko": "미사용"},
    "admin.no_links": {"en": "No links issued yet.", "ko": "아직 발급된 링크가 없습니다."},
    "admin.forbidden": {
        "en": "This page is for administrators.",
        "ko": "관리자만 볼 수 있는 페이지입니다.",
    },
    "agent.invite": {"en": "Phone call: invite the caller", "ko": "전화 상담: 고객 초대"},
    "agent.invite_entry": {"en": "Entry", "ko": "창구"},
    "agent.invite_name": {"en": "Caller's name", "ko": "고객 이름"},
    "agent.invite_create": {"en": "Create invitation link", "ko": "초대 링크 만들기"},
    "agent.invite_link": {
        "en": "Send this link to the caller; it opens this case once.",
        "ko": "이 링크를 고객에게 보내세요. 한 번만 이 상담으로 연결됩니다.",
    },
    "agent.copy": {"en": "Copy", "ko": "복사"},
    "agent.copied": {"en": "Copied", "ko": "복사됨"},
    # the embeddable widget and the console's fallback list
    # co-browsing: the customer's page (web/static/cobrowse.js keeps a copy of these)
    "cobrowse.badge": {"en": "hidden from the agent", "ko": "상담원에게 보이지 않음"},
    "cobrowse.live": {
        "en": "{name} sees this page with you. Hidden fields stay hidden.",
        "ko": "{name}님이 이 페이지를 함께 보고 있습니다. 가려진 항목은 보이지 않습니다.",
    },
    "cobrowse.stop": {"en": "Stop sharing this page", "ko": "페이지 공유 중지"},
    "cobrowse.control.ask": {
        "en": "{name} asks to control this page: click, scroll and type in fields. "
        "Hidden fields stay out of reach.",
        "ko": "{name}님이 이 페이지를 조작하려고 합니다: 클릭, 스크롤, 입력란 입력. "
        "가려진 항목에는 접근할 수 없습니다.",
    },
    "cobrowse.control.allow": {"en": "Allow", "ko": "허용"},
    "cobrowse.control.decline": {"en": "Decline", "ko": "거절"},
    "cobrowse.control.on": {
        "en": "{name} is controlling this page.",
        "ko": "{name}님이 이 페이지를 조작하고 있습니다.",
    },
    "cobrowse.control.take_back": {"en": "Take back control (Esc)", "ko": "조작 권한 되찾기 (Esc)"},
    "cobrowse.pointer": {"en": "{name}", "ko": "{name}"},
    "cobrowse.agent": {"en": "Agent", "ko": "상담원"},
    # co-browsing: the agent's view
    "cobrowse.view.ask": {"en": "Co-browse", "ko": "공동 브라우징"},
    "cobrowse.view.title": {"en": "The customer's page", "ko": "고객의 페이지"},
    "cobrowse.view.waiting": {
        "en": "Waiting for the customer's page…",
        "ko": "고객의 페이지를 기다리는 중…",
    },
    "cobrowse.view.live": {
        "en": "Live: {page} · window {width} by {height}",
        "ko": "실시간: {page} · 창 {width}x{height}",
    },
    "cobrowse.view.catching_up": {
        "en": "Catching up with the customer's page…",
        "ko": "고객의 페이지를 따라잡는 중…",
    },
    "cobrowse.view.point": {"en": "Point", "ko": "가리키기"},
    "cobrowse.view.highlight": {"en": "Highlight", "ko": "강조"},
    "cobrowse.view.ask_control": {"en": "Ask for control", "ko": "조작 권한 요청"},
    "cobrowse.view.asked": {"en": "Waiting for the customer…", "ko": "고객의 응답을 기다리는 중…"},
    "cobrowse.view.release": {"en": "Give control back", "ko": "조작 권한 돌려주기"},
    "cobrowse.view.refresh": {"en": "Reload view", "ko": "화면 새로 고침"},
    "cobrowse.view.type_into": {"en": "Type into {field}", "ko": "{field}에 입력"},
    "cobrowse.view.refused_masked": {
        "en": "That field is hidden from you; the customer's page refused.",
        "ko": "가려진 항목이라 고객의 페이지가 거부했습니다.",
    },
    "cobrowse.view.refused_control": {
        "en": "You do not have control of the page.",
        "ko": "페이지 조작 권한이 없습니다.",
    },
    "cobrowse.view.refused_gone": {
        "en": "That element is no longer on the page.",
        "ko": "그 요소가 페이지에 더 이상 없습니다.",
    },
    "cobrowse.view.refused": {
        "en": "The customer's page refused that.",
        "ko": "고객의 페이지가 거부했습니다.",
    },
    "cobrowse.view.declined": {
        "en": "The customer declined control.",
        "ko": "고객이 조작 권한을 거절했습니다.",
    },
    "cobrowse.view.taken_back": {
        "en": "The customer took control back.",
        "ko": "고객이 조작 권한을 되찾았습니다.",
    },
    # co-browsing: timeline lines
    "cobrowse.ev.control_requested": {
        "en": "{name} asked to control the page.",
        "ko": "{name}님이 페이지 조작 권한을 요청했습니다.",
    },
    "cobrowse.ev.control_granted": {
        "en": "The customer gave control of the page.",
        "ko": "고객이 페이지 조작을 허용했습니다.",
    },
    "cobrowse.ev.control_declined": {
        "en": "The customer declined control of the page.",
        "ko": "고객이 페이지 조작을 거절했습니다.",
    },
    "cobrowse.ev.control_taken_back": {
        "en": "The customer took control back.",
        "ko": "고객이 조작 권한을 되찾았습니다.",
    },
    "cobrowse.ev.control_ended": {
        "en": "Control of the page ended.",
        "ko": "페이지 조작이 끝났습니다.",
    },
    "cobrowse.ev.action": {
        "en": "Co-browse: {action} {selector}",
        "ko": "공동 브라우징: {action} {selector}",
    },
    "cobrowse.ev.action_refused": {
        "en": "Co-browse: {action} {selector} refused ({code})",
        "ko": "공동 브라우징: {action} {selector} 거부됨 ({code})",
    },
    "cobrowse.ev.limit": {
        "en": "Co-browsing stopped: the page stream reached its size limit.",
        "ko": "공동 브라우징 중지: 페이지 전송량이 한도에 도달했습니다.",
    },
    "qa.cobrowse": {"en": "Co-browsed page", "ko": "공동 브라우징 페이지"},
    "qa.cobrowse_hint": {
        "en": "The customer's page as the agent saw it, masked, on the same clock as the video.",
        "ko": "상담원이 본 고객의 페이지(가림 처리됨)를 영상과 같은 시간축으로 보여 줍니다.",
    },
    "qa.cobrowse_scrub": {"en": "Co-browse time", "ko": "공동 브라우징 시간"},
    "qa.cobrowse_loading": {
        "en": "Loading the co-browsed page…",
        "ko": "공동 브라우징 페이지를 불러오는 중…",
    },
    "qa.cobrowse_before": {
        "en": "Co-browsing had not started at this moment.",
        "ko": "이 시점에는 공동 브라우징이 시작되지 않았습니다.",
    },
    "qa.cobrowse_page": {"en": "{page}", "ko": "{page}"},
    "qa.cobrowse_failed": {
        "en": "The co-browse recording could not be read.",
        "ko": "공동 브라우징 기록을 읽을 수 없습니다.",
    },
    "widget.launcher": {"en": "Help", "ko": "상담하기"},
    "widget.open": {"en": "Open {title}", "ko": "{title} 열기"},
    "widget.back": {"en": "Back to the options", "ko": "상담 방법 선택으로 돌아가기"},
    "widget.choose": {
        "en": "How would you like to reach us?",
        "ko": "어떤 방법으로 상담하시겠어요?",
    },
    "widget.unavailable": {"en": "Not available right now", "ko": "지금은 이용할 수 없음"},
    "widget.fallback_intro": {
        "en": "We can still help: ask us to call you back, or leave a message.",
        "ko": "전화 상담을 예약하시거나 메시지를 남겨 주시면 연락드리겠습니다.",
    },
    "widget.callback.tab": {"en": "Call me back", "ko": "전화 요청"},
    "widget.message.tab": {"en": "Leave a message", "ko": "메시지 남기기"},
    "widget.field.name": {"en": "Your name", "ko": "이름"},
    "widget.field.contact": {"en": "Phone or e-mail", "ko": "전화번호 또는 이메일"},
    "widget.field.preferred_time": {
        "en": "Preferred time (optional)",
        "ko": "통화 희망 시간 (선택)",
    },
    "widget.field.preferred_time_hint": {
        "en": "e.g. weekdays after 2 pm",
        "ko": "예: 평일 오후 2시 이후",
    },
    "widget.field.text": {"en": "Your message", "ko": "메시지"},
    "widget.callback.submit": {"en": "Request a call back", "ko": "전화 요청하기"},
    "widget.message.submit": {"en": "Send message", "ko": "메시지 보내기"},
    "widget.sending": {"en": "Sending…", "ko": "보내는 중…"},
    "widget.callback.done": {
        "en": "Thank you! We will call you back as soon as we can.",
        "ko": "감사합니다! 최대한 빨리 전화드리겠습니다.",
    },
    "widget.message.done": {
        "en": "Thank you! Your message has reached us; we will reply soon.",
        "ko": "감사합니다! 메시지가 전달되었습니다. 곧 답변드리겠습니다.",
    },
    "widget.error.name": {"en": "Please give your name.", "ko": "이름을 입력해 주세요."},
    "widget.error.contact": {
        "en": "Please give a phone number or an e-mail address.",
        "ko": "전화번호 또는 이메일 주소를 입력해 주세요.",
    },
    "widget.error.preferred_time": {
        "en": "Please keep this under 100 characters.",
        "ko": "100자 이내로 입력해 주세요.",
    },
    "widget.error.text": {"en": "Please write a message.", "ko": "메시지를 입력해 주세요."},
    "widget.error.send": {
        "en": "This could not be sent. Please try again in a moment.",
        "ko": "보내지 못했습니다. 잠시 후 다시 시도해 주세요.",
    },
    "agent.fallbacks": {"en": "Callbacks & messages", "ko": "전화 요청 및 메시지"},
    "agent.fallbacks_empty": {
        "en": "Nothing to call back or answer.",
        "ko": "처리할 전화 요청이나 메시지가 없습니다.",
    },
    "agent.fallback.callback": {"en": "Call back", "ko": "전화 요청"},
    "agent.fallback.message": {"en": "Message", "ko": "메시지"},
    "agent.fallback.preferred_time": {"en": "Preferred time", "ko": "희망 시간"},
    "agent.fallback.done": {"en": "Done", "ko": "완료"},
    # QA: recordings
    "qa.title": {"en": "Recorded sessions", "ko": "녹화된 상담"},
    "qa.intro": {
        "en": "Recorded sessions, newest first. Open one to play its review video.",
        "ko": "녹화된 상담을 최신순으로 보여 줍니다. 열면 검토용 영상을 재생할 수 있어요.",
    },
    "qa.none": {"en": "No recorded sessions yet.", "ko": "아직 녹화된 상담이 없습니다."},
    "qa.when": {"en": "Started", "ko": "시작"},
    "qa.people": {"en": "Customer and agent", "ko": "고객 및 상담원"},
    "qa.duration": {"en": "Length", "ko": "길이"},
    "qa.state": {"en": "State", "ko": "상태"},
    "qa.preview": {"en": "Preview", "ko": "미리 보기"},
    "qa.open": {"en": "Open", "ko": "열기"},
    "qa.back": {"en": "All recordings", "ko": "전체 녹화"},
    "qa.review": {"en": "Review video", "ko": "검토용 영상"},
    "qa.no_review": {
        "en": "The review video is not ready: {why}",
        "ko": "검토용 영상이 아직 준비되지 않았습니다: {why}",
    },
    "qa.tracks": {"en": "Recorded tracks", "ko": "녹화 트랙"},
    "qa.timeline": {"en": "Timeline", "ko": "타임라인"},
    "qa.scrubber": {"en": "Everything on one timeline", "ko": "전체 타임라인"},
    "qa.mark.chat": {"en": "Chat", "ko": "채팅"},
    "qa.mark.join": {"en": "Joins and leaves", "ko": "입장 및 퇴장"},
    "qa.mark.escalation": {"en": "Escalations", "ko": "채널 전환"},
    "qa.mark.consent": {"en": "Recording consent", "ko": "녹화 동의"},
    "qa.mark.pause": {"en": "Pauses", "ko": "일시 중지"},
    "qa.mark.flag": {"en": "Flag", "ko": "표시"},
    "qa.mark.comment": {"en": "Comments", "ko": "코멘트"},
    "qa.media_span": {"en": "Recorded media", "ko": "녹화된 미디어"},
    "qa.download": {"en": "Download", "ko": "다운로드"},
    "qa.paused_total": {"en": "paused {n}s", "ko": "{n}초 일시 중지"},
    "qa.dropped": {"en": "{n} frames dropped", "ko": "프레임 {n}개 누락"},
    "qa.retention": {"en": "Media kept until {when}", "ko": "{when}까지 보관"},
    "qa.expired_at": {"en": "Media deleted {when}", "ko": "{when}에 미디어 삭제"},
    "qa.state.recording": {"en": "Recording", "ko": "녹화 중"},
    "qa.state.paused": {"en": "Paused", "ko": "일시 중지"},
    "qa.state.complete": {"en": "Recorded", "ko": "녹화됨"},
    "qa.state.interrupted": {"en": "Interrupted", "ko": "중단됨"},
    "qa.state.rendering": {"en": "Preparing video {pct}", "ko": "영상 준비 중 {pct}"},
    "qa.state.rendered": {"en": "Ready", "ko": "준비됨"},
    "qa.state.expired": {"en": "Expired", "ko": "보관 기간 만료"},
    "qa.interrupted_note": {
        "en": "The server stopped during this recording; it plays up to that moment.",
        "ko": "녹화 중 서버가 중단되었습니다. 그 시점까지 재생됩니다.",
    },
    "qa.side.customer": {"en": "Customer", "ko": "고객"},
    "qa.side.agent": {"en": "Agent", "ko": "상담원"},
    "qa.source.camera": {"en": "camera", "ko": "카메라"},
    "qa.source.mic": {"en": "microphone", "ko": "마이크"},
    "qa.source.screen": {"en": "screen", "ko": "화면"},
    "qa.side.supervisor": {"en": "Supervisor", "ko": "관리자"},
    "qa.side.bot": {"en": "Bot", "ko": "봇"},
    "qa.side.system": {"en": "System", "ko": "시스템"},
    "qa.search": {"en": "Search what was said or written", "ko": "대화 및 채팅 내용 검색"},
    "qa.hit.transcript": {"en": "said", "ko": "음성"},
    "qa.hit.chat": {"en": "chat", "ko": "채팅"},
    "qa.filters": {"en": "Filters", "ko": "필터"},
    "qa.filters_clear": {"en": "Clear filters", "ko": "필터 지우기"},
    "qa.date_from": {"en": "From (UTC)", "ko": "시작일 (UTC)"},
    "qa.date_to": {"en": "To (UTC)", "ko": "종료일 (UTC)"},
    "qa.agent": {"en": "Agent", "ko": "상담원"},
    "qa.entry": {"en": "Entry", "ko": "상담 창구"},
    "qa.channel": {"en": "Channels used", "ko": "사용한 채널"},
    "qa.channel.chat_only": {"en": "Chat only", "ko": "채팅만"},
    "qa.channel.voice": {"en": "Escalated to voice", "ko": "음성으로 전환"},
    "qa.channel.video": {"en": "Escalated to video", "ko": "영상으로 전환"},
    "qa.channel.screen": {"en": "Escalated to screen share", "ko": "화면 공유로 전환"},
    "qa.channel.cobrowse": {"en": "Escalated to co-browsing", "ko": "공동 브라우징으로 전환"},
    "qa.origin": {"en": "Escalation started by", "ko": "전환 요청 주체"},
    "qa.origin.bot": {"en": "Bot", "ko": "봇"},
    "qa.origin.customer": {"en": "Customer", "ko": "고객"},
    "qa.origin.agent": {"en": "Agent", "ko": "상담원"},
    "qa.minutes": {"en": "Length (minutes)", "ko": "길이 (분)"},
    "qa.score": {"en": "QA score (0-100)", "ko": "QA 점수 (0-100)"},
    "qa.min": {"en": "at least", "ko": "최소"},
    "qa.max": {"en": "at most", "ko": "최대"},
    "qa.review_state": {"en": "Review", "ko": "검토 상태"},
    "qa.review.unreviewed": {"en": "Not scored yet", "ko": "미채점"},
    "qa.review.reviewed": {"en": "Scored", "ko": "채점 완료"},
    "qa.review.commented": {"en": "With comments", "ko": "코멘트 있음"},
    "qa.count": {"en": "{n} sessions", "ko": "상담 {n}건"},
    "qa.none_match": {
        "en": "No recorded session matches these filters.",
        "ko": "이 필터에 맞는 녹화된 상담이 없습니다.",
    },
    "qa.search_go": {"en": "Search", "ko": "검색"},
    "qa.flag": {"en": "Flag", "ko": "표시"},
    "qa.any_flag": {"en": "Any", "ko": "전체"},
    "qa.hits": {"en": "Found in what was said or written", "ko": "대화 및 채팅에서 찾은 내용"},
    "qa.no_hits": {
        "en": "Nothing said or written matches.",
        "ko": "일치하는 대화나 채팅이 없습니다.",
    },
    "qa.transcript": {"en": "Transcript", "ko": "대화록"},
    "qa.no_transcript": {
        "en": "No transcript yet.",
        "ko": "아직 대화록이 없습니다.",
    },
    "qa.flags": {"en": "Flags", "ko": "표시된 순간"},
    "qa.flag_missing": {"en": "{name}: never said", "ko": "{name}: 언급 없음"},
    "qa.jobs": {"en": "Rendering and transcription jobs", "ko": "영상 및 대화록 작업"},
    "qa.jobs_link": {"en": "Jobs", "ko": "작업"},
    "qa.job.render": {"en": "Review video", "ko": "검토용 영상"},
    "qa.job.transcribe": {"en": "Transcript", "ko": "대화록"},
    "qa.job_state.queued": {"en": "Waiting", "ko": "대기 중"},
    "qa.job_state.running": {"en": "Running", "ko": "진행 중"},
    "qa.job_state.done": {"en": "Done", "ko": "완료"},
    "qa.job_state.failed": {"en": "Failed", "ko": "실패"},
    "qa.job_state.cancelled": {"en": "Cancelled", "ko": "취소됨"},
    "qa.job_cancel": {"en": "Cancel", "ko": "취소"},
    "qa.job_progress": {"en": "Progress", "ko": "진행률"},
    "qa.job_left": {"en": "Time left", "ko": "남은 시간"},
    "qa.job_error": {"en": "Reason", "ko": "사유"},
    "qa.job_retry": {"en": "Retry", "ko": "다시 실행"},
    "qa.job_what": {"en": "Job", "ko": "작업"},
    "qa.job_attempts": {"en": "Attempts", "ko": "시도"},
    "qa.no_jobs": {"en": "No jobs yet.", "ko": "아직 작업이 없습니다."},
    "qa.scorecard": {"en": "Scorecard", "ko": "평가표"},
    "qa.yes": {"en": "Yes", "ko": "예"},
    "qa.no": {"en": "No", "ko": "아니요"},
    "qa.comment": {"en": "Comment", "ko": "의견"},
    "qa.save_score": {"en": "Save score", "ko": "점수 저장"},
    "qa.scores": {"en": "Scores", "ko": "점수"},
    "qa.score_line": {"en": "{who}: {total} / 100 ({when})", "ko": "{who}: {total} / 100 ({when})"},
    "qa.comments": {"en": "Comments", "ko": "의견"},
    "qa.add_comment": {"en": "Comment at the current moment", "ko": "현재 시점에 의견 남기기"},
    "qa.kpis": {"en": "KPIs, last 30 days", "ko": "지표 (최근 30일)"},
    "qa.kpis_link": {"en": "KPIs", "ko": "지표"},
    "qa.kpi.by_day": {"en": "By day", "ko": "일별"},
    "qa.kpi.by_agent": {"en": "By agent", "ko": "상담원별"},
    "qa.kpi.by_entry": {"en": "By entry", "ko": "창구별"},
    "qa.kpi.sessions": {"en": "Sessions", "ko": "상담"},
    "qa.kpi.wait": {"en": "Avg wait (s)", "ko": "평균 대기(초)"},
    "qa.kpi.handle": {"en": "Avg handle (s)", "ko": "평균 처리(초)"},
    "qa.kpi.escalated": {"en": "Escalated", "ko": "전환율"},
    "qa.kpi.split": {"en": "Started by bot / customer / agent", "ko": "시작: 봇 / 고객 / 상담원"},
    "qa.kpi.consent": {"en": "Recording consent", "ko": "녹화 동의율"},
    "qa.kpi.qa": {"en": "Avg QA score", "ko": "평균 QA 점수"},
    "qa.kpi.csat": {"en": "CSAT (answers)", "ko": "만족도 (응답 수)"},
    "qa.kpi.csv": {"en": "CSV", "ko": "CSV"},
    "qa.kpi.charts": {"en": "Charts", "ko": "차트"},
    "qa.chart.sessions": {"en": "Sessions per day", "ko": "일별 상담 수"},
    "qa.chart.escalation": {
        "en": "Escalation from chat per day, by channel (% of sessions)",
        "ko": "일별 채팅에서의 채널 전환 (상담 대비 %)",
    },
    "qa.chart.origin": {
        "en": "Who started the escalations, per agent",
        "ko": "상담원별 전환 요청 주체",
    },
    "qa.chart.qa": {
        "en": "Average QA score per agent (0-100)",
        "ko": "상담원별 평균 QA 점수 (0-100)",
    },
    "qa.chart.csat": {"en": "Average CSAT per agent (1-5)", "ko": "상담원별 평균 만족도 (1-5)"},
    "qa.chart.empty": {"en": "No sessions in these 30 days.", "ko": "최근 30일간 상담이 없습니다."},
    "qa.chart.csat_series": {"en": "CSAT", "ko": "만족도"},
    "qa.chart.voice": {"en": "Voice", "ko": "음성"},
    "qa.chart.video": {"en": "Video", "ko": "영상"},
    "qa.chart.screen": {"en": "Screen share", "ko": "화면 공유"},
    "qa.chart.cobrowse": {"en": "Co-browsing", "ko": "공동 브라우징"},
    "csat.question": {"en": "How did we do?", "ko": "상담은 어떠셨나요?"},
    "csat.thanks": {"en": "Thank you for your answer.", "ko": "응답해 주셔서 감사합니다."},
    "csat.rate": {"en": "{n} out of 5", "ko": "5점 중 {n}점"},
    "qa.forbidden": {
        "en": "Recordings are for QA reviewers, supervisors and admins.",
        "ko": "녹화는 품질 검토자, 관리자만 볼 수 있습니다.",
    },
    # common
    "common.error": {
        "en": "Something went wrong: {message}",
        "ko": "오류가 발생했습니다: {message}",
    },
    "common.close": {"en": "Close", "ko": "닫기"},
    "common.seconds": {"en": "{n}s", "ko": "{n}초"},
    "common.minutes": {"en": "{n} min", "ko": "{n}분"},
    "common.not_found": {
        "en": "This help page does not exist.",
        "ko": "존재하지 않는 상담 페이지입니다.",
    },
}


def pick_language(entry_language: str, accept_language: str | None) -> str:
    """The entry's setting first, then the browser's Accept-Language, then English."""
    if entry_language in LANGUAGES:
        return entry_language
    for lang, _q in _parse_accept(accept_language or ""):
        primary = lang.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return "en"


def _parse_accept(header: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for part in header.split(",")[:20]:
        piece = part.strip()
        if not piece:
            continue
        lang, _, params = piece.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        out.append((lang.strip(), q))
    return sorted(out, key=lambda x: -x[1])


def table(lang: str) -> dict[str, str]:
    """All strings in one language, with English filling gaps."""
    return {key: texts.get(lang) or texts["en"] for key, texts in STRINGS.items()}


def t(key: str, lang: str, values: Mapping[str, object] | None = None) -> str:
    texts = STRINGS[key]
    text = texts.get(lang) or texts["en"]
    return text.format(**values) if values else text
