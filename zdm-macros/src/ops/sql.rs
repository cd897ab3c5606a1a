//! `sql`: raw SQL the declaration writes itself, with the SQL that undoes it, for the change
//! no other operation covers. zdm runs it as written, in one short transaction under
//! `lock_timeout` together with the state row's update, so a crash leaves it either done
//! and recorded or not done at all; what it does to the data is the declaration's promise,
//! which the plan says in so many words.
//!
//! Each text is read by PostgreSQL's grammar at compile time and split into its statements
//! (the runner sends one statement per call). What cannot run inside that transaction, or
//! would end it, is refused at the token: transaction control, `CONCURRENTLY`, `VACUUM`,
//! database and tablespace DDL, `ALTER SYSTEM`, and a session-wide `SET`, which would
//! outlive the step and change the runner's own timeouts.

use darling::util::SpannedValue;
use darling::FromMeta;
use squawk_syntax::{SyntaxKind, SyntaxNode};

use crate::grammar;
use crate::known;
use crate::ops::Operation;
use crate::relations::Relations;
use crate::validate::{self, Errors};
use zdm_plan::{Action, Lock, Phase, PhasePlan, Plan, Step};

#[derive(Debug, FromMeta)]
pub struct Sql {
    /// The statements the phase runs.
    up: SpannedValue<String>,
    /// The statements that undo `up`, run by the phase's reversal.
    down: SpannedValue<String>,
    /// The phase that runs `up`; expand when not given.
    phase: Option<SpannedValue<String>>,
    /// The strongest table lock `up` and `down` take, as PostgreSQL's manual names it.
    lock: Option<SpannedValue<String>>,
    /// What running `down` throws away, in words; the CLI then asks for
    /// `--allow-data-loss` before reverting the phase.
    down_discards: Option<SpannedValue<String>>,
}

impl Sql {
    /// The keys of the arguments above, as written, for the message about an unknown one.
    pub const KEYS: &'static [&'static str] = &["up", "down", "phase", "lock", "down_discards"];

    /// The lock as declared, if it is declared and one PostgreSQL has.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn declared_lock(&self) -> Option<Lock> {
        self.lock.as_ref().and_then(|lock| lock_named(lock))
    }
}

impl Operation for Sql {
    fn relations(&self) -> Relations {
        // Raw SQL names no relation zdm can see; `after(...)` orders it by hand.
        Relations::default()
    }

    fn validate(&self, errors: &mut Errors) {
        for (key, value) in [("up", &self.up), ("down", &self.down)] {
            if let Err(problem) = statements(value) {
                validate::push(errors, value.span(), format_args!("`{key}` {problem}"));
            }
        }
        if let Some(phase) = &self.phase {
            if Phase::from_name(phase).is_none() {
                validate::push(
                    errors,
                    phase.span(),
                    format_args!(
                        "`phase` is \"{}\", which is not a phase: expected expand, sync, backfill or contract",
                        phase.as_str()
                    ),
                );
            }
        }
        if let Some(lock) = &self.lock {
            if lock_named(lock).is_none() {
                validate::push(errors, lock.span(), lock_problem(lock));
            }
        }
        if let Some(discards) = &self.down_discards {
            if discards.trim().is_empty() {
                validate::push(
                    errors,
                    discards.span(),
                    "`down_discards` is empty: say what reverting throws away, or leave the key out",
                );
            }
        }
    }

    /// zdm cannot tell what raw SQL locks, and a reviewer of several operations weighs their
    /// steps by their locks, so among several the declaration must say it.
    fn validate_among_several(&self, errors: &mut Errors) {
        if self.lock.is_none() {
            validate::push(
                errors,
                self.up.span(),
                "`sql` among several operations must say which lock it takes: add `lock = \"…\"` (such as \
                 `lock = \"ACCESS EXCLUSIVE\"`)",
            );
        }
    }

    fn plan(&self, id: &str, description: &str) -> Plan {
        let phase = self.phase();
        let phases = Phase::ALL.map(|each| {
            if each == phase {
                self.the_phase()
            } else {
                PhasePlan::nothing(format!("the raw SQL runs at {phase}, not here"))
            }
        });
        Plan::new(id, Self::NAME, description, phases)
    }
}

impl Sql {
    fn phase(&self) -> Phase {
        self.phase
            .as_ref()
            .and_then(|phase| Phase::from_name(phase))
            .unwrap_or(Phase::Expand)
    }

    /// The declared lock, or the strongest when none is declared: a reviewer must assume
    /// the worst of SQL zdm cannot read.
    fn lock(&self) -> (Lock, &'static str) {
        match self.declared_lock() {
            Some(lock) => (lock, "the lock as declared"),
            None => (Lock::AccessExclusive, "the lock not declared, so the strongest assumed"),
        }
    }

    fn the_phase(&self) -> PhasePlan {
        let (lock, how_known) = self.lock();
        let step = |key: &str, text: &str| Step {
            description: format!("RAW SQL of `{key}`, run as written: zdm does not check what it does ({how_known})")
                .into(),
            lock,
            table: None,
            action: Action::Transaction(zdm_plan::texts(statements(text).unwrap_or_default())),
        };
        let plan = PhasePlan::new(
            "run the declared raw SQL (`up`), as written and unchecked by zdm",
            vec![step("up", &self.up)],
            vec![step("down", &self.down)],
        );
        match &self.down_discards {
            Some(discards) => plan.discarding(discards.to_string()),
            None => plan,
        }
    }
}

/// The lock `text` names, as PostgreSQL's manual spells it (any case), or `none`.
fn lock_named(text: &str) -> Option<Lock> {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase();
    if words == "NONE" {
        return Some(Lock::None);
    }
    Lock::ALL
        .into_iter()
        .find(|lock| *lock != Lock::None && lock.name() == words)
}

fn lock_problem(lock: &str) -> String {
    let names: Vec<&str> = Lock::ALL
        .into_iter()
        .map(|lock| if lock == Lock::None { "none" } else { lock.name() })
        .collect();
    let suggestion = known::closest(&lock.to_uppercase(), &names)
        .map(|name| format!("; did you mean \"{name}\"?"))
        .unwrap_or_default();
    format!(
        "`lock` is \"{lock}\", which is not a table lock: expected one of {}{suggestion}",
        names.join(", ")
    )
}

/// The statements of `text`, each as written without its `;`, or why zdm cannot run them.
fn statements(text: &str) -> Result<Vec<String>, String> {
    let root = grammar::parsed(text, 0)
        .map_err(|at| format!("is not SQL PostgreSQL accepts: {}", grammar::stops_at(text, at)))?;
    let mut statements = Vec::new();
    for statement in root.children() {
        if let Some(problem) = refused(&statement) {
            return Err(format!("has `{}`, {problem}", first_words(&statement)));
        }
        statements.push(statement_text(&statement));
    }
    if statements.is_empty() {
        return Err("has no statement: write the SQL to run".to_owned());
    }
    Ok(statements)
}

/// Why the statement cannot be one of a step's, if it cannot.
fn refused(statement: &SyntaxNode) -> Option<&'static str> {
    use SyntaxKind as K;
    match statement.kind() {
        K::BEGIN
        | K::COMMIT_TRANSACTION
        | K::ROLLBACK_TRANSACTION
        | K::SAVEPOINT
        | K::RELEASE_SAVEPOINT
        | K::ROLLBACK_TO_SAVEPOINT
        | K::PREPARE_TRANSACTION
        | K::COMMIT_PREPARED
        | K::ROLLBACK_PREPARED => {
            Some("which controls the transaction zdm runs the step in: leave transactions to zdm")
        }
        K::VACUUM | K::CREATE_DATABASE | K::DROP_DATABASE | K::CREATE_TABLESPACE | K::DROP_TABLESPACE | K::ALTER_SYSTEM => {
            Some("which PostgreSQL refuses inside the transaction zdm runs the step in")
        }
        K::SET | K::RESET | K::SET_SESSION_AUTH if !has_token(statement, K::LOCAL_KW) => Some(
            "which would outlive the step and change zdm's own session (its timeouts): use `SET LOCAL`",
        ),
        K::REFRESH => None,
        _ if has_token(statement, K::CONCURRENTLY_KW) => Some(
            "which PostgreSQL refuses inside the transaction zdm runs the step in: use `add_index` for an \
             index built concurrently",
        ),
        _ => None,
    }
}

fn has_token(node: &SyntaxNode, kind: SyntaxKind) -> bool {
    node.descendants_with_tokens().any(|element| element.kind() == kind)
}

/// The statement as written, without the `;` the grammar counts as part of it.
fn statement_text(statement: &SyntaxNode) -> String {
    let text = statement.text().to_string();
    text.trim().trim_end_matches(';').trim_end().to_owned()
}

/// The statement's first words, to name it in a message.
fn first_words(statement: &SyntaxNode) -> String {
    let text = statement_text(statement);
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: proc_macro2::TokenStream) -> Sql {
        crate::testing::parse(tokens)
    }

    fn messages(sql: &Sql) -> Vec<String> {
        crate::testing::messages(|errors| sql.validate(errors))
    }

    fn sql_of(step: &Step) -> Vec<String> {
        match &step.action {
            Action::Transaction(statements) => statements.iter().map(|text| text.to_string()).collect(),
            other => panic!("expected a transaction, got {other:?}"),
        }
    }

    #[test]
    fn the_statements_run_in_the_declared_phase_one_per_call() {
        let plan = parse(quote!(
            up = "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
            down = "DROP TABLE t",
            phase = "contract",
            lock = "access  exclusive"
        ))
        .plan("x", "");
        let contract = plan.phase(Phase::Contract);
        assert_eq!(
            sql_of(&contract.forward[0]),
            ["CREATE TABLE t (id int)", "INSERT INTO t VALUES (1)"]
        );
        assert_eq!(sql_of(&contract.reverse[0]), ["DROP TABLE t"]);
        assert_eq!(contract.forward[0].lock, Lock::AccessExclusive);
        assert_eq!(
            contract.forward[0].description,
            "RAW SQL of `up`, run as written: zdm does not check what it does (the lock as declared)"
        );
        for phase in [Phase::Expand, Phase::Sync, Phase::Backfill] {
            assert!(plan.phase(phase).forward.is_empty() && plan.phase(phase).reverse.is_empty());
        }
    }

    #[test]
    fn without_a_phase_it_is_expand_and_without_a_lock_the_strongest_is_assumed() {
        let sql = parse(quote!(up = "SELECT 1", down = "SELECT 2"));
        let plan = sql.plan("x", "");
        let step = &plan.phase(Phase::Expand).forward[0];
        assert_eq!(step.lock, Lock::AccessExclusive);
        assert!(step.description.ends_with("(the lock not declared, so the strongest assumed)"));
        assert_eq!(plan.phase(Phase::Expand).reverse_discards, None);
        assert_eq!(
            crate::testing::messages(|errors| sql.validate_among_several(errors)),
            ["`sql` among several operations must say which lock it takes: add `lock = \"…\"` (such as \
              `lock = \"ACCESS EXCLUSIVE\"`)"]
        );
    }

    #[test]
    fn a_declared_lock_satisfies_a_declaration_of_several() {
        let sql = parse(quote!(up = "SELECT 1", down = "SELECT 2", lock = "none", down_discards = "the rows"));
        assert_eq!(sql.declared_lock(), Some(Lock::None));
        assert!(crate::testing::messages(|errors| sql.validate_among_several(errors)).is_empty());
        assert_eq!(
            sql.plan("x", "").phase(Phase::Expand).reverse_discards.as_deref(),
            Some("the rows")
        );
    }

    #[test]
    fn what_cannot_run_in_the_step_transaction_is_refused() {
        let cases = [
            ("BEGIN; SELECT 1", "`up` has `BEGIN`, which controls the transaction zdm runs the step in: leave transactions to zdm"),
            ("SELECT 1; COMMIT", "`up` has `COMMIT`, which controls the transaction zdm runs the step in: leave transactions to zdm"),
            ("CREATE INDEX CONCURRENTLY i ON t (a)", "`up` has `CREATE INDEX CONCURRENTLY`, which PostgreSQL refuses inside the transaction zdm runs the step in: use `add_index` for an index built concurrently"),
            ("VACUUM t", "`up` has `VACUUM t`, which PostgreSQL refuses inside the transaction zdm runs the step in"),
            ("SET lock_timeout = 0", "`up` has `SET lock_timeout =`, which would outlive the step and change zdm's own session (its timeouts): use `SET LOCAL`"),
            ("CREATE DATABASE d", "`up` has `CREATE DATABASE d`, which PostgreSQL refuses inside the transaction zdm runs the step in"),
            ("ALTER SYSTEM SET work_mem = '1MB'", "`up` has `ALTER SYSTEM SET`, which PostgreSQL refuses inside the transaction zdm runs the step in"),
            ("", "`up` has no statement: write the SQL to run"),
            ("SELEC 1", "`up` is not SQL PostgreSQL accepts: PostgreSQL's grammar stops at `SELEC`"),
        ];
        for (up, message) in cases {
            let sql = Sql {
                up: SpannedValue::new(up.to_owned(), proc_macro2::Span::call_site()),
                down: SpannedValue::new("SELECT 1".to_owned(), proc_macro2::Span::call_site()),
                phase: None,
                lock: None,
                down_discards: None,
            };
            assert_eq!(messages(&sql), [message], "{up}");
        }
        let fine = parse(quote!(
            up = "SET LOCAL statement_timeout = 0; REFRESH MATERIALIZED VIEW CONCURRENTLY v",
            down = "SELECT 1"
        ));
        assert!(messages(&fine).is_empty());
    }

    #[test]
    fn a_wrong_phase_and_lock_are_named_with_the_choices() {
        let errors = messages(&parse(quote!(
            up = "SELECT 1",
            down = "SELECT 1",
            phase = "expnad",
            lock = "ACCESS EXLUSIVE",
            down_discards = " "
        )));
        assert_eq!(
            errors,
            [
                "`phase` is \"expnad\", which is not a phase: expected expand, sync, backfill or contract",
                "`lock` is \"ACCESS EXLUSIVE\", which is not a table lock: expected one of none, ACCESS SHARE, \
                 ROW SHARE, ROW EXCLUSIVE, SHARE UPDATE EXCLUSIVE, SHARE, SHARE ROW EXCLUSIVE, EXCLUSIVE, \
                 ACCESS EXCLUSIVE; did you mean \"ACCESS EXCLUSIVE\"?",
                "`down_discards` is empty: say what reverting throws away, or leave the key out",
            ]
        );
    }
}
