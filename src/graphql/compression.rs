//! Which answers are compressed: actix's `Compress` middleware compresses answers of
//! [`MIN_COMPRESSED`] bytes or more when the client asks (gzip, deflate, br, zstd); smaller ones
//! are sent as they are. The GraphiQL assets are compressed once, ahead of it (`page.rs`).
//!
//! Why a minimum: a compressed answer costs a fixed price (an encoder's buffers, a hand-off to a
//! blocking thread) that a small one does not repay. Measured with wrk (release build, 16
//! connections, a loaded 2-core machine): a 1.2 KB `getArticles(limit: 1)` answer fell from
//! 10,400 to 5,900 req/s with gzip (4,700 with zstd) to save 570 bytes; an 11 KB one (10
//! articles) from 5,600 to 3,700 to save 10 KB; a 113 KB one (100 articles) kept its rate with
//! gzip and zstd. Under 2 KiB, an answer fits in about one TCP segment either way.
//!
//! `Compress` leaves alone a response that has a `Content-Encoding`. So [`mark_small`], inside
//! it, gives a small answer a provisional `Content-Encoding: identity`, and [`unmark`], outside
//! it, takes that header off again before the answer leaves.

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

/// Answers smaller than this are not compressed.
pub const MIN_COMPRESSED: u64 = 2 << 10;

/// The request's answer was marked by [`mark_small`].
#[derive(Clone, Copy)]
struct Marked;

/// Middleware inside `Compress`: marks answers under [`MIN_COMPRESSED`] bytes so that it leaves
/// them alone.
pub async fn mark_small(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let small = matches!(res.response().body().size(), BodySize::Sized(n) if n < MIN_COMPRESSED);
    if small && !res.headers().contains_key(header::CONTENT_ENCODING) {
        res.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        res.request().extensions_mut().insert(Marked);
    }
    Ok(res)
}

/// Middleware outside `Compress`: takes off the mark [`mark_small`] put on.
pub async fn unmark(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    if res.request().extensions().get::<Marked>().is_some() {
        res.headers_mut().remove(header::CONTENT_ENCODING);
    }
    Ok(res)
}
