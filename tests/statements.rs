//! Defence in depth: whatever a check before it missed, the runner sends every statement
//! of a plan as one statement over the extended protocol, so a second statement stacked
//! behind the first is refused by the server, and nothing of the step happens.

use std::sync::OnceLock;

use postgres::error::SqlState;
use zdm_runtime::{Lock, Migration, Phase, PhasePlan, Plan, Step};
use zdm_suite::{columns, scalar, sqlstate, TestDb};

/// A plan written by hand, not by the attribute: one statement of it hides a second.
struct Stacked;

impl Migration for Stacked {
    fn plan(&self) -> &'static Plan {
        static PLAN: OnceLock<Plan> = OnceLock::new();
        PLAN.get_or_init(|| {
            Plan::new(
                "stacked_statements",
                "hand_made",
                "a statement with another stacked behind it",
                [
                    PhasePlan::new(
                        "add a column",
                        vec![Step::transaction(
                            "add column b",
                            Lock::AccessExclusive,
                            "\"t\"",
                            ["ALTER TABLE t ADD COLUMN b integer; DROP TABLE t"],
                        )],
                        Vec::new(),
                    ),
                    PhasePlan::nothing("nothing"),
                    PhasePlan::nothing("nothing"),
                    PhasePlan::nothing("nothing"),
                ],
            )
        })
    }
}

#[test]
fn a_stacked_statement_is_refused_by_the_server_and_nothing_happens() {
    let db = TestDb::new("stacked_statements");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE t (id bigint PRIMARY KEY); INSERT INTO t VALUES (1)")
        .unwrap();
    let error = db.runner().run(&Stacked, Phase::Expand).unwrap_err();
    assert_eq!(sqlstate(&error), Some(&SqlState::SYNTAX_ERROR), "{error}");
    assert!(
        error.to_string().starts_with(
            "stacked_statements: step \"add column b\" failed: cannot insert multiple commands into a prepared statement"
        ),
        "{error}"
    );
    let names: Vec<String> = columns(&mut client, "t")
        .into_iter()
        .map(|column| column.name)
        .collect();
    assert_eq!(names, ["id"], "the column was not added");
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM t"),
        1,
        "the table is still there"
    );
}
