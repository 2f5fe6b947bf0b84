//! Blocking callers run the same futures as async ones, on their own
//! thread: each operation is written once.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Wakes the thread that blocks on a future.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

/// Runs `future` to completion on this thread, parking it while the future
/// waits. The futures it runs wait only on channels (the connection
/// driver's answers) or not at all (the in-process backend), never on a
/// runtime's timers or sockets, so this works inside a runtime or outside
/// any, as plain blocking code does.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    // Unconstrained: inside a runtime's task (a sync fn called from async
    // code), a spent coop budget would make every poll of a channel return
    // Pending, and this loop would never see the answer.
    let mut future = std::pin::pin!(tokio::task::unconstrained(future));
    // Most in-process calls finish at the first poll: no waker made.
    if let Poll::Ready(output) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return output;
    }
    let waker = WAKER
        .try_with(Waker::clone)
        .unwrap_or_else(|_| Waker::from(Arc::new(Unpark(thread::current()))));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}
