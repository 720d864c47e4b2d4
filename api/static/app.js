// What the pages do with Sluice's JSON API. Every request carries the
// session's CSRF token; errors are shown in the form's alert and the field
// they name gets the focus.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

async function api(method, path, body) {
  const headers = { "X-CSRF-Token": csrf };
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (!res.ok) {
    let error = {};
    try { error = (await res.json()).error ?? {}; } catch { /* not JSON */ }
    const e = new Error(error.message ?? `the request failed (${res.status})`);
    e.field = error.field;
    e.reason = error.reason;
    throw e;
  }
  const type = res.headers.get("Content-Type") ?? "";
  return type.includes("application/json") ? res.json() : res;
}

function alertOf(form) {
  return form.querySelector(".error") ?? document.getElementById("billing-error");
}

// The field a refused connection's reason concerns.
const reasonFields = {
  authentication_failed: "params.password",
  unreachable: "params.host",
  no_such_database: "params.dbname",
  tls_failed: "params.sslmode",
};

// The error in the form's alert, naming the field as the page labels it;
// the focus goes to that field (or to the alert).
function showError(form, error) {
  const alert = alertOf(form);
  const name = error.field ?? reasonFields[error.reason];
  const field = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
  const label = field?.id && form.querySelector(`label[for="${CSS.escape(field.id)}"]`);
  const shown = label ? label.textContent.replace(/\s*\(.*\)\s*$/, "").trim() : error.field;
  if (alert) {
    alert.textContent = shown ? `${shown}: ${error.message}` : error.message;
    alert.hidden = false;
  }
  (field || alert)?.focus?.();
}

function clearError(form) {
  const alert = alertOf(form);
  if (alert) alert.hidden = true;
}

// A form's fields as JSON: `params.host` nests, `data-number` is a number,
// `data-bool` a checkbox's boolean; an empty optional field is left out.
function formJson(form) {
  const out = {};
  for (const el of form.querySelectorAll("[name]")) {
    let value = el.value;
    if (el.hasAttribute("data-bool")) value = el.checked;
    else if (value === "" && !el.required) continue;
    else if (el.hasAttribute("data-number")) value = Number(value);
    const path = el.name.split(".");
    let at = out;
    for (const key of path.slice(0, -1)) at = at[key] ??= {};
    at[path[path.length - 1]] = value;
  }
  return out;
}

function onSubmit(form, handler) {
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(form);
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try { await handler(form); } catch (error) { showError(form, error); } finally { if (button) button.disabled = false; }
  });
}

for (const form of document.querySelectorAll("form[data-api]")) {
  onSubmit(form, async () => {
    const [method, path] = form.dataset.api.split(" ");
    const body = formJson(form);
    if (body.store_results === false) delete body.result_retention_days;
    await api(method, path, body);
    if (form.dataset.then === "reload") location.reload();
  });
}

for (const form of document.querySelectorAll("form[data-oauth]")) {
  onSubmit(form, async () => {
    const name = encodeURIComponent(form.elements.name.value);
    const { authorize_url } = await api("GET", `${form.dataset.oauth}?name=${name}`);
    location.assign(authorize_url);
  });
}

for (const button of document.querySelectorAll("[data-disconnect]")) {
  button.addEventListener("click", async () => {
    if (!confirm(`Disconnect ${button.dataset.name}? Its stored credentials are destroyed.`)) return;
    try { await api("DELETE", `/v1/connections/${button.dataset.disconnect}`); location.reload(); } catch (error) { alert(error.message); }
  });
}

// The instances: a test reaches the system now and says so on its row.
for (const button of document.querySelectorAll("[data-test-connection]")) {
  button.addEventListener("click", async () => {
    const id = button.dataset.testConnection;
    const status = document.getElementById(`test-${id}`);
    status.textContent = "Testing…";
    status.className = "status pending";
    button.disabled = true;
    try {
      const test = await api("POST", `/v1/connections/${id}/test`);
      status.textContent = test.ok ? "Reached" : `Not reachable: ${test.message ?? test.reason}`;
      status.className = `status ${test.ok ? "good" : "bad"}`;
    } catch (error) {
      status.textContent = `The test could not run: ${error.message}`;
      status.className = "status bad";
    } finally { button.disabled = false; }
  });
}

// People: removing someone, after a confirmation.
for (const button of document.querySelectorAll("[data-remove-user]")) {
  button.addEventListener("click", async () => {
    if (!confirm(`Remove ${button.dataset.name}? Their sessions and tokens end at once.`)) return;
    try { await api("DELETE", `/v1/users/${button.dataset.removeUser}`); location.reload(); } catch (error) { alert(error.message); }
  });
}

// API tokens: a new one is shown this once; revoking asks first.
onSubmit(document.getElementById("new-token"), async (form) => {
  const made = await api("POST", "/v1/api-tokens", formJson(form));
  const section = document.getElementById("token-created");
  document.getElementById("token-value").value = made.token;
  form.reset();
  section.hidden = false;
  document.getElementById("token-created-title").focus();
});

document.getElementById("copy-token")?.addEventListener("click", async () => {
  const field = document.getElementById("token-value");
  const status = document.getElementById("copy-status");
  try {
    await navigator.clipboard.writeText(field.value);
    status.textContent = "Copied.";
  } catch {
    field.select();
    status.textContent = document.execCommand("copy") ? "Copied." : "Select the token and copy it.";
  }
});

for (const button of document.querySelectorAll("[data-revoke-token]")) {
  button.addEventListener("click", async () => {
    if (!confirm(`Revoke ${button.dataset.name}? Programs using it are refused from now on.`)) return;
    try { await api("DELETE", `/v1/api-tokens/${button.dataset.revokeToken}`); location.reload(); } catch (error) { alert(error.message); }
  });
}

// A new import: the upload, then the mapping and its preview, then the run.
onSubmit(document.getElementById("upload"), async (form) => {
  const status = form.querySelector(".status");
  status.textContent = "Uploading…";
  const body = new FormData();
  body.append("file", form.elements.file.files[0]);
  const upload = await api("POST", "/v1/uploads", body);
  status.textContent = "Uploaded.";
  location.assign(`/app/imports/new?upload=${upload.id}`);
});

let job = null;
onSubmit(document.getElementById("mapping"), async (form) => {
  const mapping = [...form.querySelectorAll("[data-source]")]
    .filter((input) => input.value.trim() !== "")
    .map((input) => ({ source: input.dataset.source, target: input.value.trim() }));
  const keys = form.elements.key_fields.value.split(",").map((k) => k.trim()).filter(Boolean);
  const definition = {
    name: form.elements.name.value,
    source: { upload_id: form.dataset.upload },
    target: { connection_id: form.elements.connection_id.value, object: form.elements.object.value.trim() },
    operation: form.elements.operation.value,
    key_fields: keys,
    mapping,
  };
  job = job ? await api("PATCH", `/v1/jobs/${job.id}`, definition) : await api("POST", "/v1/jobs", definition);
  const preview = await api("POST", `/v1/jobs/${job.id}/preview?rows=10`);
  showPreview(preview);
});

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text ?? "";
  return el;
}

function showPreview(preview) {
  const section = document.getElementById("preview");
  const table = document.getElementById("preview-rows");
  const head = document.createElement("tr");
  head.append(cell("th", "Row"), ...preview.fields.map((f) => cell("th", f)), cell("th", "Problems"));
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...preview.rows.map((row) => {
    const tr = document.createElement("tr");
    const values = Array.isArray(row.values) ? row.values : preview.fields.map((f) => row.values?.[f]);
    tr.append(cell("td", row.row), ...values.map((v) => cell("td", v)), cell("td", (row.errors ?? []).join("; ")));
    return tr;
  }));
  const problems = preview.rows.filter((r) => (r.errors ?? []).length > 0).length;
  section.querySelector(".status").textContent =
    `${preview.rows.length} rows shown, ${problems} with problems.`;
  section.hidden = false;
  document.getElementById("preview-title").focus();
}

document.getElementById("start-run")?.addEventListener("click", async (event) => {
  const section = document.getElementById("preview");
  try {
    event.target.disabled = true;
    const run = await api("POST", `/v1/jobs/${job.id}/runs`);
    location.assign(`/app/runs/${run.run_id}`);
  } catch (error) {
    section.querySelector(".status").textContent = error.message;
    event.target.disabled = false;
  }
});

// Counts and times as the viewer writes them: numbers grouped in the
// browser's locale, times in its time zone.
const numberFormat = new Intl.NumberFormat();
function showNumber(element, n) {
  element.dataset.count = n;
  element.textContent = numberFormat.format(n);
}
for (const element of document.querySelectorAll("[data-count]")) {
  showNumber(element, Number(element.dataset.count));
}
for (const element of document.querySelectorAll("time[datetime]")) {
  const at = new Date(element.getAttribute("datetime"));
  if (!Number.isNaN(at.getTime())) {
    element.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }
}

// A run: its progress until it ends (the rows read of the source's, the
// share done and an estimate of the time left), then the page again, which
// shows how it ended and what can be done next.
const runSection = document.getElementById("run");
const pendingWords = { queued: "Waiting to start", running: "Running", rolling_back: "Rolling back" };
function showProgress(run) {
  const total = run.rows_total;
  const read = run.rows_read;
  const progress = document.getElementById("progress");
  const text = document.getElementById("progress-text");
  if (!progress || !text || !total) return;
  progress.max = total;
  progress.value = Math.min(read, total);
  const share = Math.min(100, Math.floor((read / total) * 100));
  let left = "";
  const started = run.started_at ? new Date(run.started_at).getTime() : NaN;
  if (read > 0 && read < total && !Number.isNaN(started)) {
    const seconds = Math.round(((Date.now() - started) / read) * (total - read) / 1000);
    left = seconds < 60 ? `, about ${seconds} s left` : `, about ${Math.round(seconds / 60)} min left`;
  }
  text.textContent = `${numberFormat.format(read)} of ${numberFormat.format(total)} rows (${share}%)${left}`;
}
if (runSection && runSection.dataset.finished !== "true") {
  const timer = setInterval(async () => {
    try {
      const run = await api("GET", `/v1/runs/${runSection.dataset.run}`);
      if (run.finished_at) {
        clearInterval(timer);
        location.reload();
        return;
      }
      const finishing = run.rows_total && run.rows_read >= run.rows_total && run.started_at;
      document.getElementById("status").textContent =
        finishing ? "Finishing: writing the result files" : (pendingWords[run.status] ?? run.status);
      runSection.dataset.status = run.status;
      showNumber(document.getElementById("rows-read"), run.rows_read);
      showNumber(document.getElementById("rows-ok"), run.rows_ok);
      showNumber(document.getElementById("rows-failed"), run.rows_failed);
      document.getElementById("message").textContent = run.message ?? "";
      showProgress(run);
    } catch { /* the next tick tries again */ }
  }, 1000);
}

onSubmit(document.getElementById("rollback"), async (form) => {
  if (!confirm("Roll back this run? What it wrote is undone.")) return;
  const rollback = await api("POST", `/v1/runs/${form.dataset.run}/rollback`, {});
  location.assign(`/app/runs/${rollback.run_id}`);
});

onSubmit(document.getElementById("retry-failed"), async (form) => {
  const retry = await api("POST", `/v1/runs/${form.dataset.run}/retry`);
  location.assign(`/app/runs/${retry.run_id}`);
});

onSubmit(document.getElementById("run-rest"), async (form) => {
  const rest = await api("POST", `/v1/jobs/${form.dataset.job}/runs`, { remaining_of: form.dataset.run });
  location.assign(`/app/runs/${rest.run_id}`);
});

// Settings: billing, export, erasure.
for (const button of document.querySelectorAll("[data-checkout]")) {
  button.addEventListener("click", async () => {
    try {
      const session = await api("POST", "/v1/billing/checkout", { plan: button.dataset.checkout });
      location.assign(session.url);
    } catch (error) { showError(button.parentElement, error); }
  });
}

document.getElementById("portal")?.addEventListener("click", async (event) => {
  try { location.assign((await api("POST", "/v1/billing/portal")).url); } catch (error) { showError(event.target.parentElement, error); }
});

document.getElementById("export")?.addEventListener("click", async (event) => {
  const status = event.target.parentElement.querySelector(".status");
  status.textContent = "Preparing the export…";
  try {
    const res = await api("POST", "/v1/account/export");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await res.blob());
    link.download = "sluice-export.zip";
    link.click();
    status.textContent = "The export is downloaded.";
  } catch (error) { status.textContent = error.message; }
});

onSubmit(document.getElementById("erase"), async (form) => {
  await api("DELETE", "/v1/account", { confirm: form.elements.confirm.value });
  location.assign("/signup");
});
