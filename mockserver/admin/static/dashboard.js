// pixverse-mock dashboard: keeps /__admin/ live and wires its controls.
// Plain JavaScript, no build step, no third-party code.  Every section's HTML comes
// escaped from the server (admin/page.py); what this script writes itself goes in
// through textContent.  Writes are same-origin fetches with a JSON Content-Type.
(function () {
  "use strict";

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var clock = null;        // {now, scale, frozen, at: performance.now() when received}
  var source = null;       // the EventSource
  var pending = {};        // sections held back while the user works inside them
  var inspected = null;    // seq of the entry in the inspector
  var lastCurl = "";

  function readClock() {
    var el = $("#clock");
    clock = { now: parseFloat(el.dataset.now), scale: parseFloat(el.dataset.scale),
              frozen: el.dataset.frozen === "1", at: performance.now() };
  }

  function virtualNow() {
    if (clock.frozen) return clock.now;
    return clock.now + (performance.now() - clock.at) / 1000 * clock.scale;
  }

  function fmt(t) {
    var d = new Date(t * 1000);
    return isNaN(d.getTime()) ? t.toFixed(3) : d.toISOString().replace("T", " ");
  }

  function tick() {
    var now = virtualNow();
    $("#clock-now").textContent = fmt(now);
    var tl = $("#timeline"), line = $("#now-line");
    if (tl && line) {
      var t0 = parseFloat(tl.dataset.t0), t1 = parseFloat(tl.dataset.t1);
      var pct = Math.min(100, Math.max(0, (now - t0) / (t1 - t0) * 100));
      line.style.left = pct.toFixed(3) + "%";
    }
  }

  function showClock() {
    $("#clock-scale").textContent = String(clock.scale);
    $("#clock-frozen").textContent = clock.frozen ? ", frozen" : "";
    $("#freeze").textContent = clock.frozen ? "unfreeze" : "freeze";
    tick();
  }

  function setClock(c) {
    clock = { now: c.now, scale: c.scale, frozen: c.frozen, at: performance.now() };
    showClock();
  }

  // live sections ------------------------------------------------------------------
  function swap(id, html) {
    var el = id === "counts" ? $("#counts") : document.getElementById(id + "-live");
    if (!el) return;
    if (id !== "timeline" && id !== "counts" && el.contains(document.activeElement)) {
      pending[id] = html;  // do not yank a select or button from under the user
      return;
    }
    delete pending[id];
    el.innerHTML = html;
    if (id === "requests") markInspected();
  }

  document.addEventListener("focusout", function () {
    setTimeout(function () {
      Object.keys(pending).forEach(function (id) { swap(id, pending[id]); });
    }, 0);
  });

  function filterQuery() {
    var params = new URLSearchParams();
    new FormData($("#filters")).forEach(function (value, name) {
      if (String(value).trim()) params.set(name, String(value).trim());
    });
    return params.toString();
  }

  function connect() {
    if (source) source.close();
    var qs = filterQuery();
    source = new EventSource("/__admin/events" + (qs ? "?" + qs : ""));
    source.addEventListener("state", function (event) {
      var data = JSON.parse(event.data);
      setClock(data.clock);
      Object.keys(data.sections).forEach(function (id) { swap(id, data.sections[id]); });
    });
    source.onopen = function () { $("#live").textContent = "(live)"; };
    source.onerror = function () { $("#live").textContent = "(reconnecting...)"; };
  }

  // writes ---------------------------------------------------------------------------
  function send(method, url, body) {
    var init = { method: method, credentials: "same-origin", headers: { "Content-Type": "application/json" } };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(url, init).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          var msg = data && data.message ? data.message : "HTTP " + resp.status;
          if (data && data.errors) {
            msg += ": " + data.errors.map(function (e) { return (e.field || "rule") + ": " + e.message; }).join("; ");
          }
          throw new Error(msg);
        }
        return data;
      });
    });
  }

  function say(el, text, bad) {
    el.textContent = text;
    el.classList.toggle("bad", !!bad);
  }

  function control(promise, ok) {
    var status = $("#control-status");
    promise.then(function (data) { say(status, ok(data)); },
                 function (err) { say(status, err.message, true); });
  }

  function postClock(body) {
    control(send("POST", "/__admin/clock", body), function (data) {
      setClock(data);
      return "clock " + fmt(data.now) + ", " + data.scale + "x" + (data.frozen ? ", frozen" : "");
    });
  }

  $("#clock-controls").addEventListener("click", function (event) {
    var button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.advance) postClock({ advance: parseFloat(button.dataset.advance) });
    else if (button.id === "advance-custom") {
      var seconds = parseFloat($("#advance-by").value);
      if (isNaN(seconds)) say($("#control-status"), "advance by how many seconds?", true);
      else postClock({ advance: seconds });
    } else if (button.id === "freeze") postClock({ freeze: !clock.frozen });
    else if (button.id === "set-scale") {
      var scale = parseFloat($("#scale").value);
      if (isNaN(scale)) say($("#control-status"), "scale must be a number", true);
      else postClock({ scale: scale });
    } else if (button.id === "reset-all") {
      control(send("POST", "/__admin/reset", {}), function (d) {
        return "reset: " + d.jobs + " jobs, " + d.journal + " requests, " + d.faults + " faults dropped";
      });
    } else if (button.id === "reset-test") {
      var testId = $("#reset-test-id").value.trim();
      if (!testId) { say($("#control-status"), "which test id?", true); return; }
      control(send("POST", "/__admin/reset", { test_id: testId }), function (d) {
        return "reset " + testId + ": " + d.jobs + " jobs, " + d.journal + " requests, " + d.faults + " faults";
      });
    }
  });

  function jobPath(provider, id) {
    return "/__admin/jobs/" + encodeURIComponent(provider) + "/" + encodeURIComponent(id).replace(/%2F/gi, "/");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.force, button.remove-fault");
    if (!button) return;
    if (button.classList.contains("force")) {
      var state = button.parentNode.querySelector("select").value;
      control(send("POST", jobPath(button.dataset.provider, button.dataset.job), { status: state }),
              function (job) { return job.provider + " " + job.id + " forced " + job.status; });
    } else {
      control(send("DELETE", "/__admin/faults/" + encodeURIComponent(button.dataset.fault)),
              function () { return "fault " + button.dataset.fault + " removed"; });
    }
  });

  // the fault form: fields typed by the server from the rule model
  var form = $("#fault-form");
  var providerSelect = form.elements.provider, operationSelect = form.elements.operation;
  providerSelect.addEventListener("change", function () {
    var provider = providerSelect.value;
    Array.prototype.forEach.call(operationSelect.querySelectorAll("optgroup"), function (group) {
      group.hidden = !!provider && group.label !== provider;
    });
    var chosen = operationSelect.selectedOptions[0];
    if (chosen && chosen.dataset.provider && provider && chosen.dataset.provider !== provider) {
      operationSelect.value = "";
    }
  });

  function ruleFromForm() {
    var rule = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.value.trim() === "") return;
      var raw = el.value.trim(), type = el.dataset.type, value = raw;
      if (type === "int") {
        value = Number(raw);
        if (!Number.isInteger(value)) throw new Error(el.name + " must be a whole number");
      } else if (type === "float") {
        value = Number(raw);
        if (isNaN(value)) throw new Error(el.name + " must be a number");
      } else if (type === "json") {
        try { value = /^[\[{]/.test(raw) ? JSON.parse(raw) : Number(raw); }
        catch (e) { throw new Error(el.name + ": " + e.message); }
        if (typeof value === "number" && isNaN(value)) throw new Error(el.name + " must be a number or JSON");
      }
      rule[el.name] = value;
    });
    return rule;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var status = form.querySelector(".form-status"), rule;
    try { rule = ruleFromForm(); } catch (err) { say(status, err.message, true); return; }
    send("POST", "/__admin/faults", rule).then(function (data) {
      say(status, "added " + data.faults.map(function (r) { return r.id; }).join(", "));
    }, function (err) { say(status, err.message, true); });
  });

  $("#filters").addEventListener("change", function (event) {
    if (event.target.tagName === "SELECT") $("#filters").requestSubmit();
  });
  $("#filters").addEventListener("submit", function (event) {
    event.preventDefault();
    var qs = filterQuery();
    history.replaceState(null, "", "/__admin/" + (qs ? "?" + qs : ""));
    connect();
  });

  // the inspector --------------------------------------------------------------------
  function pretty(text) {
    if (text === null || text === undefined) return "(no body)";
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  function headerText(headers, missing) {
    if (!headers) return missing;
    return headers.map(function (h) { return h[0] + ": " + h[1]; }).join("\n");
  }

  function markInspected() {
    Array.prototype.forEach.call(document.querySelectorAll("#requests tr.entry"), function (row) {
      row.classList.toggle("selected", Number(row.dataset.seq) === inspected);
    });
  }

  function inspect(seq) {
    inspected = seq;
    markInspected();
    var status = $("#insp-status");
    fetch("/__admin/journal/entries/" + seq, { credentials: "same-origin" }).then(function (resp) {
      return resp.json().then(function (e) {
        if (!resp.ok) throw new Error(e.message || "HTTP " + resp.status);
        return e;
      });
    }).then(function (e) {
      $("#inspector").hidden = false;
      $("#insp-title").textContent = "#" + e.seq + " " + (e.provider || "-") + " " + (e.operation || "(no route)");
      $("#insp-request-line").textContent = e.method + " " + e.path + (e.query ? "?" + e.query : "") +
        "\nvirtual time " + fmt(e.time) + (e.test_id !== null ? "\ntest id " + e.test_id : "") +
        (e.api_key !== null ? "\napi key " + e.api_key : "");
      $("#insp-request-headers").textContent = headerText(e.request_headers,
        "(headers are kept only while a dashboard is open: this request came before)");
      $("#insp-request-body").textContent = pretty(e.request_body);
      $("#insp-status-line").textContent = "HTTP " + e.status + " in " + e.latency_ms + " ms" +
        (e.faults.length ? "\ninjected faults: " + e.faults.join(", ") : "") +
        (e.task_id ? "\ntask " + e.task_id : "");
      $("#insp-response-headers").textContent = headerText(e.response_headers, "(headers not kept)");
      $("#insp-response-body").textContent = pretty(e.response_body);
      $("#insp-curl").textContent = lastCurl = e.curl;
      say(status, "");
    }, function (err) { $("#inspector").hidden = false; say(status, err.message, true); });
  }

  $("#requests-live").addEventListener("click", function (event) {
    var row = event.target.closest("tr.entry");
    if (row) inspect(Number(row.dataset.seq));
  });
  $("#requests-live").addEventListener("keydown", function (event) {
    var row = event.target.closest("tr.entry");
    if (row && event.key === "Enter") inspect(Number(row.dataset.seq));
  });
  $("#insp-close").addEventListener("click", function () {
    $("#inspector").hidden = true;
    inspected = null;
    markInspected();
  });
  $("#copy-curl").addEventListener("click", function () {
    var status = $("#insp-status");
    function fallback() {
      var range = document.createRange();
      range.selectNodeContents($("#insp-curl"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      say(status, document.execCommand("copy") ? "copied" : "selected: press Ctrl+C");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(lastCurl).then(function () { say(status, "copied"); }, fallback);
    } else fallback();
  });

  readClock();
  showClock();
  setInterval(tick, 200);
  connect();
})();
