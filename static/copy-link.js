// Copy buttons: <button data-copy-target="ID"> copies the value of the
// field (or the text of the element) with that id and says "Copied". It
// stays visible and selectable as a fallback when the clipboard is
// unavailable.
// What happened is also said in a polite live region, since a button's
// new text is not announced by screen readers.
function announce(text) {
  let status = document.getElementById("copy-status");
  if (!status) {
    status = document.createElement("div");
    status.id = "copy-status";
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    document.body.append(status);
  }
  status.textContent = "";
  setTimeout(() => { status.textContent = text; }, 50);
}
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy-target]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copyTarget);
  if (!field) return;
  const label = button.textContent;
  try {
    const text = "value" in field ? field.value : field.textContent.trim();
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
    announce("Copied");
  } catch {
    if ("select" in field) {
      field.focus();
      field.select();
    } else {
      window.getSelection().selectAllChildren(field);
    }
    button.textContent = "Press Ctrl+C to copy";
    announce("Selected: press Ctrl+C to copy");
  }
  setTimeout(() => { button.textContent = label; }, 2000);
});
