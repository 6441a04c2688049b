//! The run budget (issue 18): `--budget-usd X` (or `[project] budget_usd`) bounds what a
//! build's agent tasks may spend. An agent task starts only when what was spent so far,
//! plus the budgets (`budget.usd`) of the agent tasks running, plus its own, stays
//! within it; otherwise it waits for a running one to end, and when none runs, it does
//! not start at all. What an attempt spent is what its agent reported (`total_cost_usd`).
//! A task without `budget.usd` reserves nothing: it is held back only once the spent
//! alone reaches the limit.

use rustc_hash::FxHashMap;

use crate::spec::TaskIdx;

/// Whether a task may start now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Verdict {
    /// Start it (its budget is reserved until its attempt ends).
    Start,
    /// Wait: running agent tasks may leave room when they end.
    Wait,
    /// Nothing runs that could leave room: it does not start.
    Never,
}

/// The budget of one build.
#[derive(Debug)]
pub(super) struct RunBudget {
    limit: f64,
    spent: f64,
    /// The budgets of the agent tasks running, by task.
    reserved: FxHashMap<TaskIdx, f64>,
}

impl RunBudget {
    pub(super) fn new(limit: f64) -> RunBudget {
        RunBudget {
            limit,
            spent: 0.0,
            reserved: FxHashMap::default(),
        }
    }

    /// May an agent task whose attempt may spend `cost` (its `budget.usd`, else 0)
    /// start now? If so its cost is reserved.
    pub(super) fn admit(&mut self, task: TaskIdx, cost: f64) -> Verdict {
        let reserved: f64 = self.reserved.values().sum();
        if self.spent < self.limit && self.spent + reserved + cost <= self.limit {
            self.reserved.insert(task, cost);
            Verdict::Start
        } else if self.reserved.is_empty() {
            Verdict::Never
        } else {
            Verdict::Wait
        }
    }

    /// An attempt of `task` ended, having spent `cost` (what its agent reported).
    pub(super) fn ended(&mut self, task: TaskIdx, cost: f64) {
        self.reserved.remove(&task);
        self.spent += cost;
    }

    pub(super) fn spent(&self) -> f64 {
        self.spent
    }

    pub(super) fn limit(&self) -> f64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_start_while_the_spent_and_the_reserved_fit_then_wait_then_never() {
        let mut budget = RunBudget::new(5.0);
        assert_eq!(budget.admit(TaskIdx(0), 2.0), Verdict::Start);
        assert_eq!(budget.admit(TaskIdx(1), 2.0), Verdict::Start);
        assert_eq!(
            budget.admit(TaskIdx(2), 2.0),
            Verdict::Wait,
            "2 + 2 + 2 > 5"
        );
        budget.ended(TaskIdx(0), 0.5);
        assert_eq!(
            budget.admit(TaskIdx(2), 2.0),
            Verdict::Start,
            "0.5 + 2 + 2 <= 5"
        );
        budget.ended(TaskIdx(1), 2.0);
        budget.ended(TaskIdx(2), 2.0);
        assert_eq!(budget.spent(), 4.5);
        assert_eq!(
            budget.admit(TaskIdx(3), 1.0),
            Verdict::Never,
            "nothing runs to free room"
        );
        assert_eq!(
            budget.admit(TaskIdx(3), 0.0),
            Verdict::Start,
            "no budget of its own"
        );
        budget.ended(TaskIdx(3), 0.6);
        assert_eq!(
            budget.admit(TaskIdx(4), 0.0),
            Verdict::Never,
            "the limit is spent"
        );
    }
}
