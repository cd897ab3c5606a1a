//! `create_enum` and `add_enum_value` end to end against a real PostgreSQL: the type and its
//! values after every phase, the refusals before any change (a taken name, a missing
//! neighbour, a type or value in use when reverting), each reversal, and old and new
//! versions writing with prepared statements while the phases run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use postgres::Client;
use zdm_runtime::{zero_downtime, Error, Phase};
use zdm_suite::{assert_revert_restores, run_phases_under_load, scalar, TestDb, Writer};

/// A mood type for people.
#[zero_downtime(id = "enum_mood", create_enum(name = "mood", values = ["sad", "ok"]))]
struct CreateMood;

/// People can be happy too, between sad and ok.
#[zero_downtime(
    id = "enum_happy",
    add_enum_value(name = "mood", value = "happy", before = "ok")
)]
struct AddHappy;

/// People can be elated, after a value the type does not have.
#[zero_downtime(
    id = "enum_elated",
    add_enum_value(name = "mood", value = "elated", after = "thrilled")
)]
struct AddElatedAfterMissing;

/// The labels of `mood` in their order, or `None` when there is no such type.
fn mood(client: &mut Client) -> Option<Vec<String>> {
    let labels: Option<Vec<String>> = scalar(
        client,
        "SELECT CASE WHEN to_regtype('mood') IS NULL THEN NULL ELSE \
         (SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = to_regtype('mood')) END",
    );
    labels
}

fn people(client: &mut Client, rows: i64) {
    client
        .batch_execute(&format!(
            "CREATE TABLE people (id bigint PRIMARY KEY, feels mood NOT NULL);
             INSERT INTO people SELECT g, CASE WHEN g % 2 = 0 THEN 'sad' ELSE 'ok' END::mood
             FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
}

#[test]
fn create_enum_creates_the_type_and_its_reversal_drops_it_only_when_unused() {
    let db = TestDb::new("create_enum_cycle");
    let mut client = db.connect();
    let mut runner = db.runner();
    runner.run_to(&CreateMood, Phase::Contract).unwrap();
    assert_eq!(mood(&mut client), Some(vec!["sad".to_owned(), "ok".to_owned()]));

    people(&mut client, 10);
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync] {
        runner.revert(&CreateMood, phase).unwrap();
    }
    let error = runner.revert(&CreateMood, Phase::Expand).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 1, .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "enum_mood: expand refused before any lock-heavy step: expected nothing uses the type \"mood\", which \
         the reversal drops, found 1 offending row(s); for example:\n  column feels of table people"
    );
    assert!(mood(&mut client).is_some(), "the type is still there");
    assert_eq!(runner.state(&CreateMood).unwrap().completed, Some(Phase::Expand));

    client
        .batch_execute("DROP TABLE people; CREATE DOMAIN fine_mood AS mood")
        .unwrap();
    let error = runner.revert(&CreateMood, Phase::Expand).unwrap_err();
    assert!(
        error.to_string().ends_with("for example:\n  type fine_mood"),
        "{error}"
    );
    client.batch_execute("DROP DOMAIN fine_mood").unwrap();
    runner.revert(&CreateMood, Phase::Expand).unwrap();
    assert_eq!(mood(&mut client), None);
    assert_eq!(runner.state(&CreateMood).unwrap().completed, None);
}

#[test]
fn create_enum_refuses_a_name_that_already_names_a_type() {
    let db = TestDb::new("create_enum_refuses_taken_name");
    let mut client = db.connect();
    client.batch_execute("CREATE TABLE mood (id int)").unwrap();
    let error = db.runner().run(&CreateMood, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "enum_mood: expand refused before any lock-heavy step: expected no type named \"mood\", found 1 \
         offending row(s); for example:\n  mood"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM pg_type WHERE typtype = 'e'"),
        0
    );
}

#[test]
fn create_enum_each_reversal_restores_the_catalog() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("create_enum_revert_{phase}"));
        zdm_suite::assert_revert_restores_with(&db, &CreateMood, phase, mood);
    }
}

#[test]
fn create_enum_old_and_new_versions_writing_during_every_phase() {
    let db = TestDb::new("create_enum_mixed_versions");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE notes (id bigint PRIMARY KEY, feels text NOT NULL)")
        .unwrap();
    let written: Arc<Mutex<BTreeMap<i64, &'static str>>> = Arc::default();
    let record = written.clone();
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let id = 100_000 + n;
            client
                .execute("INSERT INTO notes (id, feels) VALUES ($1, 'plain')", &[&id])
                .unwrap();
            record.lock().unwrap().insert(id, "plain");
        },
    );
    // The new version uses the type once expand has finished, as the plan says.
    let record = written.clone();
    let new_version = Writer::new(
        "new version",
        Phase::Expand..=Phase::Contract,
        move |client, phase, n| {
            let id = 1_000_000 + n;
            let feels = if n % 2 == 0 { "sad" } else { "ok" };
            if phase == Phase::Expand {
                client
                    .execute("INSERT INTO notes (id, feels) VALUES ($1, 'plain')", &[&id])
                    .unwrap();
                record.lock().unwrap().insert(id, "plain");
            } else {
                client
                    .execute(
                        "INSERT INTO notes (id, feels) VALUES ($1, $2::text::mood::text)",
                        &[&id, &feels],
                    )
                    .unwrap();
                record.lock().unwrap().insert(id, feels);
            }
        },
    );
    run_phases_under_load(&db, &CreateMood, vec![old_version, new_version]);
    let written = written.lock().unwrap();
    assert!(written.values().any(|feels| *feels == "sad"));
    for (id, feels) in written.iter() {
        let row: String = client
            .query_one("SELECT feels FROM notes WHERE id = $1", &[id])
            .unwrap()
            .get(0);
        assert_eq!(row, *feels, "note {id}");
    }
}

#[test]
fn add_enum_value_places_the_value_and_refuses_a_missing_neighbour() {
    let db = TestDb::new("add_enum_value_cycle");
    let mut client = db.connect();
    let mut runner = db.runner();
    let error = runner.run(&AddHappy, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "enum_happy: expand refused before any lock-heavy step: expected an enum type \"mood\" with the \
         value(s) 'ok', found 2 offending row(s); for example:\n  no enum type \"mood\"\n  \
         no value 'ok' in the enum type \"mood\""
    );
    client
        .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
        .unwrap();
    let error = runner.run(&AddElatedAfterMissing, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "enum_elated: expand refused before any lock-heavy step: expected an enum type \"mood\" with the \
         value(s) 'thrilled', found 1 offending row(s); for example:\n  no value 'thrilled' in the enum type \"mood\""
    );
    runner.run_to(&AddHappy, Phase::Contract).unwrap();
    assert_eq!(
        mood(&mut client),
        Some(vec!["sad".to_owned(), "happy".to_owned(), "ok".to_owned()])
    );
    // Ordered by the declared place, not by when it was added.
    assert!(scalar::<bool>(&mut client, "SELECT 'happy'::mood < 'ok'::mood"));
}

#[test]
fn add_enum_value_reversal_refuses_while_a_row_holds_the_value_and_then_leaves_it_unused() {
    let db = TestDb::new("add_enum_value_revert");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
        .unwrap();
    people(&mut client, 20);
    let mut runner = db.runner();
    runner.run_to(&AddHappy, Phase::Contract).unwrap();
    client
        .batch_execute("UPDATE people SET feels = 'happy' WHERE id IN (3, 4, 5)")
        .unwrap();
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync] {
        runner.revert(&AddHappy, phase).unwrap();
    }
    let error = runner.revert(&AddHappy, Phase::Expand).unwrap_err();
    assert!(matches!(error, Error::Precondition { count: 3, .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "enum_happy: expand refused before any lock-heavy step: expected no row holds 'happy' of \"mood\", which \
         PostgreSQL cannot drop from the type, found 3 offending row(s); for example:\n  \
         people.feels holds it in 3 row(s)"
    );
    client
        .batch_execute("UPDATE people SET feels = 'ok' WHERE feels = 'happy'")
        .unwrap();
    runner.revert(&AddHappy, Phase::Expand).unwrap();
    assert_eq!(runner.state(&AddHappy).unwrap().completed, None);
    assert_eq!(
        mood(&mut client),
        Some(vec!["sad".to_owned(), "happy".to_owned(), "ok".to_owned()]),
        "the unused value stays: PostgreSQL cannot drop it"
    );
    runner.run_to(&AddHappy, Phase::Contract).unwrap();
}

#[test]
fn add_enum_value_each_reversal_restores_the_table() {
    for phase in Phase::ALL {
        let db = TestDb::new(&format!("add_enum_value_revert_{phase}"));
        let mut client = db.connect();
        client
            .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
            .unwrap();
        people(&mut client, 50);
        assert_revert_restores(&db, &AddHappy, phase, "people");
    }
}

#[test]
fn add_enum_value_old_and_new_versions_writing_during_every_phase() {
    let db = TestDb::new("add_enum_value_mixed_versions");
    let mut client = db.connect();
    client
        .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
        .unwrap();
    people(&mut client, 100);
    let written: Arc<Mutex<BTreeMap<i64, &'static str>>> = Arc::default();
    let record = written.clone();
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let id = 100_000 + n;
            let feels = if n % 2 == 0 { "sad" } else { "ok" };
            client
                .execute(
                    "INSERT INTO people (id, feels) VALUES ($1, $2::text::mood)",
                    &[&id, &feels],
                )
                .unwrap();
            record.lock().unwrap().insert(id, feels);
        },
    );
    // The new version writes the new value once expand has finished, as the plan says.
    let record = written.clone();
    let new_version = Writer::new(
        "new version",
        Phase::Expand..=Phase::Contract,
        move |client, phase, n| {
            let id = 1_000_000 + n;
            let feels = if phase == Phase::Expand { "ok" } else { "happy" };
            client
                .execute(
                    "INSERT INTO people (id, feels) VALUES ($1, $2::text::mood)",
                    &[&id, &feels],
                )
                .unwrap();
            record.lock().unwrap().insert(id, feels);
        },
    );
    run_phases_under_load(&db, &AddHappy, vec![old_version, new_version]);
    let written = written.lock().unwrap();
    assert!(written.values().any(|feels| *feels == "happy"));
    for (id, feels) in written.iter() {
        let row: String = client
            .query_one("SELECT feels::text FROM people WHERE id = $1", &[id])
            .unwrap()
            .get(0);
        assert_eq!(row, *feels, "person {id}");
    }
}
