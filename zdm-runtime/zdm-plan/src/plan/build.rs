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

    /// A batched backfill of `table` (quoted), each batch under ROW EXCLUSIVE, by keys.
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
                writes_filled: false,
            }),
        }
    }

    /// Marks a backfill whose sync trigger fills every row the application writes, which
    /// lets its batches walk heap pages (see [`Backfill::writes_filled`]).
    #[must_use]
    pub fn with_writes_filled(mut self) -> Step {
        if let Action::Backfill(backfill) = &mut self.action {
            backfill.writes_filled = true;
        }
        self
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
            purge: Vec::new().into(),
            presents: List::Owned(Vec::new()),
        }
    }

    /// The plan, with the steps `purge` runs once contract has completed.
    pub fn purging(self, steps: Vec<Step>) -> Plan {
        Plan {
            purge: steps.into(),
            ..self
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

impl Plan {
    /// The plan of several operations declared together, run phase by phase as one: each
    /// phase runs every operation's steps in the order they were written, so a later one
    /// finds what an earlier one made in the same phase, and each reversal undoes them
    /// latest first, so nothing is removed while something built on it remains. A single
    /// plan is returned as it is, so a declaration of one operation keeps its checksum.
    pub fn combined(id: &str, description: &str, mut plans: Vec<Plan>) -> Plan {
        if plans.len() == 1 {
            let mut plan = plans.remove(0);
            plan.id = Text::Owned(id.to_owned());
            return plan;
        }
        let operation = plans
            .iter()
            .map(|plan| &*plan.operation)
            .collect::<Vec<_>>()
            .join(" + ");
        let phases = [0, 1, 2, 3].map(|index| combined_phase(&plans, index));
        let purge = plans.iter().flat_map(|plan| plan.purge.iter().cloned()).collect();
        // One view per table: operations that present the same table show their changes
        // in the same view.
        let mut presents: Vec<Presented> = Vec::new();
        for presented in plans.iter().flat_map(|plan| plan.presents.iter()) {
            match presents.iter_mut().find(|merged| merged.table == presented.table) {
                Some(merged) => {
                    merged.columns.to_mut().extend_from_slice(&presented.columns);
                    merged.hidden.to_mut().extend_from_slice(&presented.hidden);
                }
                None => presents.push(presented.clone()),
            }
        }
        Plan::new(id, &operation, description, phases)
            .purging(purge)
            .presenting(presents)
    }
}

/// One phase of [`Plan::combined`]: summaries and discards name their operation, since
/// two of the same kind may say the same words about different columns.
fn combined_phase(plans: &[Plan], index: usize) -> PhasePlan {
    let phases = || {
        plans
            .iter()
            .map(move |plan| (&plan.operation, &plan.phases[index]))
    };
    let summary = phases()
        .map(|(operation, phase)| format!("{operation}: {}", phase.summary))
        .collect::<Vec<_>>()
        .join("; ");
    let forward: Vec<Step> = phases()
        .flat_map(|(_, phase)| phase.forward.iter().cloned())
        .collect();
    let reverse: Vec<Step> = phases()
        .rev()
        .flat_map(|(_, phase)| phase.reverse.iter().cloned())
        .collect();
    let discards: Vec<String> = phases()
        .filter_map(|(operation, phase)| {
            let discards = phase.reverse_discards.as_ref()?;
            Some(format!("{operation}: {discards}"))
        })
        .collect();
    let phase = PhasePlan::new(summary, forward, reverse);
    if discards.is_empty() {
        phase
    } else {
        phase.discarding(discards.join("; "))
    }
}
