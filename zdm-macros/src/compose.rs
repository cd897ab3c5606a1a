//! Several operations in one declaration: the rules that refuse operations whose phases
//! would fight, judged on what each does to the names it touches ([`Footprint`]), and the
//! per-operation id that keeps their state apart. The plan that runs them phase by phase
//! together is [`zdm_plan::Plan::combined`].

use proc_macro2::Span;

use crate::ops::footprint::Footprint;
use crate::ops::Operation;
use crate::validate::{self, Errors};
use zdm_plan::Plan;

/// One operation as written in the declaration.
pub struct Written<'a> {
    /// Its key, as the user wrote it.
    pub name: &'static str,
    /// The key's token, where errors about the operation as a whole point.
    pub span: Span,
    pub operation: &'a dyn Operation,
}

/// The id each operation builds its plan under: the declaration's for the first, so a
/// declaration of one operation keeps its plan, and a distinct one for each later one, so
/// names derived from the id (the backfill's record of the rows it filled) do not collide.
/// `/` never appears in a declared id, so no other declaration can have it.
pub fn operation_id(id: &str, position: usize) -> String {
    match position {
        0 => id.to_owned(),
        _ => format!("{id}/{}", position + 1),
    }
}

/// Pushes an error at each operation that cannot run together with the ones before and
/// after it; `plans` are their plans, in the same order.
pub fn check(written: &[Written<'_>], plans: &[Plan], errors: &mut Errors) {
    if written.len() < 2 {
        return;
    }
    let footprints: Vec<Footprint> = written
        .iter()
        .zip(plans)
        .map(|(written, plan)| written.operation.footprint().with_plan(plan))
        .collect();
    for (position, (this, footprint)) in written.iter().zip(&footprints).enumerate() {
        let earlier = written[..position].iter().zip(&footprints[..position]);
        let later = written[position + 1..].iter().zip(&footprints[position + 1..]);
        if let Some(problem) = alone(this, footprint)
            .or_else(|| second_swap(this, footprint, earlier.clone()))
            .or_else(|| used_before_created(this, footprint, later))
            .or_else(|| used_after_removed(this, footprint, earlier.clone()))
            .or_else(|| built_twice(this, footprint, earlier.clone()))
            .or_else(|| changed_twice(this, footprint, earlier.clone()))
            .or_else(|| rows_rewritten_under_a_trigger(this, footprint, earlier))
        {
            validate::push(errors, this.span, problem);
        }
    }
}

type Others<'a, 'b> = std::iter::Zip<std::slice::Iter<'b, Written<'a>>, std::slice::Iter<'b, Footprint>>;

/// Operations that replace or rename the table under the others.
fn alone(this: &Written<'_>, footprint: &Footprint) -> Option<String> {
    let reason = footprint.alone?;
    Some(format!(
        "`{}` cannot share a declaration: {reason}; declare it on a struct of its own",
        this.name
    ))
}

/// A column swap records what it carries under the declaration's id, once.
fn second_swap(this: &Written<'_>, footprint: &Footprint, mut earlier: Others<'_, '_>) -> Option<String> {
    if !footprint.swaps {
        return None;
    }
    let (first, _) = earlier.find(|(_, before)| before.swaps)?;
    Some(format!(
        "`{}` follows `{}`, and a declaration swaps one column at most (its run-time record of the \
         column's type, constraints and indexes is one per declaration); declare `{}` on a struct of its own",
        this.name, first.name, this.name
    ))
}

/// Each phase runs the operations in written order, so a name must be made before it is used.
fn used_before_created(this: &Written<'_>, footprint: &Footprint, later: Others<'_, '_>) -> Option<String> {
    for (after, made) in later {
        let used = footprint.reads.iter().chain(&footprint.changes);
        if let Some(name) = used.clone().find(|name| made.creates.contains(name)) {
            return Some(format!(
                "`{}` uses {name}, which `{}` after it creates: write `{}` first",
                this.name, after.name, after.name
            ));
        }
    }
    None
}

/// What a rename or a swap takes away at contract is gone for every operation after it;
/// an index or constraint made on it would go with it.
fn used_after_removed(this: &Written<'_>, footprint: &Footprint, earlier: Others<'_, '_>) -> Option<String> {
    for (before, removing) in earlier {
        let touched = footprint
            .reads
            .iter()
            .chain(&footprint.changes)
            .chain(&footprint.creates);
        if let Some(name) = touched.clone().find(|name| removing.removes.contains(name)) {
            return Some(format!(
                "`{}` uses {name}, which `{}` before it renames away or replaces at contract: \
                 name the column it leaves, or declare `{}` on a struct of its own",
                this.name, before.name, this.name
            ));
        }
    }
    None
}

/// The second build of a name would find the first's object and fail, or take it for its own.
fn built_twice(this: &Written<'_>, footprint: &Footprint, earlier: Others<'_, '_>) -> Option<String> {
    for (before, made) in earlier {
        if let Some(name) = footprint.creates.iter().find(|name| made.creates.contains(name)) {
            return Some(format!(
                "`{}` creates {name}, which `{}` before it creates already: declare it once",
                this.name, before.name
            ));
        }
    }
    None
}

/// Two sync triggers, backfills or NOT NULL routes on one column would overwrite each
/// other's values and undo each other's reversals.
fn changed_twice(this: &Written<'_>, footprint: &Footprint, earlier: Others<'_, '_>) -> Option<String> {
    for (before, changing) in earlier {
        if let Some(name) = footprint
            .changes
            .iter()
            .find(|name| changing.changes.contains(name))
        {
            return Some(format!(
                "`{}` and `{}` both change {name}, and their phases would fight over its values; \
                 say it all in one of them, or declare `{}` on a struct of its own that runs after",
                this.name, before.name, this.name
            ));
        }
    }
    None
}

/// A sync trigger fills its column on writes that leave it alone, and another operation's
/// backfill or reversal writes exactly such rows: the trigger would fill rows its own
/// operation never recorded, and a reverted phase would not give the table back as it was.
fn rows_rewritten_under_a_trigger(
    this: &Written<'_>,
    footprint: &Footprint,
    earlier: Others<'_, '_>,
) -> Option<String> {
    for (before, other) in earlier {
        let crossing = |syncing: &Footprint, writing: &Footprint| {
            syncing
                .syncs
                .iter()
                .find(|table| writing.rewrites.contains(table))
                .cloned()
        };
        let Some(table) = crossing(other, footprint).or_else(|| crossing(footprint, other)) else {
            continue;
        };
        return Some(format!(
            "`{}` and the `{}` before it both work on the rows of {table}, and the sync trigger of one would \
             fill what the other's backfill and its reversal write, so a reverted phase would not give the rows \
             back as they were; declare `{}` on a struct of its own that runs after",
            this.name, before.name, this.name
        ));
    }
    None
}
