// Staff console: ask before a form marked data-confirm is sent. The pages work without this script.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : "";
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
