//! One module per subcommand: each turns parsed arguments into calls to the library
//! and its outcome into output and an exit code.

pub mod init;
pub mod inspect;
