//! Constructors of owned plans, as the macro builds them before emitting them.

use crate::{Action, Backfill, Check, Expectation, List, Lock, PhasePlan, Plan, Presented, Step, Text};

impl Check {
    /// A check of owned text, as the macro builds it.
    pub fn new(
        expectation: impl Into<Text>,
        count_sql: impl Into<Text>,
        sample_sql: impl Into<Text>,
    ) -> Check {
        Check {
            expectation: expectation.into(),
            count_sql: count_sql.into(),
            sample_sql: sample_sql.into(),
        }
    }
}

impl Step {
    /// Statements run in one short transaction.
    pub fn transaction<S: Into<Text>>(
        description: impl Into<Text>,
        lock: Lock,
        table: &str,
        statements: impl IntoIterator<Item = S>,
    ) -> Step {
        Step {
            description: description.into(),
            lock,
            table: Some(Text::Owned(table.to_owned())),
            action: Action::Transaction(crate::texts(statements)),
        }
    }

    /// A batched backfill of `table` (quoted), each batch under ROW EXCLUSIVE.
    pub fn backfill<S: Into<Text>>(
        description: impl Into<Text>,
        table: &str,
        statements: impl IntoIterator<Item = S>,
    ) -> Step {
        Step {
            description: description.into(),
            lock: Lock::RowExclusive,
            table: Some(Text::Owned(table.to_owned())),
            action: Action::Backfill(Backfill {
                table: Text::Owned(table.to_owned()),
                statements: crate::texts(statements),
            }),
        }
    }

    /// A precondition on the data, asked under `lock` (on `table`, if it names one).
    pub fn check(description: impl Into<Text>, lock: Lock, table: Option<&str>, check: Check) -> Step {
        Step {
            description: description.into(),
            lock,
            table: table.map(|table| Text::Owned(table.to_owned())),
            action: Action::Check(check),
        }
    }

    /// A check of the live schema, which takes no lock.
    pub fn expect(expectation: Expectation) -> Step {
        Step {
            description: expectation.description().into(),
            lock: Lock::None,
            table: None,
            action: Action::Expect(expectation),
        }
    }
}

impl PhasePlan {
    /// A phase of owned steps, as the macro builds it, whose reversal discards nothing.
    pub fn new(summary: impl Into<Text>, forward: Vec<Step>, reverse: Vec<Step>) -> PhasePlan {
        PhasePlan {
            summary: summary.into(),
            forward: forward.into(),
            reverse: reverse.into(),
            reverse_discards: None,
        }
    }

    /// A phase with nothing to do; `summary` says why.
    pub fn nothing(summary: impl Into<Text>) -> PhasePlan {
        PhasePlan::new(summary, vec![], vec![])
    }

    /// The phase, with what undoing it throws away.
    pub fn discarding(self, what: impl Into<Text>) -> PhasePlan {
        PhasePlan {
            reverse_discards: Some(what.into()),
            ..self
        }
    }
}

impl Plan {
    /// A plan of owned text, as the macro builds it.
    pub fn new(id: &str, operation: &str, description: &str, phases: [PhasePlan; 4]) -> Plan {
        Plan {
            id: Text::Owned(id.to_owned()),
            operation: Text::Owned(operation.to_owned()),
            description: Text::Owned(description.to_owned()),
            phases,
            presents: List::Owned(Vec::new()),
        }
    }

    /// The plan with the tables the new version sees through the version schema.
    pub fn presenting(self, presents: Vec<Presented>) -> Plan {
        Plan {
            presents: List::Owned(presents),
            ..self
        }
    }
}
