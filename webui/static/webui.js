// The admin pages work without JavaScript; this only asks before a change that cannot be
// undone from the page (revoke a register, remove a printer, deactivate someone).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
