//! What an operation does to the names it touches, for checking the operations of one
//! declaration against each other (`compose.rs`).

use crate::relations::Relations;
use zdm_plan::{Action, CarryWork, Expectation, Plan};

/// What one operation does to names, as relations list them (`"users"`,
/// `"users"."email"`) or, for what its plan builds, `index …` and `constraint … on …`.
#[derive(Debug, Default)]
pub struct Footprint {
    /// Names that must exist while it runs and after.
    pub reads: Vec<String>,
    /// Names it makes.
    pub creates: Vec<String>,
    /// Columns whose values or constraints it changes while old and new versions run (a
    /// sync trigger, a backfill, NOT NULL): two such on one column would fight.
    pub changes: Vec<String>,
    /// Names its contract takes away (renamed, or replaced by a new column).
    pub removes: Vec<String>,
    /// Whether it is a column swap, whose run-time record is one per declaration.
    pub swaps: bool,
    /// Why it cannot share a declaration, if it cannot.
    pub alone: Option<&'static str>,
    /// Tables on which its plan installs a sync trigger: read from the plan, which an
    /// operation need not repeat.
    pub syncs: Vec<String>,
    /// Tables whose rows its backfill or a reversal rewrites in batches: read from the plan.
    pub rewrites: Vec<String>,
}

impl Footprint {
    /// What the declaration's relations say: it reads what it uses and creates what it
    /// provides. Operations that change or remove names say so on top.
    pub fn of(relations: Relations) -> Footprint {
        Footprint {
            reads: relations.uses,
            creates: relations.provides,
            ..Footprint::default()
        }
    }

    /// What the plan itself shows: the indexes and constraints it builds, which two
    /// operations must not both build, and the tables it installs sync triggers on or
    /// rewrites rows of.
    pub fn with_plan(mut self, plan: &Plan) -> Footprint {
        for step in plan.phases.iter().flat_map(|phase| phase.forward.iter()) {
            match &step.action {
                Action::CreateIndexConcurrently { index, .. } => self.creates.push(format!("index {index}")),
                Action::Expect(Expectation::ConstraintAbsent { table, constraint }) => self.creates.push(
                    format!("constraint {} on {table}", zdm_plan::sql::quote_ident(constraint)),
                ),
                _ => {}
            }
            let installs_trigger = step.statements().iter().any(|sql| sql.contains("CREATE TRIGGER"));
            if let (true, Some(table)) = (installs_trigger, &step.table) {
                self.syncs.push(table.to_string());
            }
        }
        let steps = plan
            .phases
            .iter()
            .flat_map(|phase| phase.forward.iter().chain(phase.reverse.iter()));
        for step in steps {
            match &step.action {
                Action::Backfill(backfill) => self.rewrites.push(backfill.table.to_string()),
                Action::Carry(carry) if matches!(carry.work, CarryWork::Backfill { .. }) => {
                    self.rewrites.push(carry.table.to_string())
                }
                _ => {}
            }
        }
        self
    }
}
