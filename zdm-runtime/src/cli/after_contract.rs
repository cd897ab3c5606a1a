//! What an operator runs once contract has completed and no old version will return:
//! `purge` and `drop-version-schema`, each giving up a reversal for good.

use super::{runner_options, Cli, Failure, Output};
use crate::runner::Runner;
use crate::session;
use zdm_plan::Migration;

pub(super) fn purge(cli: &Cli, out: &mut Output, migration: &dyn Migration) -> Result<(), Failure> {
    let plan = migration.plan();
    if cli.dry_run || plan.purge.is_empty() {
        let verb = if cli.dry_run {
            "would purge"
        } else {
            "nothing to purge"
        };
        outln!(out, "{}: {verb}", plan.id);
        for (index, step) in plan.purge.iter().enumerate() {
            out!(out, "    {}. {step}", index + 1);
        }
        return Ok(());
    }
    let mut runner = Runner::new(session::connect(&cli.database_url)?, runner_options(cli))?;
    let steps = runner.purge(migration)?;
    outln!(out, "{}: purged ({} step(s))", plan.id, steps.len());
    Ok(())
}

pub(super) fn drop_version_schema(
    cli: &Cli,
    out: &mut Output,
    migration: &dyn Migration,
) -> Result<(), Failure> {
    let plan = migration.plan();
    let schema = zdm_plan::names::version_schema(&plan.id);
    if plan.presents.is_empty() {
        outln!(out, "{}: has no version schema", plan.id);
        return Ok(());
    }
    if cli.dry_run {
        outln!(
            out,
            "{}: would drop the version schema {schema} and its views",
            plan.id
        );
        return Ok(());
    }
    let mut runner = Runner::new(session::connect(&cli.database_url)?, runner_options(cli))?;
    if runner.drop_version_schema(migration)? {
        outln!(out, "{}: dropped the version schema {schema}", plan.id);
    } else {
        outln!(
            out,
            "{}: the version schema {schema} has no views; nothing to drop",
            plan.id
        );
    }
    Ok(())
}
