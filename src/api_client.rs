//! The typed HTTP client of our REST API, used by the roles that must not touch a database
//! (GraphQL, and sync or Kafka consumers writing through the API).
//!
//! It speaks the JSON contract of [`crate::rest`]: success envelopes become typed values, error
//! envelopes become [`ClientError::Api`] with the server's status and message, and transport
//! problems become [`ClientError::Unreachable`] / [`ClientError::Timeout`].
//!
//! `awc::Client` is not `Send`: build one `ApiClient` per thread (per actix worker) and keep it
//! there; its connection pool gives keep-alive to every call made through it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use awc::http::header;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::contract::{self, BulkCounts, BulkRequest, ErrorEnvelope};

/// An article as the REST API returns it.
pub type ArticleData = contract::Article<'static>;

/// One page of `GET /articles`.
pub type ArticlePage = contract::ArticleList<'static>;

/// Query of `GET /articles`; `None` fields use the server's defaults.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_since: Option<String>,
    /// `id`, `-id`, `created_at`, `-created_at`, `updated_at`, `-updated_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error envelope (or, from something in between, another error).
    #[error("REST API answered {status}: {message}")]
    Api {
        status: u16,
        /// The envelope's `code` (`invalid_field`, `busy`, …), empty when there was none.
        code: String,
        message: String,
    },
    #[error("REST API unreachable: {0}")]
    Unreachable(String),
    #[error("REST API did not answer within {0:?}")]
    Timeout(Duration),
    #[error("REST API sent an unexpected response: {0}")]
    InvalidResponse(String),
}

/// What a caller can do about a failed call: the one answer sync, `--watch` and the Kafka
/// consumer decide from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// It may work later unchanged: the API is down, slow, overloaded, busy, out of space, or
    /// failed internally. Retry with backoff; lose nothing.
    Retry,
    /// The API refused this request's data (400, 409, 412, 413, 422): retrying the same request
    /// never helps; split it, skip or dead-letter the offending row, and go on.
    Refused,
    /// Nothing sent this way will work until someone changes the set-up: a missing or wrong
    /// token (401, 403), a wrong URL (404, 405), or something that is not our API answering.
    Stop,
}

impl ClientError {
    /// The HTTP status the API answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What to do about this failure (see [`Recovery`]).
    pub fn recovery(&self) -> Recovery {
        match self {
            Self::Unreachable(_) | Self::Timeout(_) => Recovery::Retry,
            Self::InvalidResponse(_) => Recovery::Stop,
            Self::Api { status, .. } => match status {
                408 | 425 | 429 | 500..=599 => Recovery::Retry,
                400 | 409 | 412 | 413 | 422 => Recovery::Refused,
                _ => Recovery::Stop,
            },
        }
    }

    /// Whether the same call may succeed later unchanged.
    pub fn is_retryable(&self) -> bool {
        self.recovery() == Recovery::Retry
    }
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

/// Told about every call once its answer (or failure) is known: the HTTP method, the outcome
/// (the status code as text, or `unreachable`, `timeout`) and the time until the response head.
/// Roles use it to count and time their upstream calls.
pub type CallObserver = Arc<dyn Fn(&str, &str, Duration) + Send + Sync>;

/// A client of one REST API base URL (e.g. `http://127.0.0.1:5000`).
pub struct ApiClient {
    base: String,
    client: awc::Client,
    timeout: Duration,
    /// Largest response body read (a 1,000-article page of 100 KB articles fits).
    max_body: usize,
    observer: Option<CallObserver>,
}

impl ApiClient {
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let client = awc::Client::builder()
            .timeout(timeout)
            .disable_redirects()
            .finish();
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            client,
            timeout,
            max_body: 256 << 20,
            observer: None,
        }
    }

    /// Calls `observer` after every request (see [`CallObserver`]).
    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(
        &self,
        method: awc::http::Method,
        path: &str,
        auth: Option<&str>,
    ) -> awc::ClientRequest {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(auth) = auth {
            request = request.insert_header((header::AUTHORIZATION, auth));
        }
        request
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: awc::ClientRequest,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let method = request.get_method().clone();
        let started = Instant::now();
        let sent = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        };
        let sent = sent.map_err(|error| match error {
            awc::error::SendRequestError::Timeout => ClientError::Timeout(self.timeout),
            other => ClientError::Unreachable(other.to_string()),
        });
        if let Some(observer) = &self.observer {
            let status;
            let outcome = match &sent {
                Ok(response) => {
                    status = response.status();
                    status.as_str()
                }
                Err(ClientError::Timeout(_)) => "timeout",
                Err(_) => "unreachable",
            };
            observer(method.as_str(), outcome, started.elapsed());
        }
        let mut response = sent?;
        let bytes = response
            .body()
            .limit(self.max_body)
            .await
            .map_err(|e| ClientError::InvalidResponse(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
                Ok(envelope) => (envelope.code.into_owned(), envelope.error.into_owned()),
                Err(_) => (
                    String::new(),
                    status.canonical_reason().unwrap_or("error").to_owned(),
                ),
            };
            return Err(ClientError::Api {
                status: status.as_u16(),
                code,
                message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::InvalidResponse(e.to_string()))
    }

    /// `GET /articles/{id}`
    pub async fn get_article(
        &self,
        id: i64,
        auth: Option<&str>,
    ) -> Result<ArticleData, ClientError> {
        let request = self.request(awc::http::Method::GET, &format!("/articles/{id}"), auth);
        Ok(self
            .send::<Data<ArticleData>>(request, None::<&()>)
            .await?
            .data)
    }

    /// `GET /articles`
    pub async fn list_articles(
        &self,
        params: &ListParams,
        auth: Option<&str>,
    ) -> Result<ArticlePage, ClientError> {
        let query = serde_urlencoded::to_string(params)
            .map_err(|e| ClientError::InvalidResponse(e.to_string()))?;
        let path = if query.is_empty() {
            "/articles".to_owned()
        } else {
            format!("/articles?{query}")
        };
        let request = self.request(awc::http::Method::GET, &path, auth);
        self.send(request, None::<&()>).await
    }

    /// `POST /articles`
    pub async fn create_article(
        &self,
        title: &str,
        content: &str,
        auth: Option<&str>,
    ) -> Result<ArticleData, ClientError> {
        self.create_article_once(title, content, None, auth).await
    }

    /// `POST /articles` with an `Idempotency-Key`: a retry with the same key creates nothing new.
    pub async fn create_article_once(
        &self,
        title: &str,
        content: &str,
        idempotency_key: Option<&str>,
        auth: Option<&str>,
    ) -> Result<ArticleData, ClientError> {
        let mut request = self.request(awc::http::Method::POST, "/articles", auth);
        if let Some(key) = idempotency_key {
            request = request.insert_header(("Idempotency-Key", key));
        }
        let body = serde_json::json!({ "title": title, "content": content });
        Ok(self
            .send::<Data<ArticleData>>(request, Some(&body))
            .await?
            .data)
    }

    /// `PUT /articles/{id}` with the fields that are `Some`.
    pub async fn update_article(
        &self,
        id: i64,
        title: Option<&str>,
        content: Option<&str>,
        auth: Option<&str>,
    ) -> Result<ArticleData, ClientError> {
        let request = self.request(awc::http::Method::PUT, &format!("/articles/{id}"), auth);
        let mut body = serde_json::Map::new();
        if let Some(title) = title {
            body.insert("title".into(), title.into());
        }
        if let Some(content) = content {
            body.insert("content".into(), content.into());
        }
        Ok(self
            .send::<Data<ArticleData>>(request, Some(&body))
            .await?
            .data)
    }

    /// `DELETE /articles/{id}`; returns the server's message.
    pub async fn delete_article(&self, id: i64, auth: Option<&str>) -> Result<String, ClientError> {
        let request = self.request(awc::http::Method::DELETE, &format!("/articles/{id}"), auth);
        Ok(self
            .send::<contract::MessageOnly>(request, None::<&()>)
            .await?
            .message
            .into_owned())
    }

    /// `POST /articles/bulk`: all rows in one transaction.
    pub async fn bulk(
        &self,
        body: &BulkRequest<'_>,
        auth: Option<&str>,
    ) -> Result<BulkCounts, ClientError> {
        let request = self.request(awc::http::Method::POST, "/articles/bulk", auth);
        Ok(self
            .send::<Data<BulkCounts>>(request, Some(body))
            .await?
            .data)
    }

    /// `GET /health`: `Ok(())` when the API reports itself healthy.
    pub async fn health(&self) -> Result<(), ClientError> {
        let request = self.request(awc::http::Method::GET, "/health", None);
        self.send::<serde_json::Value>(request, None::<&()>)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> ClientError {
        ClientError::Api {
            status,
            code: String::new(),
            message: String::new(),
        }
    }

    #[test]
    fn recovery_follows_the_status() {
        for status in [408, 429, 500, 502, 503, 504, 507] {
            assert_eq!(answered(status).recovery(), Recovery::Retry, "{status}");
        }
        for status in [400, 409, 412, 413, 422] {
            assert_eq!(answered(status).recovery(), Recovery::Refused, "{status}");
        }
        for status in [401, 403, 404, 405, 415] {
            assert_eq!(answered(status).recovery(), Recovery::Stop, "{status}");
        }
        assert!(ClientError::Unreachable("refused".into()).is_retryable());
        assert!(ClientError::Timeout(Duration::from_secs(1)).is_retryable());
        assert_eq!(
            ClientError::InvalidResponse("html".into()).recovery(),
            Recovery::Stop
        );
    }
}
