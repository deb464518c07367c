//! Where things are: the names of the files and folders of a config repository, and
//! the limits on what modelops reads. Every stage takes these from here, so a name or
//! a bound is changed in one place.
//!
//! ```text
//! modelops.kdl                 PROJECT_FILE_NAME
//! models/<model>.kdl           MODELS_DIR
//! prompts/<prompt>/v<N>.md     PROMPTS_DIR (also .txt)
//! modelops.lock                LOCK_FILE_NAME
//! generated/                   OUTPUT_DIR: <target>/<environment>/<model>..., laid out
//!                              by each target's `Layout` (target::registry)
//! generated/.modelops-output   OUTPUT_MARKER
//! .generated.modelops-next     IN_FLIGHT_SUFFIX (and -prev), while it is replaced
//! ```

/// The project file's name, at the repository root; the repository's root is the
/// nearest folder upwards that holds one.
pub const PROJECT_FILE_NAME: &str = "modelops.kdl";

/// The lock file's name, at the repository root.
pub const LOCK_FILE_NAME: &str = "modelops.lock";

/// The folder of model files (`<model>.kdl`, one model each), at the root.
pub const MODELS_DIR: &str = "models";

/// The folder of prompts (`<prompt>/v<N>.md` or `.txt`), at the root.
pub const PROMPTS_DIR: &str = "prompts";

/// The folder `compile` writes by default, at the root.
pub const OUTPUT_DIR: &str = "generated";

/// The file that marks an output folder as written by `modelops compile`: it writes
/// only into a folder it created or that holds this marker.
pub const OUTPUT_MARKER: &str = ".modelops-output";

/// The suffix of the folders beside an output folder `NAME` while it is replaced:
/// `.NAME.modelops-next` (the new tree being built) and `.NAME.modelops-prev` (the
/// old tree between two renames, where the exchange is not available).
pub const IN_FLIGHT_SUFFIX: &str = ".modelops-";

/// The largest KDL or prompt file read (1 MiB); real ones are a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The largest lock file read: about 100 bytes an entry, so room for 500,000 entries.
pub const MAX_LOCK_BYTES: u64 = 64 * 1024 * 1024;

/// The deepest `{ … }` nesting accepted in a KDL file. The language needs six levels;
/// the bound keeps hostile input from exhausting the parser's stack.
pub const MAX_NESTING: usize = 32;

/// The most slashdashes (`/-`), line continuations (`\`) and type annotations a KDL
/// file may have in a row with nothing else between them.
pub const MAX_PREFIX_RUN: usize = 16;

/// The deepest nesting of prompt template blocks (`{{#if}}`, `{{#each}}`, …).
pub const MAX_TEMPLATE_NESTING: usize = 32;

/// The most expressions a template that needs handlebars' parser may hold (its parse
/// time grows with their square; templates that only insert variables are unbounded).
pub const MAX_TEMPLATE_EXPRESSIONS: usize = 1000;

/// The largest metrics snapshot `guard --metrics` reads.
pub const MAX_SNAPSHOT_BYTES: u64 = 1024 * 1024;

/// The largest score file `gate` reads (a million items of about 60 bytes).
pub const MAX_SCORES_BYTES: u64 = 64 * 1024 * 1024;
