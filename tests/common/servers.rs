//! Finding the tests' database servers, for `pg_support` and `mysql_support`.
#![allow(dead_code)]

use std::path::Path;

/// The URL of a server for the tests: `$env` when set, else what `scripts/SERVICE.sh start`
/// wrote to `target/services/SERVICE/url`; panics saying `how` to get one otherwise (a test that
/// skipped itself would pass without testing anything).
pub fn server_url(env: &str, service: &str, how: &str) -> String {
    if let Ok(url) = std::env::var(env) {
        return url;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/services")
        .join(service)
        .join("url");
    match std::fs::read_to_string(&file) {
        Ok(url) => url.trim().to_owned(),
        Err(_) => panic!(
            "no {service} for the tests: start one with `scripts/{service}.sh start` \
             (scripts/test.sh does), which writes {}, or set {env}={how}",
            file.display()
        ),
    }
}

/// `url` naming the database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + 3);
    let path = url[start..].find('/').map_or(url.len(), |at| start + at);
    let end = url[path..].find('?').map_or(url.len(), |at| path + at);
    format!("{}/{name}{}", &url[..path], &url[end..])
}
