//! The `ckptd` binary: parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    ckptd::cli::main()
}
