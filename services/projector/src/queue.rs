//! Tenants waiting for work. A tenant woken while a worker handles it is handed back when
//! that worker is done, so no wake-up is lost between a worker's last look and its release.

use std::collections::{HashSet, VecDeque};

use cdp_domain::TenantId;
use parking_lot::Mutex;
use tokio::sync::{Notify, watch};

#[derive(Default)]
struct State {
    pending: VecDeque<TenantId>,
    queued: HashSet<TenantId>,
    running: HashSet<TenantId>,
    again: HashSet<TenantId>,
}

pub(crate) struct Queue {
    state: Mutex<State>,
    notify: Notify,
    stop: watch::Sender<bool>,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            notify: Notify::new(),
            stop: watch::Sender::new(false),
        }
    }
}

impl Queue {
    /// Ends every wait for work, now and later.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Resolves once [`Queue::stop`] has been called.
    pub(crate) async fn stopped(&self) {
        let mut stop = self.stop.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    pub(crate) fn wake(&self, tenant: TenantId) {
        let mut state = self.state.lock();
        if state.running.contains(&tenant) {
            state.again.insert(tenant);
        } else if state.queued.insert(tenant) {
            state.pending.push_back(tenant);
            drop(state);
            self.notify.notify_one();
        }
    }

    pub(crate) async fn next(&self) -> TenantId {
        loop {
            {
                let mut state = self.state.lock();
                if let Some(tenant) = state.pending.pop_front() {
                    state.queued.remove(&tenant);
                    state.running.insert(tenant);
                    // More work queued: make sure another idle worker hears of it.
                    if !state.pending.is_empty() {
                        self.notify.notify_one();
                    }
                    return tenant;
                }
            }
            self.notify.notified().await;
        }
    }

    pub(crate) fn done(&self, tenant: TenantId) {
        let mut state = self.state.lock();
        state.running.remove(&tenant);
        if state.again.remove(&tenant) && state.queued.insert(tenant) {
            state.pending.push_back(tenant);
            drop(state);
            self.notify.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_during_work_comes_back_after_it() {
        let queue = Queue::default();
        let tenant = TenantId::new();
        queue.wake(tenant);
        queue.wake(tenant);
        assert_eq!(queue.next().await, tenant);
        queue.wake(tenant);
        assert!(
            queue.state.lock().pending.is_empty(),
            "not handed to a second worker while running"
        );
        queue.done(tenant);
        assert_eq!(queue.next().await, tenant);
        queue.done(tenant);
        assert!(queue.state.lock().pending.is_empty());
    }
}
