//! Sending SQL: one statement per call, over the extended protocol. The server parses a
//! call as one statement and refuses a second (`cannot insert multiple commands into a
//! prepared statement`), so nothing can be stacked behind a statement, whatever a check
//! before it missed. No zdm SQL goes through the simple-query protocol.

use postgres::GenericClient;

/// Runs exactly one SQL statement.
pub(crate) trait ExecuteOne {
    fn execute_one(&mut self, sql: &str) -> Result<(), postgres::Error>;
}

impl<C: GenericClient> ExecuteOne for C {
    fn execute_one(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.execute(sql, &[]).map(drop)
    }
}
