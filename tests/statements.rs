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

/// A hand-made plan of two statements in one step, the second of which fails.
struct SecondFails;

impl Migration for SecondFails {
    fn plan(&self) -> &'static Plan {
        static PLAN: OnceLock<Plan> = OnceLock::new();
        PLAN.get_or_init(|| {
            Plan::new(
                "second_statement_fails",
                "hand_made",
                "two statements, the second refused",
                [
                    PhasePlan::new(
                        "add two columns",
                        vec![Step::transaction(
                            "add columns b and c",
                            Lock::AccessExclusive,
                            "\"t\"",
                            [
                                "ALTER TABLE t ADD COLUMN b integer",
                                "ALTER TABLE t ADD COLUMN c no_such_type",
                            ],
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
fn the_failing_statement_of_a_step_is_shown_and_the_step_changes_nothing() {
    let db = TestDb::new("second_statement_fails");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE t (id bigint PRIMARY KEY)")
        .unwrap();
    let error = db.runner().run(&SecondFails, Phase::Expand).unwrap_err();
    assert_eq!(sqlstate(&error), Some(&SqlState::UNDEFINED_OBJECT), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("second_statement_fails: step \"add columns b and c\" failed: type \"no_such_type\" does not exist"),
        "{message}"
    );
    // The statement under its label, with a caret under where PostgreSQL says it failed.
    let failed = "ALTER TABLE t ADD COLUMN c no_such_type";
    let caret = " ".repeat("  statement: ".len() + failed.find("no_such_type").unwrap());
    assert!(
        message.ends_with(&format!("\n  statement: {failed}\n{caret}^")),
        "{message}"
    );
    let names: Vec<String> = columns(&mut client, "t")
        .into_iter()
        .map(|column| column.name)
        .collect();
    assert_eq!(
        names,
        ["id"],
        "the first statement was rolled back with the second"
    );
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
