//! What a plan runs and prints: each step's statements, the plan's checksum over them, and
//! the text `plan` shows. One definition, so what is reviewed is what is checksummed.

use std::fmt;

use crate::hash::Fnv1a;
use crate::sql::quote_ident;
use crate::{Action, Carry, CarryWork, Expectation, Phase, Plan, SplitOperation, Step, Text};

impl Step {
    /// Whether the step runs inside a transaction.
    pub fn transactional(&self) -> bool {
        !matches!(
            self.action,
            Action::CreateIndexConcurrently { .. }
                | Action::CreateIndexConcurrentlyFromQuery { .. }
                | Action::DropIndexConcurrently { .. }
                | Action::Carry(Carry {
                    work: CarryWork::BuildIndexes(_) | CarryWork::DropIndexes,
                    ..
                })
        )
    }

    /// The SQL the step runs, as it would be printed by a plan; the backfill's `{range}`
    /// stands for the keyset predicate chosen at run time, `{state}` for the state schema
    /// the runner is given.
    pub fn statements(&self) -> Vec<&str> {
        match &self.action {
            Action::Transaction(statements) => borrow_all(statements),
            Action::CreateIndexConcurrently { sql, .. }
            | Action::CreateIndexConcurrentlyFromQuery { query: sql, .. }
            | Action::DropIndexConcurrently { sql, .. } => vec![sql],
            Action::Backfill(backfill) => borrow_all(&backfill.statements),
            Action::Check(check) => vec![&check.count_sql],
            Action::Expect(_) => Vec::new(),
            // In the order they run: the trigger removal comes before the source is dropped,
            // the trigger installation after it is rebuilt.
            Action::Split(split) => {
                let (first, then) = match split.operation {
                    SplitOperation::DropSource => (&split.statements, &split.preview),
                    _ => (&split.preview, &split.statements),
                };
                first.iter().chain(then.iter()).map(|text| &**text).collect()
            }
            Action::Carry(carry) => {
                let mut statements = vec![&*carry.shape];
                match &carry.work {
                    CarryWork::Transaction(sql)
                    | CarryWork::Backfill { statements: sql, .. }
                    | CarryWork::Swap { statements: sql, .. }
                    | CarryWork::Unswap { statements: sql, .. } => statements.extend(borrow_all(sql)),
                    _ => {}
                }
                statements
            }
        }
    }
}

fn borrow_all(texts: &[Text]) -> Vec<&str> {
    texts.iter().map(|text| &**text).collect()
}

impl Plan {
    /// A checksum over every statement of the plan; the runner refuses to continue a
    /// migration whose plan changed since it started.
    pub fn checksum(&self) -> String {
        // Each text is followed by a 0xff byte, which UTF-8 never contains, so moving text
        // from one statement to the next changes the checksum.
        let mut hash = Fnv1a::new();
        let mut feed = |text: &str| {
            hash.write(text.as_bytes()).write(&[0xff]);
        };
        feed(&self.id);
        feed(&self.operation);
        for phase in &self.phases {
            for step in phase.forward.iter().chain(phase.reverse.iter()) {
                for statement in step.statements() {
                    feed(statement);
                }
                // What a fragment reads is checked, not run, yet it is part of the plan: a
                // plan that gained or changed the check numbers its steps differently.
                if let Action::Expect(Expectation::FragmentReads {
                    key,
                    columns,
                    functions,
                    ..
                }) = &step.action
                {
                    feed(key);
                    columns.iter().chain(functions.iter()).for_each(|name| feed(name));
                }
            }
        }
        // Only plans that purge feed anything here, so no other plan's checksum moved
        // when purging came.
        for step in self.purge.iter() {
            for statement in step.statements() {
                feed(statement);
            }
        }
        // Fed only when present, so plans that change no table's shape keep the checksums
        // they had before version schemas existed.
        for presented in self.presents.iter() {
            feed(&presented.table);
            for column in presented.columns.iter() {
                feed(&column.name);
                feed(&column.instead_of);
                feed(&column.source);
            }
            // Only when some are hidden, so the plans that presented before keep theirs.
            if !presented.hidden.is_empty() {
                feed("hidden");
                presented.hidden.iter().for_each(|column| feed(column));
            }
        }
        format!("{:016x}", hash.finish())
    }
}

impl Step {
    /// The lock the step takes and how it is held, as both renderings print it.
    fn how(&self) -> String {
        match &self.action {
            Action::Expect(_) => "catalog check".to_owned(),
            Action::Check(_) => "data check, no lock beyond ACCESS SHARE".to_owned(),
            // A backfill is ordinary writes: the table's triggers fire for each row, which a
            // reviewer with a `set_updated_at` or an audit trigger needs to know.
            Action::Backfill(_)
            | Action::Carry(Carry {
                work: CarryWork::Backfill { .. },
                ..
            }) => format!(
                "{}, one transaction per batch, firing the table's triggers for each row written",
                self.lock
            ),
            _ if self.transactional() => format!("{}, in a transaction", self.lock),
            _ => format!("{}, outside a transaction", self.lock),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} [{}]", self.description, self.how())?;
        for statement in self.statements() {
            for line in statement.lines() {
                writeln!(f, "      {line}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    /// Every phase and reversal with each step's lock and SQL; what `plan` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({})", self.id, self.operation)?;
        for line in self.description.lines() {
            writeln!(f, "  {line}")?;
        }
        for phase in Phase::ALL {
            let plan = self.phase(phase);
            writeln!(f, "  {phase}: {}", plan.summary)?;
            for (index, step) in plan.forward.iter().enumerate() {
                write!(f, "    {}. {step}", index + 1)?;
            }
            if !plan.reverse.is_empty() {
                writeln!(f, "  revert {phase}:")?;
                for (index, step) in plan.reverse.iter().enumerate() {
                    write!(f, "    {}. {step}", index + 1)?;
                }
            }
        }
        if !self.purge.is_empty() {
            writeln!(
                f,
                "  purge, after contract and for good (contract can no longer be reverted):"
            )?;
            for (index, step) in self.purge.iter().enumerate() {
                write!(f, "    {}. {step}", index + 1)?;
            }
        }
        if !self.presents.is_empty() {
            writeln!(f, "  version schema {}:", crate::names::version_schema(&self.id))?;
            for presented in self.presents.iter() {
                let columns: Vec<String> = presented
                    .columns
                    .iter()
                    .map(|column| {
                        format!(
                            "{} AS {} in place of {}",
                            quote_ident(&column.source),
                            quote_ident(&column.name),
                            quote_ident(&column.instead_of)
                        )
                    })
                    .collect();
                let hidden: Vec<String> = presented
                    .hidden
                    .iter()
                    .map(|column| quote_ident(column))
                    .collect();
                let shown = if hidden.is_empty() {
                    "every other column as it is".to_owned()
                } else {
                    format!("every column but {} as it is", hidden.join(", "))
                };
                let columns = columns.iter().map(String::as_str).chain([shown.as_str()]);
                writeln!(
                    f,
                    "    view of {}: {}",
                    presented.table,
                    columns.collect::<Vec<_>>().join(", ")
                )?;
            }
        }
        Ok(())
    }
}

impl Plan {
    /// One phase as Markdown, for the rustdoc of the function that runs it: its summary,
    /// then each step with its lock and its SQL in a fence.
    pub fn phase_markdown(&self, phase: Phase) -> String {
        let plan = self.phase(phase);
        let mut out = format!(
            "Runs the **{phase}** phase of `{}` ({}): {}.\n\n",
            self.id,
            self.operation,
            markdown_text(&plan.summary)
        );
        markdown_steps(&mut out, &plan.forward);
        out
    }

    /// The reversal of one phase as Markdown, like [`Plan::phase_markdown`], with what it
    /// throws away.
    pub fn reversal_markdown(&self, phase: Phase) -> String {
        let plan = self.phase(phase);
        let mut out = format!(
            "Undoes the **{phase}** phase of `{}` ({}), whose work is to {}.\n\n",
            self.id,
            self.operation,
            markdown_text(&plan.summary)
        );
        if let Some(discards) = &plan.reverse_discards {
            out.push_str(&format!("**Discards data:** {}.\n\n", markdown_text(discards)));
        }
        markdown_steps(&mut out, &plan.reverse);
        out
    }

    /// Every phase in deploy order with its summary and step count, for the rustdoc of the
    /// declaration's struct.
    pub fn summary_markdown(&self) -> String {
        let mut out = format!(
            "# Phases of `{}` ({})\n\nDeploy in this order, one function per phase; each function's \
             documentation lists its steps, their SQL and locks:\n\n",
            self.id, self.operation
        );
        for (index, phase) in Phase::ALL.into_iter().enumerate() {
            let plan = self.phase(phase);
            let steps = match plan.forward.len() {
                0 => "nothing to do".to_owned(),
                1 => "1 step".to_owned(),
                n => format!("{n} steps"),
            };
            out.push_str(&format!(
                "{}. `{phase}` ({steps}): {}.\n",
                index + 1,
                markdown_text(&plan.summary)
            ));
        }
        out.push_str(
            "\nThe application is deployed between them: after `sync`, old and new versions both run; \
             `contract` runs only once no old version remains. Each phase is undone by its `revert_` \
             function, latest phase first: `revert_contract`, `revert_backfill`, `revert_sync`, \
             `revert_expand`.\n",
        );
        out
    }
}

fn markdown_steps(out: &mut String, steps: &[Step]) {
    if steps.is_empty() {
        out.push_str(
            "This operation has nothing to do here: the call only checks the phase order and records the \
             phase in the state table.\n",
        );
        return;
    }
    out.push_str("Steps, in order:\n\n");
    for (index, step) in steps.iter().enumerate() {
        let number = format!("{}. ", index + 1);
        out.push_str(&format!(
            "{number}{} — *{}*\n",
            markdown_text(&step.description),
            step.how()
        ));
        // Indented to the item's text, so the fence belongs to its step.
        let indent = " ".repeat(number.len());
        let statements = step.statements();
        if statements.is_empty() {
            out.push('\n');
            continue;
        }
        out.push_str(&format!("\n{indent}```sql\n"));
        for statement in statements {
            for line in statement.lines() {
                out.push_str(&format!("{indent}{line}\n"));
            }
        }
        out.push_str(&format!("{indent}```\n\n"));
    }
}

/// Plan text with Markdown's active characters escaped, so a name such as `a_*b*`, `<t>`
/// or one holding a backtick prints as written instead of as emphasis, HTML or code. The
/// backticks of the plan's own wording are escaped too: a name could hold one and turn
/// the rest of the line into live Markdown.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '#' | '&' | '~' | '|' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
