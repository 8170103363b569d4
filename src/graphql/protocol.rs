//! GraphQL over HTTP (the GraphQL-over-HTTP specification): reading an operation from a GET query
//! string, choosing the media type of the answer from the `Accept` header, and telling whether a
//! browser asks for the GraphiQL page.
//!
//! - `application/graphql-response+json` when the client names it (with at least the quality it
//!   gives `application/json`); its status codes tell a request that did not run (400) from one
//!   that ran (200, even with field errors).
//! - `application/json` otherwise, as before the specification: 200 for every well-formed request.
//!   Also when `Accept` allows neither (the specification lets the server choose then) and when
//!   there is no `Accept` header.

use actix_web::http::header;
use actix_web::HttpRequest;
use juniper::http::GraphQLRequest;
use juniper::InputValue;
use serde::Deserialize;

/// The media type of a GraphQL answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`
    Json,
    /// `application/graphql-response+json`
    GraphqlResponse,
}

impl MediaType {
    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// What a request's `Accept` header allows, for the types this server answers with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accept {
    json: f32,
    graphql_response: f32,
    /// `application/graphql-response+json` was named, not only matched by a wildcard.
    graphql_response_named: bool,
    html: f32,
}

impl Accept {
    /// Reads every `Accept` header of `req`; without one, everything is acceptable.
    pub fn of(req: &HttpRequest) -> Self {
        let values: Vec<&str> = req
            .headers()
            .get_all(header::ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Self::parse("*/*");
        }
        Self::parse(&values.join(","))
    }

    /// Parses an `Accept` value: media ranges with optional `q`; the most specific range that
    /// matches a type gives its quality. Ranges that do not parse are ignored.
    pub fn parse(value: &str) -> Self {
        const TYPES: [(&str, &str); 3] = [
            ("application", "json"),
            ("application", "graphql-response+json"),
            ("text", "html"),
        ];
        // (quality, specificity) of the most specific range matching each type so far.
        let mut best = [(0.0f32, 0u8); 3];
        let mut graphql_response_named = false;
        for range in value.split(',') {
            let mut parts = range.split(';');
            let Some((kind, sub)) = parts.next().and_then(|m| m.trim().split_once('/')) else {
                continue;
            };
            let (kind, sub) = (
                kind.trim().to_ascii_lowercase(),
                sub.trim().to_ascii_lowercase(),
            );
            let mut quality = Some(1.0f32);
            for parameter in parts {
                if let Some((name, q)) = parameter.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        quality = q
                            .trim()
                            .parse::<f32>()
                            .ok()
                            .filter(|q| (0.0..=1.0).contains(q));
                    }
                }
            }
            let Some(quality) = quality else {
                continue;
            };
            for (slot, (want_kind, want_sub)) in TYPES.iter().enumerate() {
                let specificity = match (kind == *want_kind, sub == *want_sub) {
                    (true, true) => 3,
                    (true, false) if sub == "*" => 2,
                    _ if kind == "*" && sub == "*" => 1,
                    _ => continue,
                };
                if specificity > best[slot].1 {
                    best[slot] = (quality, specificity);
                }
            }
            if (kind.as_str(), sub.as_str()) == TYPES[1] && quality > 0.0 {
                graphql_response_named = true;
            }
        }
        Self {
            json: best[0].0,
            graphql_response: best[1].0,
            graphql_response_named,
            html: best[2].0,
        }
    }

    /// The media type of the answer (see the module documentation).
    pub fn media_type(&self) -> MediaType {
        if self.graphql_response_named && self.graphql_response >= self.json {
            MediaType::GraphqlResponse
        } else {
            MediaType::Json
        }
    }

    /// Whether a JSON answer (either type) is acceptable.
    pub fn takes_json(&self) -> bool {
        self.json > 0.0 || self.graphql_response > 0.0
    }

    /// Whether an HTML page is acceptable (a browser, or a client that accepts anything).
    pub fn takes_html(&self) -> bool {
        self.html > 0.0
    }
}

/// The parameters of `GET /graphql?query=…&variables=…&operationName=…`.
/// Other parameters (`extensions`, a cache buster) are ignored.
#[derive(Debug, Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    /// JSON text of an object.
    variables: Option<String>,
}

/// The operation a GET query string asks for; `Ok(None)` when it has no `query`. The error is a
/// message for the client.
pub fn get_request(query_string: &str) -> Result<Option<GraphQLRequest>, String> {
    let params: GetParams = serde_urlencoded::from_str(query_string).map_err(|e| {
        format!("the query string is not a GraphQL request (query, variables, operationName): {e}")
    })?;
    let Some(query) = params.query else {
        return Ok(None);
    };
    let variables = match params.variables.as_deref() {
        None | Some("") => None,
        Some(text) => match serde_json::from_str::<InputValue>(text) {
            Ok(value @ InputValue::Object(_)) => Some(value),
            Ok(InputValue::Null) => None,
            Ok(_) => return Err("variables must be a JSON object".into()),
            Err(e) => return Err(format!("variables are not JSON: {e}")),
        },
    };
    let operation_name = params.operation_name.filter(|name| !name.is_empty());
    Ok(Some(GraphQLRequest::new(query, operation_name, variables)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's media type only when named; application/json otherwise.
    #[test]
    fn media_type_follows_accept() {
        let media = |accept: &str| Accept::parse(accept).media_type();
        assert_eq!(
            media("application/graphql-response+json"),
            MediaType::GraphqlResponse
        );
        assert_eq!(
            media("application/graphql-response+json, application/json;q=0.9"),
            MediaType::GraphqlResponse
        );
        assert_eq!(
            media("application/json, application/graphql-response+json;q=0.5"),
            MediaType::Json
        );
        assert_eq!(media("application/json"), MediaType::Json);
        assert_eq!(media("*/*"), MediaType::Json);
        assert_eq!(media("application/*"), MediaType::Json);
        assert_eq!(media("text/html"), MediaType::Json, "the server's choice");
        assert_eq!(
            media("application/graphql-response+json;q=0"),
            MediaType::Json
        );
    }

    /// Browsers take HTML; API clients naming only JSON do not.
    #[test]
    fn html_and_json_acceptance() {
        let browser = Accept::parse(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8",
        );
        assert!(browser.takes_html() && browser.takes_json());
        let api = Accept::parse("application/json");
        assert!(!api.takes_html() && api.takes_json());
        let page_only = Accept::parse("text/html");
        assert!(page_only.takes_html() && !page_only.takes_json());
        let refused = Accept::parse("text/html;q=0, */*");
        assert!(!refused.takes_html());
        assert!(
            Accept::parse("text/html;q=abc").json == 0.0,
            "a bad q drops the range"
        );
    }

    /// GET parameters become a request; a missing query is not an error, bad variables are.
    #[test]
    fn get_parameters() {
        let request = get_request(
            "query=query%20Q(%24id%3A%20Int!)%20%7B%20getArticle(id%3A%20%24id)%20%7B%20success%20%7D%20%7D\
             &variables=%7B%22id%22%3A%201%7D&operationName=Q",
        )
        .unwrap()
        .unwrap();
        assert!(request.query.starts_with("query Q"));
        assert_eq!(request.operation_name.as_deref(), Some("Q"));
        assert_eq!(request.variables()["id"], InputValue::scalar(1));
        assert!(get_request("").unwrap().is_none());
        assert!(get_request("variables=%7B%7D").unwrap().is_none());
        assert!(get_request("query=%7B%20a%20%7D&variables=%5B1%5D").is_err());
        assert!(get_request("query=%7B%20a%20%7D&variables=nope").is_err());
        assert!(
            get_request("query=a&query=b").is_err(),
            "a repeated parameter"
        );
        assert!(
            get_request("query=a&_=1").unwrap().is_some(),
            "unknown ones are ignored"
        );
        let empty_name = get_request("query=%7Ba%7D&operationName=")
            .unwrap()
            .unwrap();
        assert_eq!(empty_name.operation_name, None);
    }
}
