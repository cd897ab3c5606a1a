//! Compile-fail tests: every invalid declaration under `tests/ui/<family>/` must fail to
//! build with the message and caret recorded in its `.stderr`. Regenerate with
//! `TRYBUILD=overwrite cargo test --test ui`, then read each diff as a user would.

#[test]
fn invalid_declarations_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*/*.rs");
}
