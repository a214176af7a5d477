//! The access documentation shows the matrix and the endpoint table the code enforces.

#[test]
fn the_documentation_shows_the_enforced_matrix_and_endpoints() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/access.md");
    let docs = std::fs::read_to_string(path).expect("docs/access.md exists");
    let matrix = cdp_domain::access::matrix_markdown();
    let endpoints = cdp_api::endpoints::endpoints_markdown();
    if std::env::var_os("CDP_PRINT_DOC_TABLES").is_some() {
        println!("{matrix}\n{endpoints}");
    }
    assert!(
        docs.contains(&matrix),
        "docs/access.md does not show the current permission matrix:\n{matrix}"
    );
    assert!(
        docs.contains(&endpoints),
        "docs/access.md does not show the current endpoint table:\n{endpoints}"
    );
}
