//! Load shedding on the whole question path (`RAGD_QUEUE_BUDGET_MS`): a question whose
//! expected wait exceeds the budget is refused at once with [`Error::Overloaded`] (503 with
//! `Retry-After`) instead of queueing behind the others.
//!
//! The expected wait is Little's law on what the server really does, not a model of it: the
//! questions being retrieved now times the measured interval between retrievals ending while the
//! server is busy (a moving average). That interval already holds everything the questions
//! share — the model, both searches, SQLite, HTTP and whatever else runs on the same cores — so
//! the admitted questions wait about the budget at most, whatever the CPU. An idle stretch
//! never counts (the interval restarts when a question arrives at an idle server), a single
//! slow question cannot make the estimate exceed the budget (each sample is capped at it), and
//! the first [`ALWAYS_ADMITTED`] questions in flight are never refused, so a server under light
//! load never sheds.
//!
//! Metrics: `rag_requests_shed_total{reason="queue_budget"}` (questions refused) and
//! `rag_questions_in_flight` (questions being retrieved).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Questions in flight that are always admitted: below this, even a wrong estimate cannot
/// make the tail long, and a lone slow question never makes the next one refused.
pub(crate) const ALWAYS_ADMITTED: usize = 8;

/// Weight of the newest interval in the moving average (about the last ten questions).
const NEWEST: f64 = 0.1;

/// The admission gate of [`crate::RagService::retrieve`].
#[derive(Debug)]
pub(crate) struct Admission {
    budget: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// When the last question ended, or when the server last became busy, if later.
    mark: Instant,
    /// Moving average of the interval between questions ending while busy, in nanoseconds
    /// (0 until one has ended).
    interval_ns: f64,
}

/// A question admitted; ending it (drop) counts it out.
pub(crate) struct Ticket<'a> {
    gate: &'a Admission,
    /// Whether it ended with an answer (only those are timed: a cancelled or failed
    /// question says nothing about how fast questions are answered).
    answered: bool,
}

impl Ticket<'_> {
    /// Marks the question answered, so its end is timed.
    pub(crate) fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.gate.end(self.answered);
    }
}

impl Admission {
    /// A gate refusing questions expected to wait longer than `budget`; `None` or zero admits
    /// every question.
    pub(crate) fn new(budget: Option<Duration>) -> Self {
        Self {
            budget: budget.filter(|b| !b.is_zero()),
            state: Mutex::new(State {
                in_flight: 0,
                mark: Instant::now(),
                interval_ns: 0.0,
            }),
        }
    }

    /// Admits a question, or refuses it when its expected wait is over the budget.
    pub(crate) fn admit(&self) -> Result<Ticket<'_>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(budget) = self.budget
            && state.in_flight >= ALWAYS_ADMITTED
        {
            #[allow(clippy::cast_precision_loss)] // a count of questions in flight
            let expected_ns = state.in_flight as f64 * state.interval_ns;
            #[allow(clippy::cast_precision_loss)] // a budget of milliseconds
            if expected_ns > budget.as_nanos() as f64 {
                let in_flight = state.in_flight;
                drop(state);
                metrics::counter!("rag_requests_shed_total", "reason" => "queue_budget")
                    .increment(1);
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // ≥ 0, small
                let expected = Duration::from_nanos(expected_ns as u64);
                return Err(Error::Overloaded {
                    reason: format!(
                        "{in_flight} questions in flight, about {} ms to wait, over the {} ms \
                         budget (RAGD_QUEUE_BUDGET_MS)",
                        expected.as_millis(),
                        budget.as_millis()
                    ),
                    retry_after: expected.max(Duration::from_secs(1)),
                });
            }
        }
        if state.in_flight == 0 {
            state.mark = Instant::now();
        }
        state.in_flight += 1;
        metrics::gauge!("rag_questions_in_flight").increment(1.0);
        Ok(Ticket {
            gate: self,
            answered: false,
        })
    }

    fn end(&self, answered: bool) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.in_flight = state.in_flight.saturating_sub(1);
        metrics::gauge!("rag_questions_in_flight").decrement(1.0);
        if !answered {
            return;
        }
        let mut sample = now.saturating_duration_since(state.mark);
        state.mark = now;
        if let Some(budget) = self.budget {
            sample = sample.min(budget);
        }
        #[allow(clippy::cast_precision_loss)] // an interval of nanoseconds, far below 2^52
        let sample = sample.as_nanos() as f64;
        state.interval_ns = if state.interval_ns == 0.0 {
            sample
        } else {
            (1.0 - NEWEST) * state.interval_ns + NEWEST * sample
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_light_load_is_never_refused() {
        let gate = Admission::new(Some(Duration::from_millis(1)));
        // One slow question sets a long interval, capped at the budget...
        let slow = gate.admit().expect("admitted");
        std::thread::sleep(Duration::from_millis(5));
        slow.answered();
        // ...and still the first questions in flight are admitted.
        let held: Vec<_> = (0..ALWAYS_ADMITTED)
            .map(|_| gate.admit().expect("under the floor"))
            .collect();
        assert!(gate.admit().is_err(), "past the floor, the estimate counts");
        drop(held);
        assert!(gate.admit().is_ok(), "drained: admitted again");
    }

    #[test]
    fn questions_over_the_budget_are_refused_with_the_expected_wait() {
        let budget = Duration::from_millis(40);
        let gate = Admission::new(Some(budget));
        // Questions ending every ~4 ms while busy.
        let mut held: Vec<_> = (0..ALWAYS_ADMITTED)
            .map(|_| gate.admit().expect("admitted"))
            .collect();
        for _ in 0..30 {
            std::thread::sleep(Duration::from_millis(4));
            held.pop().expect("held").answered();
            held.push(gate.admit().expect("refilled"));
        }
        let interval = gate.state.lock().expect("lock").interval_ns;
        assert!(
            (3.9e6..=40e6).contains(&interval),
            "interval {interval} ns, questions end every 4 ms"
        );
        // Admitted while the questions in flight times the interval fit in the budget.
        let refused = loop {
            match gate.admit() {
                Ok(ticket) => {
                    held.push(ticket);
                    assert!(held.len() < 100, "the budget never refused");
                }
                Err(e) => break e,
            }
        };
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let fits = (budget.as_nanos() as f64 / interval).floor() as usize + 1;
        assert_eq!(
            held.len(),
            fits.max(ALWAYS_ADMITTED),
            "interval {interval} ns"
        );
        let Error::Overloaded { retry_after, .. } = refused else {
            panic!("expected Overloaded, got {refused}");
        };
        assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
    }

    #[test]
    fn idle_time_and_failures_are_not_timed() {
        let gate = Admission::new(Some(Duration::from_millis(50)));
        let first = gate.admit().expect("admitted");
        first.answered();
        // A long idle stretch, then a burst of quick questions: the idle time is not a sample.
        std::thread::sleep(Duration::from_millis(60));
        let held: Vec<_> = (0..ALWAYS_ADMITTED)
            .map(|_| gate.admit().expect("admitted"))
            .collect();
        drop(held); // failed or cancelled: not timed, only counted out
        let state = gate.state.lock().expect("lock");
        assert_eq!(state.in_flight, 0);
        assert!(
            state.interval_ns < 10e6,
            "interval {} ns counts idle time",
            state.interval_ns
        );
    }

    #[test]
    fn without_a_budget_every_question_is_admitted() {
        let gate = Admission::new(Some(Duration::ZERO));
        let held: Vec<_> = (0..1000).map(|_| gate.admit().expect("admitted")).collect();
        assert_eq!(held.len(), 1000);
    }
}
