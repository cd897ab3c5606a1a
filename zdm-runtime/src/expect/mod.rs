//! Checks of the live schema that steps run before they change anything: what the plan
//! expects to find (a table, a column of a type, an index absent or the same), and the
//! counts of rows a precondition forbids. Drift is reported in the declaration's terms.

mod columns;
mod fragments;
mod index;
mod tables;
mod tables_of_plan;
mod view;

use postgres::Client;

use crate::error::{Error, Result};
use crate::session::StepContext;
use zdm_plan::{Check, Expectation, Plan};

pub use index::{index_build_progress, IndexBuildProgress};
pub(crate) use tables_of_plan::{batch_key, check as check_tables_of_plan};

pub(crate) fn check_expectation(client: &mut Client, plan: &Plan, expectation: &Expectation) -> Result<()> {
    match expectation {
        Expectation::TableExists { table } => tables::table_exists(client, plan, table),
        Expectation::TableAbsent { table } => tables::table_absent(client, plan, table),
        Expectation::ColumnExists { table, column, ty } => {
            tables::column_exists(client, plan, table, column, ty.as_deref())
        }
        Expectation::ColumnAbsent { table, column } => tables::column_absent(client, plan, table, column),
        Expectation::IndexAbsentOrSame {
            table,
            index,
            unique,
            definition,
        } => index::check_absent_or_same(client, plan, table, index, *unique, definition),
        Expectation::ViewOfTableOrAbsent { view, table } => {
            view::check_view_of_table_or_absent(client, plan, view, table)
        }
        Expectation::ColumnNullable { table, column } => columns::nullable(client, plan, table, column),
        Expectation::ConstraintAbsent { table, constraint } => {
            columns::constraint_absent(client, plan, table, constraint)
        }
        Expectation::ForeignKeyTarget {
            table,
            column,
            ty,
            references,
            referenced_column,
        } => columns::foreign_key_target(
            client,
            plan,
            &columns::ForeignKey {
                table,
                column,
                ty: ty.as_deref(),
                references,
                referenced_column,
            },
        ),
        Expectation::FragmentReads {
            table,
            key,
            columns,
            functions,
        } => fragments::check(
            client,
            plan,
            &fragments::Fragment {
                table,
                key,
                columns: columns.iter().map(|name| &**name).collect(),
                functions: functions.iter().map(|name| &**name).collect(),
            },
        ),
    }
}

/// The refusal of a step whose schema is not what the plan expects.
fn drift(plan: &Plan, expected: String, found: String) -> Result<()> {
    Err(Error::Drift {
        migration: plan.id.to_string(),
        expected,
        found,
    })
}

/// Counts the rows a precondition forbids; refuses with a few of them when there are any.
pub(crate) fn run_check(client: &mut Client, context: &StepContext, check: &Check) -> Result<u64> {
    let count: i64 = client
        .query_one(&*check.count_sql, &[])
        .map_err(|error| context.failed(error))?
        .get(0);
    if count == 0 {
        return Ok(0);
    }
    let samples = client
        .query(&*check.sample_sql, &[])
        .map_err(|error| context.failed(error))?
        .iter()
        .map(|row| {
            row.get::<_, Option<String>>(0)
                .unwrap_or_else(|| "NULL".to_owned())
        })
        .collect();
    Err(Error::Precondition {
        migration: context.plan.id.to_string(),
        phase: context.phase,
        expectation: check.expectation.to_string(),
        count,
        samples,
    })
}
