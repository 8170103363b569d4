//! Why the GraphQL server answered an operation without running it, or stopped it: the one error
//! type of this role's limits and GraphQL-over-HTTP rules, and its one mapping to an HTTP status
//! and a GraphQL `errors` array.
//!
//! Which error type where: a failed REST call is an answer (`success: false`, `message`; see
//! `schema.rs`), never a [`Refusal`]; a document that does not parse or validate is juniper's
//! `GraphQLError`, serialized by juniper; a limit or method rule of this server is a [`Refusal`].
//! A refusal's answer has no `data`, only `errors`, each with `extensions.code` (and the numbers
//! behind it) for programs.

use std::time::Duration;

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use super::protocol::MediaType;

/// A limit or rule that stopped an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The operation's cost (see `cost.rs`) is over `--max-cost`; nothing ran.
    #[error(
        "the operation costs {cost}, over the budget of {budget} (--max-cost); \
         every field costs 1 and a list its rows (limit, default 100) times the fields under it: \
         ask for fewer rows or fields, or split the request"
    )]
    OverBudget { cost: u64, budget: u64 },
    /// A mutation with more root fields (REST writes) than `--max-rest-calls`; nothing ran.
    #[error(
        "the mutation makes {writes} REST calls, over the limit of {limit} per operation \
         (--max-rest-calls); split it into several requests"
    )]
    TooManyWrites { writes: u64, limit: u64 },
    /// A query needed more distinct REST calls than `--max-rest-calls`; stopped there.
    #[error(
        "the operation needs more than {limit} REST calls (--max-rest-calls; identical reads \
         count once); split it into several requests"
    )]
    TooManyRestCalls { limit: u64 },
    /// The answer grew past `--max-response-size`; stopped there.
    #[error(
        "the answer would be larger than {limit} bytes (--max-response-size); ask for fewer \
         articles or fields"
    )]
    ResponseTooLarge { limit: usize },
    /// No room under `--max-cost-in-flight` within `--busy-wait`, or under
    /// `--max-bytes-in-flight`.
    #[error("the server is busy; retry after {} s", retry_after_seconds(*.retry_after))]
    Busy { retry_after: Duration },
    /// A mutation sent with GET (GraphQL over HTTP: only POST may change state).
    #[error("mutations need POST; GET and HEAD only run queries")]
    MutationOverGet,
}

/// Whole seconds to announce in `Retry-After` (at least 1).
fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

impl Refusal {
    /// The `extensions.code` of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OverBudget { .. } => "COST_LIMIT_EXCEEDED",
            Self::TooManyWrites { .. } | Self::TooManyRestCalls { .. } => {
                "REST_CALL_LIMIT_EXCEEDED"
            }
            Self::ResponseTooLarge { .. } => "RESPONSE_TOO_LARGE",
            Self::Busy { .. } => "BUSY",
            Self::MutationOverGet => "METHOD_NOT_ALLOWED",
        }
    }

    /// The `limit` label of `articles_graphql_refusals_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::OverBudget { .. } => "cost",
            Self::TooManyWrites { .. } | Self::TooManyRestCalls { .. } => "rest_calls",
            Self::ResponseTooLarge { .. } => "response_size",
            Self::Busy { .. } => "busy",
            Self::MutationOverGet => "method",
        }
    }

    /// The HTTP status of a single operation refused this way. `application/json` answers every
    /// well-formed request with 200 (as before GraphQL over HTTP); `application/graphql-response+json`
    /// answers a request that did not run, or whose data was dropped, with 400. Busy is 503 and a
    /// GET mutation 405 whatever the media type.
    pub fn status(&self, media: MediaType) -> StatusCode {
        match (self, media) {
            (Self::Busy { .. }, _) => StatusCode::SERVICE_UNAVAILABLE,
            (Self::MutationOverGet, _) => StatusCode::METHOD_NOT_ALLOWED,
            (_, MediaType::Json) => StatusCode::OK,
            (_, MediaType::GraphqlResponse) => StatusCode::BAD_REQUEST,
        }
    }

    /// `Retry-After` seconds, for [`Refusal::Busy`].
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Busy { retry_after } => Some(retry_after_seconds(*retry_after)),
            _ => None,
        }
    }

    /// The GraphQL answer: `{"errors": [{"message", "extensions": {"code", ...}}]}`, no `data`.
    pub fn to_json(&self) -> Value {
        let mut extensions = json!({ "code": self.code() });
        let numbers = match self {
            Self::OverBudget { cost, budget } => json!({ "cost": cost, "budget": budget }),
            Self::TooManyWrites { writes, limit } => json!({ "restCalls": writes, "limit": limit }),
            Self::TooManyRestCalls { limit } => json!({ "limit": limit }),
            Self::ResponseTooLarge { limit } => json!({ "limit": limit }),
            Self::Busy { retry_after } => {
                json!({ "retryAfter": retry_after_seconds(*retry_after) })
            }
            Self::MutationOverGet => json!({}),
        };
        if let (Some(extensions), Value::Object(numbers)) = (extensions.as_object_mut(), numbers) {
            extensions.extend(numbers);
        }
        json!({ "errors": [{ "message": self.to_string(), "extensions": extensions }] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refusal's metric label is one the metrics create at 0 from start-up.
    #[test]
    fn every_refusal_label_exists_from_start_up() {
        for refusal in [
            Refusal::OverBudget { cost: 2, budget: 1 },
            Refusal::TooManyWrites {
                writes: 2,
                limit: 1,
            },
            Refusal::TooManyRestCalls { limit: 1 },
            Refusal::ResponseTooLarge { limit: 1 },
            Refusal::Busy {
                retry_after: Duration::from_secs(1),
            },
            Refusal::MutationOverGet,
        ] {
            assert!(
                super::super::metrics::REFUSAL_LIMITS.contains(&refusal.metric_label()),
                "{refusal:?}"
            );
        }
    }

    /// A refusal names its numbers in the message and in `extensions`, for people and programs.
    #[test]
    fn refusals_name_their_numbers() {
        let refused = Refusal::OverBudget {
            cost: 160_320,
            budget: 10_000,
        };
        let body = refused.to_json();
        let error = &body["errors"][0];
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("160320") && message.contains("10000"),
            "{message}"
        );
        assert_eq!(error["extensions"]["code"], "COST_LIMIT_EXCEEDED");
        assert_eq!(error["extensions"]["cost"], 160_320);
        assert_eq!(error["extensions"]["budget"], 10_000);
        assert!(body.get("data").is_none());
    }

    /// Status codes follow the media type, except busy (503) and a GET mutation (405).
    #[test]
    fn statuses_follow_the_media_type() {
        let over = Refusal::ResponseTooLarge { limit: 10 };
        assert_eq!(over.status(MediaType::Json), StatusCode::OK);
        assert_eq!(
            over.status(MediaType::GraphqlResponse),
            StatusCode::BAD_REQUEST
        );
        let busy = Refusal::Busy {
            retry_after: Duration::from_millis(200),
        };
        assert_eq!(
            busy.status(MediaType::Json),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(busy.retry_after(), Some(1));
        assert_eq!(
            Refusal::MutationOverGet.status(MediaType::Json),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
