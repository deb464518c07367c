//! The `modelops` binary: everything lives in the library; this only hands over.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    modelops::cli::main()
}
