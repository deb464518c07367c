//! `modelops explain`: the long explanation of a diagnostic code.

use super::{EXIT_OK, fail, print_stdout};
use crate::diag::{Code, did_you_mean};

/// Runs `explain`; returns the exit code.
pub fn run(code: &str) -> u8 {
    match Code::lookup(code) {
        Some(code) => {
            print_stdout(code.explanation());
            EXIT_OK
        }
        None => {
            let ids: Vec<&str> = Code::ALL.iter().map(|c| c.id()).collect();
            let upper = code.to_ascii_uppercase();
            let help = match did_you_mean(&upper, ids.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "codes are {} … {}",
                    ids.first().unwrap_or(&""),
                    ids.last().unwrap_or(&"")
                ),
            };
            fail(&format!("unknown diagnostic code `{code}`"), Some(&help))
        }
    }
}
