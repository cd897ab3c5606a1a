//! `add_index` end to end against a real PostgreSQL: every method builds concurrently under
//! its deterministic name, a unique build is refused while duplicates exist, an index left
//! INVALID by a failed or killed build is dropped and rebuilt (the seed's `IF NOT EXISTS`
//! would keep it), a different index of the same name is drift, and the progress of a
//! running build can be read from another connection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::Client;
use zdm_runtime::{index_build_progress, zero_downtime, Error, Migration, Options, Phase, Runner};
use zdm_suite::assert_revert_restores;
use zdm_suite::{checksum, indexes, run_phases_under_load, scalar, test_options, TestDb, Writer};

/// Orders are looked up by customer, newest first.
#[zero_downtime(id = "orders_by_customer", add_index(table = "orders", columns = ["customer_id", "created_at"]))]
struct OrdersByCustomer;

/// One live account per email, whatever its case.
#[zero_downtime(
    id = "orders_live_email",
    add_index(
        table = "orders",
        expression = "lower(email)",
        unique,
        where = "deleted_at IS NULL"
    )
)]
struct LiveEmail;

/// A customer's order codes are unique; the new version upserts on them.
#[zero_downtime(
    id = "orders_customer_code",
    add_index(table = "orders", columns = ["customer_id", "code"], unique, include = ["qty"], name = "orders_customer_code_key")
)]
struct CustomerCode;

#[zero_downtime(
    id = "orders_tags",
    add_index(table = "orders", columns = "tags", method = "gin")
)]
struct TagsGin;

#[zero_downtime(
    id = "orders_spot",
    add_index(table = "orders", columns = "spot", method = "gist")
)]
struct SpotGist;

#[zero_downtime(
    id = "orders_spot_spgist",
    add_index(table = "orders", columns = "spot", method = "spgist")
)]
struct SpotSpgist;

#[zero_downtime(
    id = "orders_created",
    add_index(table = "orders", columns = "created_at", method = "brin")
)]
struct CreatedBrin;

#[zero_downtime(
    id = "orders_code_hash",
    add_index(table = "orders", columns = "code", method = "hash")
)]
struct CodeHash;

#[zero_downtime(id = "orders_ratio", add_index(table = "orders", expression = "(100 / qty)"))]
struct Ratio;

fn orders(db: &TestDb, rows: i64) -> Client {
    let mut client = db.connect();
    client
        .batch_execute(&format!(
            "CREATE TABLE orders (
                 id bigint PRIMARY KEY,
                 customer_id integer NOT NULL,
                 code text NOT NULL,
                 email text,
                 tags text[],
                 spot point,
                 qty integer NOT NULL DEFAULT 1,
                 created_at timestamptz NOT NULL,
                 deleted_at timestamptz
             );
             INSERT INTO orders (id, customer_id, code, email, tags, spot, qty, created_at)
                 SELECT g, g % 37, 'code-' || g, 'User' || g || '@Example.com', ARRAY['t' || g % 5],
                        point(g % 10, g % 7), g % 9 + 1, '2026-01-01'::timestamptz + g * interval '1 minute'
                 FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
    client
}

fn index(client: &mut Client, name: &str) -> Option<(bool, String)> {
    indexes(client, "orders")
        .into_iter()
        .find(|(found, ..)| found == name)
        .map(|(_, valid, definition)| (valid, definition))
}

/// Polls until `probe` returns something. The tests use it only for states the database is
/// guaranteed to reach and to stay in (a build waiting for a transaction that the test
/// holds open), so the deadline is a guard against a hung test, not a timing assertion.
fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "the awaited state never came");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn full_cycle_checks_the_catalog_after_every_phase() {
    let db = TestDb::new("add_index_full_cycle");
    let mut client = orders(&db, 1_000);
    let mut runner = db.runner();
    let before = checksum(&mut client, "orders");

    let report = runner.run(&OrdersByCustomer, Phase::Expand).unwrap();
    assert!(!report.steps.last().unwrap().already_done);
    let built = (
        true,
        "CREATE INDEX orders_customer_id_created_at_idx ON public.orders USING btree (customer_id, created_at)".to_owned(),
    );
    assert_eq!(
        index(&mut client, "orders_customer_id_created_at_idx"),
        Some(built.clone())
    );
    let after_expand = indexes(&mut client, "orders");
    assert_eq!(after_expand.len(), 2, "{after_expand:?}");

    for phase in [Phase::Sync, Phase::Backfill, Phase::Contract] {
        let report = runner.run(&OrdersByCustomer, phase).unwrap();
        assert!(report.steps.is_empty(), "{phase} has nothing to do: {report:?}");
        assert_eq!(
            indexes(&mut client, "orders"),
            after_expand,
            "indexes after {phase}"
        );
        assert!(zdm_suite::triggers(&mut client, "orders").is_empty());
    }
    assert!(OrdersByCustomer
        .plan()
        .phase(Phase::Sync)
        .summary
        .starts_with("nothing to sync"));
    assert_eq!(
        checksum(&mut client, "orders"),
        before,
        "an index build changes no row"
    );
    let state = runner.state(&OrdersByCustomer).unwrap();
    assert_eq!((state.completed, state.running), (Some(Phase::Contract), None));
    // The planner can use it.
    client
        .batch_execute("ANALYZE orders; SET enable_seqscan = off")
        .unwrap();
    let plan: String = client
        .query(
            "EXPLAIN (COSTS OFF) SELECT * FROM orders WHERE customer_id = 3 ORDER BY created_at",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect();
    assert!(plan.contains("orders_customer_id_created_at_idx"), "{plan}");
}

#[test]
fn every_method_builds_concurrently_and_reverts() {
    let cases: [(&str, &dyn Migration, &str, &str); 8] = [
        (
            "btree",
            &OrdersByCustomer,
            "orders_customer_id_created_at_idx",
            "CREATE INDEX orders_customer_id_created_at_idx ON public.orders USING btree (customer_id, created_at)",
        ),
        (
            "gin",
            &TagsGin,
            "orders_tags_idx",
            "CREATE INDEX orders_tags_idx ON public.orders USING gin (tags)",
        ),
        (
            "gist",
            &SpotGist,
            "orders_spot_idx",
            "CREATE INDEX orders_spot_idx ON public.orders USING gist (spot)",
        ),
        (
            "spgist",
            &SpotSpgist,
            "orders_spot_idx",
            "CREATE INDEX orders_spot_idx ON public.orders USING spgist (spot)",
        ),
        (
            "brin",
            &CreatedBrin,
            "orders_created_at_idx",
            "CREATE INDEX orders_created_at_idx ON public.orders USING brin (created_at)",
        ),
        (
            "hash",
            &CodeHash,
            "orders_code_idx",
            "CREATE INDEX orders_code_idx ON public.orders USING hash (code)",
        ),
        (
            "expression",
            &LiveEmail,
            "orders_lower_email_idx",
            "CREATE UNIQUE INDEX orders_lower_email_idx ON public.orders USING btree (lower(email)) WHERE (deleted_at IS NULL)",
        ),
        (
            "include",
            &CustomerCode,
            "orders_customer_code_key",
            "CREATE UNIQUE INDEX orders_customer_code_key ON public.orders USING btree (customer_id, code) INCLUDE (qty)",
        ),
    ];
    for (case, migration, name, definition) in cases {
        let db = TestDb::new(&format!("add_index_method_{case}"));
        let mut client = orders(&db, 300);
        // An open write transaction holds the build in its first wait, where the server
        // names the command; a plain CREATE INDEX would instead queue for its SHARE lock
        // and block every write behind it.
        let mut writer = db.connect();
        writer
            .batch_execute(
                "BEGIN; INSERT INTO orders (id, customer_id, code, created_at) VALUES (9999, 1, 'open', now())",
            )
            .unwrap();
        let url = db.url().to_owned();
        let build = std::thread::scope(|scope| {
            let build = scope.spawn(|| {
                let options = Options {
                    lock_budget: Duration::from_secs(600),
                    ..test_options()
                };
                Runner::connect(&url, options)
                    .unwrap()
                    .run(migration, Phase::Expand)
            });
            let mut observer = db.connect();
            let progress =
                wait_for(|| index_build_progress(&mut observer, &zdm_runtime::quote_ident(name)).unwrap());
            assert_eq!(
                (progress.command.as_str(), progress.phase.as_str()),
                ("CREATE INDEX CONCURRENTLY", "waiting for writers before build"),
                "{case}"
            );
            // Writes go on while the build waits.
            client
                .execute(
                    "INSERT INTO orders (id, customer_id, code, created_at) VALUES (9998, 1, 'during', now())",
                    &[],
                )
                .unwrap();
            writer.batch_execute("COMMIT").unwrap();
            build.join().unwrap()
        });
        build.unwrap_or_else(|error| panic!("{case}: {error}"));
        assert_eq!(
            index(&mut client, name),
            Some((true, definition.to_owned())),
            "{case}"
        );
        db.runner().revert(migration, Phase::Expand).unwrap();
        assert_eq!(index(&mut client, name), None, "{case} reverted");
        assert_eq!(
            indexes(&mut client, "orders").len(),
            1,
            "only the primary key is left"
        );
    }
}

#[test]
fn each_reversal_restores_the_table_exactly() {
    for phase in Phase::ALL {
        for (name, migration) in [
            ("plain", &OrdersByCustomer as &dyn Migration),
            ("unique", &LiveEmail),
        ] {
            let db = TestDb::new(&format!("add_index_revert_{name}_{phase}"));
            orders(&db, 400);
            assert_revert_restores(&db, migration, phase, "orders");
        }
    }
}

#[test]
fn reverting_every_phase_in_turn_returns_to_the_original_table() {
    let db = TestDb::new("add_index_revert_all");
    let mut client = orders(&db, 300);
    let before = (checksum(&mut client, "orders"), indexes(&mut client, "orders"));
    let mut runner = db.runner();
    runner.run_to(&LiveEmail, Phase::Contract).unwrap();
    assert_eq!(indexes(&mut client, "orders").len(), 2);
    for phase in [Phase::Contract, Phase::Backfill, Phase::Sync, Phase::Expand] {
        runner.revert(&LiveEmail, phase).unwrap();
    }
    assert_eq!(
        (checksum(&mut client, "orders"), indexes(&mut client, "orders")),
        before
    );
    assert_eq!(runner.state(&LiveEmail).unwrap().completed, None);
    // And forward again: the name is free.
    runner.run(&LiveEmail, Phase::Expand).unwrap();
    assert!(index(&mut client, "orders_lower_email_idx").unwrap().0);
}

#[test]
fn duplicates_refuse_a_unique_build_with_sample_keys_and_nothing_changes() {
    let db = TestDb::new("add_index_duplicates");
    let mut client = orders(&db, 200);
    client
        .batch_execute(
            "UPDATE orders SET email = 'Twin@Example.com' WHERE id IN (4, 5);
             UPDATE orders SET email = 'TWIN@example.com' WHERE id = 6;
             UPDATE orders SET email = 'pair@example.com' WHERE id IN (7, 8);
             -- Deleted rows and NULL keys are outside the index: no conflict.
             UPDATE orders SET email = 'pair@example.com', deleted_at = now() WHERE id = 9;
             UPDATE orders SET email = NULL WHERE id IN (10, 11);",
        )
        .unwrap();
    let indexes_before = indexes(&mut client, "orders");
    let mut runner = db.runner();
    let error = runner.run(&LiveEmail, Phase::Expand).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Precondition { count: 5, .. }), "{message}");
    assert_eq!(
        message,
        "orders_live_email: expand refused before any lock-heavy step: expected no two rows of \"orders\" \
         with the same lower(email) where deleted_at IS NULL, found 5 offending row(s); for example:\n  \
         (twin@example.com) appears 3 times\n  (pair@example.com) appears 2 times"
    );
    assert_eq!(
        indexes(&mut client, "orders"),
        indexes_before,
        "no index, not even an INVALID one"
    );

    // Fixed by hand, the phase resumes and builds.
    client
        .batch_execute("UPDATE orders SET deleted_at = now() WHERE id IN (5, 6, 8)")
        .unwrap();
    runner.run(&LiveEmail, Phase::Expand).unwrap();
    assert!(index(&mut client, "orders_lower_email_idx").unwrap().0);
}

#[test]
fn an_invalid_leftover_of_a_failed_unique_build_is_dropped_and_rebuilt() {
    let db = TestDb::new("add_index_invalid_leftover");
    let mut client = orders(&db, 300);
    client
        .batch_execute("UPDATE orders SET email = 'same@example.com' WHERE id IN (1, 2)")
        .unwrap();
    // An earlier attempt by hand (or by a tool without zdm's checks) failed on the
    // duplicate and left the index behind, INVALID, still maintained on every write.
    let failed = client.batch_execute(
        "CREATE UNIQUE INDEX CONCURRENTLY orders_lower_email_idx ON orders (lower(email)) WHERE deleted_at IS NULL",
    );
    assert_eq!(
        failed.unwrap_err().code(),
        Some(&SqlState::UNIQUE_VIOLATION),
        "the build fails"
    );
    let leftover = index(&mut client, "orders_lower_email_idx").expect("left behind");
    assert!(!leftover.0, "INVALID");
    // The seed's statement takes the broken index for a finished one.
    client
        .batch_execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_lower_email_idx ON orders (lower(email)) WHERE deleted_at IS NULL",
        )
        .unwrap();
    assert!(
        !index(&mut client, "orders_lower_email_idx").unwrap().0,
        "still INVALID"
    );

    client
        .batch_execute("UPDATE orders SET deleted_at = now() WHERE id = 2")
        .unwrap();
    let mut runner = db.runner();
    let report = runner.run(&LiveEmail, Phase::Expand).unwrap();
    let build = report.steps.last().unwrap();
    assert!(
        !build.already_done,
        "the INVALID index is not taken for a finished one"
    );
    assert_eq!(
        index(&mut client, "orders_lower_email_idx"),
        Some((
            true,
            "CREATE UNIQUE INDEX orders_lower_email_idx ON public.orders USING btree (lower(email)) WHERE (deleted_at IS NULL)"
                .to_owned()
        ))
    );
    let duplicate = client
        .batch_execute("UPDATE orders SET email = 'SAME@example.com' WHERE id = 3")
        .expect_err("the rebuilt index enforces uniqueness");
    let duplicate = duplicate.as_db_error().expect("a server error");
    assert_eq!(
        (duplicate.code(), duplicate.constraint()),
        (&SqlState::UNIQUE_VIOLATION, Some("orders_lower_email_idx")),
        "{duplicate}"
    );
}

#[test]
fn a_build_that_fails_leaves_no_invalid_index_and_is_retried() {
    let db = TestDb::new("add_index_failed_build");
    let mut client = orders(&db, 300);
    client
        .batch_execute("UPDATE orders SET qty = 0 WHERE id = 42")
        .unwrap();
    let mut runner = db.runner();
    let error = runner.run(&Ratio, Phase::Expand).unwrap_err();
    assert!(
        error.to_string().starts_with(
            "orders_ratio: step \"build index \"orders_100_qty_idx\" concurrently\" failed: division by zero"
        ),
        "{error}"
    );
    assert_eq!(
        index(&mut client, "orders_100_qty_idx"),
        None,
        "the runner dropped what the failed build left"
    );
    client
        .batch_execute("UPDATE orders SET qty = 1 WHERE id = 42")
        .unwrap();
    runner.run(&Ratio, Phase::Expand).unwrap();
    assert!(index(&mut client, "orders_100_qty_idx").unwrap().0);
}

#[test]
fn a_killed_build_reports_progress_then_leaves_an_invalid_index_that_the_resume_rebuilds() {
    let db = TestDb::new("add_index_killed_build");
    let mut client = orders(&db, 500);
    // An open write transaction: CREATE INDEX CONCURRENTLY waits for it before building,
    // and stays in that phase until it ends, so the progress is observed deterministically.
    let mut writer = db.connect();
    writer
        .batch_execute(
            "BEGIN; INSERT INTO orders (id, customer_id, code, created_at) VALUES (9999, 1, 'open', now())",
        )
        .unwrap();
    let writer_pid: i32 = scalar(&mut writer, "SELECT pg_backend_pid()");

    let url = db.url().to_owned();
    let build = std::thread::spawn(move || {
        // A budget far beyond the test's length: the build waits for the writer, not for a timeout.
        let options = Options {
            lock_budget: Duration::from_secs(600),
            ..test_options()
        };
        let mut runner = Runner::connect(&url, options).unwrap();
        let outcome = runner.run(&OrdersByCustomer, Phase::Expand);
        (runner, outcome)
    });

    let mut observer = db.connect();
    let name = "orders_customer_id_created_at_idx";
    let progress = wait_for(|| index_build_progress(&mut observer, &zdm_runtime::quote_ident(name)).unwrap());
    assert_eq!(progress.command, "CREATE INDEX CONCURRENTLY");
    assert_eq!(
        (progress.table.as_str(), progress.index.as_str()),
        ("orders", name)
    );
    let progress = wait_for(|| {
        index_build_progress(&mut observer, &zdm_runtime::quote_ident(name))
            .unwrap()
            .filter(|progress| progress.current_locker_pid.is_some())
    });
    assert_eq!(progress.phase, "waiting for writers before build");
    assert_eq!(progress.current_locker_pid, Some(i64::from(writer_pid)));
    assert_eq!((progress.lockers_done, progress.lockers_total), (0, 1));
    assert_eq!(
        progress.to_string(),
        format!(
            "CREATE INDEX CONCURRENTLY \"{name}\" on orders (pid {}): waiting for writers before build, \
             0 of 1 transactions ended (0%); waiting for the transaction of pid {writer_pid}",
            progress.pid
        )
    );

    // The runner's session is killed mid-build (an operator, a failover, the OOM killer).
    assert!(scalar::<bool>(
        &mut observer,
        &format!("SELECT pg_terminate_backend({})", progress.pid)
    ));
    let (mut killed, outcome) = build.join().unwrap();
    let error = outcome.expect_err("the killed run fails");
    assert!(
        zdm_suite::lost_its_session(&mut killed, &error),
        "the run fails because its session is gone: {error}"
    );
    wait_for(|| {
        index_build_progress(&mut observer, &zdm_runtime::quote_ident(name))
            .unwrap()
            .is_none()
            .then_some(())
    });
    writer.batch_execute("COMMIT").unwrap();
    assert_eq!(
        index(&mut client, name).map(|(valid, _)| valid),
        Some(false),
        "left INVALID"
    );

    let mut runner = db.runner();
    let report = runner.run(&OrdersByCustomer, Phase::Expand).unwrap();
    assert!(report.resumed, "the interrupted phase resumes at the build");
    assert!(!report.steps[0].already_done);
    assert_eq!(index(&mut client, name).map(|(valid, _)| valid), Some(true));
    assert_eq!(
        scalar::<i64>(&mut client, "SELECT count(*) FROM orders WHERE id = 9999"),
        1,
        "the row written during the build is there"
    );
}

#[test]
fn an_index_already_built_as_declared_counts_as_done() {
    let db = TestDb::new("add_index_already_there");
    let mut client = orders(&db, 100);
    // Built earlier by hand, spelt differently: same index.
    client
        .batch_execute(
            "CREATE INDEX orders_customer_id_created_at_idx ON orders (customer_id ASC, created_at)",
        )
        .unwrap();
    let mut runner = db.runner();
    let report = runner.run(&OrdersByCustomer, Phase::Expand).unwrap();
    assert!(report.steps.last().unwrap().already_done, "{report}");
    assert!(report.to_string().contains("already done"));
    assert!(index(&mut client, "orders_customer_id_created_at_idx").unwrap().0);
}

#[test]
fn a_different_index_of_the_same_name_is_drift_and_nothing_changes() {
    let cases = [
        (
            "CREATE INDEX orders_customer_id_created_at_idx ON orders (customer_id)",
            "an index of that name defined differently: CREATE INDEX orders_customer_id_created_at_idx ON \
             public.orders USING btree (customer_id); drop or rename it, or give the declaration another `name`",
        ),
        (
            "CREATE INDEX orders_customer_id_created_at_idx ON orders (customer_id, created_at DESC)",
            "an index of that name defined differently: CREATE INDEX orders_customer_id_created_at_idx ON \
             public.orders USING btree (customer_id, created_at DESC); drop or rename it, or give the declaration \
             another `name`",
        ),
        (
            "CREATE UNIQUE INDEX orders_customer_id_created_at_idx ON orders (customer_id, created_at)",
            "an index of that name defined differently: CREATE UNIQUE INDEX orders_customer_id_created_at_idx ON \
             public.orders USING btree (customer_id, created_at); drop or rename it, or give the declaration \
             another `name`",
        ),
        (
            "CREATE TABLE other (a int); CREATE INDEX orders_customer_id_created_at_idx ON other (a)",
            "an index of that name on other: CREATE INDEX orders_customer_id_created_at_idx ON public.other USING btree (a)",
        ),
        (
            "CREATE TABLE orders_customer_id_created_at_idx (a int)",
            "a table of that name",
        ),
    ];
    for (number, (setup, found)) in cases.into_iter().enumerate() {
        let db = TestDb::new(&format!("add_index_drift_{number}"));
        let mut client = orders(&db, 50);
        client.batch_execute(setup).unwrap();
        let indexes_before = indexes(&mut client, "orders");
        let mut runner = db.runner();
        let error = runner.run(&OrdersByCustomer, Phase::Expand).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "orders_by_customer: the database does not match the declaration: expected no relation named \
                 \"orders_customer_id_created_at_idx\", or an index on \"orders\" USING btree (\"customer_id\", \
                 \"created_at\"), found {found}; nothing was changed"
            )
        );
        assert_eq!(indexes(&mut client, "orders"), indexes_before, "case {number}");
    }
}

#[test]
fn a_missing_table_or_column_is_drift() {
    let db = TestDb::new("add_index_drift_missing");
    let mut runner = db.runner();
    let error = runner.run(&OrdersByCustomer, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected table \"orders\", found no such table"),
        "{error}"
    );
    let mut client = db.connect();
    client
        .batch_execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int)")
        .unwrap();
    let error = runner.run(&OrdersByCustomer, Phase::Expand).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected column \"orders\".\"created_at\", found no such column"),
        "{error}"
    );
    assert_eq!(indexes(&mut client, "orders").len(), 1);
}

/// The quantity each `(customer_id, code)` should have at the end; None once deleted.
type Written = BTreeMap<(i32, String), Option<i32>>;

#[test]
fn old_and_new_versions_writing_during_every_phase_end_consistent() {
    let db = TestDb::new("add_index_mixed_versions");
    let mut client = orders(&db, 1_000);
    client.batch_execute("CREATE EXTENSION amcheck").unwrap();
    // What each version wrote last, by key; None for deleted rows. Each version writes its
    // own keys from one thread, so the last value recorded is the last value committed.
    let expected: Arc<Mutex<Written>> = Arc::default();

    // The old version, running until contract starts, never relies on the index.
    let old_written = Arc::clone(&expected);
    let old_version = Writer::new(
        "old version",
        Phase::Expand..=Phase::Backfill,
        move |client, _, n| {
            let n = n as i32;
            let key = (n % 100, format!("old-{n}"));
            client
            .execute(
                "INSERT INTO orders (id, customer_id, code, qty, created_at) VALUES ($1, $2, $3, $4, now())",
                &[&i64::from(1_000_000 + n), &key.0, &key.1, &n],
            )
            .unwrap();
            client
                .execute(
                    "UPDATE orders SET qty = qty + 1 WHERE customer_id = $1 AND code = $2",
                    &[&key.0, &key.1],
                )
                .unwrap();
            let mut written = old_written.lock().unwrap();
            written.insert(key.clone(), Some(n + 1));
            if n % 3 == 0 {
                client
                    .execute(
                        "DELETE FROM orders WHERE customer_id = $1 AND code = $2",
                        &[&key.0, &key.1],
                    )
                    .unwrap();
                written.insert(key, None);
            }
        },
    );
    // The new version, deployed once expand has built the index, upserts on it.
    let new_written = Arc::clone(&expected);
    let new_version = Writer::new(
        "new version",
        Phase::Sync..=Phase::Contract,
        move |client, _, n| {
            let n = n as i32;
            let key = (1, format!("new-{}", n % 40));
            client
            .execute(
                "INSERT INTO orders (id, customer_id, code, qty, created_at) VALUES ($1, $2, $3, $4, now()) \
                 ON CONFLICT (customer_id, code) DO UPDATE SET qty = excluded.qty",
                &[&i64::from(2_000_000 + n), &key.0, &key.1, &n],
            )
            .unwrap();
            new_written.lock().unwrap().insert(key, Some(n));
        },
    );
    run_phases_under_load(&db, &CustomerCode, vec![old_version, new_version]);

    assert_eq!(
        index(&mut client, "orders_customer_code_key").map(|(valid, _)| valid),
        Some(true)
    );
    // Every row written while the index was built is in it, and the index is sound.
    client
        .batch_execute("SELECT bt_index_check('orders_customer_code_key', true)")
        .unwrap();
    let expected = expected.lock().unwrap();
    assert!(expected.keys().any(|(_, code)| code.starts_with("old-")));
    assert!(expected.keys().any(|(_, code)| code.starts_with("new-")));
    for ((customer, code), qty) in expected.iter() {
        let found: Option<i32> = client
            .query_opt(
                "SELECT qty FROM orders WHERE customer_id = $1 AND code = $2",
                &[customer, code],
            )
            .unwrap()
            .map(|row| row.get(0));
        assert_eq!(found, *qty, "({customer}, {code})");
    }
    assert_eq!(
        scalar::<i64>(
            &mut client,
            "SELECT count(*) FROM (SELECT customer_id, code FROM orders GROUP BY 1, 2 HAVING count(*) > 1) d"
        ),
        0
    );
}
