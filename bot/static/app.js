// Web chat: posts questions to /api/ask and renders replies. All user and bot text goes through
// textContent, so nothing typed or answered is ever parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const messages = $("messages");
  const chips = $("chips");
  const form = $("composer");
  const input = $("input");
  const send = $("send");
  const deadlineCard = $("deadlines");
  const deadlineList = $("deadline-list");
  // ?now=2021-09-20 shows the bot as of that day (demos); passed on to the API unchanged.
  const now = new URLSearchParams(location.search).get("now") || "";
  const MAX_CHIPS = 6;
  let busy = false;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function scrollDown() {
    messages.scrollTop = messages.scrollHeight;
  }

  function addRow(kind, text, footer) {
    const row = el("div", "row " + kind);
    const avatar = el("div", "avatar", kind === "user" ? "我" : "质");
    avatar.setAttribute("aria-hidden", "true");
    row.appendChild(avatar);
    const bubble = el("div", "bubble");
    bubble.appendChild(el("p", "text", text));
    if (footer) bubble.appendChild(footer);
    row.appendChild(bubble);
    messages.appendChild(row);
    scrollDown();
    return row;
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

  function showError(message) {
    addRow("bot error", message);
  }

  function setBusy(value) {
    busy = value;
    send.disabled = value;
    for (const button of document.querySelectorAll(".chip, .example")) button.disabled = value;
  }

  function renderChips(suggestions) {
    const seen = new Set();
    chips.replaceChildren();
    for (const text of suggestions || []) {
      if (typeof text !== "string" || !text.trim() || seen.has(text)) continue;
      seen.add(text);
      const chip = el("button", "chip", text);
      chip.type = "button";
      chip.title = text;
      chips.appendChild(chip);
      if (seen.size >= MAX_CHIPS) break;
    }
    chips.hidden = seen.size === 0;
    chips.scrollLeft = 0;
  }

  async function ask(raw, fromInput) {
    const text = raw.trim();
    if (!text || busy) return;
    addRow("user", text);
    if (fromInput) input.value = "";
    setBusy(true);
    const typing = addRow("bot typing", "对方正在输入…");
    try {
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
      typing.remove();
      if (!response.ok || !data || typeof data.answer !== "string") {
        showError((data && data.error) || `出错了（HTTP ${response.status}），请稍后再试`);
        return;
      }
      const footer = sourceLine(data);
      addRow("bot", withoutAttribution(data.answer, footer), footer);
      renderChips(data.suggestions);
    } catch (_) {
      typing.remove();
      showError("网络错误，消息没有发出，请检查网络后重试");
    } finally {
      setBusy(false);
      if (fromInput) input.focus();
    }
  }

  function countdown(daysLeft) {
    if (daysLeft > 0) return { text: `还有 ${daysLeft} 天`, cls: daysLeft <= 3 ? "soon" : "" };
    if (daysLeft === 0) return { text: "今天截止", cls: "soon" };
    return { text: "已截止", cls: "past" };
  }

  function shortDate(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    return m ? `${m[1]}年${Number(m[2])}月${Number(m[3])}日` : iso || "";
  }

  async function loadDeadlines() {
    try {
      const query = now ? "?now=" + encodeURIComponent(now) : "";
      const response = await fetch("/api/deadlines" + query);
      if (!response.ok) return;
      const items = await response.json();
      if (!Array.isArray(items) || items.length === 0) return;
      deadlineList.replaceChildren();
      for (const item of items) {
        const left = countdown(Number(item.days_left));
        const li = el("li", "deadline");
        li.appendChild(el("span", "deadline-what", item.what || item.id));
        li.appendChild(el("span", "deadline-date", shortDate(item.date)));
        li.appendChild(el("span", "deadline-left " + left.cls, left.text));
        li.title = [item.what, item.document].filter(Boolean).join(" · ");
        deadlineList.appendChild(li);
      }
      deadlineCard.hidden = false;
    } catch (_) {
      // the card is a convenience: the chat works without it
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask(input.value, true);
  });
  chips.addEventListener("click", (event) => {
    const chip = event.target.closest(".chip");
    if (chip && !chip.disabled) ask(chip.textContent, false);
  });
  messages.addEventListener("click", (event) => {
    const example = event.target.closest(".example");
    if (example && !example.disabled) ask(example.textContent, false);
  });

  loadDeadlines();
})();
