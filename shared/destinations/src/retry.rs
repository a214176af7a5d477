//! When a failed delivery is tried again, and when a destination that keeps failing is
//! left alone for a while (the circuit breaker).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// Exponential backoff with jitter, for a bounded window from the first attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; each further failure doubles it.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// How long after its first attempt a delivery is still tried; then it is dead.
    pub window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            window: Duration::from_secs(4 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts (at least 1). `jitter` in `[0, 1)` spreads
    /// retries of many deliveries that failed together over the second half of the wait.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let full = self
            .first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// When to try again after `failures` failed attempts, the first of them at `first`;
    /// `None` when that would fall outside the window (the delivery is dead). `at_least`
    /// is what the receiver asked for (`Retry-After`).
    pub fn next_attempt(
        &self,
        failures: u32,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
        at_least: Option<Duration>,
    ) -> Option<DateTime<Utc>> {
        let wait = self
            .delay(failures, jitter)
            .max(at_least.unwrap_or_default());
        let next = now + TimeDelta::from_std(wait).ok()?;
        let end = first + TimeDelta::from_std(self.window).ok()?;
        (next <= end).then_some(next)
    }
}

/// After `threshold` failed attempts in a row a destination is paused for `cooldown`,
/// doubled each time it opens again without a success in between (up to `max_cooldown`).
/// When the pause ends one delivery is tried (half-open): a success closes the breaker,
/// a failure opens it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Breaker {
    pub threshold: u32,
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            threshold: 5,
            cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(3600),
        }
    }
}

/// A destination's breaker as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreakerState {
    pub consecutive_failures: u32,
    pub open_until: Option<DateTime<Utc>>,
    /// Times opened since the last success.
    pub times_opened: u32,
}

impl BreakerState {
    /// Closed, open (paused) or half-open at `now`.
    pub fn phase(&self, breaker: &Breaker, now: DateTime<Utc>) -> Phase {
        match self.open_until {
            Some(until) if until > now => Phase::Open,
            _ if self.consecutive_failures >= breaker.threshold => Phase::HalfOpen,
            _ => Phase::Closed,
        }
    }

    pub fn after_success(self) -> BreakerState {
        BreakerState::default()
    }

    pub fn after_failure(self, breaker: &Breaker, now: DateTime<Utc>) -> BreakerState {
        let failures = self.consecutive_failures.saturating_add(1);
        // A failure while paused is from an attempt already in flight when the breaker
        // opened (a round's others); it is counted, but neither reopens nor lengthens the
        // pause, or one bad round would pause a destination for the longest cooldown.
        let paused = self.open_until.is_some_and(|until| until > now);
        if failures < breaker.threshold || paused {
            return BreakerState {
                consecutive_failures: failures,
                ..self
            };
        }
        let pause = breaker
            .cooldown
            .saturating_mul(1u32 << self.times_opened.min(20))
            .min(breaker.max_cooldown);
        BreakerState {
            consecutive_failures: failures,
            open_until: Some(now + TimeDelta::from_std(pause).unwrap_or(TimeDelta::hours(1))),
            times_opened: self.times_opened.saturating_add(1),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Closed,
    /// Paused: nothing is sent until the pause ends.
    Open,
    /// The pause is over: one delivery at a time, until one succeeds.
    HalfOpen,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Open => "open",
            Phase::HalfOpen => "half_open",
        }
    }
}
