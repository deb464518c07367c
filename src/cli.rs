//! The command line: argument parsing (clap) and dispatch to [`crate::commands`], one
//! module per subcommand. No logic lives here beyond choosing what to call.

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{self, ColorWhen, EXIT_OK, fail, print_stdout};

pub use crate::commands::{EXIT_ERROR, EXIT_INVALID};

/// The version `--version` prints: the crate's, with the git revision it was built
/// from when that is known (see build.rs).
pub const VERSION: &str = env!("MODELOPS_VERSION_STRING");

#[derive(Debug, Parser)]
#[command(
    name = "modelops",
    version = VERSION,
    about = "Compile and validate model configuration kept as code",
    long_about = None,
)]
pub struct Cli {
    /// Run as if started in DIR (like `git -C`).
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,

    /// When to colour diagnostics and help: `auto` on a terminal only (`NO_COLOR`,
    /// `CLICOLOR=0` and `CLICOLOR_FORCE` are honoured), `always` or `never`.
    #[arg(
        long,
        value_name = "WHEN",
        value_enum,
        global = true,
        default_value_t = ColorWhen::Auto,
        hide_possible_values = true
    )]
    pub color: ColorWhen,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the repository and report every problem.
    Check(commands::check::CheckArgs),
    /// Generate the deployment artefacts into generated/.
    Compile(commands::compile::CompileArgs),
    /// Compare a candidate's evaluation scores with the baseline's; exit 1 on regression.
    Gate(commands::gate::GateArgs),
    /// Evaluate a deployment's guards against metrics; exit 1 on a breach.
    Guard(commands::guard::GuardArgs),
    /// Apply one state of a deployment from generated/ with each target's own
    /// mechanism, and verify it.
    Apply(commands::apply::ApplyArgs),
    /// What changed between two revisions, semantically, and what it triggers.
    Diff(commands::diff::DiffArgs),
    /// Who wrote each line of a prompt, across its version files.
    Blame(commands::blame::BlameArgs),
    /// The versions of a prompt, or the deployment timeline of a model.
    History(commands::history::HistoryArgs),
    /// Edit a model so an environment runs its last known-good release.
    Rollback(commands::rollback::RollbackArgs),
    /// Write modelops.lock: the content hashes of prompts, datasets and releases.
    Lock(commands::lock::LockArgs),
    /// Print the long explanation of a diagnostic code, or with `--list` every code.
    Explain(commands::explain::ExplainArgs),
    /// Print the JSON Schema of the language.
    Schema,
    /// Create a new config repository that passes check and compile as it is.
    Init(commands::init::InitArgs),
    /// Format the KDL files canonically (comments are kept).
    Fmt(commands::fmt::FmtArgs),
    /// Print the resolved configuration: releases after inheritance, rendered prompts,
    /// fingerprints; or, with `--out`, write the files a track's pods read.
    Inspect(commands::inspect::InspectArgs),
    /// Print the script that makes a shell complete modelops, with the repository's
    /// models, environments and prompts: `source <(modelops completions bash)` in
    /// ~/.bashrc (or `source <(COMPLETE=bash modelops)`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff): `modelops man > modelops.1`, or a command's own
    /// page, `modelops man check > modelops-check.1`.
    Man {
        /// The command whose page to print (default: the main page).
        command: Option<String>,
    },
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    // A shell's completion script runs `COMPLETE=SHELL modelops -- WORDS…`: answered
    // here, before the words are parsed as a command line.
    commands::complete::complete_if_asked(Cli::command);
    let cli = parse_args();
    // Read objects as git does, without hashing each one again on every read (git
    // checks hashes when objects are written, fetched and fsck'd). libgit2's check
    // is SHA-1 with collision detection, a tenth of a `diff` of thousands of files.
    git2::opts::strict_hash_verification(false);
    // Files are analysed on the global pool's threads. The syntax bounds keep the
    // parser within a 2 MiB stack even in a debug build (see `syntax::bounds`); the
    // larger stacks are a margin, reserved but only touched when used.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(16 * 1024 * 1024)
        .build_global();
    ExitCode::from(run(cli))
}

/// The command line as clap sees it, set up for where help goes: coloured as
/// `--color` and the environment say, and wrapped to the terminal's width, or not at
/// all when stdout is not a terminal (help piped into a file or a CI log keeps each
/// line whole).
pub fn command(args: &[std::ffi::OsString]) -> clap::Command {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let color =
        match commands::color_decided(commands::color_flag(args), |name| std::env::var_os(name)) {
            Some(true) => clap::ColorChoice::Always,
            Some(false) => clap::ColorChoice::Never,
            // Help goes to stdout and usage errors to stderr: clap looks at each.
            None => clap::ColorChoice::Auto,
        };
    let width = if terminal {
        commands::terminal_width(terminal_size::terminal_size_of(&stdout))
    } else {
        0 // clap: no wrapping
    };
    Cli::command().color(color).term_width(width)
}

/// Parses the process arguments as [`Cli::parse`] does, with [`command`]'s colour
/// and width; exits on a usage error or after `--help`.
fn parse_args() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = command(&args);
    let parsed = command
        .try_get_matches_from_mut(&args)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches))
        .map_err(|error| error.format(&mut command));
    parsed.unwrap_or_else(|error| error.exit())
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    commands::set_color_when(cli.color);
    if let Some(today) = std::env::var_os("MODELOPS_TODAY").filter(|v| !v.is_empty())
        && today.to_str().and_then(crate::model::Date::parse).is_none()
    {
        return fail(
            &format!(
                "MODELOPS_TODAY is `{}`, not a date",
                today.to_string_lossy()
            ),
            Some("give it as YYYY-MM-DD, or unset it to use today's date"),
        );
    }
    match cli.command {
        Command::Check(args) => commands::check::run(cli.directory.as_deref(), &args),
        Command::Lock(args) => commands::lock::run(cli.directory.as_deref(), &args),
        Command::Compile(args) => commands::compile::run(cli.directory.as_deref(), &args),
        Command::Gate(args) => commands::gate::run(cli.directory.as_deref(), &args),
        Command::Diff(args) => commands::diff::run(cli.directory.as_deref(), &args),
        Command::Blame(args) => commands::blame::run(cli.directory.as_deref(), &args),
        Command::History(args) => commands::history::run(cli.directory.as_deref(), &args),
        Command::Rollback(args) => commands::rollback::run(cli.directory.as_deref(), &args),
        Command::Guard(args) => commands::guard::run(cli.directory.as_deref(), &args),
        Command::Apply(args) => commands::apply::run(cli.directory.as_deref(), &args),
        Command::Explain(args) => commands::explain::run(&args),
        Command::Schema => {
            print_stdout(crate::schema::SCHEMA_TEXT);
            EXIT_OK
        }
        Command::Init(args) => commands::init::run(cli.directory.as_deref(), &args),
        Command::Fmt(args) => commands::fmt::run(cli.directory.as_deref(), &args),
        Command::Inspect(args) => commands::inspect::run(cli.directory.as_deref(), &args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            print_stdout(&commands::complete::registration(shell, &mut command));
            EXIT_OK
        }
        Command::Man { command } => {
            let main = <Cli as clap::CommandFactory>::command();
            let page = match &command {
                None => main,
                Some(name) => match main.find_subcommand(name) {
                    Some(sub) => sub.clone().name(format!("modelops-{name}")),
                    None => {
                        return fail(
                            &format!("no command `{name}`"),
                            Some("`modelops --help` lists the commands"),
                        );
                    }
                },
            };
            let mut out = Vec::new();
            match clap_mangen::Man::new(page).render(&mut out) {
                Ok(()) => {
                    print_stdout(&String::from_utf8_lossy(&out));
                    EXIT_OK
                }
                Err(error) => fail(&format!("cannot render the manual page: {error}"), None),
            }
        }
    }
}
