//! The `smartcourse` executable; everything lives in the library.

fn main() -> std::process::ExitCode {
    smartcourse::cli::main()
}
