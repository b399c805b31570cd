/* sessioncoder feedback report: play from a moment, filter and search the transcript. No network. */
(function () {
  "use strict";
  var audio = document.getElementById("audio");
  var utts = Array.prototype.slice.call(document.querySelectorAll(".utt"));
  var fSearch = document.getElementById("f-search");
  var fGroup = document.getElementById("f-group");
  var fCode = document.getElementById("f-code");
  var fReview = document.getElementById("f-review");
  var fCount = document.getElementById("f-count");

  function markPlaying(index) {
    utts.forEach(function (u) {
      u.classList.toggle("playing", u.getAttribute("data-i") === String(index));
    });
  }

  function playFrom(seconds, index) {
    if (!audio || isNaN(seconds)) return;
    audio.currentTime = seconds;
    var played = audio.play();
    if (played && played.catch) played.catch(function () { /* autoplay refused: the position is set */ });
    markPlaying(index);
  }

  function apply() {
    if (!fSearch) return;
    var query = fSearch.value.trim().toLowerCase();
    var group = fGroup.value, code = fCode.value, review = fReview.checked;
    var codeFilter = Boolean(group || code || review);
    var shown = 0;
    utts.forEach(function (u) {
      var anyChip = false;
      u.querySelectorAll(".chip").forEach(function (chip) {
        var ok = (!group || chip.getAttribute("data-group") === group) &&
          (!code || chip.getAttribute("data-code") === code) &&
          (!review || chip.classList.contains("review"));
        chip.classList.toggle("is-hidden", codeFilter && !ok);
        if (ok) anyChip = true;
      });
      var text = u.textContent.toLowerCase();
      var visible = (!query || text.indexOf(query) >= 0) && (!codeFilter || anyChip);
      u.classList.toggle("is-hidden", !visible);
      if (visible) shown += 1;
    });
    fCount.textContent = shown + " of " + utts.length + " lines shown";
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var chip = target.closest(".utt .chip[data-code]");
    if (chip && fCode) {
      // A chip filters the transcript to that code.
      event.preventDefault();
      fGroup.value = "";
      fCode.value = chip.getAttribute("data-code");
      apply();
      chip.scrollIntoView({ block: "nearest" });
      return;
    }
    var moment = target.closest("[data-t]");
    if (!moment || !audio) return; // without audio, timestamps are plain links to the line
    if (window.getSelection && String(window.getSelection()).length > 0 && !target.closest("a")) return;
    event.preventDefault();
    playFrom(parseFloat(moment.getAttribute("data-t")), moment.getAttribute("data-i"));
  });

  if (audio) {
    var starts = utts.map(function (u) { return parseFloat(u.getAttribute("data-t")); });
    audio.addEventListener("timeupdate", function () {
      var t = audio.currentTime, current = null;
      for (var i = 0; i < starts.length; i += 1) {
        if (!isNaN(starts[i]) && starts[i] <= t + 0.05) current = utts[i].getAttribute("data-i");
      }
      if (current !== null) markPlaying(current);
    });
  }

  if (fSearch) {
    fSearch.addEventListener("input", apply);
    fGroup.addEventListener("change", function () { fCode.value = ""; apply(); });
    fCode.addEventListener("change", function () { fGroup.value = ""; apply(); });
    fReview.addEventListener("change", apply);
    document.getElementById("f-clear").addEventListener("click", function () {
      fSearch.value = ""; fGroup.value = ""; fCode.value = ""; fReview.checked = false; apply();
    });
    apply();
  }
})();
