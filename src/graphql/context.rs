//! The context of one GraphQL operation: the worker's [`RestHandle`], the caller's Authorization
//! header (forwarded on every REST call), and a cache of REST reads so that identical reads in
//! one operation (aliases asking for the same article) cost one REST call.
//!
//! The cache lives as long as the operation, never longer: a later request always sees fresh
//! data. Writes are never cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::upstream::RestHandle;
use crate::api_client::{ArticleData, ArticlePage, ClientError, ListParams};

/// A REST read, shareable between the resolvers that asked for it.
type SharedRead<T> = Shared<BoxFuture<'static, Result<Arc<T>, ClientError>>>;

/// Per-operation state handed to every resolver.
pub struct RequestContext {
    rest: RestHandle,
    auth: Option<Arc<str>>,
    articles: Mutex<HashMap<i64, SharedRead<ArticleData>>>,
    pages: Mutex<HashMap<String, SharedRead<ArticlePage>>>,
    failed: AtomicBool,
}

impl juniper::Context for RequestContext {}

impl RequestContext {
    pub fn new(rest: RestHandle, auth: Option<Arc<str>>) -> Self {
        Self {
            rest,
            auth,
            articles: Mutex::default(),
            pages: Mutex::default(),
            failed: AtomicBool::new(false),
        }
    }

    /// The REST client handle.
    pub fn rest(&self) -> &RestHandle {
        &self.rest
    }

    /// The Authorization header value to forward.
    pub fn auth(&self) -> Option<&Arc<str>> {
        self.auth.as_ref()
    }

    /// Notes that some field answered `success: false` (for the operations metric).
    pub fn mark_failed(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Whether some field answered `success: false`.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// `GET /articles/{id}`, issued at most once per operation.
    pub async fn article(&self, id: i64) -> Result<Arc<ArticleData>, ClientError> {
        let read = {
            let mut articles = self.articles.lock().unwrap_or_else(|e| e.into_inner());
            articles
                .entry(id)
                .or_insert_with(|| {
                    let (rest, auth) = (self.rest.clone(), self.auth.clone());
                    async move { rest.get_article(id, auth.as_ref()).await.map(Arc::new) }
                        .boxed()
                        .shared()
                })
                .clone()
        };
        read.await
    }

    /// `GET /articles?...`, issued at most once per operation for the same parameters.
    pub async fn page(&self, params: ListParams) -> Result<Arc<ArticlePage>, ClientError> {
        let key = serde_urlencoded::to_string(&params).unwrap_or_default();
        let read = {
            let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
            pages
                .entry(key)
                .or_insert_with(|| {
                    let (rest, auth) = (self.rest.clone(), self.auth.clone());
                    async move {
                        rest.list_articles(params, auth.as_ref())
                            .await
                            .map(Arc::new)
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        read.await
    }
}
