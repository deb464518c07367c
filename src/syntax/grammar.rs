//! The shape of every node of the language, by position (see `schema/README.md`).
//!
//! The grammar decides only how KDL lowers to JSON: which nodes are keyed by name,
//! which repeat, what positional arguments are called. What values are allowed is the
//! schema's business, not this table's.

/// Nodes of [`Shape::Keyed`]: in the view, a map from name to object.
pub const KEYED_NODES: &[&str] = &[
    "environment",
    "target",
    "snapshot",
    "model",
    "release",
    "deploy",
    "gate",
    "guard",
    "secret",
    "allow",
];

/// Nodes of [`Shape::FreeMap`]: user data, keys chosen by the user.
pub const FREE_MAP_NODES: &[&str] = &["params", "vars"];

/// How a node lowers to JSON.
#[derive(Debug)]
pub enum Shape {
    /// `name value` → `"name": value`.
    Scalar,
    /// `name` → `"name": true`.
    Flag,
    /// `name a b` (repeatable) → `"name": ["a", "b", …]`.
    List,
    /// `name args… props… { children }` → `"name": { … }`.
    Object(&'static NodeGrammar),
    /// `name "key" args… props… { children }` (repeatable) → `"name": { "key": { … } }`.
    Keyed(&'static NodeGrammar),
    /// `name args… props…` (repeatable, ordered) → `"name": [{ … }, …]`.
    ObjectList(&'static NodeGrammar),
    /// `name { k v; k v1 v2 }` → `"name": { "k": v, "k": [v1, v2] }`.
    FreeMap,
}

/// The arguments and children of an object-like node.
#[derive(Debug)]
pub struct NodeGrammar {
    /// Names of the positional arguments (after the key, for keyed nodes).
    pub args: &'static [&'static str],
    pub children: &'static [(&'static str, Shape)],
}

impl NodeGrammar {
    pub fn child(&self, name: &str) -> Option<&'static Shape> {
        self.children
            .iter()
            .find(|(child, _)| *child == name)
            .map(|(_, shape)| shape)
    }
}

const fn node(
    args: &'static [&'static str],
    children: &'static [(&'static str, Shape)],
) -> NodeGrammar {
    NodeGrammar { args, children }
}

/// `modelops.kdl`.
pub static PROJECT_FILE: NodeGrammar = node(
    &[],
    &[
        ("project", Shape::Scalar),
        ("environment", Shape::Keyed(&ENVIRONMENT)),
        ("policy", Shape::Object(&POLICY)),
        ("target", Shape::Keyed(&TARGET)),
        ("pipelines", Shape::Object(&PIPELINES)),
    ],
);

static PIPELINES: NodeGrammar = node(
    &[],
    &[
        ("modelops", Shape::Object(&MODELOPS_SOURCE)),
        ("image", Shape::Scalar),
    ],
);

static MODELOPS_SOURCE: NodeGrammar = node(&[], &[]);

static ENVIRONMENT: NodeGrammar = node(
    &[],
    &[
        ("pinning", Shape::Scalar),
        ("after", Shape::Scalar),
        ("require-gate", Shape::List),
        ("require-shadow", Shape::Object(&REQUIRE_SHADOW)),
        ("require-guard", Shape::List),
        ("require-rollback", Shape::Flag),
        ("max-regression", Shape::Scalar),
        ("min-step-pause", Shape::Scalar),
        ("vars", Shape::FreeMap),
    ],
);

static REQUIRE_SHADOW: NodeGrammar = node(&[], &[]);

static POLICY: NodeGrammar = node(
    &[],
    &[
        ("floating-tag", Shape::List),
        ("alias", Shape::List),
        ("snapshot", Shape::Keyed(&SNAPSHOT)),
        ("allow", Shape::Keyed(&ALLOW)),
    ],
);

/// `allow "MO901" reason="…"`: a warning accepted on purpose.
static ALLOW: NodeGrammar = node(&[], &[]);

static SNAPSHOT: NodeGrammar = node(&[], &[]);

static TARGET: NodeGrammar = node(&[], &[("allow", Shape::Keyed(&ALLOW))]);

/// `models/<name>.kdl`.
pub static MODEL_FILE: NodeGrammar = node(&[], &[("model", Shape::Keyed(&MODEL))]);

static MODEL: NodeGrammar = node(
    &[],
    &[
        ("owner", Shape::Scalar),
        ("description", Shape::Scalar),
        ("release", Shape::Keyed(&RELEASE)),
        ("deploy", Shape::Keyed(&DEPLOY)),
    ],
);

static RELEASE: NodeGrammar = node(
    &[],
    &[
        ("base", Shape::Object(&BASE)),
        ("image", Shape::Scalar),
        ("prompt", Shape::Object(&PROMPT)),
        ("params", Shape::FreeMap),
        ("vars", Shape::FreeMap),
        ("secret", Shape::Keyed(&SECRET)),
    ],
);

static BASE: NodeGrammar = node(&["id"], &[]);
static PROMPT: NodeGrammar = node(&["name"], &[]);
static SECRET: NodeGrammar = node(&[], &[]);

static DEPLOY: NodeGrammar = node(
    &[],
    &[
        ("replicas", Shape::Scalar),
        ("resources", Shape::Object(&RESOURCES)),
        ("stable", Shape::Scalar),
        ("canary", Shape::Object(&CANARY)),
        ("blue-green", Shape::Object(&BLUE_GREEN)),
        ("smoke", Shape::Object(&SMOKE)),
        ("gate", Shape::Keyed(&GATE)),
        ("guard", Shape::Keyed(&GUARD)),
        ("rollback", Shape::Object(&ROLLBACK)),
        ("allow", Shape::Keyed(&ALLOW)),
    ],
);

static RESOURCES: NodeGrammar = node(&[], &[]);

static CANARY: NodeGrammar = node(
    &["release"],
    &[
        ("shadow", Shape::Object(&SHADOW)),
        ("step", Shape::ObjectList(&STEP)),
    ],
);

static BLUE_GREEN: NodeGrammar = node(
    &["release"],
    &[
        ("shadow", Shape::Object(&SHADOW)),
        ("preview", Shape::Scalar),
        ("promote", Shape::Scalar),
        ("keep-old", Shape::Scalar),
    ],
);

static SHADOW: NodeGrammar = node(&["duration"], &[]);
static STEP: NodeGrammar = node(&["weight"], &[]);
static SMOKE: NodeGrammar = node(&[], &[("request", Shape::ObjectList(&REQUEST))]);
static REQUEST: NodeGrammar = node(&["prompt"], &[]);

static GATE: NodeGrammar = node(
    &[],
    &[
        ("run", Shape::Scalar),
        ("dataset", Shape::Object(&DATASET)),
        ("judge", Shape::Scalar),
        ("metric", Shape::Object(&METRIC)),
        ("max-regression", Shape::Scalar),
    ],
);

static DATASET: NodeGrammar = node(&["path"], &[]);
static METRIC: NodeGrammar = node(&["name"], &[]);
static GUARD: NodeGrammar = node(&[], &[]);
static ROLLBACK: NodeGrammar = node(&[], &[]);

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(grammar: &NodeGrammar, keyed: &mut Vec<&'static str>, free: &mut Vec<&'static str>) {
        for (name, shape) in grammar.children {
            match shape {
                Shape::Keyed(child) => {
                    keyed.push(name);
                    walk(child, keyed, free);
                }
                Shape::FreeMap => free.push(name),
                Shape::Object(child) | Shape::ObjectList(child) => walk(child, keyed, free),
                _ => {}
            }
        }
    }

    #[test]
    fn name_lists_match_the_grammar() {
        let (mut keyed, mut free) = (Vec::new(), Vec::new());
        walk(&PROJECT_FILE, &mut keyed, &mut free);
        walk(&MODEL_FILE, &mut keyed, &mut free);
        keyed.sort();
        keyed.dedup();
        free.sort();
        free.dedup();
        let mut expected_keyed = KEYED_NODES.to_vec();
        expected_keyed.sort();
        assert_eq!(keyed, expected_keyed);
        assert_eq!(free, FREE_MAP_NODES);
    }
}
