//! `split_table`: creates a demo users table with rows in the database at `DATABASE_URL`,
//! splits it into a profiles table and a logins table, phase by phase, while an old and a
//! new application version write, and checks that both shapes agree: after sync on the rows
//! the two versions wrote, after backfill on every row, and after contract that the users
//! live in the new tables alone.
//!
//! ```sh
//! cargo run --example split_table
//! ```

use std::process::ExitCode;

use postgres::Client;
use zdm_runtime::{zero_downtime, Migration, Phase, Runner};

mod support;

/// Users' profile and login columns move to tables of their own.
#[zero_downtime(
    id = "example_split_users",
    split_table(
        table = "split_users",
        key = "id",
        into(table = "split_user_profiles", columns = ["bio", "avatar_url"]),
        into(table = "split_user_logins", columns = ["email", "password_hash"]),
    )
)]
pub struct SplitUsers;

const ROWS: i64 = 20_000;

zdm_runtime::migrations!(pub static MIGRATIONS = [SplitUsers]);

fn main() -> ExitCode {
    support::main(MIGRATIONS, split_users)
}

/// Rows of the join of the new tables that differ from the source: right after sync the
/// new tables hold only the rows written since, which must be as the source has them.
const SYNCED_DISAGREEING: &str = "SELECT count(*) FROM (
    SELECT id, bio, avatar_url, email, password_hash FROM split_user_profiles JOIN split_user_logins USING (id)
    EXCEPT SELECT id, bio, avatar_url, email, password_hash FROM split_users) AS d";

/// Users in the new tables.
const JOINED: &str = "SELECT count(*) FROM split_user_profiles JOIN split_user_logins USING (id)";

/// Rows of the source that differ from the join of the new tables, either way.
const DISAGREEING: &str = "SELECT count(*) FROM (
    (SELECT id, bio, avatar_url, email, password_hash FROM split_users
     EXCEPT SELECT id, bio, avatar_url, email, password_hash
            FROM split_user_profiles JOIN split_user_logins USING (id))
    UNION ALL
    (SELECT id, bio, avatar_url, email, password_hash
            FROM split_user_profiles JOIN split_user_logins USING (id)
     EXCEPT SELECT id, bio, avatar_url, email, password_hash FROM split_users)) AS d";

fn count(client: &mut Client, sql: &str) -> Result<i64, postgres::Error> {
    Ok(client.query_one(sql, &[])?.get(0))
}

fn split_users(runner: &mut Runner) -> support::Outcome {
    let client = runner.client();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS split_users, split_user_profiles, split_user_logins;
         CREATE TABLE split_users (
             id bigserial PRIMARY KEY,
             email text NOT NULL,
             password_hash text NOT NULL,
             bio text,
             avatar_url text DEFAULT 'default.png'
         );
         INSERT INTO split_users (email, password_hash, bio)
             SELECT 'user' || g || '@example.com', md5(g::text), 'bio ' || g FROM generate_series(1, {ROWS}) g;"
    ))?;
    println!("created split_users with {ROWS} rows\n");

    for phase in Phase::ALL {
        println!("{}: {}", phase, SplitUsers.plan().phase(phase).summary);
        let report = runner.run(&SplitUsers, phase)?;
        println!("{report}");
        let client = runner.client();
        if phase == Phase::Sync {
            // Both versions run now. The old one writes the old table...
            client.batch_execute(
                "INSERT INTO split_users (email, password_hash) VALUES ('old@example.com', 'x');
                 UPDATE split_users SET bio = 'edited by the old version' WHERE id = 1;
                 DELETE FROM split_users WHERE id = 2;",
            )?;
            // ...and the new one the new tables, a new user in both in one transaction.
            client.batch_execute(
                "BEGIN;
                 INSERT INTO split_user_logins (email, password_hash) VALUES ('new@example.com', 'y');
                 INSERT INTO split_user_profiles (id, bio)
                     SELECT id, 'written by the new version' FROM split_user_logins WHERE email = 'new@example.com';
                 COMMIT;",
            )?;
            // The old version's insert and update, and the new version's user (the delete
            // removed a row the new tables never had).
            let (wrong, synced) = (count(client, SYNCED_DISAGREEING)?, count(client, JOINED)?);
            if wrong != 0 || synced != 3 {
                return Err(format!(
                    "after sync the new tables should hold the 3 users written, as split_users has them; \
                     found {synced}, {wrong} of them different"
                )
                .into());
            }
            println!(
                "the old version wrote split_users and the new version wrote the new tables; both agree\n"
            );
        }
        if phase == Phase::Backfill {
            // The new version reads the new tables, complete from now on.
            client.execute(
                "UPDATE split_user_logins SET email = 'moved@example.com' WHERE id = 3",
                &[],
            )?;
            let wrong = count(client, DISAGREEING)?;
            if wrong != 0 {
                return Err(format!("{wrong} rows differ between split_users and the new tables").into());
            }
            println!("split_users and the join of the new tables agree row for row\n");
        }
    }

    let client = runner.client();
    let gone = count(
        client,
        "SELECT count(*) FROM pg_class WHERE relname = 'split_users'",
    )?;
    let users = count(client, JOINED)?;
    let written = count(
        client,
        "SELECT count(*) FROM split_user_profiles JOIN split_user_logins USING (id)
         WHERE (email = 'old@example.com' AND avatar_url = 'default.png')
            OR (email = 'new@example.com' AND bio = 'written by the new version')
            OR (id = 1 AND bio = 'edited by the old version')
            OR (id = 3 AND email = 'moved@example.com')",
    )?;
    if gone != 0 || users != ROWS + 1 || written != 4 {
        return Err(format!(
            "after contract: split_users present {gone} time(s), {users} users (expected {}), {written} of 4 writes found",
            ROWS + 1
        )
        .into());
    }
    println!(
        "done: split_users is gone; its {users} users live in split_user_profiles and split_user_logins"
    );
    Ok(())
}
