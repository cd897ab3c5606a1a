fn main() -> std::process::ExitCode {
    zdm_runtime::cli::main(shop::migrations::MIGRATIONS)
}
