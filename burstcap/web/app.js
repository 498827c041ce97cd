// burstcap phone page: shutter, ratio choice, live job status (server-sent events), gallery.
// The access token comes from the URL fragment (#token=...) the server prints, is kept in
// sessionStorage and removed from the address bar. API calls send it as a bearer header;
// EventSource and <img> cannot send headers, so the event stream and thumbnails carry ?token=.
// The full-size image is fetched with the header and opened as a blob: URL (no token in history).
"use strict";

const TOKEN_KEY = "burstcap-token";
const GALLERY_SIZE = 12;
const POLL_MS = 2000;

const $ = (id) => document.getElementById(id);

function takeToken() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token")
    || new URLSearchParams(location.search).get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, "", location.pathname); // keep the token out of history/bookmarks
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

const token = takeToken();
let followedJob = null; // id of the job this page started, shown in the status panel
let pollTimer = null;

function withToken(url) {
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json",
               ...(options.headers || {}) },
  });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : response.statusText;
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return body;
}

function showError(message) {
  const el = $("status-error");
  el.textContent = message || "";
  el.hidden = !message;
}

function describe(job) {
  const labels = { capturing: "Capturing", queued: "Waiting to process", processing: "Processing",
                   done: "Done", failed: "Failed" };
  let text = `${labels[job.state] || job.state} (×${job.ratio})`;
  if (!["done", "failed"].includes(job.state) && job.stage) text += ": " + job.stage;
  if (job.state === "done" && job.timings.total_s !== undefined) {
    text += ` in ${job.timings.total_s.toFixed(1)} s`;
  }
  return text;
}

function renderStatus(jobs) {
  const job = jobs.find((j) => j.id === followedJob) || jobs[0];
  const shutter = $("shutter");
  const capturing = jobs.some((j) => j.state === "capturing");
  shutter.disabled = capturing;
  shutter.classList.toggle("busy", capturing);
  if (!job) return;
  $("status-text").textContent = describe(job);
  const bar = $("status-progress");
  bar.hidden = job.state === "done" || job.state === "failed";
  bar.value = job.progress;
  if (job.state === "failed") showError(job.error);
  else if (job.id === followedJob) showError("");
}

function image(src, alt, className) {
  const img = document.createElement("img");
  img.src = withToken(src);
  img.alt = alt;
  img.loading = "lazy";
  if (className) img.className = className;
  return img;
}

function renderGallery(jobs) {
  const gallery = $("gallery");
  const items = [];
  for (const job of jobs.filter((j) => j.state === "done")) {
    for (const pair of job.pairs) {
      if (pair.result_url && pair.thumbnail_urls.result) items.push([job, pair]);
    }
  }
  const wanted = items.slice(0, GALLERY_SIZE).map(([job, pair]) => `${job.id}:${pair.index}`);
  const current = [...gallery.children].map((li) => li.dataset.key);
  $("gallery-empty").hidden = items.length > 0;
  if (wanted.join() === current.join()) return; // unchanged: keep loaded images
  gallery.replaceChildren(...items.slice(0, GALLERY_SIZE).map(([job, pair]) => {
    const li = document.createElement("li");
    li.dataset.key = `${job.id}:${pair.index}`;
    const link = document.createElement("a");
    link.href = pair.result_url; // without the token: openFullSize fetches it with the header
    link.addEventListener("click", (event) => openFullSize(event, pair.result_url));
    link.append(image(pair.thumbnail_urls.result, "fused result", "result"));
    const inputs = document.createElement("div");
    inputs.className = "inputs";
    for (const kind of ["short", "long"]) {
      if (pair.thumbnail_urls[kind]) inputs.append(image(pair.thumbnail_urls[kind], kind + " exposure", kind));
    }
    const caption = document.createElement("div");
    caption.className = "caption";
    const when = new Date(job.created * 1000).toLocaleTimeString();
    caption.textContent = `×${job.ratio} · ${when} · ${(job.timings.total_s || 0).toFixed(1)} s`;
    li.append(link, inputs, caption);
    if (pair.report) li.append(figures(pair.report));
    return li;
  }));
}

// The key figures of a shot's report (README "The report per shot"), one line under its result.
function figures(report) {
  const line = document.createElement("div");
  line.className = "figures";
  const guard = report.ghost_guard.enabled
    ? `guard ${(report.ghost_guard.short_share * 100).toFixed(1)}% short`
    : "guard off";
  const parts = [
    `ratio ${report.ratio.toFixed(2)} (${report.ratio_source})`,
    `shift ${report.alignment.shift_px.toFixed(1)} px`,
    guard,
    `${report.model} on ${report.device}`,
    `${report.seconds.total.toFixed(1)} s`,
  ];
  if (report.warnings.length) parts.push(`⚠ ${report.warnings.join("; ")}`);
  line.textContent = parts.join(" · ");
  return line;
}

async function openFullSize(event, url) {
  event.preventDefault();
  const tab = window.open("about:blank", "_blank"); // opened now, inside the tap (no pop-up block)
  try {
    const response = await fetch(url, { headers: { "Authorization": "Bearer " + token } });
    if (!response.ok) throw new Error(`full-size image: ${response.status} ${response.statusText}`);
    const blobUrl = URL.createObjectURL(await response.blob());
    if (tab) {
      tab.opener = null;
      tab.location.href = blobUrl;
    } else {
      location.href = blobUrl;
    }
  } catch (error) {
    if (tab) tab.close();
    showError(error.message);
  }
}

function render(jobs) {
  renderStatus(jobs);
  renderGallery(jobs);
}

async function refresh() {
  try {
    render((await api("/api/jobs?limit=20")).jobs);
  } catch (error) {
    handleApiError(error);
  }
}

function handleApiError(error) {
  if (error.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("token-missing").hidden = false;
  }
  showError(error.message);
}

function listen() {
  const source = new EventSource(withToken("/api/events"));
  source.addEventListener("jobs", (event) => {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    render(JSON.parse(event.data).jobs);
  });
  source.onerror = () => { // the browser retries by itself; poll meanwhile
    if (!pollTimer) pollTimer = setInterval(refresh, POLL_MS);
  };
}

async function loadCamera() {
  try {
    const cam = await api("/api/camera");
    if (!cam.connected) {
      $("camera").textContent = "camera: " + (cam.error || "not connected");
      return;
    }
    const s = cam.settings;
    const parts = [cam.model];
    if (cam.battery) parts.push("battery " + cam.battery);
    for (const name of ["shutterspeed", "iso", "f-number"]) if (s[name]) parts.push(s[name]);
    $("camera").textContent = parts.join(" · ");
  } catch (error) {
    $("camera").textContent = "camera: " + error.message;
  }
}

async function shoot() {
  const ratio = Number(document.querySelector("input[name=ratio]:checked").value);
  $("shutter").disabled = true;
  showError("");
  try {
    const job = await api("/api/shoot", { method: "POST", body: JSON.stringify({ ratio, count: 1 }) });
    followedJob = job.id;
    $("status-text").textContent = describe(job);
  } catch (error) {
    $("shutter").disabled = false;
    handleApiError(error);
  }
}

function start() {
  if (!token) {
    $("token-missing").hidden = false;
    $("shutter").disabled = true;
    return;
  }
  $("shutter").addEventListener("click", shoot);
  refresh();
  listen();
  loadCamera();
}

start();
