// The account switcher is a <details> menu that works without script;
// this closes it with Escape (returning focus to its summary) or a click
// outside it, as menus are expected to.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  document.querySelectorAll("details.switcher[open]").forEach((menu) => {
    menu.open = false;
    menu.querySelector("summary")?.focus();
  });
});
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.switcher[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.open = false;
  });
});

// A member's role select enables its Save only once the role is changed,
// so a change left unsaved cannot look saved, and an unchanged row offers
// nothing to press.
document.querySelectorAll("form.role-form select").forEach((select) => {
  const button = select.form?.querySelector("button[type=submit]");
  if (!button) return;
  const initial = select.querySelector("option[selected]")?.value ?? select.value;
  const sync = () => { button.disabled = select.value === initial; };
  select.addEventListener("change", sync);
  window.addEventListener("pageshow", sync);
  sync();
});

// After a refused submit, focus moves to a summary of the errors at the top
// of the form, each linking to its field (pages that write their own
// `.error-summary`, like the Pods page, keep theirs).
window.addEventListener("DOMContentLoaded", () => {
  const invalid = [...document.querySelectorAll("form [aria-invalid='true']")];
  let summary = document.querySelector(".error-summary");
  if (!summary && invalid.length > 0) {
    const form = invalid[0].form;
    summary = document.createElement("div");
    summary.className = "error-summary";
    summary.setAttribute("role", "alert");
    summary.setAttribute("tabindex", "-1");
    const heading = document.createElement("h2");
    heading.textContent = invalid.length === 1 ? "There is a problem" : `There are ${invalid.length} problems`;
    const list = document.createElement("ul");
    for (const field of invalid) {
      const label = field.id && document.querySelector(`label[for="${CSS.escape(field.id)}"]`);
      const error = field.id && document.getElementById(`${field.id}-error`);
      const link = document.createElement("a");
      link.href = `#${field.id}`;
      link.textContent = error?.textContent.trim() || `Check ${label?.textContent.trim() ?? "this field"}.`;
      const item = document.createElement("li");
      item.append(link);
      list.append(item);
    }
    summary.append(heading, list);
    form.before(summary);
  }
  summary?.focus();
});
