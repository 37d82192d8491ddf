// Web chat: posts questions to /api/ask and renders replies. All user and bot text goes through
// textContent, so nothing typed or answered is ever parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const scroller = $("scroller");
  const messages = $("messages");
  const chips = $("chips");
  const form = $("composer");
  const input = $("input");
  const status = $("status");
  const deadlineCard = $("deadlines");
  const deadlineList = $("deadline-list");
  const deadlineToggle = $("deadline-toggle");
  const deadlineSummary = $("deadline-summary");
  // ?now=2021-09-20 shows the bot as of that day (demos); passed on to the API unchanged.
  const now = new URLSearchParams(location.search).get("now") || "";
  const embedded = window.self !== window.top; // inside the widget's frame on another site
  const MAX_CHIPS = 6;
  const TIME_GAP = 5 * 60 * 1000; // a time line before a message after five quiet minutes
  const HISTORY_KEY = "qm-history";
  const HISTORY_MAX = 40;
  const queue = []; // user rows waiting for their answer, oldest first
  let busy = false;
  let lastTime = 0;
  let history = [];

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function say(text) {
    status.textContent = "";
    window.setTimeout(() => { status.textContent = text; }, 50);
  }

  // -- text: tappable phone numbers and e-mail addresses, expandable cut quotes ---------------

  const CONTACT_RE = /([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})|((?:\+86[- ]?)?(?:0\d{2,3}-?\d{7,8}|1[3-9]\d{9})(?:-\d{1,6})?)/g;

  function linkify(text, parent) {
    let last = 0;
    for (const match of text.matchAll(CONTACT_RE)) {
      const [found, email, phone] = match;
      const before = text.slice(Math.max(0, match.index - 1), match.index);
      const after = text.charAt(match.index + found.length);
      if (phone && (/\d/.test(before) || /\d/.test(after))) continue; // part of a longer number
      parent.append(text.slice(last, match.index));
      const fax = phone && text.slice(Math.max(0, match.index - 5), match.index).includes("传真");
      let node;
      if (fax) {
        node = el("span", "contact", found);
      } else {
        node = el("a", "contact", found);
        node.href = email ? "mailto:" + email : "tel:" + phone.replace(/[^\d+]/g, "");
      }
      parent.appendChild(node);
      last = match.index + found.length;
    }
    parent.append(text.slice(last));
  }

  function expander(cut, full) {
    const wrap = el("span", "quote");
    const short = el("span", "quote-short");
    linkify(cut, short);
    const long = el("span", "quote-full");
    linkify(full, long);
    long.hidden = true;
    const button = el("button", "more", "展开");
    button.type = "button";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-label", "展开被省略的原文");
    button.addEventListener("click", () => {
      const open = long.hidden;
      long.hidden = !open;
      short.hidden = open;
      button.textContent = open ? "收起" : "展开";
      button.setAttribute("aria-expanded", String(open));
      button.setAttribute("aria-label", open ? "收起原文" : "展开被省略的原文");
    });
    wrap.append(short, long, button);
    return wrap;
  }

  function renderText(text, expand) {
    const p = el("p", "text");
    let rest = text;
    for (const item of Array.isArray(expand) ? expand : []) {
      if (!item || typeof item.cut !== "string" || typeof item.full !== "string") continue;
      const at = rest.indexOf(item.cut);
      if (at < 0) continue;
      linkify(rest.slice(0, at), p);
      p.appendChild(expander(item.cut, item.full));
      rest = rest.slice(at + item.cut.length);
    }
    linkify(rest, p);
    return p;
  }

  // -- rows -------------------------------------------------------------------------------------

  function clock(when) {
    const d = new Date(when);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function timeLine(when) {
    if (when - lastTime < TIME_GAP) return;
    lastTime = when;
    const line = el("p", "time");
    const t = el("time", "", clock(when));
    t.dateTime = new Date(when).toISOString();
    line.appendChild(t);
    messages.appendChild(line);
  }

  function addRow(kind, when) {
    timeLine(when);
    const row = el("div", "row " + kind);
    const avatar = el("div", "avatar", kind.startsWith("user") ? "我" : "问");
    avatar.setAttribute("aria-hidden", "true");
    const bubble = el("div", "bubble");
    row.append(avatar, bubble);
    messages.appendChild(row);
    return row;
  }

  function scrollDown() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  // A long answer is read from its top: scroll so its first line shows, not its end.
  function reveal(row) {
    const room = scroller.clientHeight - 16;
    if (row.offsetHeight <= room) scrollDown();
    else scroller.scrollTop = row.offsetTop - 8;
  }

  function userRow(text, when) {
    const row = addRow("user", when);
    row.querySelector(".bubble").appendChild(el("p", "text", text));
    const state = el("p", "state");
    row.appendChild(state);
    row.dataset.question = text;
    return row;
  }

  function setState(row, kind, note) {
    row.classList.remove("queued", "sending", "failed");
    if (kind) row.classList.add(kind);
    const state = row.querySelector(".state");
    state.replaceChildren();
    if (kind === "queued") state.textContent = "等待发送…";
    if (kind === "failed") {
      state.append(el("span", "state-note", note));
      const retry = el("button", "retry", "重试");
      retry.type = "button";
      retry.setAttribute("aria-label", "重试发送：" + row.dataset.question);
      retry.addEventListener("click", () => {
        messages.appendChild(row); // a resent message moves to the end, as in WeChat
        enqueue(row);
        if (document.activeElement === retry || !document.activeElement) input.focus();
      });
      state.appendChild(retry);
    }
  }

  function sourceLine(reply) {
    const titles = (reply.sources || []).map((s) => s && s.title).filter(Boolean);
    if (reply.fallback || titles.length === 0) return null;
    return el("p", "source", "来源：" + [...new Set(titles)].join("；"));
  }

  // The answer's closing "——摘自《…》" line says the same as the grey source line: show it once.
  function withoutAttribution(answer, footer) {
    if (!footer) return answer;
    const lines = answer.split("\n");
    if (lines.length > 1 && lines[lines.length - 1].startsWith("——")) lines.pop();
    return lines.join("\n");
  }

  function chipButton(text) {
    const chip = el("button", "chip", text);
    chip.type = "button";
    chip.title = text;
    return chip;
  }

  function uniqueSuggestions(list) {
    const seen = [];
    for (const text of list || []) {
      if (typeof text === "string" && text.trim() && !seen.includes(text)) seen.push(text);
      if (seen.length >= MAX_CHIPS) break;
    }
    return seen;
  }

  function renderChips(suggestions) {
    chips.replaceChildren(...suggestions.map(chipButton));
    chips.hidden = suggestions.length === 0;
    chips.scrollLeft = 0;
  }

  function feedbackBar(answerId) {
    const bar = el("div", "feedback");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "这个回答有帮助吗");
    for (const [vote, icon, label] of [["up", "👍", "有帮助"], ["down", "👎", "没帮助"]]) {
      const button = el("button", "vote " + vote);
      button.type = "button";
      button.setAttribute("aria-pressed", "false");
      button.setAttribute("aria-label", label);
      button.dataset.vote = vote;
      const glyph = el("span", "", icon);
      glyph.setAttribute("aria-hidden", "true");
      button.append(glyph, el("span", "vote-label", label));
      bar.appendChild(button);
    }
    bar.addEventListener("click", async (event) => {
      const button = event.target.closest(".vote");
      if (!button) return;
      try {
        const response = await fetch("/api/feedback", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ answer_id: answerId, vote: button.dataset.vote }),
        });
        if (!response.ok) throw new Error(String(response.status));
        for (const b of bar.querySelectorAll(".vote")) b.setAttribute("aria-pressed", String(b === button));
        say("谢谢您的反馈");
      } catch (_) {
        say("反馈没有发送成功，请稍后再试");
      }
    });
    return bar;
  }

  function botRow(data, when, live) {
    const row = addRow("bot", when);
    const bubble = row.querySelector(".bubble");
    const footer = sourceLine(data);
    bubble.appendChild(renderText(withoutAttribution(data.answer, footer), data.expand));
    const suggestions = uniqueSuggestions(data.suggestions);
    if (data.fallback && suggestions.length) {
      bubble.appendChild(el("p", "clarify-label", "您是想问："));
      const list = el("div", "clarify");
      list.setAttribute("role", "group");
      list.setAttribute("aria-label", "您是想问");
      list.append(...suggestions.map(chipButton));
      bubble.appendChild(list);
    }
    if (footer) bubble.appendChild(footer);
    if (data.answer_id) bubble.appendChild(feedbackBar(data.answer_id));
    if (live) renderChips(data.fallback ? [] : suggestions);
    return row;
  }

  function errorRow(message, when) {
    const row = addRow("bot error", when);
    row.querySelector(".bubble").appendChild(el("p", "text", message));
    return row;
  }

  // -- sending ----------------------------------------------------------------------------------

  function remember(entry) {
    history.push(entry);
    history = history.slice(-HISTORY_MAX);
    try {
      sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history));
    } catch (_) {
      // storage full or blocked: the conversation still works, it is just not restored
    }
  }

  async function post(text) {
    const body = { text };
    if (now) body.now = now;
    const response = await fetch("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    return { response, data };
  }

  async function send(row) {
    const text = row.dataset.question;
    setState(row, "sending");
    const typing = addRow("bot typing", Date.now());
    typing.setAttribute("aria-hidden", "true");
    typing.querySelector(".bubble").appendChild(el("p", "text", "正在输入…"));
    scrollDown();
    let result = null;
    try {
      result = await post(text);
    } catch (_) {
      result = null;
    }
    typing.remove();
    if (result === null) {
      setState(row, "failed", "网络错误，没有发出");
      say("网络错误，消息没有发出，可以重试");
      return;
    }
    const { response, data } = result;
    if (response.ok && data && typeof data.answer === "string") {
      setState(row, "");
      const when = Date.now();
      remember({ role: "user", text, when: Number(row.dataset.when) || when });
      remember({ role: "bot", data, when });
      reveal(botRow(data, when, true));
      return;
    }
    const message = (data && data.error) || `出错了（HTTP ${response.status}）`;
    if (response.status === 429 || response.status >= 500) {
      setState(row, "failed", message);
      say(message);
    } else {
      setState(row, "");
      reveal(errorRow(message, Date.now()));
    }
  }

  async function pump() {
    if (busy) return;
    busy = true;
    try {
      while (queue.length) await send(queue.shift());
    } finally {
      busy = false;
    }
  }

  function enqueue(row) {
    if (!queue.includes(row)) queue.push(row);
    if (busy) setState(row, "queued");
    pump();
  }

  function ask(raw) {
    const text = raw.trim();
    if (!text) return;
    const when = Date.now();
    const row = userRow(text, when);
    row.dataset.when = String(when);
    scrollDown();
    enqueue(row);
  }

  // -- the deadline card: upcoming only, collapsible --------------------------------------------

  function countdown(daysLeft) {
    if (daysLeft > 0) return { text: `还有 ${daysLeft} 天`, cls: daysLeft <= 3 ? "soon" : "" };
    return { text: "今天截止", cls: "soon" };
  }

  function shortDate(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    return m ? `${m[1]}年${Number(m[2])}月${Number(m[3])}日` : iso || "";
  }

  function setCardOpen(open, keep) {
    deadlineToggle.setAttribute("aria-expanded", String(open));
    deadlineList.hidden = !open;
    deadlineCard.classList.toggle("collapsed", !open);
    if (keep) {
      try {
        localStorage.setItem("qm-deadlines", open ? "open" : "closed");
      } catch (_) {
        // private mode: the choice lasts for this page only
      }
    }
  }

  async function loadDeadlines() {
    try {
      const query = now ? "?now=" + encodeURIComponent(now) : "";
      const response = await fetch("/api/deadlines" + query);
      if (!response.ok) return;
      const items = await response.json();
      const upcoming = Array.isArray(items) ? items.filter((d) => Number(d.days_left) >= 0) : [];
      if (upcoming.length === 0) return;
      deadlineList.replaceChildren();
      for (const item of upcoming) {
        const left = countdown(Number(item.days_left));
        const li = el("li", "deadline");
        li.appendChild(el("span", "deadline-what", item.what || item.id));
        li.appendChild(el("span", "deadline-date", shortDate(item.date)));
        li.appendChild(el("span", "deadline-left " + left.cls, left.text));
        li.title = [item.what, item.document].filter(Boolean).join(" · ");
        deadlineList.appendChild(li);
      }
      const first = upcoming[0];
      deadlineSummary.textContent = `${first.what || first.id} · ${countdown(Number(first.days_left)).text}`;
      let saved = null;
      try {
        saved = localStorage.getItem("qm-deadlines");
      } catch (_) {
        saved = null;
      }
      setCardOpen(saved ? saved === "open" : window.innerWidth >= 600, false);
      deadlineCard.hidden = false;
    } catch (_) {
      // the card is a convenience: the chat works without it
    }
  }

  // -- restoring a conversation (the widget's frame is reloaded on every page of the site) -------

  function restore() {
    let saved = [];
    try {
      saved = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
    } catch (_) {
      saved = [];
    }
    if (!Array.isArray(saved)) return;
    for (const entry of saved) {
      if (!entry || typeof entry.when !== "number") continue;
      if (entry.role === "user" && typeof entry.text === "string") {
        userRow(entry.text, entry.when);
      } else if (entry.role === "bot" && entry.data && typeof entry.data.answer === "string") {
        botRow(entry.data, entry.when, false);
      } else {
        continue;
      }
      history.push(entry);
    }
    if (history.length) scrollDown();
  }

  // -- wiring -----------------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    ask(text);
    input.focus();
  });
  for (const area of [chips, messages]) {
    area.addEventListener("click", (event) => {
      const chip = event.target.closest(".chip, .example");
      if (chip) ask(chip.textContent);
    });
  }
  deadlineToggle.addEventListener("click", () => {
    setCardOpen(deadlineToggle.getAttribute("aria-expanded") !== "true", true);
  });

  if (embedded) {
    const close = $("close");
    close.hidden = false;
    document.body.classList.add("embedded");
    const hide = () => window.parent.postMessage({ type: "qm-close" }, "*");
    close.addEventListener("click", hide);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") hide();
    });
    window.addEventListener("message", (event) => {
      if (event.source === window.parent && event.data && event.data.type === "qm-open") input.focus();
    });
  }

  restore();
  loadDeadlines();
})();
