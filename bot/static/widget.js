// The chat button other sites embed with one line:
//   <script src="https://<bot host>/widget.js" async></script>
// It adds a button at the bottom right that opens the chat page in a frame (full screen on a phone).
// Everything lives in a shadow root, so the site's styles and the widget's never touch. The chat
// page sends frame-ancestors for the sites listed in BOT_WIDGET_ORIGINS: elsewhere the frame stays empty.
"use strict";

(() => {
  const script = document.currentScript;
  if (!script || window.qmChatWidget) return;
  const origin = new URL(script.src, location.href).origin;
  const LABEL = script.dataset.label || "在线问答";

  const CSS = `
    :host { all: initial; }
    .launcher {
      position: fixed; right: 1.25rem; bottom: 1.25rem; z-index: 2147483000;
      display: inline-flex; align-items: center; gap: .5rem;
      min-height: 3rem; padding: .625rem 1.125rem;
      border: 0; border-radius: 1.5rem; background: #067a45; color: #fff;
      font: 600 1rem/1.2 -apple-system, BlinkMacSystemFont, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
      box-shadow: 0 4px 14px rgba(0, 0, 0, .25); cursor: pointer;
    }
    .launcher:hover { background: #05603a; }
    .launcher:focus-visible { outline: 3px solid #0b57d0; outline-offset: 3px; }
    .launcher svg { width: 1.5rem; height: 1.5rem; fill: currentColor; flex: none; }
    .panel {
      position: fixed; right: 1.25rem; bottom: 5.5rem; z-index: 2147483001;
      width: min(25rem, calc(100vw - 2.5rem)); height: min(42rem, calc(100vh - 7.5rem));
      border-radius: 12px; overflow: hidden; background: #ededed;
      box-shadow: 0 8px 32px rgba(0, 0, 0, .3);
    }
    .panel[hidden] { display: none; }
    iframe { display: block; width: 100%; height: 100%; border: 0; }
    @media (max-width: 30rem), (max-height: 30rem) {
      .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; }
      :host(.open) .launcher { display: none; }
    }
  `;

  function svgIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z");
    svg.appendChild(path);
    return svg;
  }

  const host = document.createElement("div");
  host.id = "qm-chat-widget";
  const root = host.attachShadow({ mode: "open" });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (_) {
    const style = document.createElement("style");
    style.textContent = CSS;
    root.appendChild(style);
  }

  const button = document.createElement("button");
  button.type = "button";
  button.className = "launcher";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "qm-panel");
  button.append(svgIcon(), document.createTextNode(LABEL));

  const panel = document.createElement("div");
  panel.className = "panel";
  panel.id = "qm-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", LABEL);
  root.append(button, panel);

  let frame = null;
  let loaded = false;

  function greet() {
    if (frame && loaded) frame.contentWindow.postMessage({ type: "qm-open" }, origin);
  }

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = LABEL;
      frame.src = origin + "/";
      frame.addEventListener("load", () => {
        loaded = true;
        greet();
      });
      panel.appendChild(frame);
    }
    panel.hidden = false;
    host.classList.add("open");
    button.setAttribute("aria-expanded", "true");
    frame.focus();
    greet();
  }

  // Closing hides the frame and keeps it: the conversation is still there when it is opened again.
  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    host.classList.remove("open");
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  window.addEventListener("message", (event) => {
    if (frame && event.origin === origin && event.source === frame.contentWindow && event.data && event.data.type === "qm-close") {
      close();
    }
  });

  window.qmChatWidget = { open, close };
  if (document.body) document.body.appendChild(host);
  else document.addEventListener("DOMContentLoaded", () => document.body.appendChild(host));
})();
