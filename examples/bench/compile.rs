//! The compile cost of declarations against the same SQL as plain strings.

use std::time::Instant;

use super::Failure;

/// Seconds to build a crate of 100 declarations, and the same crate with the SQL as plain
/// strings, each from a clean build of that crate (dependencies built beforehand).
pub(crate) fn compile_cost() -> Result<(f64, f64), Failure> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = root.join("target").join("bench-compile");
    let runtime = root.join("zdm-runtime");
    let make = |name: &str, body: String| -> Result<std::path::PathBuf, Failure> {
        let dir = work.join(name);
        std::fs::create_dir_all(dir.join("src"))?;
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n\
                 [dependencies]\nzdm-runtime = {{ path = {:?} }}\n",
                runtime.display().to_string()
            ),
        )?;
        std::fs::write(dir.join("src").join("lib.rs"), body)?;
        Ok(dir)
    };
    let mut declarations = String::from("use zdm_runtime::zero_downtime;\n");
    let mut plain = String::from("pub static MIGRATIONS: &[(&str, &[&str])] = &[\n");
    for n in 0..100 {
        declarations.push_str(&format!(
            "#[zero_downtime(id = \"m{n}\", add_column(table = \"t{n}\", column = \"c{n}\", ty = \"text\", \
             backfill = \"lower(email)\", not_null, index))]\npub struct M{n};\n"
        ));
        plain.push_str(&format!(
            "    (\"m{n}\", &[\"ALTER TABLE t{n} ADD COLUMN c{n} text\", \"CREATE INDEX CONCURRENTLY t{n}_c{n}_idx ON t{n} (c{n})\", \
             \"UPDATE t{n} SET c{n} = lower(email) WHERE c{n} IS NULL\", \"ALTER TABLE t{n} ADD CONSTRAINT t{n}_c{n}_nn CHECK (c{n} IS NOT NULL) NOT VALID\", \
             \"ALTER TABLE t{n} VALIDATE CONSTRAINT t{n}_c{n}_nn\", \"ALTER TABLE t{n} ALTER COLUMN c{n} SET NOT NULL\"]),\n"
        ));
    }
    plain.push_str("];\n");
    let target = work.join("target");
    let time_build = |dir: &std::path::Path, name: &str| -> Result<f64, Failure> {
        let cargo = |args: &[&str]| {
            std::process::Command::new("cargo")
                .args(args)
                .current_dir(dir)
                .env("CARGO_TARGET_DIR", &target)
                .status()
        };
        // Dependencies first, then a clean build of the crate alone, timed.
        if !cargo(&["build", "--quiet"])?.success() {
            return Err(format!("building {name} failed").into());
        }
        cargo(&["clean", "--quiet", "-p", name])?;
        let started = Instant::now();
        if !cargo(&["build", "--quiet"])?.success() {
            return Err(format!("building {name} failed").into());
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let decls = make("bench_decls", declarations)?;
    let strings = make("bench_strings", plain)?;
    Ok((
        time_build(&decls, "bench_decls")?,
        time_build(&strings, "bench_strings")?,
    ))
}
