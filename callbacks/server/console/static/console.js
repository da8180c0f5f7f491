// Live updates: the server says on /console/api/live (server-sent events) that what this page
// shows has changed; the page fetches itself again and swaps in its new <main>.
(function () {
  "use strict";
  var url = document.body.dataset.live;
  if (!url || !window.EventSource) return;
  var badge = document.getElementById("live");
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin" }).then(function (answer) {
      return answer.ok ? answer.text() : null;
    }).then(function (html) {
      if (html === null) return;
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
      var main = document.querySelector("main");
      if (fresh && main && !main.contains(document.activeElement)) main.replaceWith(fresh);
    }).finally(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  var source = new EventSource(url);
  source.addEventListener("open", function () { if (badge) badge.hidden = false; });
  source.addEventListener("error", function () { if (badge) badge.hidden = true; });
  source.addEventListener("changed", refresh);
})();
