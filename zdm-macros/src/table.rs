//! A table as a declaration names it: its name, and its schema when the declaration gives
//! one (`schema = "app"`). The schema is a key of its own, never read out of a dotted name,
//! so `table = "a.b"` stays what PostgreSQL would make of it: one name with a dot.
//!
//! With a schema, every statement names the table and every object zdm puts beside it (its
//! trigger functions, indexes, views, new tables) schema-qualified, so nothing depends on
//! the search path. Without one, the names resolve through the search path expand recorded
//! (see the runtime's pins).

use std::fmt;

use darling::util::SpannedValue;

use zdm_plan::sql::qualified;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    schema: Option<String>,
    name: String,
}

impl Table {
    /// The table `name` of a declaration's `schema` key, if it has one.
    pub fn declared(schema: &Option<SpannedValue<String>>, name: &str) -> Table {
        Table::new(schema.as_deref().map(String::as_str), name)
    }

    pub fn new(schema: Option<&str>, name: &str) -> Table {
        Table {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// The table's own name, unquoted: what generated names are made of.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table in SQL, quoted and qualified when the schema is declared.
    pub fn sql(&self) -> String {
        self.beside(&self.name)
    }

    /// An object of the table's schema (a trigger function, an index, a view), in SQL.
    pub fn beside(&self, object: &str) -> String {
        qualified(self.schema.as_deref(), object)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn a_declared_schema_qualifies_the_table_and_what_lies_beside_it() {
        let table = Table::new(Some("App"), "users");
        assert_eq!(table.sql(), "\"App\".\"users\"");
        assert_eq!(table.beside("zdm_sync"), "\"App\".\"zdm_sync\"");
        assert_eq!(table.name(), "users");
    }

    #[test]
    fn without_a_schema_names_stay_unqualified() {
        let table = Table::new(None, "a.b");
        assert_eq!(table.sql(), "\"a.b\"");
        assert_eq!(table.beside("i"), "\"i\"");
    }
}
