//! What a reversal must give back: the catalog of the application's schemas and every row
//! of their tables, read so that two readings compare equal exactly when nothing differs
//! that an application could see.

use std::collections::BTreeMap;

use postgres::GenericClient;

/// The schemas a snapshot leaves out: the system's, and zdm's own records, which a reversal
/// updates by design.
const OWN_SCHEMAS: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'zdm') AND n.nspname NOT LIKE 'pg\\_%' \
     AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')";

/// One line per catalog fact, each independent of column order (a reversal that re-adds a
/// column adds it last) and of object ids. The session runs with an empty search path, so
/// every name the server prints is schema-qualified and two readings print alike.
const CATALOG: &str = "
SELECT format('relation %s kind %s owner %s acl %s comment %s', c.oid::regclass, c.relkind,
              pg_get_userbyid(c.relowner), c.relacl, obj_description(c.oid, 'pg_class'))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {own}
UNION ALL
SELECT format('column %s.%s %s collate %s not null %s default %s identity %s generated %s acl %s comment %s',
              c.oid::regclass, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
              (SELECT quote_ident(collname) FROM pg_collation WHERE oid = a.attcollation), a.attnotnull,
              pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, a.attacl,
              col_description(c.oid, a.attnum))
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped AND {own}
UNION ALL
SELECT format('index %s valid %s: %s', i.indexrelid::regclass, i.indisvalid, pg_get_indexdef(i.indexrelid))
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {own}
UNION ALL
SELECT format('constraint %s on %s valid %s: %s', quote_ident(k.conname), c.oid::regclass, k.convalidated,
              pg_get_constraintdef(k.oid))
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE {own}
UNION ALL
SELECT format('trigger enabled %s: %s', t.tgenabled, pg_get_triggerdef(t.oid))
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND {own}
UNION ALL
SELECT format('view %s: %s', c.oid::regclass, pg_get_viewdef(c.oid))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm') AND {own}
UNION ALL
SELECT format('function %s: %s', c.oid::regprocedure,
              CASE WHEN c.prokind = 'a' THEN 'aggregate' ELSE pg_get_functiondef(c.oid) END)
  FROM pg_proc c JOIN pg_namespace n ON n.oid = c.pronamespace
 WHERE {own}";

/// The tables whose rows are read: plain tables and partitions (a partitioned table's rows
/// are its partitions').
const TABLES: &str =
    "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'r' AND {own} ORDER BY 1";

/// The catalog and rows of a database at one moment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    catalog: Vec<String>,
    /// Each table's rows as JSON objects (keys sorted, so column order does not count),
    /// sorted.
    rows: BTreeMap<String, Vec<String>>,
}

/// How many rows of one table, and catalog lines, a report shows on each side.
const SHOWN: usize = 5;

impl Snapshot {
    /// Reads the catalog and every row; `client` must run with an empty search path.
    pub(crate) fn read(client: &mut impl GenericClient) -> Result<Snapshot, postgres::Error> {
        let mut catalog: Vec<String> = client
            .query(&CATALOG.replace("{own}", OWN_SCHEMAS), &[])?
            .iter()
            .map(|row| row.get(0))
            .collect();
        catalog.sort();
        let mut rows = BTreeMap::new();
        for table in client.query(&TABLES.replace("{own}", OWN_SCHEMAS), &[])? {
            let table: String = table.get(0);
            let mut contents: Vec<String> = client
                .query(&format!("SELECT to_jsonb(r)::text FROM {table} AS r"), &[])?
                .iter()
                .map(|row| row.get(0))
                .collect();
            contents.sort();
            rows.insert(table, contents);
        }
        Ok(Snapshot { catalog, rows })
    }

    /// What differs from `before`, one line each: catalog facts, then rows by table.
    pub(crate) fn differences(&self, before: &Snapshot) -> Vec<String> {
        let mut lines = one_sided(&before.catalog, &self.catalog, "");
        let empty = Vec::new();
        let tables: std::collections::BTreeSet<&String> =
            before.rows.keys().chain(self.rows.keys()).collect();
        for table in tables {
            let (was, is) = (
                before.rows.get(table).unwrap_or(&empty),
                self.rows.get(table).unwrap_or(&empty),
            );
            lines.extend(one_sided(was, is, &format!("row of {table} ")));
        }
        lines
    }
}

/// The lines only in `before`, then those only in `after` (both sorted, duplicates
/// counted), at most [`SHOWN`] of each.
fn one_sided(before: &[String], after: &[String], what: &str) -> Vec<String> {
    let (mut only_before, mut only_after) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                only_before.push(a);
                i += 1;
            }
            (Some(a), None) => {
                only_before.push(a);
                i += 1;
            }
            (_, Some(b)) => {
                only_after.push(b);
                j += 1;
            }
            (None, None) => break,
        }
    }
    let mut lines = shown(&only_before, &format!("{what}only before: "));
    lines.extend(shown(&only_after, &format!("{what}only after the reversal: ")));
    lines
}

fn shown(lines: &[&String], label: &str) -> Vec<String> {
    let mut shown: Vec<String> = lines
        .iter()
        .take(SHOWN)
        .map(|line| format!("{label}{line}"))
        .collect();
    if lines.len() > SHOWN {
        shown.push(format!("{label}… and {} more", lines.len() - SHOWN));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FreshDatabase;

    fn lines(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|text| text.to_string()).collect()
    }

    #[test]
    fn differences_show_each_side_and_count_duplicates() {
        let before = lines(&["a", "b", "b", "d"]);
        let after = lines(&["b", "c", "d"]);
        assert_eq!(
            one_sided(&before, &after, "x "),
            [
                "x only before: a",
                "x only before: b",
                "x only after the reversal: c"
            ]
        );
        assert!(one_sided(&before, &before, "").is_empty());
    }

    #[test]
    fn long_differences_are_cut() {
        let before: Vec<String> = (0..8).map(|n| n.to_string()).collect();
        let shown = one_sided(&before, &[], "");
        assert_eq!(shown.len(), SHOWN + 1);
        assert_eq!(shown[SHOWN], "only before: … and 3 more");
    }

    /// Each kind of fact the README lists, changed in a transaction that is rolled back:
    /// the snapshot sees the change, names it, and sees nothing once it is undone. Column
    /// order and zdm's own schema do not count.
    #[test]
    fn a_snapshot_sees_every_kind_of_change_an_application_could_see() {
        let database = FreshDatabase::create("runtime_snapshot").unwrap_or_else(|error| panic!("{error}"));
        let mut client = database.connect().unwrap();
        client
            .batch_execute(
                "CREATE TABLE t (id bigint PRIMARY KEY, a text, b int CHECK (b > 0));
                 INSERT INTO t VALUES (1, 'x', 1), (2, NULL, 2);
                 CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
                 CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();
                 CREATE VIEW v AS SELECT id, a FROM t;
                 DROP ROLE IF EXISTS zdm_snapshot_reader; CREATE ROLE zdm_snapshot_reader;
                 CREATE SCHEMA zdm; CREATE TABLE zdm.records (id int);
                 SET search_path = '';",
            )
            .unwrap();
        let before = Snapshot::read(&mut client).unwrap();
        let changes = [
            ("INSERT INTO public.t VALUES (3, 'y', 3)", "row of public.t only after the reversal: {\"a\": \"y\", \"b\": 3, \"id\": 3}"),
            ("UPDATE public.t SET a = 'z' WHERE id = 1", "row of public.t only before: {\"a\": \"x\", \"b\": 1, \"id\": 1}"),
            ("ALTER TABLE public.t ALTER a SET DEFAULT 'd'", "only after the reversal: column public.t.a text collate \"default\" not null f default 'd'::text"),
            ("COMMENT ON COLUMN public.t.b IS 'note'", "comment note"),
            ("CREATE INDEX i ON public.t (a)", "only after the reversal: index public.i valid t: CREATE INDEX i ON public.t USING btree (a)"),
            ("ALTER TABLE public.t DROP CONSTRAINT t_b_check", "only before: constraint t_b_check on public.t valid t: CHECK ((b > 0))"),
            ("ALTER TABLE public.t DISABLE TRIGGER tr", "only after the reversal: trigger enabled D: CREATE TRIGGER tr"),
            ("CREATE OR REPLACE VIEW public.v AS SELECT id, a FROM public.t WHERE id > 0", "only after the reversal: view public.v:"),
            ("CREATE OR REPLACE FUNCTION public.f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$", "RETURN NULL"),
            ("GRANT SELECT ON public.t TO zdm_snapshot_reader", "zdm_snapshot_reader=r/"),
            ("ALTER TABLE public.t OWNER TO zdm_snapshot_reader", "owner zdm_snapshot_reader"),
        ];
        for (change, shown) in changes {
            let mut transaction = client.transaction().unwrap();
            transaction.batch_execute(change).unwrap();
            let differences = Snapshot::read(&mut transaction).unwrap().differences(&before);
            assert!(
                differences.iter().any(|line| line.contains(shown)),
                "{change}: {differences:#?}"
            );
            transaction.rollback().unwrap();
        }
        let unseen = "DROP VIEW public.v; ALTER TABLE public.t DROP COLUMN a; ALTER TABLE public.t ADD COLUMN a text; \
                      UPDATE public.t SET a = 'x' WHERE id = 1; CREATE OR REPLACE VIEW public.v AS SELECT id, a FROM public.t; \
                      INSERT INTO zdm.records VALUES (1)";
        let mut transaction = client.transaction().unwrap();
        transaction.batch_execute(unseen).unwrap();
        assert_eq!(
            Snapshot::read(&mut transaction).unwrap().differences(&before),
            Vec::<String>::new()
        );
        transaction.rollback().unwrap();
        client
            .batch_execute("DROP OWNED BY zdm_snapshot_reader; DROP ROLE zdm_snapshot_reader")
            .unwrap();
    }
}
