//! Compression of REST answers when the request asks (`Accept-Encoding`: gzip, zstd, br,
//! deflate), by actix's [`Compress`](actix_web::middleware::Compress), and what that middleware
//! leaves to us. Two `from_fn` middlewares sit on either side of it:
//!
//! - [`negotiate`] (outside): picks the coding and hands `Compress` only that one, then
//!   - offers the codings `--compress` names ([`Codings`]; gzip and zstd by default) and
//!     prefers, among those the client accepts equally, the cheapest to hold in memory: gzip,
//!     zstd, br, deflate ([`PREFERENCE`]). On a 100 KB page gzip and zstd take the same time
//!     (zstd sends a quarter fewer bytes, and holds twice the memory). br, as actix makes it
//!     (quality 3, a 4 MiB window, on the blocking pool), took 15 times longer and left about
//!     9 MB in the allocator of each blocking thread that ran it: it is there for who asks for
//!     it, and even then at most [`MAX_BROTLI_IN_FLIGHT`] br answers are made at once, a
//!     request beyond that getting its next acceptable coding (bench/rest.sh measures all);
//!   - gives an answer in a content coding its own strong ETag, `"<version>-<coding>"`: the
//!     bytes differ, and a strong validator names one representation (RFC 9110 8.8.3; `Compress`
//!     keeps the handler's tag). The tag follows the coding chosen, not whether this body was
//!     compressed, so a 304 carries the tag its 200 would have. Handlers read any coding's tag of
//!     a version as that version ([`version_of`]), so `If-Match` keeps working for a client that
//!     read the article compressed (weak tags would break it: If-Match compares strongly);
//!   - adds `Vary: Accept-Encoding` to every answer, compressed or not, so a shared cache never
//!     hands one client's coding to another (`Compress` adds it only when it encodes);
//!   - answers an `Accept-Encoding` that accepts none of our codings, not even identity,
//!     uncompressed (RFC 9110 12.5.3) instead of `Compress`'s plain-text 406.
//! - [`skip_small`] (inside): answers shorter than `--compress-min-size` are sent as they are;
//!   compressing them costs more time than the bytes it saves (bench/rest.sh measures it).
//!
//! Nothing here knows about articles beyond the shape of an ETag.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    self, AcceptEncoding, ContentEncoding, Encoding, HeaderValue, Preference, Quality,
    ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, VARY,
};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpMessage;

/// The codings we send, in the order we prefer them when the client accepts several equally.
pub const PREFERENCE: [ContentEncoding; 4] = [
    ContentEncoding::Gzip,
    ContentEncoding::Zstd,
    ContentEncoding::Brotli,
    ContentEncoding::Deflate,
];

/// Most br answers being compressed at once in this process (about 9 MB each).
pub const MAX_BROTLI_IN_FLIGHT: usize = 2;

/// The content codings that may follow a version in an ETag.
const CODINGS: [&str; 4] = ["br", "gzip", "deflate", "zstd"];

/// The content codings a server offers (`--compress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codings(u8);

impl Codings {
    pub const NONE: Self = Self(0);

    fn bit(coding: ContentEncoding) -> u8 {
        match PREFERENCE.iter().position(|&c| c == coding) {
            Some(i) => 1 << i,
            None => 0,
        }
    }

    pub fn contains(self, coding: ContentEncoding) -> bool {
        self.0 & Self::bit(coding) != 0
    }

    fn without(self, coding: ContentEncoding) -> Self {
        Self(self.0 & !Self::bit(coding))
    }

    /// `gzip,zstd`: any of gzip, zstd, br, deflate; `none` for no compression.
    pub fn parse(list: &str) -> Result<Self, String> {
        if list.trim().eq_ignore_ascii_case("none") {
            return Ok(Self::NONE);
        }
        list.split(',').try_fold(Self::NONE, |codings, name| {
            let coding = PREFERENCE
                .into_iter()
                .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    format!("unknown coding {name:?}: use gzip, zstd, br, deflate or none")
                })?;
            Ok(Self(codings.0 | Self::bit(coding)))
        })
    }
}

/// The coding for an answer to `accepted` among `offered`: the highest q (ties in the order of
/// [`PREFERENCE`]; `*` does not count, as `Compress` does not count it); `None` for no coding,
/// which is also the answer when nothing at all is acceptable.
fn choose(accepted: &AcceptEncoding, offered: Codings) -> Option<ContentEncoding> {
    let quality = |coding: ContentEncoding| {
        accepted
            .iter()
            .find(|item| item.item == Preference::Specific(Encoding::Known(coding)))
            .map_or(Quality::ZERO, |item| item.quality)
    };
    let mut best: Option<(Quality, ContentEncoding)> = None;
    for coding in PREFERENCE {
        if !offered.contains(coding) {
            continue;
        }
        let q = quality(coding);
        if q > Quality::ZERO && best.is_none_or(|(top, _)| q > top) {
            best = Some((q, coding));
        }
    }
    best.map(|(_, coding)| coding)
}

static BROTLI_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_BROTLI_IN_FLIGHT`] br answers, held until its body is sent or dropped.
struct BrotliPermit;

impl BrotliPermit {
    fn take() -> Option<Self> {
        BROTLI_IN_FLIGHT
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_BROTLI_IN_FLIGHT).then_some(n + 1)
            })
            .ok()
            .map(|_| Self)
    }
}

impl Drop for BrotliPermit {
    fn drop(&mut self) {
        BROTLI_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A body that holds a [`BrotliPermit`] as long as it lives.
struct Holding {
    body: BoxBody,
    _permit: BrotliPermit,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// The outer half: the coding, then ETag and `Vary`. See the module docs.
pub async fn negotiate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    offered: Codings,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut permit = None;
    let coding =
        req.get_header::<AcceptEncoding>()
            .and_then(|accepted| match choose(&accepted, offered)? {
                ContentEncoding::Brotli => {
                    permit = BrotliPermit::take();
                    match permit {
                        Some(_) => Some(ContentEncoding::Brotli),
                        None => choose(&accepted, offered.without(ContentEncoding::Brotli)),
                    }
                }
                other => Some(other),
            });
    // `Compress` sees exactly the coding chosen, or none.
    match coding {
        Some(coding) => {
            req.headers_mut()
                .insert(ACCEPT_ENCODING, coding.to_header_value());
        }
        None => {
            req.headers_mut().remove(ACCEPT_ENCODING);
        }
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if headers.get(CONTENT_ENCODING) == Some(&HeaderValue::from_static(IDENTITY)) {
        headers.remove(CONTENT_ENCODING);
    }
    let varies = headers
        .get_all(VARY)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("accept-encoding"));
    if !varies {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(coding) = coding {
        let tagged = headers
            .get(ETAG)
            .and_then(|tag| tag.to_str().ok())
            .and_then(|tag| tag.strip_prefix('"')?.strip_suffix('"'))
            .and_then(|tag| HeaderValue::try_from(format!("\"{tag}-{}\"", coding.as_str())).ok());
        if let Some(tagged) = tagged {
            headers.insert(ETAG, tagged);
        }
    }
    Ok(match permit {
        Some(permit) => res.map_body(|_, body| {
            EitherBody::left(Holding {
                body: body.boxed(),
                _permit: permit,
            })
        }),
        None => res.map_into_right_body(),
    })
}

/// Marks an answer shorter than `min_size` bytes as already encoded ("identity"), which makes
/// `Compress` pass it through; [`negotiate`] removes the mark.
pub async fn skip_small(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
    min_size: u64,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    if matches!(res.response().body().size(), BodySize::Sized(n) if n < min_size) {
        res.headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static(IDENTITY));
    }
    Ok(res)
}

const IDENTITY: &str = "identity";

/// The version an ETag names: its opaque part without a content-coding suffix (`"v-gzip"` and
/// `"v"` are the same version in two representations).
pub fn version_of(tag: &header::EntityTag) -> &str {
    let opaque = tag.tag();
    CODINGS
        .iter()
        .find_map(|coding| opaque.strip_suffix(coding)?.strip_suffix('-'))
        .unwrap_or(opaque)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::EntityTag;

    use super::*;

    #[test]
    fn the_cheapest_of_the_codings_accepted_alike_wins() {
        let all = Codings::parse("gzip,zstd,br,deflate").unwrap();
        let no_br = all.without(ContentEncoding::Brotli);
        let choose = |accept: &str, offered| {
            let header = HeaderValue::from_str(accept).unwrap();
            let accepted = header::Header::parse(
                &actix_web::test::TestRequest::default()
                    .insert_header((ACCEPT_ENCODING, header))
                    .to_http_request(),
            )
            .unwrap();
            choose(&accepted, offered).map(|c| c.as_str())
        };
        assert_eq!(choose("gzip, deflate, br, zstd", all), Some("gzip"));
        assert_eq!(choose("br, zstd", all), Some("zstd"));
        assert_eq!(choose("br", all), Some("br"));
        assert_eq!(choose("br", no_br), None);
        assert_eq!(choose("br, gzip;q=0.5", no_br), Some("gzip"));
        assert_eq!(choose("gzip;q=0.5, zstd", all), Some("zstd"));
        assert_eq!(choose("*", all), None);
        assert_eq!(choose("identity", all), None);
        assert_eq!(choose("gzip;q=0", all), None);
        assert_eq!(choose("gzip", Codings::NONE), None);
        let default = all
            .without(ContentEncoding::Brotli)
            .without(ContentEncoding::Deflate);
        assert_eq!(Codings::parse("gzip, zstd"), Ok(default));
        assert_eq!(Codings::parse("none"), Ok(Codings::NONE));
        assert!(Codings::parse("gzip,lz4").is_err());
    }

    #[test]
    fn a_coding_suffix_names_the_same_version() {
        for (tag, version) in [
            ("00ff", "00ff"),
            ("00ff-gzip", "00ff"),
            ("00ff-br", "00ff"),
            ("00ff-zstd", "00ff"),
            ("00ff-deflate", "00ff"),
            ("00ff-gzip-gzip", "00ff-gzip"),
            ("00ffgzip", "00ffgzip"),
        ] {
            assert_eq!(version_of(&EntityTag::new_strong(tag.into())), version);
        }
    }
}
