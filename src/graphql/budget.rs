//! Room that running operations take, so that work and memory stay bounded whatever clients send:
//!
//! - [`InFlight`], shared by every worker of the process: the cost of the operations running now
//!   (`--max-cost-in-flight`; an operation waits up to `--busy-wait` for room, then is refused as
//!   busy) and the bytes of article text requests hold (`--max-bytes-in-flight`; no waiting,
//!   refused as busy at once).
//! - [`ResponseBytes`], one per HTTP request (a batch's operations share it): the article text the
//!   request holds, drawn from the process-wide byte pool: the pages it fetched from REST
//!   ([`ResponseBytes::hold`]) and the articles it puts in its answer ([`ResponseBytes::charge`],
//!   which also counts against `--max-response-size`). The room comes back once the answer has
//!   been sent ([`HeldBody`]).
//!
//! Cost room is held while an operation runs (its REST calls and resolvers); byte room until the
//! bytes have left the process. Both are tokio semaphores; a permit gives its room back when
//! dropped. Memory the byte pool does not see: a REST page between its arrival and its count (one
//! page per REST call in flight), juniper's tree of the answer and the JSON text of it, which are
//! about as large as the articles charged (docs/graphql.md gives the measured bound).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::refusal::Refusal;

/// The process-wide room of running operations.
pub struct InFlight {
    cost: Arc<Semaphore>,
    cost_capacity: u64,
    bytes: Arc<Semaphore>,
    bytes_capacity: usize,
    busy_wait: Duration,
}

impl InFlight {
    /// Room for `max_cost` units of cost and `max_bytes` bytes of answers at once.
    pub fn new(max_cost: u64, max_bytes: usize, busy_wait: Duration) -> Self {
        let max_cost = max_cost.min(u64::from(u32::MAX));
        let max_bytes = max_bytes.min(Semaphore::MAX_PERMITS);
        Self {
            cost: Arc::new(Semaphore::new(max_cost as usize)),
            cost_capacity: max_cost,
            bytes: Arc::new(Semaphore::new(max_bytes)),
            bytes_capacity: max_bytes,
            busy_wait,
        }
    }

    fn busy(&self) -> Refusal {
        Refusal::Busy {
            retry_after: self.busy_wait,
        }
    }

    /// Room for an operation costing `cost`: waits up to `--busy-wait` (in arrival order), then
    /// refuses. The permit gives the room back when dropped.
    pub async fn admit(&self, cost: u64) -> Result<OwnedSemaphorePermit, Refusal> {
        // An operation costing more than the whole room (allowed when --max-cost is over
        // --max-cost-in-flight) waits for all of it.
        let units = cost.min(self.cost_capacity) as u32;
        let acquire = Arc::clone(&self.cost).acquire_many_owned(units);
        match tokio::time::timeout(self.busy_wait, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(self.busy()),
        }
    }

    /// The byte account of one request whose answer may hold `limit` bytes.
    pub fn response(self: &Arc<Self>, limit: usize) -> ResponseBytes {
        ResponseBytes {
            in_flight: Arc::clone(self),
            limit,
            state: Mutex::new(Held {
                used: 0,
                permit: None,
            }),
        }
    }
}

/// The bytes one request's answer holds (see the module documentation).
pub struct ResponseBytes {
    in_flight: Arc<InFlight>,
    limit: usize,
    state: Mutex<Held>,
}

struct Held {
    used: usize,
    permit: Option<OwnedSemaphorePermit>,
}

impl ResponseBytes {
    /// Counts `bytes` more of the answer: refused when the request would pass its limit, or when
    /// the process has no byte room left.
    pub fn charge(&self, bytes: usize) -> Result<(), Refusal> {
        let mut held = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let used = held.used.saturating_add(bytes);
        if used > self.limit {
            return Err(Refusal::ResponseTooLarge { limit: self.limit });
        }
        self.take_room(&mut held, bytes)?;
        held.used = used;
        Ok(())
    }

    /// Holds `bytes` of article text fetched from REST for this request, until its answer has
    /// been sent: refused as busy when the process has no byte room left, and as too large when
    /// more than the whole room is asked for (no retry would help).
    pub fn hold(&self, bytes: usize) -> Result<(), Refusal> {
        let mut held = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.take_room(&mut held, bytes)
    }

    fn take_room(&self, held: &mut Held, bytes: usize) -> Result<(), Refusal> {
        let too_large = Refusal::ResponseTooLarge { limit: self.limit };
        if bytes > self.in_flight.bytes_capacity {
            return Err(too_large);
        }
        let units = u32::try_from(bytes).map_err(|_| too_large)?;
        let permit = Arc::clone(&self.in_flight.bytes)
            .try_acquire_many_owned(units)
            .map_err(|_| self.in_flight.busy())?;
        match &mut held.permit {
            Some(existing) => existing.merge(permit),
            None => held.permit = Some(permit),
        }
        Ok(())
    }

    /// The request's limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The byte room this request holds, to be dropped once its answer has been sent.
    pub fn into_permit(self) -> Option<OwnedSemaphorePermit> {
        self.state
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .permit
    }
}

/// A response body that holds its request's byte room until the last of it has been handed to
/// the connection. It is handed over in pieces of [`HeldBody::PIECE`] (slices of one buffer, no
/// copies), so that the server takes the next piece only once the client has read the previous
/// ones, and the room comes back when the answer has left rather than when it was built.
pub struct HeldBody {
    rest: Bytes,
    size: u64,
    _room: Option<OwnedSemaphorePermit>,
}

impl HeldBody {
    /// 256 KiB: a few pieces for a large answer, one for a small one.
    pub const PIECE: usize = 256 << 10;

    pub fn new(body: Bytes, room: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            size: body.len() as u64,
            rest: body,
            _room: room,
        }
    }
}

impl MessageBody for HeldBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.size)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        let piece = this.rest.split_to(this.rest.len().min(Self::PIECE));
        Poll::Ready(Some(Ok(piece)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cost room is shared: a second operation waits, then is refused as busy; room comes back.
    #[tokio::test]
    async fn cost_room_is_shared_and_given_back() {
        let in_flight = InFlight::new(10, 100, Duration::from_millis(20));
        let first = in_flight.admit(8).await.expect("room for 8");
        assert!(matches!(
            in_flight.admit(5).await,
            Err(Refusal::Busy { .. })
        ));
        drop(first);
        drop(in_flight.admit(5).await.expect("room again"));
        // More than the whole room waits for all of it.
        drop(in_flight.admit(50).await.expect("an idle server runs it"));
    }

    /// A request's answer is bounded by its own limit and by the process's byte room, which it
    /// holds until it lets go of it.
    #[tokio::test]
    async fn answer_bytes_are_bounded_per_request_and_per_process() {
        let in_flight = Arc::new(InFlight::new(10, 100, Duration::from_millis(20)));
        let one = in_flight.response(60);
        one.charge(40).unwrap();
        assert_eq!(one.charge(30), Err(Refusal::ResponseTooLarge { limit: 60 }));
        let two = in_flight.response(80);
        assert!(
            matches!(two.charge(70), Err(Refusal::Busy { .. })),
            "40 + 70 > 100"
        );
        two.charge(60).unwrap();
        drop(one.into_permit());
        let three = in_flight.response(80);
        three.charge(40).unwrap();
        assert!(
            matches!(three.hold(1), Err(Refusal::Busy { .. })),
            "fetched text counts too"
        );
        assert_eq!(
            in_flight.response(10).hold(101),
            Err(Refusal::ResponseTooLarge { limit: 10 }),
            "more than the whole room can never fit"
        );
    }
}
