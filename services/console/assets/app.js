// The console's shell: who is signed in, the sections they may open, and which page shows.
// Pages are chosen by the part of the address after `#`, so every page has an address.

import { get, session, signOut } from "./api.js";
import { h, show, problem } from "./dom.js";
import { signInPage } from "./pages/signin.js";
import { profilesPage, profilePage } from "./pages/profiles.js";
import { segmentsPage, segmentPage } from "./pages/segments.js";
import { sourcesPage, sourcePage } from "./pages/sources.js";
import { destinationsPage, destinationPage } from "./pages/destinations.js";
import { privacyPage } from "./pages/privacy.js";
import { membersPage } from "./pages/members.js";
import { auditPage } from "./pages/audit.js";
import { overviewPage } from "./pages/overview.js";
import { traitsPage } from "./pages/traits.js";
import { keysPage } from "./pages/keys.js";
import { workspacesPage, workspacePage } from "./pages/workspaces.js";

const view = document.getElementById("view");

/** Sections, each shown to those whose permissions include the one it needs. */
const SECTIONS = [
  { path: "workspaces", name: "Workspaces", needs: "platform:admin", page: workspacesPage, detail: workspacePage },
  { path: "overview", name: "Overview", needs: "tenant:read", page: overviewPage },
  { path: "profiles", name: "Profiles", needs: "profiles:read", page: profilesPage, detail: profilePage },
  { path: "segments", name: "Segments", needs: "segments:read", page: segmentsPage, detail: segmentPage },
  { path: "traits", name: "Computed traits", needs: "segments:read", page: traitsPage },
  { path: "sources", name: "Sources", needs: "sources:read", page: sourcesPage, detail: sourcePage },
  { path: "destinations", name: "Destinations", needs: "destinations:read", page: destinationsPage, detail: destinationPage },
  { path: "privacy", name: "Privacy requests", needs: "privacy:read", page: privacyPage },
  { path: "members", name: "Members", needs: "members:read", page: membersPage },
  { path: "keys", name: "API keys", needs: "keys:read", page: keysPage },
  { path: "audit", name: "Audit log", needs: "audit:read", page: auditPage },
];

const PLATFORM = { name: "Platform administration", permissions: ["platform:admin"] };

let workspace = null;
/** Which showing of a page is the current one: each navigation starts a new one. */
let visit = 0;
/** What the page shown asked to do when it is left (stop a live stream, a timer). */
let leaving = [];

async function route() {
  visit += 1;
  for (const stop of leaving.splice(0)) stop();
  const [path, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  if (!session() || session().password_change_required) {
    workspace = null;
    renderShell();
    return signInPage(view, () => start());
  }
  try {
    // A platform token reads no workspace: its one section is the workspaces themselves.
    workspace = workspace || (session().platform_admin ? PLATFORM : await get("/v1/tenant"));
  } catch (error) {
    if (error.status === 401) {
      await signOut();
      return route();
    }
    // Suspended, or the service unavailable: say so, with a way out and a way to retry.
    workspace = null;
    renderShell();
    return show(
      view,
      problem(error),
      h("p", { class: "row" },
        h("button", { type: "button", onclick: () => route() }, "Try again"),
        h("button", { type: "button", class: "secondary", onclick: () => signOut().then(start) }, "Sign out"),
      ),
    );
  }
  renderShell();
  const open = SECTIONS.filter((s) => may(s.needs));
  const section = open.find((s) => s.path === path) || open[0];
  if (!section) return show(view, h("p", {}, "Your role opens no section of the console."));
  if (section.path !== path) return void (location.hash = `#/${section.path}`);
  // Each showing renders into a container of its own: a page that is left while it still
  // waits for an answer fills a container no longer on screen, not the next page.
  const page = h("div");
  show(view, page);
  view.focus();
  if (rest.length && section.detail) {
    return section.detail(page, decodeURIComponent(rest.join("/")), ctx());
  }
  return section.page(page, ctx());
}

function may(permission) {
  return Boolean(workspace && workspace.permissions.includes(permission));
}

function ctx() {
  const mine = visit;
  const left = () => mine !== visit;
  // Asked by a page already left (it was still loading): stopped at once.
  const onLeave = (stop) => (left() ? stop() : leaving.push(stop));
  return { may, workspace, left, onLeave };
}

function renderShell() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!workspace) {
    show(nav);
    show(who);
    return;
  }
  const current = location.hash.replace(/^#\/?/, "").split("/")[0];
  show(
    nav,
    SECTIONS.filter((s) => may(s.needs)).map((s) =>
      h("a", { href: `#/${s.path}`, "aria-current": s.path === current ? "page" : null }, s.name),
    ),
  );
  show(
    who,
    h("span", { class: "workspace" }, workspace.name),
    " ",
    h("button", { type: "button", class: "link", onclick: () => signOut().then(start) }, "Sign out"),
  );
}

function start() {
  workspace = null;
  route();
}

window.addEventListener("hashchange", route);
start();
