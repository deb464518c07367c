//! Lowering a parsed KDL document to its canonical JSON view (`schema/README.md`).

use std::collections::HashMap;

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode, KdlValue};
use serde_json::{Map, Number, Value};

use super::grammar::{NodeGrammar, Shape};
use super::spans::{Origin, Pointer, SpanEntry, SpanTable};
use crate::diag::{Code, Diagnostic, FileId, Span};

/// One file's JSON view and where each of its values came from.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct View {
    pub value: Value,
    pub spans: SpanTable,
    /// Where a node without its value (`stable` alone) was left out of `value`: its
    /// error is reported here, so a finding that the value is missing would repeat it.
    #[serde(skip, default)]
    pub dropped: Vec<Pointer>,
}

/// Lowers `doc` (parsed from `text`) by `grammar`. Structural problems the schema
/// cannot see (surplus arguments, nameless keyed nodes, duplicates) are returned as
/// diagnostics; everything else is left in the view for the schema to judge.
pub fn lower(
    doc: &KdlDocument,
    text: &str,
    file: FileId,
    grammar: &'static NodeGrammar,
) -> (View, Vec<Diagnostic>) {
    let mut lowerer = Lowerer {
        text,
        file,
        spans: SpanTable::new(file),
        diagnostics: Vec::new(),
        dropped: Vec::new(),
    };
    let mut root = Map::new();
    lowerer.children(Some(doc), grammar, &Pointer::root(), &mut root);
    let view = View {
        value: Value::Object(root),
        spans: lowerer.spans,
        dropped: lowerer.dropped,
    };
    (view, lowerer.diagnostics)
}

struct Lowerer<'a> {
    text: &'a str,
    file: FileId,
    spans: SpanTable,
    diagnostics: Vec<Diagnostic>,
    dropped: Vec<Pointer>,
}

/// Spans of one entry: the whole `key=value` (or value), its key, its value.
struct EntrySpans {
    key: Option<Span>,
    value: Span,
}

impl Lowerer<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        let len = self.text.len();
        Span::new(self.file, start.min(len), end.min(len))
    }

    fn ident_span(&self, ident: &KdlIdentifier) -> Span {
        let s = ident.span();
        self.span(s.offset(), s.offset() + s.len())
    }

    fn entry_spans(&self, entry: &KdlEntry) -> EntrySpans {
        // kdl's entry spans cover the entry itself; trim defensively in case a
        // version includes surrounding whitespace.
        let s = entry.span();
        let (mut start, mut end) = (s.offset(), s.offset() + s.len());
        if let Some(slice) = self.text.get(start..end) {
            end = start + slice.trim_end().len();
            start += slice.len() - slice.trim_start().len();
            end = end.max(start);
        }
        let value_start = match entry.format() {
            Some(format) if format.value_repr.len() <= end - start => end - format.value_repr.len(),
            _ => start,
        };
        EntrySpans {
            key: entry.name().map(|name| self.ident_span(name)),
            value: self.span(value_start, end),
        }
    }

    /// The node's head: from its name to the end of its last entry.
    fn head_span(&self, node: &KdlNode) -> Span {
        let name = self.ident_span(node.name());
        node.entries()
            .last()
            .map(|last| name.to(self.entry_spans(last).value))
            .unwrap_or(name)
    }

    fn children(
        &mut self,
        doc: Option<&KdlDocument>,
        grammar: &'static NodeGrammar,
        pointer: &Pointer,
        out: &mut Map<String, Value>,
    ) {
        let Some(doc) = doc else { return };
        let mut seen: HashMap<String, Span> = HashMap::new();
        for node in doc.nodes() {
            let name = node.name().value();
            let child = pointer.push(name);
            match grammar.child(name) {
                None => {
                    // Unknown to the grammar: keep it, so the schema names it with a
                    // did-you-mean.
                    if !out.contains_key(name) {
                        out.insert(name.to_owned(), Value::Bool(true));
                        self.record(&child, self.head_span(node), Some(self.name_span(node)));
                    }
                }
                Some(shape) => self.node(node, shape, &child, out, &mut seen),
            }
        }
    }

    fn name_span(&self, node: &KdlNode) -> Span {
        self.ident_span(node.name())
    }

    fn record(&mut self, pointer: &Pointer, value: Span, key: Option<Span>) {
        self.record_as(Origin::Node, pointer, value, key);
    }

    fn record_as(&mut self, origin: Origin, pointer: &Pointer, value: Span, key: Option<Span>) {
        self.spans
            .insert(pointer.clone(), SpanEntry { origin, value, key });
    }

    /// Reports a second occurrence of a node that may appear once; true if duplicate.
    fn duplicate(&mut self, node: &KdlNode, seen: &mut HashMap<String, Span>) -> bool {
        let name = node.name().value();
        let here = self.name_span(node);
        if let Some(first) = seen.get(name) {
            self.diagnostics.push(
                Diagnostic::new(Code::DuplicateName, format!("`{name}` is given twice"))
                    .with_label(here, "given again here")
                    .with_label(*first, "first given here")
                    .with_help(format!("keep one `{name}` node")),
            );
            return true;
        }
        seen.insert(name.to_owned(), here);
        false
    }

    fn node(
        &mut self,
        node: &KdlNode,
        shape: &'static Shape,
        pointer: &Pointer,
        out: &mut Map<String, Value>,
        seen: &mut HashMap<String, Span>,
    ) {
        let name = node.name().value().to_owned();
        let head = self.head_span(node);
        let name_span = self.name_span(node);
        match shape {
            Shape::Scalar => {
                if self.duplicate(node, seen) {
                    return;
                }
                self.no_props(node, "a value");
                self.no_children(node);
                let args: Vec<&KdlEntry> = positional(node).collect();
                match args.as_slice() {
                    [] => {
                        self.diagnostics.push(
                            Diagnostic::new(Code::MalformedNode, format!("`{name}` needs a value"))
                                .with_label(head, "no value given")
                                .with_help(format!("write `{name} <value>`")),
                        );
                        self.dropped.push(pointer.clone());
                    }
                    [arg, rest @ ..] => {
                        self.surplus(&name, rest, 1);
                        if let Some(value) = self.value(arg) {
                            out.insert(name, value);
                            let spans = self.entry_spans(arg);
                            self.record(pointer, spans.value, Some(name_span));
                        }
                    }
                }
            }
            Shape::Flag => {
                if self.duplicate(node, seen) {
                    return;
                }
                self.no_props(node, "no values");
                self.no_children(node);
                let args: Vec<&KdlEntry> = positional(node).collect();
                self.surplus(&name, &args, 0);
                out.insert(name, Value::Bool(true));
                self.record(pointer, head, Some(name_span));
            }
            Shape::List => {
                self.no_props(node, "values only");
                self.no_children(node);
                if self.spans.get(pointer).is_none() {
                    self.record(pointer, head, Some(name_span));
                }
                let list = out
                    .entry(name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let mut items = Vec::new();
                for arg in positional(node) {
                    if let Some(value) = self.value(arg) {
                        items.push((value, self.entry_spans(arg).value));
                    }
                }
                if items.is_empty() {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::MalformedNode,
                            format!("`{name}` needs at least one value"),
                        )
                        .with_label(head, "no value given")
                        .with_help(format!("write `{name} <value> …`")),
                    );
                }
                if let Value::Array(list) = list {
                    for (value, span) in items {
                        let item = pointer.index(list.len());
                        list.push(value);
                        self.record_as(Origin::Argument, &item, span, None);
                    }
                }
            }
            Shape::Object(grammar) => {
                if self.duplicate(node, seen) {
                    return;
                }
                let object = self.object(node, grammar, pointer, 0);
                out.insert(name, Value::Object(object));
                self.record(pointer, head, Some(name_span));
            }
            Shape::Keyed(grammar) => {
                let key = node.entries().iter().find(|e| e.name().is_none());
                let Some((key, key_span)) = key.and_then(|entry| match entry.value() {
                    KdlValue::String(s) => Some((s.clone(), self.entry_spans(entry).value)),
                    _ => None,
                }) else {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::MalformedNode,
                            format!("`{name}` needs a name as its first argument"),
                        )
                        .with_label(head, "no name given")
                        .with_help(format!("write `{name} \"<name>\" …`")),
                    );
                    return;
                };
                if self.spans.get(pointer).is_none() {
                    self.record(pointer, head, Some(name_span));
                }
                let entry_pointer = pointer.push(&key);
                if let Some(first) = self.spans.get(&entry_pointer).and_then(|e| e.key) {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::DuplicateName,
                            format!("{name} `{key}` is defined twice"),
                        )
                        .with_label(key_span, "defined again here")
                        .with_label(first, "first defined here")
                        .with_help(format!(
                            "rename one of them or merge the two `{name}` nodes"
                        )),
                    );
                    return;
                }
                let object = self.object(node, grammar, &entry_pointer, 1);
                self.record(&entry_pointer, head, Some(key_span));
                if let Value::Object(map) =
                    out.entry(name).or_insert_with(|| Value::Object(Map::new()))
                {
                    map.insert(key, Value::Object(object));
                }
            }
            Shape::ObjectList(grammar) => {
                if self.spans.get(pointer).is_none() {
                    self.record(pointer, head, Some(name_span));
                }
                let index = match out.get(&name) {
                    Some(Value::Array(list)) => list.len(),
                    _ => 0,
                };
                let item = pointer.index(index);
                let object = self.object(node, grammar, &item, 0);
                self.record(&item, head, Some(name_span));
                if let Value::Array(list) =
                    out.entry(name).or_insert_with(|| Value::Array(Vec::new()))
                {
                    list.push(Value::Object(object));
                }
            }
            Shape::FreeMap => {
                if self.duplicate(node, seen) {
                    return;
                }
                self.no_props(node, "children only");
                let args: Vec<&KdlEntry> = positional(node).collect();
                self.surplus(&name, &args, 0);
                let map = self.free_map(node, pointer);
                out.insert(name, Value::Object(map));
                self.record(pointer, head, Some(name_span));
            }
        }
    }

    fn free_map(&mut self, node: &KdlNode, pointer: &Pointer) -> Map<String, Value> {
        let mut map = Map::new();
        let mut seen = HashMap::new();
        for child in node.children().map(KdlDocument::nodes).unwrap_or_default() {
            if self.duplicate(child, &mut seen) {
                continue;
            }
            let key = child.name().value();
            let head = self.head_span(child);
            self.no_props(child, "values only");
            self.no_children(child);
            let args: Vec<&KdlEntry> = positional(child).collect();
            let child_pointer = pointer.push(key);
            let value = match args.as_slice() {
                [] => {
                    self.diagnostics.push(
                        Diagnostic::new(Code::MalformedNode, format!("`{key}` needs a value"))
                            .with_label(head, "no value given")
                            .with_help(format!("write `{key} <value>`")),
                    );
                    continue;
                }
                [single] => {
                    let span = self.entry_spans(single).value;
                    self.record(&child_pointer, span, Some(self.name_span(child)));
                    self.value(single)
                }
                many => {
                    let mut items = Vec::new();
                    for (i, arg) in many.iter().enumerate() {
                        let span = self.entry_spans(arg).value;
                        self.record_as(Origin::Argument, &child_pointer.index(i), span, None);
                        items.extend(self.value(arg));
                    }
                    self.record(&child_pointer, head, Some(self.name_span(child)));
                    Some(Value::Array(items))
                }
            };
            if let Some(value) = value {
                map.insert(key.to_owned(), value);
            }
        }
        map
    }

    /// Builds the object of a node: named positional arguments (after `skip` key
    /// arguments), properties and children.
    fn object(
        &mut self,
        node: &KdlNode,
        grammar: &'static NodeGrammar,
        pointer: &Pointer,
        skip: usize,
    ) -> Map<String, Value> {
        let mut map = Map::new();
        let args: Vec<&KdlEntry> = positional(node).skip(skip).collect();
        let named = args.len().min(grammar.args.len());
        for (arg, arg_name) in args.iter().zip(grammar.args) {
            if let Some(value) = self.value(arg) {
                map.insert((*arg_name).to_owned(), value);
                let span = self.entry_spans(arg).value;
                self.record_as(Origin::Argument, &pointer.push(arg_name), span, None);
            }
        }
        self.surplus(node.name().value(), &args[named..], grammar.args.len());
        for prop in node.entries().iter() {
            let Some(key) = prop.name() else { continue };
            let spans = self.entry_spans(prop);
            let key_text = key.value();
            let key_pointer = pointer.push(key_text);
            if map.contains_key(key_text) {
                let first = self.spans.get(&key_pointer).map(|e| e.value);
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        format!("`{key_text}` is given twice on `{}`", node.name().value()),
                    )
                    .with_label(spans.key.unwrap_or(spans.value), "given again here")
                    .with_label_opt(first, "first given here")
                    .with_help(format!("keep one `{key_text}`")),
                );
                continue;
            }
            if let Some(value) = self.value(prop) {
                map.insert(key_text.to_owned(), value);
                self.record_as(Origin::Property, &key_pointer, spans.value, spans.key);
            }
        }
        self.children(node.children(), grammar, pointer, &mut map);
        map
    }

    /// Reports positional arguments beyond the `expected` count.
    fn surplus(&mut self, name: &str, extra: &[&KdlEntry], expected: usize) {
        let (Some(first), Some(last)) = (extra.first(), extra.last()) else {
            return;
        };
        let span = self
            .entry_spans(first)
            .value
            .to(self.entry_spans(last).value);
        let takes = match expected {
            0 => "no positional arguments".to_owned(),
            1 => "one positional argument".to_owned(),
            n => format!("{n} positional arguments"),
        };
        self.diagnostics.push(
            Diagnostic::new(Code::MalformedNode, format!("`{name}` takes {takes}"))
                .with_label(
                    span,
                    if extra.len() == 1 {
                        "unexpected argument"
                    } else {
                        "unexpected arguments"
                    },
                )
                .with_help(
                    "remove the extra values, or quote them as one string if they belong together",
                ),
        );
    }

    fn no_props(&mut self, node: &KdlNode, takes: &str) {
        for prop in node.entries().iter().filter(|e| e.name().is_some()) {
            let spans = self.entry_spans(prop);
            let span = spans.key.map_or(spans.value, |k| k.to(spans.value));
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MalformedNode,
                    format!("`{}` takes no properties", node.name().value()),
                )
                .with_label(span, "unexpected property")
                .with_help(format!("`{}` takes {takes}", node.name().value())),
            );
        }
    }

    fn no_children(&mut self, node: &KdlNode) {
        if let Some(children) = node.children() {
            let span = children.span();
            let span = self.span(span.offset(), span.offset() + span.len());
            let span = if span.is_empty() {
                self.head_span(node)
            } else {
                span
            };
            self.diagnostics.push(
                Diagnostic::new(
                    Code::MalformedNode,
                    format!("`{}` takes no children block", node.name().value()),
                )
                .with_label(span, "unexpected children")
                .with_help("remove the `{ … }` block"),
            );
        }
    }

    fn value(&mut self, entry: &KdlEntry) -> Option<Value> {
        match entry.value() {
            KdlValue::String(s) => Some(Value::String(s.clone())),
            KdlValue::Bool(b) => Some(Value::Bool(*b)),
            KdlValue::Null => Some(Value::Null),
            KdlValue::Integer(i) => match i64::try_from(*i) {
                Ok(i) => Some(Value::Number(i.into())),
                Err(_) => {
                    self.out_of_range(entry, "the integer does not fit in 64 bits");
                    None
                }
            },
            KdlValue::Float(f) => match Number::from_f64(*f) {
                Some(n) => Some(Value::Number(n)),
                None => {
                    self.out_of_range(entry, "infinite and NaN numbers are not accepted");
                    None
                }
            },
        }
    }

    fn out_of_range(&mut self, entry: &KdlEntry, why: &str) {
        let span = self.entry_spans(entry).value;
        self.diagnostics.push(
            Diagnostic::new(Code::InvalidValue, "number out of range")
                .with_label(span, why)
                .with_help("use a finite number within the field's range"),
        );
    }
}

fn positional(node: &KdlNode) -> impl Iterator<Item = &KdlEntry> {
    node.entries().iter().filter(|e| e.name().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::grammar::MODEL_FILE;

    fn lower_text(text: &str) -> (View, Vec<Diagnostic>) {
        let doc = crate::syntax::parse(FileId(0), text).unwrap();
        lower(&doc, text, FileId(0), &MODEL_FILE)
    }

    fn slice(text: &str, span: Span) -> &str {
        &text[span.start..span.end]
    }

    #[test]
    fn lowers_by_shape_with_exact_spans() {
        let text = "model \"bot\" {\n    release \"1.0.0\" from=\"0.9.0\" {\n        params { temperature 0.3; stop \"a\" \"b\" }\n    }\n    deploy \"prod\" {\n        canary \"1.0.0\" {\n            step 10  pause=\"1h\"  // slow\n            step 100\n        }\n    }\n}\n";
        let (view, diagnostics) = lower_text(text);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let expected = serde_json::json!({"model": {"bot": {
            "release": {"1.0.0": {"from": "0.9.0", "params": {"temperature": 0.3, "stop": ["a", "b"]}}},
            "deploy": {"prod": {"canary": {"release": "1.0.0", "step": [{"weight": 10, "pause": "1h"}, {"weight": 100}]}}}
        }}});
        assert_eq!(view.value, expected);
        let at = |p: &str| view.spans.get(&Pointer::from_escaped(p)).unwrap();
        let pause = at("/model/bot/deploy/prod/canary/step/0/pause");
        assert_eq!(slice(text, pause.value), "\"1h\"");
        assert_eq!(slice(text, pause.key.unwrap()), "pause");
        let step = at("/model/bot/deploy/prod/canary/step/0");
        assert_eq!(slice(text, step.value), "step 10  pause=\"1h\"");
        let release = at("/model/bot/release/1.0.0");
        assert_eq!(slice(text, release.key.unwrap()), "\"1.0.0\"");
        let weight = at("/model/bot/deploy/prod/canary/step/1/weight");
        assert_eq!(slice(text, weight.value), "100");
        assert_eq!(
            slice(text, at("/model/bot/release/1.0.0/params/stop/1").value),
            "\"b\""
        );
    }

    #[test]
    fn reports_duplicates_and_surplus_arguments() {
        let text = "model \"bot\" {\n  release \"1.0.0\"\n  release \"1.0.0\"\n  deploy \"prod\" { stable \"1.0.0\" \"2.0.0\"; stable \"x\" }\n}\n";
        let (_, diagnostics) = lower_text(text);
        let codes: Vec<Code> = diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                Code::DuplicateName,
                Code::MalformedNode,
                Code::DuplicateName
            ]
        );
    }
}
