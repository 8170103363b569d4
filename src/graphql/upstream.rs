//! The GraphQL server's way to the REST API: a `Send` handle ([`RestHandle`]) in front of a
//! per-worker [`ApiClient`].
//!
//! `awc::Client` is not `Send`, while juniper's async resolvers must be `Send` futures. So each
//! actix worker thread runs one *client task* (spawned on the worker's local executor) that owns
//! the worker's `ApiClient` and its keep-alive connection pool. Resolvers hold a [`RestHandle`]: it
//! sends a [`Call`] over an unbounded channel and awaits the answer on a oneshot. The client task
//! runs every call as its own local task, so calls of one request proceed concurrently.
//!
//! **Architecture Invariant:** nothing here knows GraphQL; this is a typed, `Send` mirror of
//! [`ApiClient`], with one overall deadline per call.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::api_client::{
    ApiClient, ArticleData, ArticlePage, CallObserver, ClientError, ListParams,
};

/// One REST call, with the Authorization header value to forward.
enum Call {
    GetArticle(i64),
    ListArticles(ListParams),
    Create {
        title: String,
        content: String,
    },
    Update {
        id: i64,
        title: Option<String>,
        content: Option<String>,
    },
    Delete(i64),
    Health,
}

impl Call {
    fn method(&self) -> &'static str {
        match self {
            Self::GetArticle(_) | Self::ListArticles(_) | Self::Health => "GET",
            Self::Create { .. } => "POST",
            Self::Update { .. } => "PUT",
            Self::Delete(_) => "DELETE",
        }
    }
}

/// What a call answered.
enum Answer {
    Article(ArticleData),
    Page(ArticlePage),
    Message(String),
    Healthy,
}

struct Job {
    call: Call,
    auth: Option<Arc<str>>,
    reply: oneshot::Sender<Result<Answer, ClientError>>,
}

/// A `Send + Sync` handle to the REST client of the current worker. Cheap to clone.
#[derive(Clone)]
pub struct RestHandle {
    jobs: mpsc::UnboundedSender<Job>,
}

impl RestHandle {
    /// Starts the client task on the current thread's local executor (an actix worker) and
    /// returns its handle. The task ends when every handle is dropped.
    pub fn spawn_local(base_url: &str, timeout: Duration, observer: CallObserver) -> Self {
        let client = Rc::new(ApiClient::new(base_url, timeout).with_observer(observer.clone()));
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        actix_rt::spawn(async move {
            while let Some(job) = queue.recv().await {
                let client = Rc::clone(&client);
                let observer = observer.clone();
                actix_rt::spawn(async move {
                    // awc's own timeout ends the wait for the response head; this deadline also
                    // bounds reading the body. Whichever fires reports the call once.
                    let method = job.call.method();
                    let call = run(&client, job.call, job.auth.as_deref());
                    let answer = match tokio::time::timeout(timeout, call).await {
                        Ok(answer) => answer,
                        Err(_) => {
                            observer(method, "timeout", timeout);
                            Err(ClientError::Timeout(timeout))
                        }
                    };
                    // The resolver may have gone (request cancelled); nothing to do then.
                    let _ = job.reply.send(answer);
                });
            }
        });
        Self { jobs }
    }

    async fn call(&self, call: Call, auth: Option<&Arc<str>>) -> Result<Answer, ClientError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            call,
            auth: auth.cloned(),
            reply,
        };
        let stopped = || ClientError::Unreachable("the worker's REST client has stopped".into());
        self.jobs.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// `GET /articles/{id}`
    pub async fn get_article(
        &self,
        id: i64,
        auth: Option<&Arc<str>>,
    ) -> Result<ArticleData, ClientError> {
        match self.call(Call::GetArticle(id), auth).await? {
            Answer::Article(article) => Ok(article),
            _ => Err(mismatch()),
        }
    }

    /// `GET /articles`
    pub async fn list_articles(
        &self,
        params: ListParams,
        auth: Option<&Arc<str>>,
    ) -> Result<ArticlePage, ClientError> {
        match self.call(Call::ListArticles(params), auth).await? {
            Answer::Page(page) => Ok(page),
            _ => Err(mismatch()),
        }
    }

    /// `POST /articles`
    pub async fn create_article(
        &self,
        title: String,
        content: String,
        auth: Option<&Arc<str>>,
    ) -> Result<ArticleData, ClientError> {
        match self.call(Call::Create { title, content }, auth).await? {
            Answer::Article(article) => Ok(article),
            _ => Err(mismatch()),
        }
    }

    /// `PUT /articles/{id}`
    pub async fn update_article(
        &self,
        id: i64,
        title: Option<String>,
        content: Option<String>,
        auth: Option<&Arc<str>>,
    ) -> Result<ArticleData, ClientError> {
        match self.call(Call::Update { id, title, content }, auth).await? {
            Answer::Article(article) => Ok(article),
            _ => Err(mismatch()),
        }
    }

    /// `DELETE /articles/{id}`: the server's message.
    pub async fn delete_article(
        &self,
        id: i64,
        auth: Option<&Arc<str>>,
    ) -> Result<String, ClientError> {
        match self.call(Call::Delete(id), auth).await? {
            Answer::Message(message) => Ok(message),
            _ => Err(mismatch()),
        }
    }

    /// `GET /health`
    pub async fn health(&self) -> Result<(), ClientError> {
        match self.call(Call::Health, None).await? {
            Answer::Healthy => Ok(()),
            _ => Err(mismatch()),
        }
    }
}

fn mismatch() -> ClientError {
    ClientError::InvalidResponse("REST client answered a different call".into())
}

async fn run(client: &ApiClient, call: Call, auth: Option<&str>) -> Result<Answer, ClientError> {
    Ok(match call {
        Call::GetArticle(id) => Answer::Article(client.get_article(id, auth).await?),
        Call::ListArticles(params) => Answer::Page(client.list_articles(&params, auth).await?),
        Call::Create { title, content } => {
            Answer::Article(client.create_article(&title, &content, auth).await?)
        }
        Call::Update { id, title, content } => Answer::Article(
            client
                .update_article(id, title.as_deref(), content.as_deref(), auth)
                .await?,
        ),
        Call::Delete(id) => Answer::Message(client.delete_article(id, auth).await?),
        Call::Health => {
            client.health().await?;
            Answer::Healthy
        }
    })
}
