// Finding a person (by any identity, or by a trait) and everything the platform holds on
// them: identities, traits with where and when each was seen, computed traits, segments,
// consent and the events, newest first.

import { get, listOrNothing, post } from "../api.js";
import { h, show, table, tableRow, text, when, problem } from "../dom.js";

const IDENTITY_TYPES = ["user_id", "email", "anonymous_id", "phone"];

export function profilesPage(view) {
  const results = h("div", { "aria-live": "polite" });
  const kind = h(
    "select",
    { name: "kind", "aria-label": "Search by" },
    IDENTITY_TYPES.map((t) => h("option", { value: t }, t)),
    h("option", { value: "trait" }, "trait"),
  );
  const traitName = h("input", { name: "trait", placeholder: "trait name", "aria-label": "Trait name", hidden: true });
  const op = h(
    "select",
    { name: "op", "aria-label": "How the trait matches", hidden: true },
    OPERATORS.map(([value, label]) => h("option", { value }, label)),
  );
  const value = h("input", { name: "value", type: "search", placeholder: "value", "aria-label": "Value", required: true });
  const sync = () => {
    const byTrait = kind.value === "trait";
    traitName.hidden = !byTrait;
    op.hidden = !byTrait;
    value.hidden = byTrait && op.value === "exists";
    value.required = !value.hidden;
    value.placeholder = byTrait && op.value === "equals" ? 'value (42 is a number, "42" text)' : "value";
  };
  kind.addEventListener("change", sync);
  op.addEventListener("change", sync);

  // Which answer is the latest asked for: an earlier one arriving late is dropped.
  let asked = 0;

  async function search(event) {
    event.preventDefault();
    if (kind.value !== "trait") {
      location.hash = `#/profiles/${encodeURIComponent(`${kind.value}:${value.value}`)}`;
      return;
    }
    const mine = ++asked;
    try {
      const found = await post("/v1/profiles/search", {
        conditions: [traitCondition(traitName.value, op.value, value.value)],
        limit: 50,
      });
      if (mine === asked) show(results, h("h2", {}, "Matching profiles"), profileList(found.profiles));
    } catch (error) {
      if (mine === asked) show(results, problem(error));
    }
  }

  show(
    view,
    h("h1", {}, "Profiles"),
    h("form", { class: "row", role: "search", onsubmit: search }, kind, traitName, op, value, h("button", { type: "submit" }, "Find")),
    results,
  );
  // The first profiles, unless a search answered first.
  const mine = ++asked;
  post("/v1/profiles/search", { conditions: [], limit: 25 }).then(
    (found) => mine === asked && show(results, h("h2", {}, "Profiles (the first 25)"), profileList(found.profiles)),
    (error) => mine === asked && show(results, problem(error)),
  );
}

const OPERATORS = [
  ["equals", "is"],
  ["contains", "contains"],
  ["starts_with", "starts with"],
  ["exists", "is set"],
];

/** A search condition on a trait. For "is", the value is read as people write it in the
 * segment language: a number, true or false as such, quoted or anything else as text. */
function traitCondition(trait, op, written) {
  if (op === "exists") return { trait, op };
  if (op !== "equals") return { trait, op, value: written };
  const value = written.trim();
  // A number as written in the segment language (2.50 is 2.5); a leading zero ("02134")
  // or an integer too long to hold exactly (a 20-digit id) stays text.
  if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(value) && (value.includes(".") || Number.isSafeInteger(Number(value)))) {
    return { trait, op, value: Number(value) };
  }
  if (value === "true" || value === "false") return { trait, op, value: value === "true" };
  const quoted = value.match(/^"(.*)"$/s);
  return { trait, op, value: quoted ? quoted[1] : written };
}

function profileList(profiles) {
  if (!profiles.length) return h("p", {}, "No profile matches.");
  return table(
    ["Profile", "Identities", "Last seen"],
    profiles.map((p) => [
      h("a", { href: `#/profiles/${encodeURIComponent(p.profile_id)}` }, p.profile_id),
      p.identities.map((i) => `${i.type}:${i.value}`).join(", "),
      when(p.last_seen),
    ]),
  );
}

export async function profilePage(view, key, { may }) {
  show(view, h("p", {}, "Loading…"));
  let profile;
  let sources = new Map();
  try {
    const [found, listed] = await Promise.all([
      get(`/v1/profiles/${encodeURIComponent(key)}`),
      listOrNothing(may("sources:read"), "/v1/sources", "sources"),
    ]);
    profile = found;
    sources = new Map(listed.map((s) => [s.id, s.name]));
  } catch (error) {
    const message = error.status === 404 ? new Error(`No profile holds ${key}.`) : error;
    return show(view, h("h1", {}, "Profile"), problem(message), h("a", { href: "#/profiles" }, "Back to the search"));
  }
  const id = encodeURIComponent(profile.profile_id);
  const audiences = h("section", { "aria-label": "Segments and computed traits" });
  const timeline = h("section", { "aria-label": "Events" });
  show(
    view,
    h("h1", {}, "Profile ", h("code", {}, profile.profile_id)),
    h("p", { class: "muted" }, `First seen ${when(profile.first_seen)}, last seen ${when(profile.last_seen)}`),
    h("div", { class: "grid" },
      h("section", {},
        h("h2", {}, "Identities"),
        table(["Type", "Value", "Last seen"], profile.identities.map((i) => [i.type, i.value, when(i.last_seen)])),
      ),
      h("section", {},
        h("h2", {}, "Consent"),
        consentTable(profile.consent || {}),
      ),
    ),
    h("section", {},
      h("h2", {}, "Traits"),
      table(
        ["Trait", "Value", "Source", "Seen"],
        Object.entries(profile.traits || {}).map(([name, t]) => [name, h("span", { class: "value" }, text(t.value)), sources.get(t.source) || text(t.source), when(t.observed_at)]),
      ),
    ),
    audiences,
    h("section", {},
      h("h2", {}, "Event counts"),
      table(
        ["Event", "Count", "First", "Last"],
        Object.entries(profile.event_counts || {}).map(([name, c]) => [name, String(c.count), when(c.first_at), when(c.last_at)]),
      ),
    ),
    timeline,
  );
  loadAudiences(audiences, id);
  loadTimeline(timeline, id);
}

function consentTable(consent) {
  const rows = Object.entries(consent);
  if (!rows.length) return h("p", {}, "No consent recorded.");
  return table(
    ["Purpose", "Granted", "Since", "Until"],
    rows.map(([purpose, c]) => [purpose, c.granted ? "yes" : "no", when(c.observed_at), when(c.expires_at)]),
  );
}

async function loadAudiences(section, id) {
  try {
    const found = await get(`/v1/profiles/${id}/segments`);
    show(
      section,
      h("h2", {}, "Segments"),
      found.segments.length
        ? h("ul", {}, found.segments.map((s) => h("li", {}, s.name, h("span", { class: "muted" }, ` since ${when(s.since)}`))))
        : h("p", {}, "In no segment."),
      h("h2", {}, "Computed traits"),
      Object.keys(found.computed_traits || {}).length
        ? table(["Trait", "Value"], Object.entries(found.computed_traits).map(([name, v]) => [name, text(v)]))
        : h("p", {}, "None defined."),
    );
  } catch (error) {
    show(section, h("h2", {}, "Segments"), problem(error));
  }
}

/** The person's events, newest first, 50 at a time with a button for older ones. */
async function loadTimeline(section, id) {
  const events = table(TIMELINE, []);
  const rows = events.querySelector("tbody");
  const more = h("div");
  show(section, h("h2", {}, "Events"), events, more);
  // Shows a button that asks once for the page before `before`; when it replaces the one
  // pressed, the keyboard goes to it.
  const offer = (label, before, keepFocus, ...above) => {
    const button = h("button", { type: "button", class: "secondary" }, label);
    button.addEventListener("click", () => {
      button.disabled = true;
      page(before, true);
    });
    show(more, ...above, button);
    if (keepFocus) button.focus();
  };
  async function page(before, keepFocus) {
    try {
      const found = await get(`/v1/profiles/${id}/events?limit=50${before ? `&before=${before}` : ""}`);
      for (const e of found.events) {
        rows.appendChild(
          tableRow(TIMELINE, [
            when(e.occurred_at),
            e.type,
            text(e.name),
            e.shredded ? h("em", {}, "erased") : h("code", { class: "value" }, text(e.payload && (e.payload.properties || e.payload.traits))),
          ]),
        );
      }
      if (!before && !found.events.length) show(more, h("p", {}, "No events."));
      else if (found.next_before) offer("Older events", found.next_before, keepFocus);
      else show(more);
    } catch (error) {
      offer("Try again", before, keepFocus, problem(error));
    }
  }
  await page(null, false);
}

const TIMELINE = ["When", "Type", "Name", "Properties"];
