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
