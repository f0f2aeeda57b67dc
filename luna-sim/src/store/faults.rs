//! Fault injection for crash and error-path tests.
//!
//! A [`FaultPlan`] is set on a simulator with
//! [`Simulator::set_fault_plan`](crate::Simulator::set_fault_plan), or, in a build with the
//! `fault-injection` feature (the test command's build, never a shipped one), given to a child
//! process through the environment variable [`FAULTS_ENV`], e.g.
//! `LUNA_SIM_FAULTS=fail_write=3,abort_after_objects=1000`. Without the feature the variable is
//! never read and `abort_after_objects` never aborts: an application that inherits the
//! variable cannot be made to fail or abort through it.

use crate::error::{SimError, SimResult};

/// The environment variable read by [`FaultPlan::from_env`] (and by
/// [`Simulator::open`](crate::Simulator::open)) in builds with the `fault-injection` feature.
pub const FAULTS_ENV: &str = "LUNA_SIM_FAULTS";

/// Which faults to inject. Counting starts when the plan is set (or the simulator opened).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// Make the N-th write transaction (1-based) fail with `CKR_DEVICE_ERROR` after doing
    /// its work, and roll it back.
    pub fail_write: Option<u64>,
    /// Abort the process (`std::process::abort`) as soon as a committed transaction brings
    /// the number of token objects inserted to N or more. Honoured only in builds with the
    /// `fault-injection` feature.
    pub abort_after_objects: Option<u64>,
}

impl FaultPlan {
    /// No faults.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            fail_write: None,
            abort_after_objects: None,
        }
    }

    /// Parses `key=value` pairs separated by commas: `fail_write=N`, `abort_after_objects=N`.
    ///
    /// # Errors
    ///
    /// [`SimError::ArgumentsBad`] for an unknown key or a value that is not a number.
    pub fn parse(text: &str) -> SimResult<Self> {
        let mut plan = Self::none();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or(SimError::ArgumentsBad("fault plan item without '='"))?;
            let value: u64 = value
                .trim()
                .parse()
                .map_err(|_| SimError::ArgumentsBad("fault plan value is not a number"))?;
            match key.trim() {
                "fail_write" => plan.fail_write = Some(value),
                "abort_after_objects" => plan.abort_after_objects = Some(value),
                _ => return Err(SimError::ArgumentsBad("unknown fault plan key")),
            }
        }
        Ok(plan)
    }

    /// The plan in [`FAULTS_ENV`], or no faults if it is unset; always no faults in a build
    /// without the `fault-injection` feature.
    ///
    /// # Errors
    ///
    /// As [`FaultPlan::parse`].
    pub fn from_env() -> SimResult<Self> {
        #[cfg(feature = "fault-injection")]
        if let Ok(text) = std::env::var(FAULTS_ENV) {
            return Self::parse(&text);
        }
        Ok(Self::none())
    }
}

/// A plan with its counters.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    pub(crate) plan: FaultPlan,
    pub(crate) writes: u64,
    pub(crate) objects_inserted: u64,
}

impl FaultState {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        Self {
            plan,
            writes: 0,
            objects_inserted: 0,
        }
    }

    /// Counts a write transaction; `true` if this one must fail.
    pub(crate) fn next_write_fails(&mut self) -> bool {
        self.writes += 1;
        self.plan.fail_write == Some(self.writes)
    }

    /// Counts committed object inserts and aborts the process if the plan says so.
    pub(crate) fn objects_committed(&mut self, count: u64) {
        self.objects_inserted += count;
        #[cfg(feature = "fault-injection")]
        if let Some(limit) = self.plan.abort_after_objects
            && count > 0
            && self.objects_inserted >= limit
        {
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn parses_both_faults_and_rejects_unknown_keys() {
        let plan = FaultPlan::parse("fail_write=3, abort_after_objects=1000").unwrap();
        assert_eq!(plan.fail_write, Some(3));
        assert_eq!(plan.abort_after_objects, Some(1000));
        assert_eq!(
            FaultPlan::parse("explode=1").map_err(|e| e.rv()),
            Err(cpv4_wire::consts::CKR_ARGUMENTS_BAD)
        );
        assert_eq!(FaultPlan::parse(""), Ok(FaultPlan::none()));
    }

    #[test]
    fn the_nth_write_fails_once() {
        let mut state = FaultState::new(FaultPlan {
            fail_write: Some(2),
            abort_after_objects: None,
        });
        assert!(!state.next_write_fails());
        assert!(state.next_write_fails());
        assert!(!state.next_write_fails());
    }
}
