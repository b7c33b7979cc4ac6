// convotest HTML report: inlined into the page. Expands or collapses every transcript at once.
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("toggle-all");
  if (!button) { return; }
  button.addEventListener("click", function () {
    var all = document.querySelectorAll("details.transcript");
    var open = button.getAttribute("data-open") !== "true";
    all.forEach(function (d) { d.open = open; });
    button.setAttribute("data-open", open ? "true" : "false");
    button.textContent = open ? "collapse all transcripts" : "expand all transcripts";
  });
});
