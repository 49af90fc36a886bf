// callfocus supervisor console: plain JS, no build, no libraries.
// Data arrives over one Server-Sent Events stream (/api/nudges/stream): "calls" (the call
// list, pushed at most once a second when it changed) and "entry" (one entry of the feed per
// call and type, nudges and Alertmanager's call alerts merged; a changed entry is sent again
// and replaces its row). Text is only ever set with textContent / text nodes, never parsed as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "callfocus.console.token";
  const MAX_FEED = 200;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    team: "",
    source: null,
    selected: null,
    selectedStamp: null,
    entries: new Map(), // feed entry key -> its <li>
    backlogDone: false,
    retryTimer: null,
    agent: null, // the agent page's agent id, when it is open
    agentTimer: null,
  };

  const $ = (selector) => document.querySelector(selector);

  class Unauthorized extends Error {}

  // -- DOM helpers -------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // -- formatting --------------------------------------------------------------------
  function duration(ms) {
    const total = Math.max(0, Math.floor((ms || 0) / 1000));
    const minutes = Math.floor(total / 60);
    const seconds = total % 60;
    return `${String(minutes).padStart(2, "0")}:${String(seconds).padStart(2, "0")}`;
  }

  function seconds(value) {
    if (value === null || value === undefined) return "—";
    const s = Math.round(value);
    return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
  }

  function percent(value) {
    return value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`;
  }

  function number(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  function clock(ms) {
    return ms ? new Date(ms).toLocaleTimeString([], { hour12: false }) : "";
  }

  function scoreBand(score) {
    if (score === null || score === undefined) return "none";
    if (score >= 70) return "good";
    if (score >= 45) return "fair";
    return "poor";
  }

  function scoreBadge(score) {
    return el(
      "span",
      { class: "score", "data-band": scoreBand(score) },
      score === null || score === undefined ? "—" : Math.round(score),
    );
  }

  function setStatus(stateName, text) {
    const status = $("#status");
    status.dataset.state = stateName;
    status.textContent = text;
  }

  // -- API ---------------------------------------------------------------------------
  async function api(path) {
    const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
    const response = await fetch(path, { headers, cache: "no-store" });
    if (response.status === 401) throw new Unauthorized("unauthorized");
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // a JSON POST (the console wants Content-Type: application/json); the answer and its status
  async function apiPost(path, body) {
    const headers = { "Content-Type": "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), cache: "no-store" });
    if (response.status === 401) throw new Unauthorized("unauthorized");
    let answer = null;
    try {
      answer = await response.json();
    } catch (error) {
      answer = null;
    }
    return { status: response.status, ok: response.ok, body: answer };
  }

  function showTokenForm(message) {
    closeStream();
    $("#console-main").hidden = true;
    $("#token-form").hidden = false;
    $("#token-error").textContent = message || "";
    setStatus("unauthorized", "token required");
    $("#token-input").focus();
  }

  async function start() {
    clearTimeout(state.retryTimer);
    let teams;
    try {
      teams = await api("/api/teams");
    } catch (error) {
      if (error instanceof Unauthorized) {
        showTokenForm(state.token ? "That token was not accepted." : "");
        return;
      }
      setStatus("error", "worker unreachable, retrying…");
      state.retryTimer = setTimeout(start, 3000);
      return;
    }
    $("#token-form").hidden = true;
    $("#console-main").hidden = false;
    renderTeams(teams);
    openStream();
  }

  function closeStream() {
    if (state.source) {
      state.source.close();
      state.source = null;
    }
  }

  function openStream() {
    closeStream();
    const params = new URLSearchParams();
    if (state.team) params.set("team", state.team);
    if (state.token) params.set("token", state.token); // EventSource cannot send headers
    const query = params.toString();
    const source = new EventSource(`/api/nudges/stream${query ? `?${query}` : ""}`);
    state.source = source;
    state.backlogDone = false;
    source.addEventListener("open", () => setStatus("live", "live"));
    source.addEventListener("calls", (event) => {
      state.backlogDone = true;
      onCalls(JSON.parse(event.data));
    });
    source.addEventListener("entry", (event) => addEntry(JSON.parse(event.data)));
    source.addEventListener("error", () => {
      if (source !== state.source) return;
      setStatus("connecting", "reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        // the browser gave up (e.g. 401 or the worker restarted): find out why, then retry
        closeStream();
        state.retryTimer = setTimeout(start, 2000);
      }
    });
  }

  // -- calls -------------------------------------------------------------------------
  function renderTeams(teams) {
    const select = $("#team-filter");
    const wanted = new Set(teams);
    if (state.team) wanted.add(state.team);
    const current = Array.from(select.options).slice(1).map((o) => o.value);
    const sorted = Array.from(wanted).sort();
    if (current.join("\u0000") === sorted.join("\u0000")) return;
    select.replaceChildren(el("option", { value: "" }, "All teams"));
    for (const team of sorted) select.append(el("option", { value: team }, team));
    select.value = state.team;
  }

  function lastNudgeCell(nudge) {
    if (!nudge) return el("td", { class: "last-nudge" }, "—");
    return el(
      "td",
      { class: "last-nudge", title: nudge.message, "data-nudge-type": nudge.type },
      el("span", { class: "badge", "data-severity": nudge.severity }, nudge.severity),
      " ",
      nudge.type,
      " ",
      el("span", { class: "nudge-time" }, clock(nudge.created_at)),
    );
  }

  function callRow(call) {
    const row = el(
      "tr",
      {
        "data-call-id": call.call_id,
        "data-team": call.team,
        "data-score": call.score === null ? "" : call.score,
        class: [call.call_id === state.selected ? "selected" : "", call.ended ? "ended" : ""].join(" ").trim(),
        title: call.call_id,
      },
      el("td", { class: "agent" }, agentLink(call.agent_id, call.team)),
      el("td", { class: "team" }, call.team),
      el("td", { class: "duration num" }, duration(call.media_time_ms), call.ended ? " (ended)" : ""),
      el("td", { class: "score-cell num" }, scoreBadge(call.score)),
      el("td", { class: "talk-ratio num" }, percent(call.talk_ratio)),
      el("td", { class: "monologue num" }, seconds(call.monologue_current_seconds)),
      lastNudgeCell(call.last_nudge),
    );
    row.addEventListener("click", () => selectCall(call.call_id));
    return row;
  }

  function onCalls(message) {
    renderTeams(message.teams || []);
    const calls = message.calls || [];
    $("#calls tbody").replaceChildren(...calls.map(callRow));
    $("#no-calls").hidden = calls.length > 0;
    $("#call-count").textContent = state.team
      ? `${calls.length} calls in ${state.team} · ${message.total} in all`
      : `${message.total} live calls`;
    if (state.selected) {
      const call = calls.find((c) => c.call_id === state.selected);
      const stamp = call ? `${call.emitted_at}/${call.last_nudge ? call.last_nudge.nudge_id : ""}` : null;
      if (call && stamp !== state.selectedStamp) {
        state.selectedStamp = stamp;
        loadDetail(state.selected);
      }
    }
  }

  // -- call detail -------------------------------------------------------------------
  async function selectCall(callId) {
    state.selected = callId;
    state.selectedStamp = null;
    for (const row of document.querySelectorAll("#calls tbody tr")) {
      row.classList.toggle("selected", row.dataset.callId === callId);
    }
    await loadDetail(callId);
  }

  async function loadDetail(callId) {
    let detail;
    try {
      detail = await api(`/api/calls/${encodeURIComponent(callId)}`);
    } catch (error) {
      if (error instanceof Unauthorized) showTokenForm("That token was not accepted.");
      return;
    }
    if (callId !== state.selected) return;
    renderDetail(detail);
  }

  function renderDetail(detail) {
    const panel = $("#detail");
    panel.hidden = false;
    panel.dataset.callId = detail.call_id;
    $("#detail-call-id").textContent = detail.call_id;
    const s = detail.snapshot || {};
    const facts = [
      ["Agent", s.agent_id],
      ["Team", s.team],
      ["Queue", s.queue],
      ["Duration", duration(s.media_time_ms) + (s.ended ? " (ended)" : "")],
      ["Score", s.score === null || s.score === undefined ? "—" : Math.round(s.score)],
      ["Talk ratio 60s", percent(s.talk_ratio_60s)],
      ["Talk ratio 180s", percent(s.talk_ratio)],
      ["Monologue now", seconds(s.monologue_current_seconds)],
      ["Longest monologue", seconds(s.monologue_longest_seconds)],
      ["Questions/min", number(s.questions_per_minute, 2)],
      ["You-focus", percent(s.you_focus_ratio)],
      ["Sentiment", number(s.customer_sentiment, 2)],
    ];
    $("#detail-facts").replaceChildren(
      ...facts.flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value ?? "—")]),
    );
    drawChart(detail.history);
    renderScoreComponents(s.score_components || []);
    renderMetrics(detail.catalogue || [], s);
    const nudges = (detail.nudges || []).slice().reverse();
    $("#detail-nudges").replaceChildren(
      ...(nudges.length ? nudges.map((n) => nudgeItem(n, false)) : [el("li", { class: "empty" }, "No nudges.")]),
    );
  }

  // a metric's value as its catalogue unit says (streams/engine/catalogue.py)
  function byUnit(unit, value) {
    if (value === null || value === undefined) return "—";
    switch (unit) {
      case "ratio": return percent(value);
      case "seconds": return seconds(value);
      case "count": return String(value);
      case "score": return String(Math.round(value));
      case "words_per_minute": return number(value, 0);
      default: return number(value, 2);
    }
  }

  function renderMetrics(catalogue, s) {
    const windows = s.windows || {};
    const calls = s.call_metrics || {};
    const cell = (m, window) =>
      el("td", { class: "num" }, m.windows ? byUnit(m.unit, (windows[window] || {})[m.name]) : "");
    $("#detail-metrics tbody").replaceChildren(
      ...catalogue.map((m) =>
        el(
          "tr",
          { "data-metric": m.name },
          el("td", { title: `${m.description} (${m.unit_text})` }, m.name),
          cell(m, "60s"),
          cell(m, "180s"),
          el("td", { class: "num" }, byUnit(m.unit, m.windows ? (windows.call || {})[m.name] : calls[m.name])),
        ),
      ),
    );
    const hits = (s.tracker_hits || []).map((t) => `${t.tracker}: ${t.hits}`).join(", ");
    $("#detail-trackers").textContent =
      `Tracker hits: ${hits || "none"}` + (s.definitions ? ` · definitions ${s.definitions}` : "");
    $("#detail-language").textContent = languageText(s);
    $("#detail-roles").textContent = s.roles_exchanged
      ? "Roles look swapped: segments since are scored with agent and customer exchanged."
      : s.roles_swapped_suspected
        ? "Roles look swapped: the agent's lines are on the customer's side (check the feed's speaker labels)."
        : "";
  }

  // the call's language and the lexicon that scored it (docs/languages.md)
  function languageText(s) {
    if (s.language_supported === false) {
      return `Language: ${s.language || "?"} — no lexicon: questions, references, pitch, reflection ` +
        "and sentiment are not measured (—); timing metrics are.";
    }
    if (!s.language) return "";
    const lexicon = s.lexicon_language && s.lexicon_language !== s.language.toLowerCase()
      ? ` (lexicon ${s.lexicon_language})` : "";
    return `Language: ${s.language}${lexicon}`;
  }

  // how each score component is named and its measured value shown (docs/score.md)
  const COMPONENTS = {
    talk_balance: ["Talk balance (agent share of speech)", (v) => percent(v)],
    longest_monologue: ["Longest agent monologue", (v) => seconds(v)],
    open_questions: ["Open questions", (v) => `${number(v, 1)} per 10 min`],
    you_focus: ["You-focus", (v) => percent(v)],
    reflection: ["Reflection", (v) => percent(v)],
    interruptions: ["Interruptions", (v) => `${number(v, 1)} per 10 min`],
  };

  function renderScoreComponents(components) {
    const body = $("#detail-score-components tbody");
    if (!components.length) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 5 }, "No score yet: nobody has spoken.")));
      return;
    }
    const weights = components.reduce((sum, c) => sum + c.weight, 0);
    body.replaceChildren(
      ...components.map((c) => {
        const [label, shown] = COMPONENTS[c.name] || [c.name.replaceAll("_", " "), (v) => number(v, 2)];
        const points = weights > 0 ? (100 * c.weight * c.grade) / weights : 0;
        return el(
          "tr",
          { "data-component": c.name, "data-grade": c.grade, "data-weight": c.weight, "data-points": points },
          el("td", { class: "component" }, label),
          el("td", { class: "value num" }, shown(c.value)),
          el("td", { class: "grade num" }, el("meter", { min: 0, max: 1, value: c.grade }), ` ${number(c.grade, 2)}`),
          el("td", { class: "weight num" }, number(c.weight, 2)),
          el("td", { class: "points num" }, number(points, 1)),
        );
      }),
    );
  }

  function drawChart(history) {
    const chart = $("#detail-chart");
    chart.replaceChildren();
    const fields = history.fields;
    const points = history.points || [];
    chart.dataset.pointCount = String(points.length);
    const index = Object.fromEntries(fields.map((name, i) => [name, i]));
    const W = 900, H = 220, left = 36, right = 40, top = 10, bottom = 24;
    const plotW = W - left - right, plotH = H - top - bottom;
    const times = points.map((p) => p[index.media_time_ms]);
    const t0 = times.length ? Math.min(...times) : 0;
    const t1 = times.length ? Math.max(...times) : 1;
    const span = Math.max(1, t1 - t0);
    const monoMax = Math.max(120, ...points.map((p) => p[index.monologue_current_seconds] || 0));
    const x = (t) => left + ((t - t0) / span) * plotW;
    const y = (v, max) => top + plotH - (Math.max(0, Math.min(max, v)) / max) * plotH;

    for (const tick of [0, 25, 50, 75, 100]) {
      chart.append(svg("line", { class: "grid", x1: left, x2: W - right, y1: y(tick, 100), y2: y(tick, 100) }));
      chart.append(svg("text", { x: left - 4, y: y(tick, 100) + 3, "text-anchor": "end" }, tick));
      const mono = Math.round((monoMax * tick) / 100);
      chart.append(svg("text", { x: W - right + 4, y: y(tick, 100) + 3 }, `${mono}s`));
    }
    chart.append(svg("line", { class: "axis", x1: left, x2: W - right, y1: top + plotH, y2: top + plotH }));
    chart.append(svg("text", { x: left, y: H - 6 }, duration(t0)));
    chart.append(svg("text", { x: W - right, y: H - 6, "text-anchor": "end" }, duration(t1)));

    const series = [
      ["score", (p) => p[index.score], 100],
      ["talk_ratio_60s", (p) => (p[index.talk_ratio_60s] === null ? null : p[index.talk_ratio_60s] * 100), 100],
      ["monologue_current_seconds", (p) => p[index.monologue_current_seconds], monoMax],
    ];
    for (const [name, value, max] of series) {
      const coords = [];
      for (const p of points) {
        const v = value(p);
        if (v === null || v === undefined) continue;
        coords.push(`${x(p[index.media_time_ms]).toFixed(1)},${y(v, max).toFixed(1)}`);
      }
      const line = svg("polyline", { "data-series": name, "data-point-count": coords.length, points: coords.join(" ") });
      chart.append(line);
      if (coords.length === 1) {
        const [cx, cy] = coords[0].split(",");
        chart.append(svg("circle", { cx, cy, r: 3, "data-series": name, class: `dot ${name}` }));
      }
    }
  }

  // -- nudges and alerts --------------------------------------------------------------
  function safeLink(url) {
    // only web links: a label value must never become a javascript: URL
    return /^https?:\/\//i.test(url || "") ? el("a", { href: url, target: "_blank", rel: "noopener" }, "runbook") : null;
  }

  function alertPart(alert) {
    if (!alert) return null;
    const when = alert.status === "resolved" ? `resolved ${clock(alert.ends_at || alert.starts_at)}` : "firing";
    return el(
      "p",
      { class: "alert-part", "data-alert-status": alert.status },
      el("span", { class: "alert-name" }, `${alert.alertname} (${when})`),
      " ",
      alert.description || alert.summary,
      " ",
      safeLink(alert.runbook_url),
    );
  }

  function nudgeItem(nudge, live) {
    const evidence = Object.entries(nudge.evidence || {}).map(([key, value]) =>
      el("li", { "data-key": key }, el("span", {}, `${key.replaceAll("_", " ")}: ${number(value, 2)}`)),
    );
    const sources = nudge.sources || ["nudge"];
    const item = el(
      "li",
      {
        "data-entry-key": nudge.key,
        "data-nudge-id": nudge.nudge_id,
        "data-nudge-type": nudge.type,
        "data-call-id": nudge.call_id,
        "data-team": nudge.team,
        "data-severity": nudge.severity,
        "data-sources": sources.join(" "),
        "data-resolved": nudge.key ? String(Boolean(nudge.resolved)) : null,
        "data-received-at": live ? Date.now() : null,
        class: [live && state.backlogDone ? "fresh" : "", nudge.resolved ? "resolved" : ""].join(" ").trim() || null,
      },
      el(
        "div",
        { class: "nudge-head" },
        el("span", { class: "badge", "data-severity": nudge.severity }, nudge.severity),
        el("span", { class: "nudge-type" }, nudge.type),
        nudge.sources ? el("span", { class: "sources" }, sources.join(" + ")) : null,
        nudge.resolved ? el("span", { class: "badge resolved-badge" }, "resolved") : null,
        el("span", { class: "nudge-who" }, nudge.agent_id ? `${nudge.agent_id} · ${nudge.team}` : nudge.team),
        el("span", { class: "nudge-time" }, clock(nudge.updated_at || nudge.created_at)),
      ),
      el("p", { class: "nudge-message" }, nudge.message),
      evidence.length ? el("ul", { class: "evidence" }, ...evidence) : null,
      nudge.snippet ? el("p", { class: "nudge-snippet" }, `“${nudge.snippet}”`) : null,
      alertPart(nudge.alert),
      ackPart(nudge, live),
    );
    if (nudge.ack) {
      item.dataset.acked = "true";
      item.classList.add("acked");
    }
    return item;
  }

  function addEntry(entry) {
    // one row per (call, type): a changed entry replaces its row where it is
    const feed = $("#nudge-feed");
    const open = state.entries.get(entry.key);
    if (open && open.querySelector(".ack-form:not([hidden]) textarea")?.value && !entry.ack) {
      return; // a note is being written in this row: keep it (the next change redraws it)
    }
    const item = nudgeItem(entry, true);
    if (entry.call_id) item.addEventListener("click", () => selectCall(entry.call_id));
    const existing = state.entries.get(entry.key);
    state.entries.set(entry.key, item);
    if (existing && existing.isConnected) {
      existing.replaceWith(item);
      return;
    }
    feed.prepend(item);
    while (feed.children.length > MAX_FEED) {
      state.entries.delete(feed.lastElementChild.dataset.entryKey);
      feed.lastElementChild.remove();
    }
  }

  // -- nudge acknowledgements ----------------------------------------------------------
  // the acknowledgement of a feed entry's nudge: who and when, and the note as text; or, for
  // an entry of the live feed not yet acknowledged, the button and the form that make one
  function ackPart(entry, live) {
    if (entry.ack) {
      const ack = entry.ack;
      return el(
        "p",
        { class: "ack", "data-acked-by": ack.by, "data-acked-at": ack.at },
        `Handled by ${ack.by} at ${clock(ack.at)}`,
        ack.note ? ": " : "",
        ack.note ? el("span", { class: "ack-note" }, ack.note) : null,
      );
    }
    if (!live || !entry.nudge_id) return null;
    const form = el(
      "form",
      { class: "ack-form", hidden: "" },
      el("textarea", { name: "note", maxlength: 500, placeholder: "Note (optional): what you did about it" }),
      el(
        "div",
        { class: "ack-actions" },
        el("button", { type: "submit", class: "ack-save" }, "Save"),
        el("button", { type: "button", class: "ack-cancel" }, "Cancel"),
        el("span", { class: "ack-error", role: "alert" }),
      ),
    );
    const button = el("button", { type: "button", class: "ack-button" }, "Mark handled");
    const part = el("div", { class: "ack-part" }, button, form);
    part.addEventListener("click", (event) => event.stopPropagation()); // not the call's detail
    button.addEventListener("click", () => {
      button.hidden = true;
      form.hidden = false;
      form.querySelector("textarea").focus();
    });
    form.querySelector(".ack-cancel").addEventListener("click", () => {
      form.hidden = true;
      button.hidden = false;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const note = form.querySelector("textarea").value.trim();
      const error = form.querySelector(".ack-error");
      form.querySelector(".ack-save").disabled = true;
      error.textContent = "";
      try {
        const answer = await apiPost(`/api/nudges/${encodeURIComponent(entry.nudge_id)}/ack`, note ? { note } : {});
        if (!answer.ok) {
          error.textContent = (answer.body && answer.body.detail) || `HTTP ${answer.status}`;
          return;
        }
        form.querySelector("textarea").value = "";
        addEntry({ ...entry, ack: answer.body.ack });
      } catch (failure) {
        if (failure instanceof Unauthorized) showTokenForm("That token was not accepted.");
        else error.textContent = "The worker did not answer; try again.";
      } finally {
        form.querySelector(".ack-save").disabled = false;
      }
    });
    return part;
  }

  // -- the agent page -----------------------------------------------------------------
  function agentLink(agentId, team) {
    const link = el("a", { class: "agent-link", href: `#agent=${encodeURIComponent(agentId)}`, "data-agent-id": agentId, title: `Agent ${agentId}: calls and trend` }, agentId);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      event.stopPropagation(); // the agent, not the call
      openAgent(agentId, team);
    });
    return link;
  }

  function openAgent(agentId) {
    state.agent = agentId;
    if (location.hash !== `#agent=${encodeURIComponent(agentId)}`) {
      history.replaceState(null, "", `#agent=${encodeURIComponent(agentId)}`);
    }
    $("#calls-section").hidden = true;
    $("#agent").hidden = false;
    $("#agent-id").textContent = agentId;
    $("#agent").dataset.agentId = agentId;
    delete $("#agent").dataset.loaded;
    clearInterval(state.agentTimer);
    state.agentTimer = setInterval(() => loadAgent(agentId), 5000);
    loadAgent(agentId);
  }

  function closeAgent() {
    state.agent = null;
    clearInterval(state.agentTimer);
    $("#agent").hidden = true;
    $("#calls-section").hidden = false;
    if (location.hash.startsWith("#agent=")) history.replaceState(null, "", location.pathname + location.search);
  }

  async function loadAgent(agentId) {
    const params = new URLSearchParams();
    if (state.team) params.set("team", state.team);
    const query = params.toString();
    let view;
    try {
      view = await api(`/api/agents/${encodeURIComponent(agentId)}${query ? `?${query}` : ""}`);
    } catch (error) {
      if (error instanceof Unauthorized) showTokenForm("That token was not accepted.");
      else if (agentId === state.agent) {
        $("#agent-teams").textContent = "not found among the calls this console holds";
        $("#agent-calls tbody").replaceChildren();
        $("#agent-no-calls").hidden = false;
      }
      return;
    }
    if (agentId !== state.agent) return;
    renderAgent(view);
  }

  function openCallFromAgent(callId) {
    closeAgent();
    selectCall(callId);
  }

  function renderAgent(view) {
    const panel = $("#agent");
    panel.dataset.loaded = "true";
    $("#agent-teams").textContent = view.teams.join(", ");
    $("#agent-days").textContent = String(view.history_days);
    const rows = [];
    let day = null;
    for (const call of view.calls) {
      if (call.day !== day) {
        day = call.day;
        const label = day === view.today ? `Today (${day})` : day;
        rows.push(el("tr", { class: "day-row", "data-day": day }, el("td", { colspan: 7 }, label)));
      }
      const hits = (call.tracker_hits || []).map((t) => `${t.tracker}: ${t.hits}`).join(", ");
      const open = call.held
        ? el("a", { href: "#", class: "call-link", "data-call-id": call.call_id }, "detail")
        : el("span", { class: "hint" }, "—");
      if (call.held) {
        open.addEventListener("click", (event) => {
          event.preventDefault();
          openCallFromAgent(call.call_id);
        });
      }
      rows.push(
        el(
          "tr",
          {
            "data-call-id": call.call_id,
            "data-day": call.day,
            "data-live": String(call.live),
            "data-score": call.score === null ? "" : call.score,
            class: [call.live ? "live" : "", call.day === view.today ? "today" : ""].join(" ").trim() || null,
            title: call.call_id,
          },
          el("td", { class: "when" }, clock(call.at)),
          el("td", { class: "team" }, call.team),
          el("td", { class: "duration num" }, duration(call.duration_seconds * 1000)),
          el("td", { class: "score-cell num" }, scoreBadge(call.score)),
          el("td", { class: "nudges num" }, call.nudges ? `${call.nudges} (${call.nudges_acked})` : "0"),
          el("td", { class: "hits" }, hits || "—"),
          el("td", { class: "open" }, open),
        ),
      );
    }
    $("#agent-calls tbody").replaceChildren(...rows);
    $("#agent-no-calls").hidden = view.calls.length > 0;
    drawTrend(view.trend || []);
  }

  // the agent's mean and 10th-percentile score per day: one pair of lines per definitions,
  // the latest definitions drawn strong (docs/metrics.md: values of other definitions differ)
  function drawTrend(points) {
    const chart = $("#agent-trend");
    chart.replaceChildren();
    const W = 900, H = 220, left = 36, right = 16, top = 10, bottom = 24;
    const plotW = W - left - right, plotH = H - top - bottom;
    const dayMs = (day) => Date.parse(`${day}T00:00:00Z`);
    const days = points.map((p) => dayMs(p.day));
    const d0 = days.length ? Math.min(...days) : 0;
    const d1 = days.length ? Math.max(...days) : 0;
    const span = Math.max(1, d1 - d0);
    const x = (day) => (d1 === d0 ? left + plotW / 2 : left + ((dayMs(day) - d0) / span) * plotW);
    const y = (v) => top + plotH - (Math.max(0, Math.min(100, v)) / 100) * plotH;
    for (const tick of [0, 25, 50, 75, 100]) {
      chart.append(svg("line", { class: "grid", x1: left, x2: W - right, y1: y(tick), y2: y(tick) }));
      chart.append(svg("text", { x: left - 4, y: y(tick) + 3, "text-anchor": "end" }, tick));
    }
    chart.append(svg("line", { class: "axis", x1: left, x2: W - right, y1: top + plotH, y2: top + plotH }));
    if (points.length) {
      const first = points[0].day, last = points[points.length - 1].day;
      chart.append(svg("text", { x: left, y: H - 6 }, first));
      if (last !== first) chart.append(svg("text", { x: W - right, y: H - 6, "text-anchor": "end" }, last));
    }
    const groups = new Map();
    for (const p of points) {
      if (!groups.has(p.definitions)) groups.set(p.definitions, []);
      groups.get(p.definitions).push(p);
    }
    const latest = points.length ? points[points.length - 1].definitions : null;
    let drawn = 0;
    for (const [definitions, group] of groups) {
      for (const [series, field] of [["mean", "mean_score"], ["p10", "p10_score"]]) {
        const shown = group.filter((p) => p[field] !== null && p[field] !== undefined);
        const coords = shown.map((p) => `${x(p.day).toFixed(1)},${y(p[field]).toFixed(1)}`);
        chart.append(
          svg("polyline", {
            "data-series": series,
            "data-definitions": definitions,
            "data-point-count": coords.length,
            class: definitions === latest ? "" : "other-definitions",
            points: coords.join(" "),
          }),
        );
        for (const p of shown) {
          const dot = svg("circle", { cx: x(p.day).toFixed(1), cy: y(p[field]).toFixed(1), r: 3, "data-series": series, "data-day": p.day });
          dot.append(svg("title", {}, `${p.day}: ${series === "mean" ? "mean" : "10th percentile"} ${Math.round(p[field])} of ${p.calls} calls`));
          chart.append(dot);
        }
        if (series === "mean") drawn += shown.length;
      }
    }
    chart.dataset.pointCount = String(drawn);
    const others = groups.size - (latest === null ? 0 : 1);
    $("#agent-trend-note").textContent = !points.length
      ? "No ended calls held yet: the trend starts with the first call summary."
      : others > 0
        ? `${others} other definitions version(s) drawn faint: their scores are not comparable.`
        : "";
  }

  // -- wiring ------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("#team-filter").addEventListener("change", (event) => {
      state.team = event.target.value;
      state.entries.clear();
      $("#nudge-feed").replaceChildren();
      openStream();
    });
    $("#agent-close").addEventListener("click", closeAgent);
    $("#detail-close").addEventListener("click", () => {
      state.selected = null;
      $("#detail").hidden = true;
      for (const row of document.querySelectorAll("#calls tbody tr.selected")) row.classList.remove("selected");
    });
    $("#token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      state.token = $("#token-input").value.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      $("#token-input").value = "";
      start();
    });
    start();
    if (location.hash.startsWith("#agent=")) openAgent(decodeURIComponent(location.hash.slice(7)));
  });
})();
