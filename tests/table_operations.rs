//! The table-level operations end to end against a real PostgreSQL. `sql`: the declared raw
//! SQL runs in its phase and the declared `down` undoes it, each in one transaction with the
//! state row, so a failing statement leaves nothing behind; a reversal that discards data
//! waits for `--allow-data-loss`; both application versions keep writing while it runs.

use zdm_runtime::{zero_downtime, Phase};
use zdm_suite::{
    assert_revert_restores, column, contents, db_error, run_phases_under_load, scalar, sqlstate,
    table_catalog, TestDb, Writer,
};

/// Items get a free-text note, added by hand-written SQL.
#[zero_downtime(
    id = "raw_note",
    sql(
        up = "ALTER TABLE items ADD COLUMN note text; COMMENT ON COLUMN items.note IS 'free text'",
        down = "ALTER TABLE items DROP COLUMN note",
        lock = "ACCESS EXCLUSIVE",
        down_discards = "every value of items.note"
    )
)]
struct RawNote;

/// An index built at contract, by hand-written SQL under the lock the declaration names.
#[zero_downtime(
    id = "raw_label_index",
    sql(
        up = "CREATE INDEX items_label ON items (label)",
        down = "DROP INDEX IF EXISTS items_label",
        phase = "contract",
        lock = "SHARE"
    )
)]
struct RawLabelIndex;

/// The second statement fails after the first succeeded: nothing of it may stay.
#[zero_downtime(
    id = "raw_failing",
    sql(
        up = "ALTER TABLE items ADD COLUMN note text; SELECT 1 / 0",
        down = "ALTER TABLE items DROP COLUMN IF EXISTS note"
    )
)]
struct RawFailing;

fn items(db: &TestDb, rows: i64) -> postgres::Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
    client
}

fn index_exists(client: &mut postgres::Client, index: &str) -> bool {
    scalar(
        client,
        &format!(
            "SELECT to_regclass({}) IS NOT NULL",
            zdm_runtime::quote_literal(index)
        ),
    )
}

#[test]
fn sql_runs_up_in_its_phase_and_down_in_the_reversal() {
    let db = TestDb::new("sql_up_and_down");
    let mut client = items(&db, 300);
    let before = (
        table_catalog(&mut client, "items"),
        contents(&mut client, "items"),
    );
    let mut runner = db.runner();

    runner.run(&RawNote, Phase::Expand).unwrap();
    let note = column(&mut client, "items", "note").expect("expand added the column");
    assert_eq!(note.ty, "text");
    assert_eq!(
        scalar::<Option<String>>(
            &mut client,
            "SELECT col_description('items'::regclass, attnum) FROM pg_attribute \
             WHERE attrelid = 'items'::regclass AND attname = 'note'"
        )
        .as_deref(),
        Some("free text")
    );
    for phase in [Phase::Sync, Phase::Backfill, Phase::Contract] {
        runner.run(&RawNote, phase).unwrap();
    }
    assert!(column(&mut client, "items", "note").is_some());
    runner.revert(&RawNote, Phase::Contract).unwrap();
    runner.revert(&RawNote, Phase::Backfill).unwrap();
    runner.revert(&RawNote, Phase::Sync).unwrap();
    assert!(
        column(&mut client, "items", "note").is_some(),
        "only expand's reversal runs `down`"
    );
    runner.revert(&RawNote, Phase::Expand).unwrap();
    assert_eq!(
        (
            table_catalog(&mut client, "items"),
            contents(&mut client, "items")
        ),
        before
    );
}

#[test]
fn sql_declared_for_contract_runs_only_there() {
    let db = TestDb::new("sql_at_contract");
    let mut client = items(&db, 50);
    let mut runner = db.runner();
    runner.run_to(&RawLabelIndex, Phase::Backfill).unwrap();
    assert!(!index_exists(&mut client, "items_label"));
    runner.run(&RawLabelIndex, Phase::Contract).unwrap();
    assert!(index_exists(&mut client, "items_label"));
    runner.revert(&RawLabelIndex, Phase::Contract).unwrap();
    assert!(!index_exists(&mut client, "items_label"));
}

#[test]
fn sql_revert_restores_every_phase() {
    for (index, phase) in Phase::ALL.into_iter().enumerate() {
        let db = TestDb::new(&format!("sql_revert_{index}"));
        items(&db, 200);
        assert_revert_restores(&db, &RawNote, phase, "items");
        let db = TestDb::new(&format!("sql_revert_contract_{index}"));
        items(&db, 200);
        assert_revert_restores(&db, &RawLabelIndex, phase, "items");
    }
}

#[test]
fn sql_whose_statement_fails_changes_nothing() {
    let db = TestDb::new("sql_failing");
    let mut client = items(&db, 20);
    let before = table_catalog(&mut client, "items");
    let mut runner = db.runner();
    let error = runner.run(&RawFailing, Phase::Expand).unwrap_err();
    assert_eq!(
        sqlstate(&error),
        Some(&postgres::error::SqlState::DIVISION_BY_ZERO)
    );
    assert_eq!(
        db_error(&error).map(|error| error.message()),
        Some("division by zero")
    );
    assert_eq!(
        table_catalog(&mut client, "items"),
        before,
        "the first statement is rolled back too"
    );
    assert_eq!(runner.state(&RawFailing).unwrap().completed, None);
}

#[test]
fn sql_reversal_that_discards_data_waits_for_the_flag() {
    let db = TestDb::new("sql_discards");
    let mut client = items(&db, 10);
    db.runner().run(&RawNote, Phase::Expand).unwrap();
    client.batch_execute("UPDATE items SET note = 'kept'").unwrap();
    let migrations: [&dyn zdm_runtime::Migration; 1] = [&RawNote];
    let revert = |extra: &[&str]| {
        let mut args = vec!["zdm", "--database-url", db.url(), "revert", "raw_note"];
        args.extend(extra);
        zdm_runtime::cli::main_with_args(args, &migrations)
    };
    assert_eq!(
        revert(&[]),
        std::process::ExitCode::from(zdm_runtime::cli::exit::REFUSED)
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE note = 'kept'"),
        10
    );
    assert_eq!(revert(&["--allow-data-loss"]), std::process::ExitCode::SUCCESS);
    assert!(column(&mut client, "items", "note").is_none());
}

#[test]
fn sql_mixed_versions_write_through_every_phase() {
    let db = TestDb::new("sql_mixed_versions");
    items(&db, 1_000);
    // The old version never names the note; it keeps inserting and updating throughout.
    let old_version = Writer::new("old version", Phase::Expand..=Phase::Contract, |client, _, n| {
        let id = 100_000 + n;
        let insert = client
            .prepare("INSERT INTO items (id, label) VALUES ($1, 'old ' || $1::bigint)")
            .unwrap();
        client.execute(&insert, &[&id]).unwrap();
        client
            .execute(
                "UPDATE items SET label = 'touched ' || id WHERE id = $1",
                &[&(n % 1_000 + 1)],
            )
            .unwrap();
    });
    // The new version, deployed once expand added the note, writes it.
    let new_version = Writer::new("new version", Phase::Sync..=Phase::Contract, |client, _, n| {
        let id = 1_000_000 + n;
        let insert = client
            .prepare("INSERT INTO items (id, label, note) VALUES ($1, 'new ' || $1::bigint, 'note ' || $1::bigint)")
            .unwrap();
        client.execute(&insert, &[&id]).unwrap();
    });
    run_phases_under_load(&db, &RawNote, vec![old_version, new_version]);
    let mut client = db.connect();
    assert!(scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE label LIKE 'old %'") > 0);
    assert!(scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE label LIKE 'new %'") > 0);
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM items WHERE (label LIKE 'new %') <> (note IS NOT NULL)"
        ),
        0,
        "exactly the new version's rows carry a note"
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE id <= 1000"),
        1_000
    );
}

// ---------------------------------------------------------------------------------------
// drop_table

/// The legacy notes are no longer used.
#[zero_downtime(id = "drop_legacy", drop_table(table = "legacy"))]
struct DropLegacy;

/// `legacy`, with what setting aside must carry: a serial key, a unique constraint, a
/// check, a foreign key to `items`, an index, a trigger and a grant.
fn legacy(db: &TestDb) -> postgres::Client {
    let mut client = items(db, 20);
    client
        .batch_execute(
            "CREATE TABLE legacy (
                 id bigserial PRIMARY KEY,
                 item_id bigint REFERENCES items,
                 note text UNIQUE CHECK (length(note) < 100)
             );
             CREATE INDEX legacy_item ON legacy (item_id);
             CREATE FUNCTION legacy_touch() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN NEW.note := coalesce(NEW.note, 'none'); RETURN NEW; END $$;
             CREATE TRIGGER legacy_touch BEFORE INSERT ON legacy FOR EACH ROW EXECUTE FUNCTION legacy_touch();
             DO $$ BEGIN CREATE ROLE zdm_legacy_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT SELECT ON legacy TO zdm_legacy_reader;
             INSERT INTO legacy (item_id, note) SELECT g % 20 + 1, 'note ' || g FROM generate_series(1, 300) g;",
        )
        .unwrap();
    client
}

fn relation_exists(client: &mut postgres::Client, relation: &str) -> bool {
    scalar(
        client,
        &format!(
            "SELECT to_regclass({}) IS NOT NULL",
            zdm_runtime::quote_literal(relation)
        ),
    )
}

#[test]
fn drop_table_sets_the_table_aside_at_contract_and_its_reversal_puts_it_back() {
    let db = TestDb::new("drop_table_cycle");
    let mut client = legacy(&db);
    let before = (
        table_catalog(&mut client, "legacy"),
        contents(&mut client, "legacy"),
    );
    let oid: u32 = scalar(&mut client, "SELECT 'legacy'::regclass::oid");
    let mut runner = db.runner();
    runner.run_to(&DropLegacy, Phase::Backfill).unwrap();
    assert_eq!(
        (
            table_catalog(&mut client, "legacy"),
            contents(&mut client, "legacy")
        ),
        before,
        "nothing changes before contract"
    );

    runner.run(&DropLegacy, Phase::Contract).unwrap();
    assert!(!relation_exists(&mut client, "legacy"));
    assert_eq!(
        scalar::<u32>(&mut client, "SELECT 'zdm.drop_legacy_dropped'::regclass::oid"),
        oid
    );
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM zdm.drop_legacy_dropped"),
        300
    );
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT schema::text FROM zdm.drop_legacy_dropped_from"
        ),
        "public"
    );

    runner.revert(&DropLegacy, Phase::Contract).unwrap();
    assert_eq!(scalar::<u32>(&mut client, "SELECT 'legacy'::regclass::oid"), oid);
    assert_eq!(
        (
            table_catalog(&mut client, "legacy"),
            contents(&mut client, "legacy")
        ),
        before
    );
    assert!(!relation_exists(&mut client, "zdm.drop_legacy_dropped_from"));
    assert_eq!(
        scalar::<String>(&mut client, "SELECT pg_get_serial_sequence('legacy', 'id')"),
        "public.legacy_id_seq"
    );
    assert!(scalar::<bool>(
        &mut client,
        "SELECT has_table_privilege('zdm_legacy_reader', 'legacy', 'SELECT')"
    ));
    client
        .execute("INSERT INTO legacy (item_id) VALUES (1)", &[])
        .unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM legacy WHERE note = 'none'"),
        1
    );
}

#[test]
fn drop_table_revert_restores_every_phase() {
    for (index, phase) in Phase::ALL.into_iter().enumerate() {
        let db = TestDb::new(&format!("drop_table_revert_{index}"));
        legacy(&db);
        assert_revert_restores(&db, &DropLegacy, phase, "legacy");
    }
}

#[test]
fn drop_table_refuses_a_table_other_tables_or_views_use() {
    let db = TestDb::new("drop_table_dependents");
    let mut client = legacy(&db);
    client
        .batch_execute(
            "CREATE TABLE legacy_links (id int PRIMARY KEY, legacy_id bigint CONSTRAINT link_legacy REFERENCES legacy);
             CREATE VIEW legacy_notes AS SELECT note FROM legacy;
             CREATE MATERIALIZED VIEW legacy_counts AS SELECT count(*) FROM legacy;",
        )
        .unwrap();
    let before = table_catalog(&mut client, "legacy");
    let error = db.runner().run(&DropLegacy, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "drop_legacy: expand refused before any lock-heavy step: expected no foreign key of another table and \
         no view using \"legacy\", found 3 offending row(s); for example:\n  foreign key link_legacy of \
         legacy_links\n  view legacy_counts\n  view legacy_notes"
    );
    assert_eq!(table_catalog(&mut client, "legacy"), before);

    // A dependent that appears after expand stops contract, which changes nothing.
    client
        .batch_execute(
            "DROP MATERIALIZED VIEW legacy_counts; DROP VIEW legacy_notes; DROP TABLE legacy_links",
        )
        .unwrap();
    let mut runner = db.runner();
    runner.run_to(&DropLegacy, Phase::Backfill).unwrap();
    client
        .batch_execute("CREATE VIEW legacy_notes AS SELECT note FROM legacy")
        .unwrap();
    let error = runner.run(&DropLegacy, Phase::Contract).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("found 1 offending row(s); for example:\n  view legacy_notes"),
        "{error}"
    );
    assert!(relation_exists(&mut client, "legacy"));
    assert_eq!(
        runner.state(&DropLegacy).unwrap().completed,
        Some(Phase::Backfill)
    );

    // An index would land beside a relation of its name in the state schema.
    client
        .batch_execute("DROP VIEW legacy_notes; CREATE TABLE zdm.legacy_item (id int)")
        .unwrap();
    let error = runner.run(&DropLegacy, Phase::Contract).unwrap_err();
    assert_eq!(
        db_error(&error).map(|error| error.message()),
        Some(
            "refusing to set \"legacy\" aside: the state schema already holds legacy_item, named as its indexes \
             or sequences; purge earlier drops first"
        )
    );
    assert!(relation_exists(&mut client, "legacy"));
    assert!(!relation_exists(&mut client, "zdm.drop_legacy_dropped_from"));
}

#[test]
fn drop_table_mixed_versions_write_through_every_phase() {
    let db = TestDb::new("drop_table_mixed_versions");
    legacy(&db);
    // The old version writes the legacy table until contract; the new one never names it.
    let old_version = Writer::new("old version", Phase::Expand..=Phase::Backfill, |client, _, n| {
        let insert = client
            .prepare("INSERT INTO legacy (item_id, note) VALUES ($1, 'old ' || $2::bigint)")
            .unwrap();
        client.execute(&insert, &[&(n % 20 + 1), &n]).unwrap();
    });
    let new_version = Writer::new("new version", Phase::Sync..=Phase::Contract, |client, _, n| {
        let insert = client
            .prepare("INSERT INTO items (id, label) VALUES ($1, 'new ' || $1::bigint)")
            .unwrap();
        client.execute(&insert, &[&(1_000_000 + n)]).unwrap();
    });
    run_phases_under_load(&db, &DropLegacy, vec![old_version, new_version]);
    let mut client = db.connect();
    let old_rows: i64 = scalar(
        &mut client,
        "SELECT count(*) FROM zdm.drop_legacy_dropped WHERE note LIKE 'old %'",
    );
    assert!(old_rows > 0);
    assert!(!relation_exists(&mut client, "legacy"));
    db.runner().revert(&DropLegacy, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM legacy WHERE note LIKE 'old %'"),
        old_rows,
        "reverting contract brings back every row the old version wrote"
    );
}

#[test]
fn drop_table_purge_drops_the_table_set_aside_for_good() {
    let db = TestDb::new("drop_table_purge");
    let mut client = legacy(&db);
    let mut runner = db.runner();
    runner.run_to(&DropLegacy, Phase::Backfill).unwrap();
    assert_eq!(
        runner.purge(&DropLegacy).unwrap_err().to_string(),
        "drop_legacy: cannot purge: purge throws away what contract set aside, so it runs only once contract \
         has completed"
    );
    runner.run(&DropLegacy, Phase::Contract).unwrap();
    drop(runner);

    let migrations: [&dyn zdm_runtime::Migration; 1] = [&DropLegacy];
    let dry_run = [
        "zdm",
        "--database-url",
        db.url(),
        "--dry-run",
        "purge",
        "drop_legacy",
    ];
    assert_eq!(
        zdm_runtime::cli::main_with_args(dry_run, &migrations),
        std::process::ExitCode::SUCCESS
    );
    assert!(
        relation_exists(&mut client, "zdm.drop_legacy_dropped"),
        "a dry run drops nothing"
    );
    let purge = || {
        zdm_runtime::cli::main_with_args(
            ["zdm", "--database-url", db.url(), "purge", "drop_legacy"],
            &migrations,
        )
    };
    assert_eq!(purge(), std::process::ExitCode::SUCCESS);
    assert!(!relation_exists(&mut client, "zdm.drop_legacy_dropped"));
    assert!(
        !relation_exists(&mut client, "legacy_id_seq"),
        "its sequence went with it"
    );
    assert_eq!(
        purge(),
        std::process::ExitCode::SUCCESS,
        "purging again does nothing"
    );

    let mut runner = db.runner();
    assert_eq!(
        runner.state(&DropLegacy).unwrap().completed,
        Some(Phase::Contract)
    );
    let error = runner.revert(&DropLegacy, Phase::Contract).unwrap_err();
    assert_eq!(
        db_error(&error).map(|error| error.message()),
        Some("cannot put \"legacy\" back: it was purged from the state schema")
    );
    assert!(!relation_exists(&mut client, "legacy"));
}

// ---------------------------------------------------------------------------------------
// drop_column

/// Items lose their code, which the new version no longer writes: rows it inserts get
/// the label's upper case, so the old version still finds a code until contract.
#[zero_downtime(
    id = "drop_code",
    drop_column(table = "items", column = "code", down = "upper(label)")
)]
struct DropCode;

/// The nullable note goes; nothing needs filling.
#[zero_downtime(id = "drop_note", drop_column(table = "items", column = "note"))]
struct DropNote;

/// `items` with a required `code` (no default), an optional `note`.
fn coded_items(db: &TestDb) -> postgres::Client {
    let mut client = items(db, 200);
    client
        .batch_execute(
            "ALTER TABLE items ADD COLUMN code text, ADD COLUMN note text;
             UPDATE items SET code = 'c' || id, note = CASE WHEN id % 2 = 0 THEN 'n' || id END;
             ALTER TABLE items ALTER COLUMN code SET NOT NULL;",
        )
        .unwrap();
    client
}

fn items_catalog_and_contents(client: &mut postgres::Client) -> (Vec<String>, String) {
    (table_catalog(client, "items"), contents(client, "items"))
}

#[test]
fn drop_column_hides_the_column_at_contract_and_its_reversal_shows_it_again() {
    let db = TestDb::new("drop_column_cycle");
    let mut client = coded_items(&db);
    let before = items_catalog_and_contents(&mut client);
    let mut runner = db.runner();
    runner.run_to(&DropCode, Phase::Backfill).unwrap();
    // The new version inserts without the column; the trigger fills it.
    client
        .execute("INSERT INTO items (id, label) VALUES (1001, 'new one')", &[])
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT code FROM items WHERE id = 1001"),
        "NEW ONE"
    );

    runner.run(&DropCode, Phase::Contract).unwrap();
    assert!(column(&mut client, "items", "code").is_none());
    let hidden = column(&mut client, "items", "zdm_drop_code_code").expect("the column is hidden");
    assert!(hidden.not_null);
    client
        .execute(
            "INSERT INTO items (id, label) VALUES (1002, 'after contract')",
            &[],
        )
        .unwrap();

    runner.revert(&DropCode, Phase::Contract).unwrap();
    assert_eq!(
        scalar::<String>(
            &mut client,
            "SELECT string_agg(code, ',' ORDER BY id) FROM items WHERE id > 1000"
        ),
        "NEW ONE,AFTER CONTRACT",
        "no value is lost, not even for rows written after contract"
    );
    client.batch_execute("DELETE FROM items WHERE id > 1000").unwrap();
    runner.revert(&DropCode, Phase::Backfill).unwrap();
    runner.revert(&DropCode, Phase::Sync).unwrap();
    runner.revert(&DropCode, Phase::Expand).unwrap();
    assert_eq!(items_catalog_and_contents(&mut client), before);
}

#[test]
fn drop_column_revert_restores_every_phase() {
    for (index, phase) in Phase::ALL.into_iter().enumerate() {
        let db = TestDb::new(&format!("drop_column_revert_{index}"));
        coded_items(&db);
        assert_revert_restores(&db, &DropCode, phase, "items");
        let db = TestDb::new(&format!("drop_column_revert_nullable_{index}"));
        coded_items(&db);
        assert_revert_restores(&db, &DropNote, phase, "items");
    }
}

#[test]
fn drop_column_purge_drops_the_hidden_column_for_good() {
    let db = TestDb::new("drop_column_purge");
    let mut client = coded_items(&db);
    let mut runner = db.runner();
    runner.run_to(&DropCode, Phase::Contract).unwrap();
    runner.purge(&DropCode).unwrap();
    assert!(column(&mut client, "items", "zdm_drop_code_code").is_none());
    assert_eq!(zdm_suite::triggers(&mut client, "items"), Vec::<String>::new());
    client
        .execute("INSERT INTO items (id, label) VALUES (1001, 'x')", &[])
        .unwrap();
}

#[test]
fn drop_column_refuses_what_would_break() {
    let db = TestDb::new("drop_column_refusals");
    let mut client = coded_items(&db);
    /// The required code, without a `down`.
    #[zero_downtime(id = "drop_code_bare", drop_column(table = "items", column = "code"))]
    struct DropCodeBare;
    let before = items_catalog_and_contents(&mut client);
    let error = db.runner().run(&DropCodeBare, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "drop_code_bare: expand refused before any lock-heavy step: expected \"items\".\"code\" nullable or with \
         a default, or a declared `down`, found 1 offending row(s); for example:\n  code is NOT NULL without a \
         default: declare `down`, the value rows written without it get"
    );
    client
        .batch_execute(
            "CREATE INDEX items_note ON items (note);
             CREATE VIEW item_notes AS SELECT id, note FROM items;",
        )
        .unwrap();
    let error = db.runner().run(&DropNote, Phase::Expand).unwrap_err();
    assert_eq!(
        error.to_string(),
        "drop_note: expand refused before any lock-heavy step: expected nothing using \"items\".\"note\", found 2 \
         offending row(s); for example:\n  index items_note\n  rule _RETURN on view item_notes"
    );
    client
        .batch_execute("DROP VIEW item_notes; DROP INDEX items_note")
        .unwrap();
    assert_eq!(items_catalog_and_contents(&mut client), before);
}

#[test]
fn drop_column_mixed_versions_write_through_every_phase() {
    let db = TestDb::new("drop_column_mixed_versions");
    coded_items(&db);
    // The old version writes the code until contract.
    let old_version = Writer::new("old version", Phase::Expand..=Phase::Backfill, |client, _, n| {
        let insert = client
            .prepare("INSERT INTO items (id, label, code) VALUES ($1, 'old ' || $1::bigint, 'old')")
            .unwrap();
        client.execute(&insert, &[&(100_000 + n)]).unwrap();
        let update = client
            .prepare("UPDATE items SET code = code || '+' WHERE id = $1")
            .unwrap();
        client.execute(&update, &[&(n % 200 + 1)]).unwrap();
    });
    // The new version never names it; it is deployed once sync installed the trigger.
    let new_version = Writer::new(
        "new version",
        Phase::Backfill..=Phase::Contract,
        |client, _, n| {
            let insert = client
                .prepare("INSERT INTO items (id, label) VALUES ($1, 'new ' || $1::bigint)")
                .unwrap();
            client.execute(&insert, &[&(1_000_000 + n)]).unwrap();
            let update = client
                .prepare("UPDATE items SET label = label || '+' WHERE id = $1")
                .unwrap();
            client.execute(&update, &[&(n % 200 + 1)]).unwrap();
        },
    );
    run_phases_under_load(&db, &DropCode, vec![old_version, new_version]);
    let mut client = db.connect();
    assert!(scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE label LIKE 'new %'") > 0);
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM items WHERE label LIKE 'new %' AND zdm_drop_code_code <> upper(label)"
        ),
        0,
        "every row of the new version got `down`"
    );
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM items WHERE label LIKE 'old %' AND zdm_drop_code_code <> 'old'"
        ),
        0
    );
}

// ---------------------------------------------------------------------------------------
// create_table

/// Items get a log of events.
#[zero_downtime(
    id = "create_events",
    create_table(
        table = "item_events",
        column(name = "id", ty = "bigint"),
        column(name = "item_id", ty = "bigint", not_null, references = "items"),
        column(
            name = "kind",
            ty = "text",
            default = "'note'",
            not_null,
            check = "kind <> ''"
        ),
        column(name = "code", ty = "text", unique),
        primary_key = "id",
        check = "id > 0"
    )
)]
struct CreateEvents;

#[test]
fn create_table_creates_the_declared_table_at_expand() {
    let db = TestDb::new("create_table_cycle");
    let mut client = items(&db, 10);
    let mut runner = db.runner();
    runner.run(&CreateEvents, Phase::Expand).unwrap();
    let columns: Vec<(String, String, bool, Option<String>)> = zdm_suite::columns(&mut client, "item_events")
        .into_iter()
        .map(|column| (column.name, column.ty, column.not_null, column.default))
        .collect();
    assert_eq!(
        columns,
        [
            ("id".to_owned(), "bigint".to_owned(), true, None),
            ("item_id".to_owned(), "bigint".to_owned(), true, None),
            (
                "kind".to_owned(),
                "text".to_owned(),
                true,
                Some("'note'::text".to_owned())
            ),
            ("code".to_owned(), "text".to_owned(), false, None),
        ]
    );
    let mut constraints: Vec<(String, String)> = zdm_suite::constraints(&mut client, "item_events")
        .into_iter()
        .filter(|(_, kind, ..)| kind != "n")
        .map(|(_, kind, _, definition)| (kind, definition))
        .collect();
    constraints.sort();
    assert_eq!(
        constraints,
        [
            ("c".to_owned(), "CHECK ((id > 0))".to_owned()),
            ("c".to_owned(), "CHECK ((kind <> ''::text))".to_owned()),
            (
                "f".to_owned(),
                "FOREIGN KEY (item_id) REFERENCES items(id)".to_owned()
            ),
            ("p".to_owned(), "PRIMARY KEY (id)".to_owned()),
            ("u".to_owned(), "UNIQUE (code)".to_owned()),
        ]
    );
    client
        .execute("INSERT INTO item_events (id, item_id) VALUES (1, 1)", &[])
        .unwrap();
    assert_eq!(
        scalar::<String>(&mut client, "SELECT kind FROM item_events"),
        "note"
    );
    let orphan = client
        .execute("INSERT INTO item_events (id, item_id) VALUES (2, 999)", &[])
        .unwrap_err();
    assert_eq!(
        orphan.code(),
        Some(&postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    );
    for phase in [Phase::Sync, Phase::Backfill, Phase::Contract] {
        runner.run(&CreateEvents, phase).unwrap();
    }
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM item_events"), 1);
}

#[test]
fn create_table_revert_restores_every_phase() {
    for (index, phase) in Phase::ALL.into_iter().enumerate() {
        let db = TestDb::new(&format!("create_table_revert_{index}"));
        items(&db, 10);
        // The table is absent before expand: it is read only where it exists.
        zdm_suite::assert_revert_restores_with(&db, &CreateEvents, phase, |client| {
            let exists = relation_exists(client, "item_events");
            let table = exists.then(|| {
                (
                    table_catalog(client, "item_events"),
                    contents(client, "item_events"),
                )
            });
            (table_catalog(client, "items"), table)
        });
    }
}

#[test]
fn create_table_reversal_drops_rows_only_with_the_data_loss_flag() {
    let db = TestDb::new("create_table_rows");
    let mut client = items(&db, 10);
    db.runner().run(&CreateEvents, Phase::Expand).unwrap();
    client
        .batch_execute("INSERT INTO item_events (id, item_id) VALUES (1, 1), (2, 2)")
        .unwrap();
    let error = db.runner().revert(&CreateEvents, Phase::Expand).unwrap_err();
    assert_eq!(
        db_error(&error).map(|error| error.message()),
        Some(
            "refusing to drop \"item_events\": it holds 2 row(s); revert with --allow-data-loss to drop them"
        )
    );
    assert_eq!(scalar::<i64>(&mut client, "SELECT count(*) FROM item_events"), 2);

    let migrations: [&dyn zdm_runtime::Migration; 1] = [&CreateEvents];
    let revert = |extra: &[&str]| {
        let mut args = vec!["zdm", "--database-url", db.url(), "revert", "create_events"];
        args.extend(extra);
        zdm_runtime::cli::main_with_args(args, &migrations)
    };
    assert_eq!(
        revert(&[]),
        std::process::ExitCode::from(zdm_runtime::cli::exit::FAILED)
    );
    assert!(relation_exists(&mut client, "item_events"));
    assert_eq!(revert(&["--allow-data-loss"]), std::process::ExitCode::SUCCESS);
    assert!(!relation_exists(&mut client, "item_events"));
}

/// A table referencing one that does not exist.
#[zero_downtime(
    id = "create_dangling",
    create_table(
        table = "dangling",
        column(name = "id", ty = "bigint", references = "nowhere")
    )
)]
struct CreateDangling;

#[test]
fn create_table_refuses_a_missing_referenced_table() {
    let db = TestDb::new("create_table_dangling");
    let mut client = items(&db, 1);
    let error = db.runner().run(&CreateDangling, Phase::Expand).unwrap_err();
    assert!(matches!(error, zdm_runtime::Error::Drift { .. }), "{error}");
    assert!(error.to_string().contains("\"nowhere\""), "{error}");
    assert!(!relation_exists(&mut client, "dangling"));
}

#[test]
fn create_table_refuses_a_name_that_is_taken() {
    let db = TestDb::new("create_table_taken");
    let mut client = items(&db, 10);
    client
        .batch_execute("CREATE VIEW item_events AS SELECT 1 AS one")
        .unwrap();
    let error = db.runner().run(&CreateEvents, Phase::Expand).unwrap_err();
    assert!(matches!(error, zdm_runtime::Error::Drift { .. }), "{error}");
    assert_eq!(scalar::<i32>(&mut client, "SELECT one FROM item_events"), 1);
}

#[test]
fn create_table_mixed_versions_write_through_every_phase() {
    let db = TestDb::new("create_table_mixed_versions");
    items(&db, 100);
    let old_version = Writer::new("old version", Phase::Expand..=Phase::Backfill, |client, _, n| {
        let insert = client
            .prepare("INSERT INTO items (id, label) VALUES ($1, 'old ' || $1::bigint)")
            .unwrap();
        client.execute(&insert, &[&(100_000 + n)]).unwrap();
    });
    // The new version, deployed once expand created the table, logs an event per write.
    let new_version = Writer::new("new version", Phase::Sync..=Phase::Contract, |client, _, n| {
        let insert = client
            .prepare("INSERT INTO item_events (id, item_id, code) VALUES ($1, $2, 'c' || $1::bigint)")
            .unwrap();
        client.execute(&insert, &[&(n + 1), &(n % 100 + 1)]).unwrap();
    });
    run_phases_under_load(&db, &CreateEvents, vec![old_version, new_version]);
    let mut client = db.connect();
    assert!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM item_events WHERE kind = 'note'"
        ) > 0
    );
    assert!(scalar::<i64>(&mut client, "SELECT count(*) FROM items WHERE label LIKE 'old %'") > 0);
}
