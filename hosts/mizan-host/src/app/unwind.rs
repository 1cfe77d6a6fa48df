//! A future that turns a panic while polling into `Err(message)`: a panicking function is an
//! exception (500), a panicking predicate denies, and the server keeps serving.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

pub(crate) struct CatchUnwind<F>(Pin<Box<F>>);

pub(crate) fn catch_unwind<F: Future>(f: F) -> CatchUnwind<F> {
    CatchUnwind(Box::pin(f))
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.get_mut().0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                Poll::Ready(Err(text))
            }
        }
    }
}
