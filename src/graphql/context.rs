//! The context of one GraphQL operation: the worker's [`RestHandle`], the caller's Authorization
//! header (forwarded on every REST call), a cache of REST reads so that identical reads in one
//! operation (aliases asking for the same article) cost one REST call, and the operation's share
//! of the limits that are counted while it runs:
//!
//! - REST calls actually made (a cached read is free), against `--max-rest-calls`;
//! - bytes of article text fetched (held from the moment a page arrives) and put in the answer,
//!   against the request's [`ResponseBytes`].
//!
//! The first limit reached stops the operation: it is noted here ([`RequestContext::refusal`]),
//! every later REST call or charge fails at once with [`Failure::Stopped`], and the route answers
//! with the refusal instead of the partial data.
//!
//! The cache lives as long as the operation, never longer: a later request always sees fresh
//! data. Writes are never cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::budget::ResponseBytes;
use super::refusal::Refusal;
use super::upstream::RestHandle;
use crate::api_client::{ArticleData, ArticlePage, ClientError, ListParams};
use crate::db::models::Timestamp;

/// A REST read, shareable between the resolvers that asked for it. It holds the text it fetched
/// in the request's byte account as soon as it arrives (once, whoever awaits it).
type SharedRead<T> = Shared<BoxFuture<'static, Result<Arc<T>, ReadError>>>;

#[derive(Debug, Clone)]
enum ReadError {
    Rest(ClientError),
    Refused(Refusal),
}

/// The bytes of text an article holds (what the byte pool counts for a fetched page).
fn text_bytes(article: &ArticleData) -> usize {
    article.title.len() + article.content.len() + 2 * Timestamp::RFC3339_LEN
}

/// Why a resolver got no data.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The REST call failed: an answer with `success: false`.
    Rest(ClientError),
    /// A limit stopped the operation (see [`RequestContext::refusal`]).
    Stopped,
}

/// Per-operation state handed to every resolver.
pub struct RequestContext {
    rest: RestHandle,
    auth: Option<Arc<str>>,
    articles: Mutex<HashMap<i64, SharedRead<ArticleData>>>,
    pages: Mutex<HashMap<String, SharedRead<ArticlePage>>>,
    failed: AtomicBool,
    rest_calls: AtomicU64,
    max_rest_calls: u64,
    answer: Arc<ResponseBytes>,
    refusal: Mutex<Option<Refusal>>,
}

impl juniper::Context for RequestContext {}

impl RequestContext {
    pub fn new(
        rest: RestHandle,
        auth: Option<Arc<str>>,
        max_rest_calls: u64,
        answer: Arc<ResponseBytes>,
    ) -> Self {
        Self {
            rest,
            auth,
            articles: Mutex::default(),
            pages: Mutex::default(),
            failed: AtomicBool::new(false),
            rest_calls: AtomicU64::new(0),
            max_rest_calls,
            answer,
            refusal: Mutex::default(),
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

    /// The limit that stopped the operation, if one did.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn stop(&self, refusal: Refusal) -> Failure {
        let mut noted = self.refusal.lock().unwrap_or_else(|e| e.into_inner());
        noted.get_or_insert(refusal);
        Failure::Stopped
    }

    fn stopped(&self) -> bool {
        self.refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Counts one REST call about to be made; fails once the operation is stopped or over
    /// `--max-rest-calls`.
    pub fn begin_call(&self) -> Result<(), Failure> {
        if self.stopped() {
            return Err(Failure::Stopped);
        }
        let made = self.rest_calls.fetch_add(1, Ordering::Relaxed) + 1;
        if made > self.max_rest_calls {
            return Err(self.stop(Refusal::TooManyRestCalls {
                limit: self.max_rest_calls,
            }));
        }
        Ok(())
    }

    /// Counts `bytes` of the answer about to be built; fails once the operation is stopped, over
    /// the request's `--max-response-size`, or when the process has no byte room left.
    pub fn charge(&self, bytes: usize) -> Result<(), Failure> {
        if self.stopped() {
            return Err(Failure::Stopped);
        }
        self.answer
            .charge(bytes)
            .map_err(|refusal| self.stop(refusal))
    }

    fn read_failure(&self, error: ReadError) -> Failure {
        match error {
            ReadError::Rest(error) => Failure::Rest(error),
            ReadError::Refused(refusal) => self.stop(refusal),
        }
    }

    /// `GET /articles/{id}`, issued at most once per operation.
    pub async fn article(&self, id: i64) -> Result<Arc<ArticleData>, Failure> {
        let read = {
            let mut articles = self.articles.lock().unwrap_or_else(|e| e.into_inner());
            match articles.get(&id) {
                Some(read) => read.clone(),
                None => {
                    self.begin_call()?;
                    let (rest, auth) = (self.rest.clone(), self.auth.clone());
                    let answer = Arc::clone(&self.answer);
                    let read = async move {
                        let article = rest
                            .get_article(id, auth.as_ref())
                            .await
                            .map_err(ReadError::Rest)?;
                        answer
                            .hold(text_bytes(&article))
                            .map_err(ReadError::Refused)?;
                        Ok(Arc::new(article))
                    }
                    .boxed()
                    .shared();
                    articles.insert(id, read.clone());
                    read
                }
            }
        };
        read.await.map_err(|e| self.read_failure(e))
    }

    /// `GET /articles?...`, issued at most once per operation for the same parameters.
    pub async fn page(&self, params: ListParams) -> Result<Arc<ArticlePage>, Failure> {
        let key = serde_urlencoded::to_string(&params).unwrap_or_default();
        let read = {
            let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
            match pages.get(&key) {
                Some(read) => read.clone(),
                None => {
                    self.begin_call()?;
                    let (rest, auth) = (self.rest.clone(), self.auth.clone());
                    let answer = Arc::clone(&self.answer);
                    let read = async move {
                        let page = rest
                            .list_articles(params, auth.as_ref())
                            .await
                            .map_err(ReadError::Rest)?;
                        let bytes = page.data.iter().map(text_bytes).sum();
                        answer.hold(bytes).map_err(ReadError::Refused)?;
                        Ok(Arc::new(page))
                    }
                    .boxed()
                    .shared();
                    pages.insert(key, read.clone());
                    read
                }
            }
        };
        read.await.map_err(|e| self.read_failure(e))
    }
}
