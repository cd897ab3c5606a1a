//! The heap-page route: each batch covers a range of heap pages (`ctid >= '(p,0)' AND
//! ctid < '(q,0)'`), read by a TID range scan (PostgreSQL 14+) in physical order, as one
//! `UPDATE` reads the table, with no index look-up and no query to find the batch's end.
//!
//! A row an update moves to a page not yet reached is met again there and skipped by the
//! statement's own condition (`IS NULL`, `IS DISTINCT FROM`, `ON CONFLICT DO NOTHING`). A
//! row an application update moves behind the cursor is not met again: only a sync trigger
//! that fills every row written makes that safe, so only a plan's backfill that says so
//! ([`zdm_plan::Backfill::writes_filled`]) takes this route. The last batch has no upper
//! page, so rows appended while the backfill runs are covered too.

use postgres::Client;

use crate::error::Result;
use crate::session::{BackfillRoute, Session, StepContext};

/// The first element of a heap-page checkpoint, repeated once per key column, so that a
/// page checkpoint is one element longer than a key checkpoint and the two never mix up.
const PAGE_MARK: &str = "heap page";

/// Where a heap-page walk stands.
#[derive(Clone, Copy)]
pub(super) struct Pages {
    /// The first page of the next batch.
    pub(super) next: u64,
    /// The table's length in pages when the step started: the last batch is open-ended.
    end: u64,
    rows_per_page: f64,
}

/// Whether this backfill walks heap pages: by the checkpoint when resuming (a run goes on
/// by the route it started with), else by the plan (every row written is filled), the
/// option, the server and the table's kind.
pub(super) fn chosen(
    session: &mut Session,
    context: &StepContext,
    table: &str,
    (key_len, cursor): (usize, Option<&[String]>),
    writes_filled: bool,
) -> Result<bool> {
    if let Some(cursor) = cursor {
        return Ok(page_of(cursor, key_len).is_some());
    }
    if !writes_filled || session.options().route != BackfillRoute::HeapPages {
        return Ok(false);
    }
    // A partitioned table has no heap of its own; its partitions' ctids overlap.
    session
        .client()
        .query_one(
            "SELECT current_setting('server_version_num')::int >= 140000 \
                AND (SELECT relkind = 'r' FROM pg_class WHERE oid = to_regclass($1))",
            &[&table],
        )
        .map(|row| row.get::<_, Option<bool>>(0).unwrap_or(false))
        .map_err(|error| context.failed(error))
}

/// The page a heap-page checkpoint resumes at; `None` for a key checkpoint.
fn page_of(cursor: &[String], key_len: usize) -> Option<u64> {
    if cursor.len() != key_len + 1 {
        return None;
    }
    cursor.last()?.parse().ok()
}

impl Pages {
    pub(super) fn start(
        client: &mut Client,
        context: &StepContext,
        table: &str,
        key_len: usize,
        cursor: Option<&[String]>,
    ) -> Result<Pages> {
        let row = client
            .query_one(
                "SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint, \
                        c.reltuples::float8, c.relpages::bigint \
                 FROM pg_class c WHERE c.oid = to_regclass($1)",
                &[&table],
            )
            .map_err(|error| context.failed(error))?;
        let end = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        let (tuples, pages): (f64, i64) = (row.get(1), row.get(2));
        let rows_per_page = if tuples > 0.0 && pages > 0 {
            tuples / pages as f64
        } else {
            // Never analyzed: count the first pages, a TID range scan of a few pages.
            let sample = end.clamp(1, 8);
            let rows: i64 = client
                .query_one(
                    format!("SELECT count(*) FROM {table} WHERE ctid < '({sample},0)'::tid").as_str(),
                    &[],
                )
                .map_err(|error| context.failed(error))?
                .get(0);
            rows as f64 / sample as f64
        };
        Ok(Pages {
            next: cursor.and_then(|cursor| page_of(cursor, key_len)).unwrap_or(0),
            end,
            rows_per_page: rows_per_page.max(1.0),
        })
    }

    /// The range of the next batch of about `rows` rows, and the checkpoint that ends it;
    /// `None` for the last batch.
    pub(super) fn next_range(&self, table: &str, rows: u32, key_len: usize) -> (String, Option<Vec<String>>) {
        let pages = (f64::from(rows) / self.rows_per_page).ceil().max(1.0) as u64;
        let from = format!("{table}.ctid >= '({},0)'::tid", self.next);
        let upper = self.next.saturating_add(pages);
        if upper >= self.end {
            return (from, None);
        }
        let mut checkpoint = vec![PAGE_MARK.to_owned(); key_len];
        checkpoint.push(upper.to_string());
        (
            format!("{from} AND {table}.ctid < '({upper},0)'::tid"),
            Some(checkpoint),
        )
    }

    /// The ranges of the next `count` batches of about `rows` rows each, with the
    /// checkpoints that end them; fewer when the last batch comes sooner.
    pub(super) fn ranges(
        &self,
        table: &str,
        rows: u32,
        key_len: usize,
        count: usize,
    ) -> Vec<(String, Option<Vec<String>>)> {
        let mut walk = *self;
        let mut ranges = Vec::with_capacity(count);
        while ranges.len() < count {
            let (range, checkpoint) = walk.next_range(table, rows, key_len);
            let last = checkpoint.is_none();
            if let Some(checkpoint) = &checkpoint {
                walk.advance(checkpoint, key_len);
            }
            ranges.push((range, checkpoint));
            if last {
                break;
            }
        }
        ranges
    }

    /// Moves past a committed batch.
    pub(super) fn advance(&mut self, checkpoint: &[String], key_len: usize) {
        if let Some(page) = page_of(checkpoint, key_len) {
            self.next = page;
        }
    }

    /// The rows a batch of `rows` rows really covers, whole pages.
    pub(super) fn rows_per_batch(&self, rows: u32) -> u32 {
        let pages = (f64::from(rows) / self.rows_per_page).ceil().max(1.0);
        (pages * self.rows_per_page) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::{page_of, Pages};

    #[test]
    fn a_batch_covers_whole_pages_and_the_last_one_runs_to_the_end() {
        let pages = Pages {
            next: 10,
            end: 100,
            rows_per_page: 50.0,
        };
        assert_eq!(
            pages.next_range("\"t\"", 480, 1),
            (
                "\"t\".ctid >= '(10,0)'::tid AND \"t\".ctid < '(20,0)'::tid".to_owned(),
                Some(vec!["heap page".to_owned(), "20".to_owned()])
            )
        );
        assert_eq!(pages.rows_per_batch(480), 500);
        let last = Pages { next: 95, ..pages };
        assert_eq!(
            last.next_range("\"t\"", 480, 2),
            ("\"t\".ctid >= '(95,0)'::tid".to_owned(), None)
        );
    }

    #[test]
    fn a_page_checkpoint_is_one_element_longer_than_the_key() {
        let page = ["heap page".to_owned(), "42".to_owned()];
        assert_eq!(page_of(&page, 1), Some(42));
        // The same two values as the checkpoint of a two-column key.
        assert_eq!(page_of(&page, 2), None);
        assert_eq!(page_of(&["7".to_owned()], 1), None);
    }
}
