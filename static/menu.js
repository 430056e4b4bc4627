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
