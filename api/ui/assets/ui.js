// The back office's only script: confirmations of forms that ask for one,
// and the overview's live tiles over Server-Sent Events.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var q = ev.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { ev.preventDefault(); }
  });
  var tiles = document.querySelectorAll("[data-metric]");
  if (!tiles.length || !window.EventSource) { return; }
  var live = document.getElementById("live");
  var es = new EventSource("/ui/stream");
  es.onopen = function () { if (live) { live.textContent = "live"; } };
  es.onerror = function () { if (live) { live.textContent = "reconnecting"; } };
  es.addEventListener("tiles", function (ev) {
    var data = JSON.parse(ev.data);
    data.forEach(function (t) {
      var el = document.querySelector('[data-metric="' + t.Name + '"]');
      if (!el) { return; }
      el.querySelector("output").textContent = t.Value;
      el.querySelector("polyline").setAttribute("points", t.Points);
    });
  });
})();
