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

/// An article as the REST API returns it (timestamps in RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleData {
    pub id: i64,
    pub title: String,
    pub content: String,
    pub created_at: String,
    pub updated_at: String,
}

/// One page of `GET /articles`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ArticlePage {
    pub data: Vec<ArticleData>,
    pub count: usize,
    pub total: i64,
    pub next: Option<String>,
}

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
}

/// A row of `POST /articles/bulk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkRow<'a> {
    pub id: i64,
    pub title: &'a str,
    pub content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Body of `POST /articles/bulk`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkBody<'a> {
    pub upsert: Vec<BulkRow<'a>>,
    pub delete: Vec<i64>,
}

/// What a bulk request did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct BulkCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error envelope.
    #[error("REST API answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("REST API unreachable: {0}")]
    Unreachable(String),
    #[error("REST API did not answer within {0:?}")]
    Timeout(Duration),
    #[error("REST API sent an unexpected response: {0}")]
    InvalidResponse(String),
}

impl ClientError {
    /// The HTTP status the API answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
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
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .ok()
                .and_then(|b| b.error)
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
            return Err(ClientError::Api {
                status: status.as_u16(),
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
        let request = self.request(awc::http::Method::POST, "/articles", auth);
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
        #[derive(Deserialize)]
        struct Deleted {
            message: String,
        }
        let request = self.request(awc::http::Method::DELETE, &format!("/articles/{id}"), auth);
        Ok(self.send::<Deleted>(request, None::<&()>).await?.message)
    }

    /// `POST /articles/bulk`: all rows in one transaction.
    pub async fn bulk(
        &self,
        body: &BulkBody<'_>,
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
