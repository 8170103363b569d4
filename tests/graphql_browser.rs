//! The GraphiQL page in a real browser: Debian's headless chromium, driven by playwright-core
//! (tests/browser/graphiql.mjs), against REST and GraphQL servers running in this process.
//!
//! Needs /usr/bin/chromium (or `CHROMIUM`), node, and tests/browser/node_modules; run
//! `scripts/install-browser-test-deps.sh` once. Without them the test fails and says so.

mod common;
mod graphql_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What the browser test needs, or a message saying how to get it.
fn browser_tooling() -> Result<(PathBuf, PathBuf), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/graphiql.mjs");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut missing = Vec::new();
    if !Path::new(&chromium).exists() {
        missing.push(format!("chromium ({chromium})"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".into());
    }
    if !root
        .join("tests/browser/node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push("tests/browser/node_modules (playwright-core)".into());
    }
    if missing.is_empty() {
        Ok((script, root.to_path_buf()))
    } else {
        Err(format!(
            "the browser test needs {}; install them with scripts/install-browser-test-deps.sh",
            missing.join(", ")
        ))
    }
}

/// GraphiQL in headless chromium runs a typed query and shows the article; no request leaves loopback.
#[actix_web::test]
async fn graphiql_runs_a_query_in_headless_chromium_without_leaving_loopback() {
    let (script, root) = browser_tooling().unwrap_or_else(|message| panic!("{message}"));
    let stack = graphql_support::spawn_stack().await;
    let title = "Read through GraphiQL";
    stack.rest.create_article(title, "in a real browser").await;

    let address = stack.graphql.address.clone();
    let output = actix_rt::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .arg(&address)
            .arg(title)
            .current_dir(root)
            .output()
    })
    .await
    .expect("node runner thread")
    .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser run failed ({}):\n{stderr}\n{stdout}",
        output.status
    );

    let report: Value = serde_json::from_str(stdout.trim()).expect("the script prints JSON");
    let answer = &report["result"]["data"]["getArticles"];
    assert_eq!(answer["success"], true, "{report}");
    assert_eq!(answer["data"][0]["title"], title, "{report}");

    let requests: Vec<&str> = report["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let local = format!("{}/", stack.graphql.address);
    for request in &requests {
        let url = request.split(' ').nth(1).unwrap_or_default();
        assert!(
            url.starts_with(&local) || url.starts_with("data:"),
            "request outside our server: {request}"
        );
    }
    // Asset URLs carry a hash of their bytes: `/graphiql/graphiql-3.8.3.min.<hash>.js`.
    for (method, prefix) in [
        ("GET", "/graphql"),
        ("GET", "/graphiql/graphiql-3.8.3.min."),
        ("GET", "/graphiql/react-18.3.1.production.min."),
        ("POST", "/graphql"),
    ] {
        let wanted = format!("{method} {}{prefix}", stack.graphql.address);
        assert!(
            requests.iter().any(|r| r.starts_with(&wanted)),
            "browser never made {method} {prefix}...: {requests:?}"
        );
    }
}
