//! The console at `/console`: a web interface for marketers, workspace admins and
//! compliance officers, served by `cdp` itself so that one command still brings everything
//! up. It is a handful of plain files (HTML, CSS, JavaScript modules) compiled into the
//! binary: no front-end build on anyone's machine. It has no back door: every action is a
//! call of the public API with the signed-in person's token, checked there as any other.
//!
//! What people type and what events carry is hostile input: the scripts build the page with
//! DOM calls and text nodes only, never by parsing HTML, and the policy below refuses any
//! script, style or connection that is not this server's own files.

use actix_web::HttpResponse;
use cdp_http::{Content, Routes};

/// Only this server's own scripts, styles and API; no inline code, no frames, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const JS: &str = "text/javascript; charset=utf-8";
const SCRIPT: &str = "A script of the console";

/// Every file of the console: its path, media type, contents and what it is.
const FILES: &[(&str, &str, &str, &str)] = &[
    (
        "/console",
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
        "The console (a web interface over this API)",
    ),
    (
        "/console/console.css",
        "text/css; charset=utf-8",
        include_str!("../assets/console.css"),
        "The console's style sheet",
    ),
    (
        "/console/app.js",
        JS,
        include_str!("../assets/app.js"),
        SCRIPT,
    ),
    (
        "/console/api.js",
        JS,
        include_str!("../assets/api.js"),
        SCRIPT,
    ),
    (
        "/console/dom.js",
        JS,
        include_str!("../assets/dom.js"),
        SCRIPT,
    ),
    (
        "/console/chart.js",
        JS,
        include_str!("../assets/chart.js"),
        SCRIPT,
    ),
    (
        "/console/pages/signin.js",
        JS,
        include_str!("../assets/pages/signin.js"),
        SCRIPT,
    ),
    (
        "/console/pages/profiles.js",
        JS,
        include_str!("../assets/pages/profiles.js"),
        SCRIPT,
    ),
    (
        "/console/pages/segments.js",
        JS,
        include_str!("../assets/pages/segments.js"),
        SCRIPT,
    ),
    (
        "/console/pages/sources.js",
        JS,
        include_str!("../assets/pages/sources.js"),
        SCRIPT,
    ),
    (
        "/console/pages/privacy.js",
        JS,
        include_str!("../assets/pages/privacy.js"),
        SCRIPT,
    ),
    (
        "/console/pages/members.js",
        JS,
        include_str!("../assets/pages/members.js"),
        SCRIPT,
    ),
    (
        "/console/pages/audit.js",
        JS,
        include_str!("../assets/pages/audit.js"),
        SCRIPT,
    ),
    (
        "/console/pages/condition.js",
        JS,
        include_str!("../assets/pages/condition.js"),
        SCRIPT,
    ),
    (
        "/console/pages/traits.js",
        JS,
        include_str!("../assets/pages/traits.js"),
        SCRIPT,
    ),
    (
        "/console/pages/destinations.js",
        JS,
        include_str!("../assets/pages/destinations.js"),
        SCRIPT,
    ),
    (
        "/console/pages/keys.js",
        JS,
        include_str!("../assets/pages/keys.js"),
        SCRIPT,
    ),
    (
        "/console/pages/overview.js",
        JS,
        include_str!("../assets/pages/overview.js"),
        SCRIPT,
    ),
    (
        "/console/pages/workspaces.js",
        JS,
        include_str!("../assets/pages/workspaces.js"),
        SCRIPT,
    ),
];

/// Registers every file at its own fixed path (no wildcard: the document lists each).
pub fn routes(r: &mut Routes) {
    r.tag("Console");
    for &(path, media, body, summary) in FILES {
        r.get(path, move || async move { file(media, body) })
            .summary(summary)
            .answers(200, Content::Raw(media_type(media)));
    }
}

fn media_type(media: &'static str) -> &'static str {
    media.split(';').next().unwrap_or(media)
}

fn file(media: &'static str, body: &'static str) -> HttpResponse {
    cdp_http::page_file(media, CSP)
        .insert_header(("referrer-policy", "no-referrer"))
        // A new binary may bring new files; the console is small enough to fetch again.
        .insert_header(("cache-control", "no-cache"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// Values reach the page only as text: no script parses HTML or evaluates text.
    #[test]
    fn no_script_parses_html_or_evaluates_text() {
        let banned = [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setTimeout(\"",
        ];
        for (path, _, body, _) in FILES {
            for word in banned {
                assert!(!body.contains(word), "{path} uses {word}");
            }
        }
    }

    /// Every module a script imports is served.
    #[test]
    fn every_imported_module_is_served() {
        for (path, _, body, _) in FILES {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let target = line.rsplit('"').nth(1).expect("an import names a module");
                let base = path.rsplit_once('/').expect("a path has a folder").0;
                let resolved = resolve(base, target);
                assert!(
                    FILES.iter().any(|(p, ..)| *p == resolved),
                    "{path} imports {target} ({resolved}), which is not served"
                );
            }
        }
    }

    fn resolve(base: &str, target: &str) -> String {
        let mut parts: Vec<&str> = base.split('/').collect();
        for piece in target.split('/') {
            match piece {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
