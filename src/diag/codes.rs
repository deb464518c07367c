//! The registry of diagnostic codes.
//!
//! Every code is listed here once, with its default severity, a one-line summary and a
//! long explanation (`explain/<CODE>.md`: what it catches, why it matters, a bad and a
//! fixed example). Codes are stable: a code is never reused for another meaning.
//! Numbering by family: `MO1xx` syntax and structure, `MO2xx` references, `MO3xx`
//! pinning, `MO4xx` rollout and gates, `MO5xx` hyperparameters, `MO6xx` prompts,
//! `MO7xx` lock and immutability, `MO8xx` secrets, `MO9xx` targets.

use super::Severity;

/// The family a code belongs to (its hundreds digit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Structure,
    References,
    Pinning,
    Rollout,
    Hyperparameters,
    Prompts,
    Lock,
    Secrets,
    Targets,
}

impl Family {
    pub fn title(self) -> &'static str {
        match self {
            Family::Structure => "Syntax and structure",
            Family::References => "References",
            Family::Pinning => "Pinning",
            Family::Rollout => "Rollout and gates",
            Family::Hyperparameters => "Hyperparameters",
            Family::Prompts => "Prompts",
            Family::Lock => "Lock and immutability",
            Family::Secrets => "Secrets",
            Family::Targets => "Targets",
        }
    }
}

macro_rules! codes {
    ($( $variant:ident = $id:literal, $name:literal, $severity:ident, $family:ident, $summary:literal; )*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        pub enum Code {
            $( $variant, )*
        }

        impl Code {
            /// Every code, in registry order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The stable identifier, e.g. `MO101`.
            pub fn id(self) -> &'static str {
                match self { $( Code::$variant => $id, )* }
            }

            /// The readable name, e.g. `kdl-syntax`.
            pub fn name(self) -> &'static str {
                match self { $( Code::$variant => $name, )* }
            }

            pub fn default_severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$severity, )* }
            }

            pub fn family(self) -> Family {
                match self { $( Code::$variant => Family::$family, )* }
            }

            /// One line: what the code catches.
            pub fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }

            /// The long form printed by `modelops explain`.
            pub fn explanation(self) -> &'static str {
                match self { $( Code::$variant => include_str!(concat!("explain/", $id, ".md")), )* }
            }
        }
    };
}

codes! {
    KdlSyntax = "MO101", "kdl-syntax", Error, Structure, "the file is not valid KDL v2";
    InvalidEncoding = "MO102", "invalid-encoding", Error, Structure, "a file is not UTF-8 text or contains NUL bytes";
    InputTooLarge = "MO103", "input-too-large", Error, Structure, "a file is larger than modelops reads";
    NestingTooDeep = "MO104", "nesting-too-deep", Error, Structure, "children blocks are nested deeper than the language allows";
    UnknownKey = "MO105", "unknown-key", Error, Structure, "a node or property the language does not have";
    WrongType = "MO106", "wrong-type", Error, Structure, "a value of the wrong type";
    InvalidValue = "MO107", "invalid-value", Error, Structure, "a value outside what the field accepts";
    MissingField = "MO108", "missing-field", Error, Structure, "a required node or property is missing";
    MalformedNode = "MO109", "malformed-node", Error, Structure, "a node has the wrong arguments, properties or children";
    ModelFileLayout = "MO110", "model-file-layout", Error, Structure, "a model file does not hold exactly one model named after the file";
    ConflictingNodes = "MO111", "conflicting-nodes", Error, Structure, "two nodes that exclude each other are both present";
    InvalidAllow = "MO112", "invalid-allow", Error, Structure, "an `allow` that names no warning modelops has";
    UnusedAllow = "MO113", "unused-allow", Warning, Structure, "an `allow` that accepts no warning";
    UnknownRelease = "MO201", "unknown-release", Error, References, "a release that the model does not define";
    UnknownPrompt = "MO202", "unknown-prompt", Error, References, "a prompt or prompt version that does not exist";
    UnknownEnvironment = "MO203", "unknown-environment", Error, References, "an environment that modelops.kdl does not define";
    MissingFile = "MO204", "missing-file", Error, References, "a referenced file does not exist";
    DuplicateName = "MO205", "duplicate-name", Error, References, "the same name or node is defined twice";
    ReferenceCycle = "MO206", "reference-cycle", Error, References, "releases or environments refer to each other in a cycle";
    PathEscapesRepository = "MO207", "path-escapes-repository", Error, References, "a path leads outside the repository";
    NotAFile = "MO208", "not-a-file", Error, References, "a path that must be a file is something else";
    FloatingModel = "MO301", "floating-model", Error, Pinning, "a base model id that is an alias, not a pinned snapshot";
    RetiredSnapshot = "MO302", "retired-snapshot", Error, Pinning, "a model snapshot past the retirement date the policy gives it";
    RetiringSnapshot = "MO303", "retiring-snapshot", Warning, Pinning, "a model snapshot that retires within 90 days";
    UnpinnedImage = "MO304", "unpinned-image", Error, Pinning, "a container image not pinned by sha256 digest";
    UnversionedPrompt = "MO305", "unversioned-prompt", Error, Pinning, "a prompt reference without an explicit version";
    UnpinnedJudge = "MO306", "unpinned-judge", Error, Pinning, "a gate's judge model that is not a pinned snapshot";
    UnpinnedDataset = "MO307", "unpinned-dataset", Error, Pinning, "a remote gate dataset without a blake3 hash";
    PlaceholderDigest = "MO308", "placeholder-digest", Error, Pinning, "an image digest of all zeros: a placeholder, not a pin";
    MissingGate = "MO401", "missing-gate", Error, Rollout, "a candidate without the gate its environment requires";
    ShadowTooShort = "MO402", "shadow-too-short", Error, Rollout, "a candidate without the shadow stage its environment requires, or with a shorter one";
    MissingGuard = "MO403", "missing-guard", Error, Rollout, "a candidate without a guard its environment requires";
    MissingRollback = "MO404", "missing-rollback", Error, Rollout, "a candidate without the rollback rule its environment requires";
    LooseRegression = "MO405", "loose-regression", Error, Rollout, "a gate that allows more regression than its environment";
    InvalidSteps = "MO406", "invalid-steps", Error, Rollout, "canary steps that do not increase strictly or do not end at 100";
    StepPause = "MO407", "step-pause", Error, Rollout, "a canary step without a pause, or shorter than min-step-pause";
    GuardWindow = "MO408", "guard-window", Error, Rollout, "a step pause shorter than a guard needs to see a breach";
    GuardThreshold = "MO409", "guard-threshold", Error, Rollout, "a guard threshold that is missing or out of range";
    GuardWithoutQuery = "MO410", "guard-without-query", Error, Rollout, "a custom guard without a query";
    ShadowUnsupported = "MO411", "shadow-unsupported", Warning, Rollout, "a shadow stage that a target cannot express";
    CandidateIsStable = "MO412", "candidate-is-stable", Error, Rollout, "a canary or blue-green release that is already stable";
    PromotionOrder = "MO413", "promotion-order", Error, Rollout, "a candidate that did not run in the environment before it";
    BlueGreenWithoutPreview = "MO414", "blue-green-without-preview", Error, Rollout, "a blue-green switch without a preview window";
    ParamOutOfRange = "MO501", "param-out-of-range", Error, Hyperparameters, "a hyperparameter outside its valid range or of the wrong type";
    UnknownParam = "MO502", "unknown-param", Warning, Hyperparameters, "a hyperparameter modelops does not know";
    UndefinedVariable = "MO601", "undefined-variable", Error, Prompts, "a prompt template variable has no value in an environment";
    UnusedVariable = "MO602", "unused-variable", Warning, Prompts, "a defined variable that no prompt uses";
    EmptyPrompt = "MO603", "empty-prompt", Error, Prompts, "a prompt version file is empty";
    TemplateSyntax = "MO604", "template-syntax", Error, Prompts, "a prompt is not a valid handlebars template";
    MissingLock = "MO701", "missing-lock", Warning, Lock, "the repository has no modelops.lock yet";
    StaleLock = "MO702", "stale-lock", Error, Lock, "modelops.lock does not match the repository's content";
    InvalidLock = "MO703", "invalid-lock", Error, Lock, "modelops.lock cannot be read";
    ReleasedContentChanged = "MO704", "released-content-changed", Error, Lock, "a released prompt version or release was edited in place";
    CredentialLiteral = "MO801", "credential-literal", Error, Secrets, "a credential written as a literal in config or a prompt";
    TargetLimitation = "MO901", "target-limitation", Warning, Targets, "a target cannot express part of a deployment's rollout";
    TargetNotEmitted = "MO902", "target-not-emitted", Warning, Targets, "a target this version of modelops does not emit yet";
    InvalidUpstream = "MO903", "invalid-upstream", Error, Targets, "a proxy target's upstream or listen address is not a valid address";
    KubernetesName = "MO904", "kubernetes-name", Error, Targets, "a model name Kubernetes cannot use in its Service names";
    DriverConflict = "MO905", "driver-conflict", Error, Targets, "a target that cannot work with the controller that moves traffic";
    DriverCannotRun = "MO906", "driver-cannot-run", Error, Targets, "a rollout stage the controller that moves traffic cannot run as written";
    ModelopsSource = "MO907", "modelops-source", Error, Targets, "the pipelines' modelops source names no single pinned source";
    JobLimit = "MO908", "job-limit", Error, Targets, "a hold longer than a CI job may run";
    CustomTemplate = "MO909", "custom-template", Error, Targets, "a custom target's template does not parse or does not render with the project's data";
}

impl Code {
    /// Looks a code up by id (`MO101`, case-insensitive) or by name (`kdl-syntax`).
    pub fn lookup(text: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.id().eq_ignore_ascii_case(text) || c.name() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_and_names_are_unique_and_well_formed() {
        let ids: BTreeSet<_> = Code::ALL.iter().map(|c| c.id()).collect();
        let names: BTreeSet<_> = Code::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(ids.len(), Code::ALL.len());
        assert_eq!(names.len(), Code::ALL.len());
        for code in Code::ALL {
            let digits = &code.id()[2..];
            assert!(
                code.id().starts_with("MO") && digits.len() == 3,
                "{}",
                code.id()
            );
            let family_digit = match code.family() {
                Family::Structure => '1',
                Family::References => '2',
                Family::Pinning => '3',
                Family::Rollout => '4',
                Family::Hyperparameters => '5',
                Family::Prompts => '6',
                Family::Lock => '7',
                Family::Secrets => '8',
                Family::Targets => '9',
            };
            assert!(
                digits.starts_with(family_digit),
                "{} is not in its family",
                code.id()
            );
        }
    }

    #[test]
    fn every_code_has_a_long_explanation_with_examples() {
        for code in Code::ALL {
            let text = code.explanation();
            assert!(
                text.starts_with(&format!("# {} {}", code.id(), code.name())),
                "{} explanation must start with its heading",
                code.id()
            );
            assert!(text.contains("## Bad"), "{} lacks a bad example", code.id());
            assert!(
                text.contains("## Fixed"),
                "{} lacks a fixed example",
                code.id()
            );
        }
    }
}
