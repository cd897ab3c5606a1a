//! Compile-fail and compile-pass tests: every invalid declaration under `tests/ui/<family>/`
//! (malformed, conflicting, same_name, identifiers, types, unsafe, fragments, several_errors,
//! registry; each file named after its operation) must fail to
//! build with the message and caret recorded in its `.stderr`. Regenerate with
//! `TRYBUILD=overwrite cargo test --test ui`, then read each diff as a user would.

#[test]
fn declarations_compile_or_fail_as_recorded() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*/*.rs");
    // Valid declarations of every operation, several forms of each, compile (and their
    // plans are built).
    cases.pass("tests/pass/*/*.rs");
}
