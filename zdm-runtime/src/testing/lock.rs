//! The lock file: the plan checksum of every rehearsed migration, committed with the
//! application, so that a declaration changed after its migration started fails the
//! application's tests instead of being refused in production.

use std::path::{Path, PathBuf};

use super::RehearsalError;
use zdm_plan::Migration;

const HEADER: &str =
    "# The plan checksum of each migration zdm's test kit has rehearsed. Commit this file: a\n\
# declaration whose checksum no longer matches fails the tests. Never edit a line of a\n\
# migration that has run anywhere; declare the change as a new migration instead.\n";

/// The lock file's entries, `(id, checksum)` in the order they were first recorded.
pub(crate) struct LockFile {
    path: PathBuf,
    entries: Vec<(String, String)>,
}

impl LockFile {
    /// Reads `path`; a missing file has no entries.
    pub(crate) fn read(path: &Path) -> Result<LockFile, RehearsalError> {
        let unusable = |reason: String| RehearsalError::LockFile {
            path: path.to_owned(),
            reason,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(unusable(error.to_string())),
        };
        let mut entries: Vec<(String, String)> = Vec::new();
        for (number, line) in text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
        {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = match line.split_whitespace().collect::<Vec<_>>()[..] {
                [id, checksum] if checksum.len() == 16 && checksum.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    (id.to_owned(), checksum.to_owned())
                }
                _ => {
                    return Err(unusable(format!(
                        "line {number} is not a migration id and a 16-digit plan checksum: `{line}`"
                    )))
                }
            };
            if entries.iter().any(|(id, _)| *id == entry.0) {
                return Err(unusable(format!(
                    "line {number} records `{}` a second time",
                    entry.0
                )));
            }
            entries.push(entry);
        }
        Ok(LockFile {
            path: path.to_owned(),
            entries,
        })
    }

    /// Refuses the first listed migration whose compiled plan differs from its entry.
    pub(crate) fn check(&self, migrations: &[&dyn Migration]) -> Result<(), RehearsalError> {
        for migration in migrations {
            let compiled = migration.plan().checksum();
            if let Some((_, recorded)) = self.entries.iter().find(|(id, _)| id == migration.id()) {
                if *recorded != compiled {
                    return Err(RehearsalError::ChangedDeclaration {
                        migration: migration.id().to_owned(),
                        path: self.path.clone(),
                        recorded: recorded.clone(),
                        compiled,
                    });
                }
            }
        }
        Ok(())
    }

    /// Adds the listed migrations it has no entry for, and writes the file if it gained any.
    pub(crate) fn record(&mut self, migrations: &[&dyn Migration]) -> Result<(), RehearsalError> {
        let known = self.entries.len();
        for migration in migrations {
            if !self.entries.iter().any(|(id, _)| id == migration.id()) {
                self.entries
                    .push((migration.id().to_owned(), migration.plan().checksum()));
            }
        }
        if self.entries.len() == known {
            return Ok(());
        }
        let mut text = HEADER.to_owned();
        for (id, checksum) in &self.entries {
            text.push_str(&format!("{id} {checksum}\n"));
        }
        std::fs::write(&self.path, text).map_err(|error| RehearsalError::LockFile {
            path: self.path.clone(),
            reason: error.to_string(),
        })
    }
}
