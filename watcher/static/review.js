// The review page: keyboard first. Type digits, Enter records (Enter alone accepts the reading
// shown), x then Enter records "not a digit", Backspace edits, u undoes the last decision.
"use strict";
(function () {
  const token = document.body.dataset.token;
  const $ = (id) => document.getElementById(id);
  let queue = JSON.parse($("queue-data").textContent);
  let typed = "";          // what the person typed for the current file
  const done = [];         // claims decided here, newest last (for undo)
  const details = new Map();  // claim -> {runners, boxes} from /api/item
  const prefetched = new Map();

  function say(text, ok) {
    $("message").textContent = text || "";
    $("message").className = ok ? "message ok" : "message";
  }

  function fetchDetails(claim) {
    if (details.has(claim)) return;
    details.set(claim, null);
    fetch("/api/item/" + encodeURIComponent(claim)).then((r) => r.ok ? r.json() : null).then((j) => {
      details.set(claim, j || {runners: [], boxes: []});
      if (queue.length && queue[0].claim === claim) { showRunners(); drawBoxes(); }
    }).catch(() => details.delete(claim));
  }

  function showRunners() {
    const d = queue.length ? details.get(queue[0].claim) : null;
    const r = d ? d.runners : null;
    $("runners").textContent = r ? r.map(([d, p]) => d + " (" + p.toFixed(3) + ")").join("  ") : "";
  }

  // A file of several digits: each digit's box and reading drawn where the image is shown
  // (object-fit: contain letterboxes it in the frame), coloured by its confidence.
  function drawBoxes() {
    const layer = $("boxes");
    layer.replaceChildren();
    const cur = queue[0];
    const im = $("image");
    const d = cur ? details.get(cur.claim) : null;
    if (!d || !d.boxes || !d.boxes.length || !im.complete || !im.naturalWidth
        || im.getAttribute("src") !== "/image/" + encodeURIComponent(cur.claim)) return;
    const fw = im.clientWidth, fh = im.clientHeight;
    const k = Math.min(fw / im.naturalWidth, fh / im.naturalHeight);
    const ox = im.offsetLeft + (fw - im.naturalWidth * k) / 2, oy = im.offsetTop + (fh - im.naturalHeight * k) / 2;
    for (const b of d.boxes) {
      const el = document.createElement("div");
      el.className = "box " + (b.confidence >= 0.9 ? "sure" : b.confidence >= 0.5 ? "unsure" : "doubt");
      el.style.left = (ox + b.x * k) + "px";
      el.style.top = (oy + b.y * k) + "px";
      el.style.width = Math.max(2, b.w * k) + "px";
      el.style.height = Math.max(2, b.h * k) + "px";
      const label = document.createElement("span");
      label.textContent = b.digit;
      label.title = b.digit + " (" + b.confidence.toFixed(3) + ")";
      el.appendChild(label);
      layer.appendChild(el);
    }
  }

  function showReading() {
    const cur = queue[0];
    const el = $("reading");
    if (typed === "x") { el.textContent = "not a digit"; el.className = "reading reject"; }
    else if (typed) { el.textContent = typed; el.className = "reading typed"; }
    else { el.textContent = cur ? cur.reading : ""; el.className = "reading"; }
    $("typed-hint").textContent = typed ? "(typed: Enter records it, Backspace edits)" : "";
  }

  function render() {
    $("left").textContent = String(queue.length);
    const cur = queue[0];
    $("current").hidden = !cur;
    $("empty").hidden = !!cur;
    if (!cur) return;
    $("name").textContent = cur.file;
    const src = "/image/" + encodeURIComponent(cur.claim);
    if ($("image").getAttribute("src") !== src) { $("boxes").replaceChildren(); $("image").setAttribute("src", src); }
    $("confidence").textContent = cur.confidence;
    $("why").textContent = cur.why || "";
    showReading();
    showRunners();
    drawBoxes();
    fetchDetails(cur.claim);
    for (const next of queue.slice(1, 4)) {       // the next files are in the cache before they are needed
      if (!prefetched.has(next.claim)) {
        const im = new Image();
        im.src = "/image/" + encodeURIComponent(next.claim);
        prefetched.set(next.claim, im);
      }
      fetchDetails(next.claim);
    }
  }

  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST", headers: {"Content-Type": "application/json", "X-Review-Token": token},
      body: JSON.stringify(body), credentials: "same-origin",
      keepalive: true,            // outlives the page: a decision made just before closing it arrives
    });
    let j = {};
    try { j = await r.json(); } catch (e) { j = {error: "the server answered " + r.status}; }
    return [r.status, j];
  }

  // Decisions are shown at once (the next file appears on the keypress) and sent at once, each
  // without waiting for the one before (a person typing ahead, then closing the page, has every
  // decision on its way; chained, the last few were still waiting and were lost with the page).
  // Their answers are taken in order; a refusal (decided in another tab, file gone) shows a
  // message and the queue as the server has it.
  let chain = Promise.resolve();
  const inflight = new Set();   // claims decided here whose answer has not come back yet

  async function reload() {
    const r = await fetch("/api/queue");
    if (r.ok) {
      queue = (await r.json()).items.filter((i) => !inflight.has(i.claim));
      render();
    }
  }

  function record(after) {
    const cur = queue[0];
    if (!cur) return;
    queue.shift();
    typed = "";
    inflight.add(cur.claim);
    render();
    const sent = post("/api/decide", {claim: cur.claim, after: after});
    sent.catch(() => {});         // its failure is taken in its turn, below
    chain = chain.then(() => sent).then(([status, j]) => {
      inflight.delete(cur.claim);
      if (status === 200) {
        done.push(cur.claim);
        say(cur.file + " recorded as " + (after === "x" ? "not a digit" : after), true);
        if (queue.length < 5 && inflight.size === 0) return reload();
      } else {
        say(j.error || ("refused (" + status + ")"));
        return reload();
      }
    }, (e) => {
      inflight.delete(cur.claim);
      say("the review server did not answer (" + e + "); " + cur.file + " is not recorded");
      queue.unshift(cur);
      render();
    });
  }

  function undo() {
    chain = chain.then(async () => {
      if (!done.length) { say("nothing to undo"); return; }
      const claim = done.pop();
      const [status, j] = await post("/api/undo", {claim: claim});
      if (status === 200) { say(j.file + " is back in review", true); typed = ""; await reload(); }
      else say(j.error || ("refused (" + status + ")"));
    }).catch((e) => say("the review server did not answer (" + e + ")"));
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) {
      if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undo(); }
      return;
    }
    if (/^[0-9]$/.test(e.key)) { typed = (typed === "x" ? "" : typed) + e.key; showReading(); e.preventDefault(); }
    else if (e.key === "x" || e.key === "X") { typed = "x"; showReading(); e.preventDefault(); }
    else if (e.key === "Backspace") { typed = typed === "x" ? "" : typed.slice(0, -1); showReading(); e.preventDefault(); }
    else if (e.key === "Escape") { typed = ""; showReading(); }
    else if (e.key === "Enter") {
      e.preventDefault();
      const cur = queue[0];
      if (cur) record(typed || cur.reading);
    } else if (e.key === "u") { e.preventDefault(); undo(); }
  });
  $("image").addEventListener("load", () => {   // a 28x28 drawing is shown large and sharp
    const im = $("image");
    im.className = im.naturalWidth < 200 && im.naturalHeight < 200 ? "small" : "";
    drawBoxes();
  });
  window.addEventListener("resize", drawBoxes);
  $("accept").addEventListener("click", () => { const cur = queue[0]; if (cur) record(typed || cur.reading); });
  $("reject").addEventListener("click", () => record("x"));
  $("undo").addEventListener("click", undo);
  $("undo-empty").addEventListener("click", undo);
  render();
  setInterval(() => { if (inflight.size === 0 && queue.length === 0) reload(); }, 3000);
})();
