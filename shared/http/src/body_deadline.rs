//! A deadline for request bodies. The server drops a client whose request head is slow to
//! arrive, but a client that sends its head and then its body a byte at a time would hold
//! its connection, and the handler waiting on it, for as long as it likes (slow-loris).
//! Here a body must arrive within the configured time, extended by one second for every
//! `MIN_BYTES_PER_SECOND` bytes received, so that large uploads on honest links finish
//! and a trickle does not. Past the deadline the request is answered 408 and the
//! connection closed, whatever the handler made of its cut-off body.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::Problem;

/// The slowest upload rate that earns more time: about that of a poor mobile link.
pub const MIN_BYTES_PER_SECOND: u64 = 1024;

/// Middleware (with `from_fn`): gives the request's body `timeout`, as described above.
pub async fn body_deadline<B: MessageBody>(
    timeout: Duration,
    mut request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let expired = Rc::new(Cell::new(false));
    let body = DeadlineBody {
        inner: request.take_payload(),
        started: Instant::now(),
        timeout,
        received: 0,
        sleep: Box::pin(tokio::time::sleep(timeout)),
        expired: expired.clone(),
    };
    request.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    let response = next.call(request).await?;
    if !expired.get() {
        return Ok(response.map_into_left_body());
    }
    let seconds = timeout.as_secs_f64();
    let message = format!(
        "the request body did not arrive in time ({seconds} s, plus a second per {MIN_BYTES_PER_SECOND} bytes received)"
    );
    let timed_out = actix_web::HttpResponse::build(StatusCode::REQUEST_TIMEOUT)
        .force_close()
        .json(Problem {
            code: "request_timeout",
            message: &message,
        });
    Ok(response.into_response(timed_out).map_into_right_body())
}

struct DeadlineBody {
    inner: Payload,
    started: Instant,
    timeout: Duration,
    received: u64,
    sleep: Pin<Box<Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl DeadlineBody {
    fn deadline(&self) -> Instant {
        self.started + self.timeout + Duration::from_secs(self.received / MIN_BYTES_PER_SECOND)
    }
}

impl Stream for DeadlineBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                let deadline = self.deadline();
                self.sleep.as_mut().reset(deadline);
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Pending => {}
            done => return done,
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
