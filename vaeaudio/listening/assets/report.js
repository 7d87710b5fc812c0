// vaeaudio report: make the latent map's points play in place (without this script each point links to its WAV).
"use strict";
document.addEventListener("click", function (event) {
  var point = event.target.closest && event.target.closest("a.pt");
  if (!point) return;
  event.preventDefault();
  var map = point.closest(".latent-map");
  var player = map.querySelector("audio.map-player");
  var now = map.querySelector(".now");
  map.querySelectorAll("a.pt.playing").forEach(function (p) { p.classList.remove("playing"); });
  point.classList.add("playing");
  player.src = point.getAttribute("href");
  now.textContent = "Playing: " + point.getAttribute("data-label");
  var started = player.play();
  if (started && started.catch) {
    started.catch(function (err) { now.textContent = "Could not play (" + err.name + "): " + point.getAttribute("data-label"); });
  }
});
