//! The README's table comparing zdm's operations with pgroll's and Reshape's, and its example
//! of several operations in one declaration, kept true to the code: every operation the
//! README documents, and every operation the attribute's registry lists, has a row with four
//! cells, and the example shown is the one `examples/multi_operation.rs` runs.

const README: &str = include_str!("../README.md");
const EXAMPLE: &str = include_str!("../examples/multi_operation.rs");
const REGISTRY: &str = include_str!("../zdm-macros/src/ops/mod.rs");

/// The lines of the README from the heading `heading` to the next heading of its level.
fn section(heading: &str) -> Vec<&'static str> {
    let level = heading.split(' ').next().unwrap();
    README
        .lines()
        .skip_while(|line| *line != heading)
        .skip(1)
        .take_while(|line| !(line.starts_with(level) && line.as_bytes().get(level.len()) == Some(&b' ')))
        .collect()
}

/// The operations the attribute takes: the `key: Type,` lines of the registry.
fn registered_operations() -> Vec<&'static str> {
    let body = REGISTRY
        .split("registry! {")
        .nth(1)
        .expect("the registry")
        .split('}')
        .next()
        .unwrap();
    body.lines()
        .filter_map(|line| line.trim().split_once(": "))
        .map(|(key, _)| key)
        .collect()
}

/// The operations the README documents: the `### name` sections whose name is one word of
/// lower case and underscores.
fn documented_operations() -> Vec<&'static str> {
    README
        .lines()
        .filter_map(|line| line.strip_prefix("### "))
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect()
}

#[test]
fn every_documented_operation_is_compared_with_both_peers() {
    let rows: Vec<Vec<&str>> =
        section("### The operations, and what pgroll and Reshape do for the same change")
            .into_iter()
            .filter(|line| line.starts_with("| ") && !line.starts_with("| ---"))
            .map(|line| line.trim_matches('|').split(" | ").map(str::trim).collect())
            .collect();
    assert_eq!(rows[0], ["operation", "zdm", "pgroll", "Reshape"]);
    for row in &rows[1..] {
        assert_eq!(row.len(), 4, "{row:?}");
        assert!(row.iter().all(|cell| !cell.is_empty()), "{row:?}");
    }
    let compared: Vec<&str> = rows[1..].iter().map(|row| row[0].trim_matches('`')).collect();
    let mut documented = documented_operations();
    assert!(documented.len() >= 8, "{documented:?}");
    let registered = registered_operations();
    assert!(
        registered.contains(&"add_column") && registered.contains(&"split_table"),
        "{registered:?}"
    );
    documented.extend(registered);
    for operation in &documented {
        assert!(
            compared.contains(operation),
            "no row for `{operation}` in {compared:?}"
        );
    }
    assert!(compared.contains(&"several in one"));
}

#[test]
fn the_several_operations_example_is_the_one_the_example_runs() {
    let lines = section("### Several operations in one declaration");
    let start = lines.iter().position(|line| *line == "```rust").unwrap() + 1;
    let end = start + lines[start..].iter().position(|line| *line == "```").unwrap();
    let shown = lines[start..end].join("\n");
    assert!(
        EXAMPLE.contains(&shown),
        "the README's declaration is not in examples/multi_operation.rs:\n{shown}"
    );
}
