// Shows the session times of the account page in the reader's own time
// zone. Without JavaScript the page shows them in UTC.
'use strict';
document.querySelectorAll('time[datetime]').forEach((el) => {
  const d = new Date(el.getAttribute('datetime'));
  if (!Number.isNaN(d.getTime())) {
    el.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    el.title = d.toISOString();
  }
});
