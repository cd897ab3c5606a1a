//! The README's "Use it in your application" shows this crate's own files: each of its
//! Rust blocks is a part of one of them, and its `Cargo.toml` block is this crate's
//! dependencies with the path from an application beside a checkout of zdm.

const README: &str = include_str!("../../../README.md");

const FILES: [(&str, &str); 4] = [
    ("src/lib.rs", include_str!("../src/lib.rs")),
    ("src/migrations.rs", include_str!("../src/migrations.rs")),
    ("src/bin/migrate.rs", include_str!("../src/bin/migrate.rs")),
    ("tests/migrations.rs", include_str!("migrations.rs")),
];

/// The section, up to the next top-level heading.
fn section() -> &'static str {
    let start = README
        .find("\n## Use it in your application\n")
        .expect("the README has the section");
    let rest = &README[start + 1..];
    &rest[..rest[3..].find("\n## ").map_or(rest.len(), |end| end + 3)]
}

/// The blocks of the section fenced as `language`.
fn blocks(language: &str) -> Vec<&'static str> {
    let fence = format!("```{language}\n");
    section()
        .split(fence.as_str())
        .skip(1)
        .map(|block| &block[..block.find("```").expect("a closed block")])
        .collect()
}

#[test]
fn every_rust_block_of_the_section_is_part_of_a_file_of_this_crate() {
    let rust = blocks("rust");
    assert_eq!(rust.len(), 3, "the module, the binary and the test");
    for block in rust {
        assert!(
            FILES.iter().any(|(_, text)| text.contains(block)),
            "no file of examples/app holds this block of the README:\n{block}"
        );
    }
    let (_, migrate) = FILES[2];
    assert_eq!(migrate.lines().count(), 3, "src/bin/migrate.rs is three lines");
    assert!(section().contains("`pub mod migrations;` in `src/lib.rs`"));
    assert!(FILES[0].1.contains("\npub mod migrations;\n"));
}

#[test]
fn the_sections_cargo_toml_is_this_crates_dependencies() {
    let toml = blocks("toml");
    assert_eq!(toml.len(), 1);
    let manifest = include_str!("../Cargo.toml").replace("\"../../zdm-runtime\"", "\"../zdm/zdm-runtime\"");
    assert!(
        manifest.contains(toml[0]),
        "{manifest}\ndoes not hold\n{}",
        toml[0]
    );
}
