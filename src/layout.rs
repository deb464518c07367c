//! Where things are: the names of the files and folders of a config repository, and
//! the limits on what modelops reads. Every stage takes these from here, so a name or
//! a bound is changed in one place.
//!
//! ```text
//! modelops.kdl                 PROJECT_FILE_NAME
//! models/<model>.kdl           MODELS_DIR
//! prompts/<prompt>/v<N>.md     PROMPTS_DIR (also .txt)
//! modelops.lock                LOCK_FILE_NAME
//! generated/                   OUTPUT_DIR: <target>/<environment>/<model>...
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
