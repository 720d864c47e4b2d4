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

// The control an error names: the field of that name, or the visible one
// that stands for it (`data-field`, such as the schedule form's presets).
function fieldOf(form, name) {
  return form.querySelector(`[name="${CSS.escape(name)}"]`) ??
    [...form.querySelectorAll(`[data-field="${CSS.escape(name)}"]`)].find((el) => !el.closest("[hidden]"));
}

// The error in the form's alert, naming the field as the page labels it,
// beside that field when it has a place for it, and the focus on the field
// (or on the alert).
function showError(form, error) {
  const alert = alertOf(form);
  const name = error.field ?? reasonFields[error.reason];
  const field = name && fieldOf(form, name);
  const label = field?.labels?.[0];
  const shown = label ? label.textContent.replace(/\s*\(.*\)\s*$/, "").trim() : error.field;
  if (alert) {
    alert.textContent = shown ? `${shown}: ${error.message}` : error.message;
    alert.hidden = false;
  }
  const beside = field && document.getElementById(`${field.id}-error`);
  if (beside) {
    beside.textContent = error.message;
    beside.hidden = false;
  }
  field?.setAttribute?.("aria-invalid", "true");
  (field || alert)?.focus?.();
}

function clearError(form) {
  const alert = alertOf(form);
  if (alert) alert.hidden = true;
  for (const el of form.querySelectorAll?.("[aria-invalid]") ?? []) {
    el.removeAttribute("aria-invalid");
    const beside = document.getElementById(`${el.id}-error`);
    if (beside) beside.hidden = true;
  }
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


// The import wizard. Upload (or a file in Dropbox), then on one page the
// steps target, mapping, clean, preview and run, one shown at a time. The
// job is saved through the API before its preview, so what the preview
// shows is what a run does; an error the API names a field of is shown at
// the control that field comes from, on that control's step.
function whenDone(form, upload) {
  const job = form.dataset.job ? `&job=${form.dataset.job}` : "";
  location.assign(`/app/imports/new?upload=${upload.id}${job}`);
}

onSubmit(document.getElementById("upload"), async (form) => {
  const status = form.querySelector(".progress-text");
  status.textContent = "Uploading…";
  const body = new FormData();
  body.append("file", form.elements.file.files[0]);
  const upload = await api("POST", "/v1/uploads", body);
  status.textContent = "Uploaded.";
  whenDone(form, upload);
});

onSubmit(document.getElementById("from-dropbox"), async (form) => {
  whenDone(form, await api("POST", "/v1/uploads/dropbox", formJson(form)));
});

const drop = document.getElementById("drop");
if (drop) {
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const input = document.getElementById("file");
    input.files = event.dataTransfer.files;
    document.getElementById("upload").requestSubmit();
  });
}

// Waits until `ms` passed without another call, then runs `fn`.
function debounced(fn, ms = 300) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

const wizard = document.getElementById("wizard");
if (wizard) setUpWizard(wizard);

function setUpWizard(form) {
  const existing = form.dataset.job ? JSON.parse(form.dataset.job) : null;
  const source = form.dataset.upload
    ? { upload_id: form.dataset.upload, ...(form.dataset.sheet ? { sheet: form.dataset.sheet } : {}) }
    : existing?.source;
  let job = existing ? { id: existing.id } : null;
  let fields = [];
  let loadedFor = null;
  let sent = [];
  const $ = (id) => document.getElementById(id);
  const entries = [...form.querySelectorAll("[data-entry]")];
  const alertBox = form.querySelector(".error");

  // --- Steps ---------------------------------------------------------------
  const order = ["target", "mapping", "clean", "preview", "run"];
  function goTo(step, focus = true) {
    for (const section of form.querySelectorAll("[data-step]")) section.hidden = section.dataset.step !== step;
    const at = order.indexOf(step);
    for (const item of document.querySelectorAll("[data-step-link]")) {
      const index = order.indexOf(item.dataset.stepLink);
      item.classList.toggle("done", index < at);
      if (item.dataset.stepLink === step) item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
    }
    if (focus) $(`step-${step}`).focus();
  }
  function fail(error) {
    const control = controlFor(error.field);
    const label = control ? labelOf(control) : null;
    // The API's message may start with its own name of the field.
    const message = error.field && error.message.startsWith(`${error.field}: `)
      ? error.message.slice(error.field.length + 2) : error.message;
    alertBox.textContent = label ? `${label}: ${message}` : message;
    alertBox.hidden = false;
    if (control) {
      goTo(control.closest("[data-step]").dataset.step);
      control.focus();
    } else {
      alertBox.focus();
    }
  }
  function labelOf(control) {
    const label = control.labels?.[0] ?? control.querySelector?.("legend");
    return (label?.textContent ?? control.getAttribute("aria-label") ?? "").trim();
  }
  // The control an API field name comes from: `mapping[2].transform` is
  // the third entry sent.
  function controlFor(field) {
    if (!field) return null;
    const entry = field.match(/^mapping\[(\d+)\](?:\.(\w+))?/);
    if (entry) {
      const sentEntry = sent[Number(entry[1])];
      if (!sentEntry) return null;
      return entry[2] === "transform" ? sentEntry.transform ?? sentEntry.control : sentEntry.control;
    }
    const exact = form.querySelector(`[data-api-field="${CSS.escape(field)}"]`);
    if (exact) return exact.matches("fieldset") ? exact.querySelector("input, select") ?? exact : exact;
    const top = field.split(/[.[]/)[0];
    return form.querySelector(`[data-api-field="${CSS.escape(top)}"]`);
  }
  async function step(button, work) {
    alertBox.hidden = true;
    button.disabled = true;
    try { await work(); } catch (error) { fail(error); } finally { button.disabled = false; }
  }
  for (const button of form.querySelectorAll("[data-next]")) {
    button.addEventListener("click", () => step(button, async () => {
      const next = button.dataset.next;
      const from = button.closest("[data-step]").dataset.step;
      if (order.indexOf(next) > order.indexOf(from)) await leave(from);
      if (next === "preview") await preview();
      goTo(next);
    }));
  }
  // What must hold before leaving a step forward.
  async function leave(step) {
    if (step === "target") {
      if (!$("object").value) {
        throw Object.assign(new Error("choose the table or object to import into"), { field: "target.object" });
      }
      await loadFields();
    }
    if (step === "mapping") {
      if (mapping().length === 0) {
        throw Object.assign(new Error("map at least one column to a field"), { field: "mapping[0].target" });
      }
      fillDedupe();
    }
  }

  // --- Target: the connection, then its tables or objects --------------------
  const objectSelect = $("object");
  const search = $("object-search");
  async function loadObjects() {
    const connection = $("target").value;
    const q = search.value.trim();
    const page = await api("GET", `/v1/targets/${connection}/objects${q ? `?q=${encodeURIComponent(q)}` : ""}`);
    const theJobs = existing?.target?.connection_id === connection ? existing.target.object : undefined;
    const wanted = objectSelect.value || theJobs;
    objectSelect.replaceChildren(...page.objects.map((o) => {
      const option = new Option(o.label && o.label !== o.name ? `${o.label} (${o.name})` : o.name, o.name);
      option.selected = o.name === wanted;
      return option;
    }));
    if (wanted && !page.objects.some((o) => o.name === wanted) && !q) {
      objectSelect.add(new Option(wanted, wanted, true, true), 0);
    }
    const n = page.objects.length;
    $("object-count").textContent = page.next
      ? `The first ${n}; type to find others.`
      : `${n} ${n === 1 ? "table or object" : "tables or objects"}${q ? ` matching “${q}”` : ""}.`;
  }
  const reloadObjects = debounced(() => loadObjects().catch(fail), 250);
  search.addEventListener("input", reloadObjects);
  $("target").addEventListener("change", () => { objectSelect.value = ""; loadObjects().catch(fail); });
  $("operation").addEventListener("change", showKeys);
  function showKeys() {
    $("keys").hidden = $("operation").value === "insert";
  }

  // The object's fields: the mapping's drop-downs, the key's choices, and,
  // for a new job, auto-match's suggestions with their confidence.
  async function loadFields() {
    const connection = $("target").value;
    const object = objectSelect.value;
    const key = `${connection}/${object}`;
    if (loadedFor === key) return;
    const answer = await api("GET", `/v1/targets/${connection}/objects/${encodeURIComponent(object)}/fields`);
    fields = answer.fields;
    const kept = new Map(entries.map((row) => [row, row.querySelector(".field").value]));
    for (const row of entries) {
      const select = row.querySelector(".field");
      select.replaceChildren(new Option("Do not import", ""), ...fields.map(fieldOption));
      if (fields.some((f) => f.name === kept.get(row))) select.value = kept.get(row);
    }
    for (const select of form.querySelectorAll(".formula-target")) fillFormulaTargets(select);
    $("key-fields").replaceChildren(...fields.map((f) => choice("key", f, (existing?.key_fields ?? []).includes(f.name))));
    if (loadedFor === null && existing) applyJob(existing);
    else await suggest();
    loadedFor = key;
    showMapped();
  }
  function fieldOption(f) {
    const words = [f.type, f.required ? "required" : null, f.key ? "key" : null].filter(Boolean).join(", ");
    const option = new Option(`${f.label && f.label !== f.name ? `${f.label} (${f.name})` : f.name} · ${words}`, f.name);
    return option;
  }
  function choice(prefix, f, checked) {
    const id = `${prefix}-${f.name}`;
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = id;
    box.value = f.name;
    box.checked = checked;
    label.append(box, ` ${f.label && f.label !== f.name ? `${f.label} (${f.name})` : f.name}`);
    return label;
  }
  async function suggest() {
    const found = await api("POST", "/v1/mappings/suggest", {
      source, target: { connection_id: $("target").value, object: objectSelect.value },
    });
    for (const row of entries) {
      const match = found.matches.find((m) => m.source === row.dataset.source);
      row.querySelector(".field").value = match?.target ?? "";
      row.querySelector(".match").textContent = match
        ? `Matched ${ruleWords[match.rule]} (${Math.round(match.confidence * 100)}% sure)` : "";
      row.classList.toggle("auto", Boolean(match));
    }
  }
  const ruleWords = { exact: "by its name", name: "by a similar name", label: "by the field's label", synonym: "by a usual other name" };

  // --- Mapping ---------------------------------------------------------------
  for (const row of entries) {
    row.querySelector(".field").addEventListener("change", () => {
      row.querySelector(".match").textContent = "";
      showMapped();
    });
    const transform = row.querySelector(".transform");
    transform.addEventListener("change", () => showTransform(row));
  }
  const transformWords = {
    date: ["Dates in the file are written as", "date-formats"],
    number: ["Numbers in the file are written as in (a language code, e.g. de)", null],
    default: ["Value when empty", null],
  };
  function showTransform(row) {
    const kind = row.querySelector(".transform").value;
    const detail = row.querySelector(".transform-detail");
    const words = transformWords[kind];
    detail.hidden = !words;
    if (!words) return;
    detail.querySelector("label").textContent = words[0];
    const input = detail.querySelector("input");
    if (words[1]) input.setAttribute("list", words[1]); else input.removeAttribute("list");
  }
  function transformOf(row) {
    const kind = row.querySelector(".transform").value;
    const value = row.querySelector(".transform-value").value.trim();
    switch (kind) {
      case "": return undefined;
      case "kept": return JSON.parse(row.dataset.keptTransform);
      case "date": return { type: "date", format: value };
      case "number": return { type: "number", locale: value };
      case "default": return { type: "default", value };
      default: return { type: kind };
    }
  }
  // The mapping as a job takes it, each entry with the control it came from.
  function mapping() {
    sent = [];
    for (const row of entries) {
      const control = row.querySelector(".field");
      if (!control.value) continue;
      const entry = { source: row.dataset.source, target: control.value };
      const transform = transformOf(row);
      if (transform) entry.transform = transform;
      sent.push({ entry, control, transform: row.querySelector(".transform") });
    }
    for (const item of fixed) {
      sent.push({ entry: item.entry, control: item.button, transform: item.button });
    }
    for (const box of form.querySelectorAll(".formula-entry")) {
      const control = box.querySelector(".formula-text");
      const target = box.querySelector(".formula-target").value;
      if (!target && !control.value.trim()) continue;
      sent.push({ entry: { formula: control.value.trim(), target }, control, transform: control });
    }
    return sent.map((s) => s.entry);
  }
  function showMapped() {
    const entriesNow = mapping();
    const auto = entries.filter((row) => row.classList.contains("auto") && row.querySelector(".field").value).length;
    $("mapping-summary").textContent =
      `${entriesNow.length} of ${entries.length} columns go to a field${auto ? `, ${auto} matched automatically` : ""}.`;
    const mapped = new Set(entriesNow.map((e) => e.target));
    const needed = $("operation").value === "insert" || $("operation").value === "upsert";
    const missing = needed ? fields.filter((f) => f.required && !mapped.has(f.name)) : [];
    const warning = $("required-missing");
    warning.hidden = missing.length === 0;
    warning.textContent = `Required, and no column goes to it yet: ${missing.map((f) => f.label || f.name).join(", ")}.`;
  }

  // Formulas: a field computed from the row, checked as it is typed.
  let formulas = 0;
  function addFormula(target = "", text = "") {
    const box = $("formula-template").content.firstElementChild.cloneNode(true);
    const n = ++formulas;
    const select = box.querySelector(".formula-target");
    const input = box.querySelector(".formula-text");
    const check = box.querySelector(".formula-check");
    select.id = `formula-target-${n}`;
    input.id = `formula-text-${n}`;
    check.id = `formula-check-${n}`;
    input.setAttribute("aria-describedby", `formula-check-${n} formula-hint`);
    box.querySelector(".formula-field-label").htmlFor = select.id;
    box.querySelector(".formula-text-label").htmlFor = input.id;
    box.querySelector("legend").textContent = `Formula ${n}`;
    fillFormulaTargets(select);
    select.value = target;
    input.value = text;
    input.addEventListener("input", debounced(() => tryFormula(input, check, false)));
    select.addEventListener("change", showMapped);
    box.querySelector(".remove-formula").addEventListener("click", () => {
      box.remove();
      showMapped();
      $("add-formula").focus();
    });
    $("formulas").append(box);
    if (text) tryFormula(input, check, false);
    return box;
  }
  function fillFormulaTargets(select) {
    const value = select.value;
    select.replaceChildren(new Option("Choose the field", ""), ...fields.map(fieldOption));
    select.value = value;
  }
  $("add-formula").addEventListener("click", () => addFormula().querySelector("select").focus());
  async function tryFormula(input, output, condition) {
    const formula = input.value.trim();
    output.classList.remove("error");
    if (!formula) { output.textContent = ""; return; }
    try {
      const tried = await api("POST", "/v1/formulas/check", { source, formula, condition });
      output.textContent = tried.rows
        .map((r) => `Row ${r.row}: ${r.error ? `no value (${r.error})` : r.value ?? "(empty)"}`)
        .join(" · ");
    } catch (error) {
      output.textContent = error.message;
      output.classList.add("error");
    }
  }
  const filter = $("filter");
  filter.addEventListener("input", debounced(() => tryFormula(filter, $("filter-check"), true)));

  // Saved mappings: start from one, or keep this one for later files.
  api("GET", "/v1/mapping-templates").then(({ templates }) => {
    const select = $("template");
    select.append(...templates.map((t) => new Option(t.name, t.id)));
    select.addEventListener("change", () => {
      const chosen = templates.find((t) => t.id === select.value);
      if (chosen) applyEntries(chosen.entries);
      showMapped();
    });
  }).catch(() => { /* the list stays empty */ });
  $("save-template").addEventListener("click", () => step($("save-template"), async () => {
    const name = $("template-name").value.trim();
    const status = $("template-status");
    if (!name) { status.textContent = "Name the mapping first."; $("template-name").focus(); return; }
    try {
      await api("POST", "/v1/mapping-templates", { name, entries: mapping().filter((e) => e.source) });
      status.textContent = `Saved as “${name}”.`;
    } catch (error) { status.textContent = error.message; }
  }));

  // A job's mapping, or a saved one, set into the controls.
  function applyEntries(list) {
    for (const row of entries) {
      const found = list.find((e) => e.source === row.dataset.source);
      row.querySelector(".field").value = found && fields.some((f) => f.name === found.target) ? found.target : "";
      row.querySelector(".match").textContent = "";
      row.classList.remove("auto");
      setTransform(row, found?.transform);
    }
    for (const box of form.querySelectorAll(".formula-entry")) box.remove();
    for (const e of list.filter((e) => e.formula)) addFormula(e.target, e.formula);
    fixed = [];
    $("fixed").replaceChildren(...list.filter((e) => !e.source && !e.formula).map(fixedItem));
  }
  // A field the job sets without a column or formula (a constant, a
  // lookup), kept as it is unless removed.
  let fixed = [];
  function fixedItem(entry) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = `Remove ${entry.target}`;
    const item = { entry, button };
    button.addEventListener("click", () => {
      fixed = fixed.filter((f) => f !== item);
      li.remove();
      showMapped();
      $("add-formula").focus();
    });
    const kind = [entry.transform].flat()[0]?.type ?? "value";
    li.append(`${entry.target}: set by the job (${kind}) `, button);
    fixed.push(item);
    return li;
  }
  function setTransform(row, transform) {
    const select = row.querySelector(".transform");
    const value = row.querySelector(".transform-value");
    select.querySelector('option[value="kept"]')?.remove();
    const one = Array.isArray(transform) && transform.length === 1 ? transform[0] : transform;
    value.value = "";
    if (!one) select.value = "";
    else if (["trim", "lower", "upper"].includes(one.type) && Object.keys(one).length === 1) select.value = one.type;
    else if (one.type === "date" && one.format) { select.value = "date"; value.value = one.format; }
    else if (one.type === "number" && one.locale) { select.value = "number"; value.value = one.locale; }
    else if (one.type === "default" && one.value !== undefined) { select.value = "default"; value.value = one.value; }
    else {
      row.dataset.keptTransform = JSON.stringify(transform);
      select.add(new Option("As the job has it", "kept", true, true));
    }
    showTransform(row);
  }
  function applyJob(saved) {
    applyEntries(saved.mapping ?? []);
    filter.value = saved.filter ?? "";
    if (saved.filter) tryFormula(filter, $("filter-check"), true);
    form.querySelector(`input[name="blank_values"][value="${saved.blank_values ?? "clear"}"]`).checked = true;
  }

  // --- Clean -----------------------------------------------------------------
  function fillDedupe() {
    const chosen = new Set([...form.querySelectorAll("#dedupe-fields input:checked")].map((b) => b.value));
    if (loadedFor && existing?.dedupe && chosen.size === 0 && !form.dataset.dedupeShown) {
      for (const f of existing.dedupe.fields) chosen.add(f);
      $("dedupe-case").checked = Boolean(existing.dedupe.case_insensitive);
      $("dedupe-keep").value = existing.dedupe.keep ?? "first";
    }
    form.dataset.dedupeShown = "yes";
    const mapped = [...new Set(mapping().map((e) => e.target))];
    $("dedupe-fields").replaceChildren(...mapped.map((name) => {
      const f = fields.find((x) => x.name === name) ?? { name };
      return choice("dedupe", f, chosen.has(name));
    }));
  }
  function definition() {
    const keys = [...form.querySelectorAll("#key-fields input:checked")].map((b) => b.value);
    const dedupeFields = [...form.querySelectorAll("#dedupe-fields input:checked")].map((b) => b.value);
    const body = {
      name: $("job-name").value.trim(),
      target: { connection_id: $("target").value, object: objectSelect.value },
      operation: $("operation").value,
      key_fields: $("operation").value === "insert" ? [] : keys,
      mapping: mapping(),
      filter: filter.value.trim() || null,
      dedupe: dedupeFields.length
        ? { fields: dedupeFields, case_insensitive: $("dedupe-case").checked, keep: $("dedupe-keep").value }
        : null,
      blank_values: form.querySelector('input[name="blank_values"]:checked').value,
    };
    if (form.dataset.upload) body.source = source;
    return body;
  }

  // --- Preview: what a run would write, each problem linked to its fix -----
  async function preview() {
    const body = definition();
    if (job) {
      await api("PATCH", `/v1/jobs/${job.id}`, body);
    } else {
      if (!body.filter) delete body.filter;
      if (!body.dedupe) delete body.dedupe;
      job = await api("POST", "/v1/jobs", body);
    }
    const shown = await api("POST", `/v1/jobs/${job.id}/preview?rows=20`);
    const table = $("preview-rows");
    const head = document.createElement("tr");
    head.append(cell("th", "Row"), ...shown.fields.map((f) => cell("th", f)), cell("th", "Problems"));
    for (const th of head.children) th.scope = "col";
    table.tHead.replaceChildren(head);
    let problems = 0;
    table.tBodies[0].replaceChildren(...shown.rows.map((row) => {
      const tr = document.createElement("tr");
      const values = shown.fields.map((f) => row.values?.[f]);
      const notes = cell("td", row.skipped ? `Skipped: ${row.skipped}` : "");
      for (const error of row.errors ?? []) notes.append(problemLink(error));
      if ((row.errors ?? []).length) { problems += 1; tr.classList.add("problem"); }
      if (row.skipped) tr.classList.add("skipped");
      const bad = new Set((row.errors ?? []).map((e) => e.split(":")[0].trim()));
      const cells = values.map((v, i) => {
        const td = cell("td", v);
        if (bad.has(shown.fields[i])) td.classList.add("bad");
        return td;
      });
      tr.append(cell("th", row.row), ...cells, notes);
      tr.firstElementChild.scope = "row";
      return tr;
    }));
    $("preview-status").textContent = problems
      ? `${shown.rows.length} rows shown; ${problems} with a problem, marked below. Each problem links to the control that fixes it.`
      : `${shown.rows.length} rows shown, none with a problem.`;
  }
  // A problem as a link to the control of the field it names (`joined: …`).
  function problemLink(error) {
    const wrap = document.createElement("span");
    wrap.className = "problem-note";
    const field = error.split(":")[0].trim();
    const from = sent.find((s) => s.entry.target === field);
    if (!from) { wrap.textContent = error; return wrap; }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = error;
    button.setAttribute("aria-label", `${error}: change how ${from.entry.source ?? "the formula"} is read`);
    button.addEventListener("click", () => {
      goTo("mapping");
      from.transform.focus();
    });
    wrap.append(button);
    return wrap;
  }

  // --- Run -------------------------------------------------------------------
  for (const radio of form.querySelectorAll('input[name="how"]')) {
    radio.addEventListener("change", () => { $("trial-options").hidden = radio.value !== "trial" || !radio.checked; });
  }
  $("start-run").addEventListener("click", () => step($("start-run"), async () => {
    const trial = form.querySelector('input[name="how"]:checked').value === "trial";
    const body = trial ? { sample: Number($("sample").value), sample_order: $("sample-order").value } : {};
    $("run-status").textContent = "Starting…";
    const run = await api("POST", `/v1/jobs/${job.id}/runs`, body);
    location.assign(`/app/runs/${run.run_id}`);
  }));

  // Open where the user left off: the target step, with the job's choices.
  if (existing) {
    $("target").value = existing.target.connection_id;
    $("operation").value = existing.operation;
  }
  showKeys();
  goTo("target", false);
  loadObjects().catch(fail);
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text ?? "";
  return el;
}

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

// A job: run it now, delete it, and its schedule, set from a preset or a
// cron expression, paused, resumed or removed.
const jobId = document.getElementById("job")?.dataset.job;
function jobAlert(element, error) {
  const alert = element.closest("section")?.querySelector('[role="alert"]');
  if (alert) {
    alert.textContent = error.message;
    alert.hidden = false;
  }
}

document.getElementById("run-now")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  try {
    button.disabled = true;
    const run = await api("POST", `/v1/jobs/${jobId}/runs`);
    location.assign(`/app/runs/${run.run_id}`);
  } catch (error) {
    jobAlert(button, error);
    button.disabled = false;
  }
});

document.getElementById("delete-job")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  if (!confirm(`Delete the job ${button.dataset.name}? Its runs and their history stay.`)) return;
  try {
    await api("DELETE", `/v1/jobs/${jobId}`);
    location.assign("/app/jobs");
  } catch (error) { jobAlert(button, error); }
});

for (const button of document.querySelectorAll("[data-job-patch]")) {
  button.addEventListener("click", async () => {
    try {
      button.disabled = true;
      await api("PATCH", `/v1/jobs/${jobId}`, JSON.parse(button.dataset.jobPatch));
      location.reload();
    } catch (error) {
      jobAlert(button, error);
      button.disabled = false;
    }
  });
}

const scheduleForm = document.getElementById("schedule-form");
function showPreset() {
  const kind = scheduleForm.elements.kind.value;
  for (const part of scheduleForm.querySelectorAll("[data-for]")) {
    part.hidden = !part.dataset.for.split(" ").includes(kind);
  }
}
if (scheduleForm) {
  showPreset();
  scheduleForm.elements.kind.addEventListener("change", showPreset);
}

// The cron expression a preset stands for (in UTC, as the API keeps it).
function cronOf(form) {
  const f = form.elements;
  const [hour, minute] = (f.time.value || "06:00").split(":").map(Number);
  switch (f.kind.value) {
    case "hourly": return `${f.minute.value.trim() || "0"} * * * *`;
    case "daily": return `${minute} ${hour} * * *`;
    case "weekly": return `${minute} ${hour} * * ${f.day.value}`;
    default: return f.cron.value.trim();
  }
}

onSubmit(scheduleForm, async (form) => {
  await api("PATCH", `/v1/jobs/${form.dataset.job}`, { schedule: cronOf(form) });
  location.reload();
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
