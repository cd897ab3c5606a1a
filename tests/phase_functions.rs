//! The phase functions a declaration generates, against a real PostgreSQL: a full cycle and
//! every reversal through them, each report matching the plan's steps and the catalog
//! matching the phase reached.

use zdm_runtime::{zero_downtime, Direction, Migration, Phase, PhaseReport, Runner};
use zdm_suite::{column, indexes, table_catalog, triggers, TestDb};

/// Every phase has steps.
#[zero_downtime(
    id = "fn_email_lower",
    add_column(
        table = "people",
        column = "email_lower",
        ty = "text",
        backfill = "lower(email)",
        not_null,
        index
    )
)]
struct AddEmailLower;

/// Only expand has steps; the other phases record themselves.
#[zero_downtime(
    id = "fn_nickname",
    add_column(table = "people", column = "nickname", ty = "text")
)]
struct AddNickname;

fn people(db: &TestDb) {
    db.connect()
        .batch_execute(
            "CREATE TABLE people (id bigint PRIMARY KEY, email text);
             INSERT INTO people SELECT g, 'P' || g || '@Example.com' FROM generate_series(1, 50) g;",
        )
        .unwrap();
}

/// The report is of `phase` run in `direction`, its steps those of the plan, and the state
/// row has reached `completed`.
fn assert_report(
    runner: &mut Runner,
    migration: &dyn Migration,
    report: &PhaseReport,
    phase: Phase,
    direction: Direction,
    completed: Option<Phase>,
) {
    assert_eq!(
        (report.phase, report.direction, report.resumed),
        (phase, direction, false)
    );
    let plan = migration.plan().phase(phase);
    let steps = match direction {
        Direction::Forward => &plan.forward,
        Direction::Reverse => &plan.reverse,
    };
    let expected: Vec<&str> = steps.iter().map(|step| &*step.description).collect();
    let ran: Vec<&str> = report.steps.iter().map(|step| step.description).collect();
    assert_eq!(ran, expected, "{direction:?} {phase} of {}", migration.id());
    let state = runner.state(migration).unwrap();
    assert_eq!((state.completed, state.running), (completed, None));
}

#[test]
fn a_full_cycle_and_every_reversal_through_the_functions() {
    let db = TestDb::new("phase_functions_cycle");
    people(&db);
    let mut client = db.connect();
    let mut runner = db.runner();
    let before = table_catalog(&mut client, "people");
    let trigger = "zdm_sync_people_email_lower";
    let has_index = |client: &mut postgres::Client| {
        indexes(client, "people")
            .iter()
            .any(|(name, valid, _)| name == "people_email_lower_idx" && *valid)
    };

    let report = AddEmailLower::expand(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddEmailLower,
        &report,
        Phase::Expand,
        Direction::Forward,
        Some(Phase::Expand),
    );
    assert!(!column(&mut client, "people", "email_lower").unwrap().not_null);
    assert!(has_index(&mut client));

    let report = AddEmailLower::sync(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddEmailLower,
        &report,
        Phase::Sync,
        Direction::Forward,
        Some(Phase::Sync),
    );
    assert!(triggers(&mut client, "people").iter().any(|name| name == trigger));

    let report = AddEmailLower::backfill(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddEmailLower,
        &report,
        Phase::Backfill,
        Direction::Forward,
        Some(Phase::Backfill),
    );
    assert!(report.steps.iter().any(|step| step.rows == 50), "{report}");
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM people WHERE email_lower IS DISTINCT FROM lower(email)",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);

    let report = AddEmailLower::contract(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddEmailLower,
        &report,
        Phase::Contract,
        Direction::Forward,
        Some(Phase::Contract),
    );
    assert!(column(&mut client, "people", "email_lower").unwrap().not_null);
    assert!(!triggers(&mut client, "people").iter().any(|name| name == trigger));

    let report = AddEmailLower::revert_contract(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddEmailLower,
        &report,
        Phase::Contract,
        Direction::Reverse,
        Some(Phase::Backfill),
    );
    assert!(!column(&mut client, "people", "email_lower").unwrap().not_null);
    assert!(triggers(&mut client, "people").iter().any(|name| name == trigger));

    let report = AddEmailLower::revert_backfill(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddEmailLower,
        &report,
        Phase::Backfill,
        Direction::Reverse,
        Some(Phase::Sync),
    );

    let report = AddEmailLower::revert_sync(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddEmailLower,
        &report,
        Phase::Sync,
        Direction::Reverse,
        Some(Phase::Expand),
    );
    assert!(!triggers(&mut client, "people").iter().any(|name| name == trigger));

    let report = AddEmailLower::revert_expand(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddEmailLower,
        &report,
        Phase::Expand,
        Direction::Reverse,
        None,
    );
    assert_eq!(column(&mut client, "people", "email_lower"), None);
    assert!(!has_index(&mut client));
    assert_eq!(table_catalog(&mut client, "people"), before);
}

#[test]
fn a_phase_with_nothing_to_do_runs_no_step_and_records_itself() {
    let db = TestDb::new("phase_functions_empty");
    people(&db);
    let mut client = db.connect();
    let mut runner = db.runner();
    // Out of order is refused, as through the runner.
    assert!(matches!(
        AddNickname::sync(&mut runner),
        Err(zdm_runtime::Error::PhaseOrder { .. })
    ));

    let report = AddNickname::expand(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddNickname,
        &report,
        Phase::Expand,
        Direction::Forward,
        Some(Phase::Expand),
    );
    assert!(column(&mut client, "people", "nickname").is_some());
    for (phase, run) in [
        (
            Phase::Sync,
            AddNickname::sync as fn(&mut Runner) -> zdm_runtime::Result<PhaseReport>,
        ),
        (Phase::Backfill, AddNickname::backfill),
        (Phase::Contract, AddNickname::contract),
    ] {
        assert!(AddNickname.plan().phase(phase).forward.is_empty());
        let report = run(&mut runner).unwrap();
        assert!(report.steps.is_empty());
        assert_report(
            &mut runner,
            &AddNickname,
            &report,
            phase,
            Direction::Forward,
            Some(phase),
        );
    }
    for (phase, revert) in [
        (
            Phase::Contract,
            AddNickname::revert_contract as fn(&mut Runner) -> zdm_runtime::Result<PhaseReport>,
        ),
        (Phase::Backfill, AddNickname::revert_backfill),
        (Phase::Sync, AddNickname::revert_sync),
    ] {
        let report = revert(&mut runner).unwrap();
        assert!(report.steps.is_empty());
        assert_report(
            &mut runner,
            &AddNickname,
            &report,
            phase,
            Direction::Reverse,
            phase.previous(),
        );
    }
    let report = AddNickname::revert_expand(&mut runner).unwrap();
    assert_report(
        &mut runner,
        &AddNickname,
        &report,
        Phase::Expand,
        Direction::Reverse,
        None,
    );
    assert_eq!(column(&mut client, "people", "nickname"), None);
}
