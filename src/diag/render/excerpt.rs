//! The part of a file a human report shows, cut out before miette sees it.
//!
//! miette reads a report's source from its first byte to the label, and draws every
//! character of a shown line: a 1 MiB file with thousands of findings would be read
//! thousands of times, and a label past column 65,535 of one long line panics. An
//! [`Excerpt`] holds only the lines from one before the first label to one after the
//! last, each line longer than [`MAX_SHOWN`] bytes cut to a window around its labels
//! (marked with `…`), and answers miette with the file's own line and column
//! numbers, so the report's location is the same as if the whole file were shown.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use crate::diag::{FileId, Files, Span};

/// The most bytes of one line a snippet shows.
pub const MAX_SHOWN: usize = 160;
/// Bytes shown before a label's start on a cut line.
const LEAD: usize = 60;
const MARK: &str = "…";

/// The shown part of one file.
pub struct Excerpt {
    name: String,
    text: String,
    /// Line index (0-based) in the file of the excerpt's first line.
    first_line: usize,
    /// Per excerpt line: its start in `text`, the length of its leading mark, and
    /// the byte (from the file line's start) its shown part starts at.
    lines: Vec<ShownLine>,
}

struct ShownLine {
    start: usize,
    mark: usize,
    from: usize,
}

impl Excerpt {
    /// The excerpt of `file` around `spans` (all in that file), with `sensitive`
    /// spans masked but for their first four characters. Returns the excerpt and the
    /// spans mapped into it.
    pub fn new(
        files: &Files,
        file: FileId,
        spans: &[Span],
        sensitive: &[Span],
    ) -> Option<(Excerpt, Vec<SourceSpan>)> {
        let source = files.get(file)?;
        let text: &str = &source.text;
        let first = spans.iter().map(|s| s.start).min()?;
        let last = spans.iter().map(|s| s.end.max(s.start)).max()?;
        let first_line = source.line_col(first).line.saturating_sub(2);
        let last_line = source.line_col(last).line;
        let line_total = text.split('\n').count();
        let end_line = (last_line + 1).min(line_total);
        let mut excerpt = Excerpt {
            name: crate::diag::clean::text(&source.path).into_owned(),
            text: String::new(),
            first_line,
            lines: Vec::new(),
        };
        let mut mapped = vec![None; spans.len()];
        for index in first_line..end_line {
            let Some((start, end)) = source.line_span(index + 1) else {
                break;
            };
            let line = masked(text, start, end, file, sensitive);
            let (from, to) = window(
                &line,
                spans
                    .iter()
                    .filter(|s| s.start >= start && s.start <= end)
                    .map(|s| s.start - start),
            );
            let shown_start = excerpt.text.len();
            let mark = if from > 0 { MARK.len() } else { 0 };
            if from > 0 {
                excerpt.text.push_str(MARK);
            }
            excerpt
                .text
                .push_str(line.get(from..to).unwrap_or_default());
            if to < line.len() {
                excerpt.text.push_str(MARK);
            }
            if index + 1 < line_total {
                excerpt.text.push('\n');
            }
            excerpt.lines.push(ShownLine {
                start: shown_start,
                mark,
                from,
            });
            // Where the spans' ends fall in this line, clamped to what is shown.
            let place = |offset: usize| {
                let within = offset.saturating_sub(start).clamp(from, to);
                shown_start + mark + (within - from)
            };
            for (slot, span) in mapped.iter_mut().zip(spans) {
                let (a, b) = slot.get_or_insert((usize::MAX, 0));
                if span.start >= start && span.start <= end {
                    *a = place(span.start);
                }
                if span.end >= start && span.end <= end + 1 {
                    *b = place(span.end.min(end));
                }
            }
        }
        let spans = mapped
            .into_iter()
            .map(|slot| {
                let (a, b) = slot.unwrap_or((0, 0));
                let a = a.min(excerpt.text.len());
                SourceSpan::new(a.into(), b.max(a) - a)
            })
            .collect();
        Some((excerpt, spans))
    }

    /// The file's column (0-based, in bytes, as miette counts) of an excerpt offset.
    fn column(&self, offset: usize) -> Option<usize> {
        let index = self
            .lines
            .partition_point(|l| l.start <= offset)
            .checked_sub(1)?;
        let line = self.lines.get(index)?;
        Some(line.from + offset.saturating_sub(line.start + line.mark))
    }
}

/// The bytes `from..to` of `line` to show: all of it when short, else a window on
/// char boundaries that starts a little before the first label on it.
fn window(line: &str, mut labels: impl Iterator<Item = usize>) -> (usize, usize) {
    if line.len() <= MAX_SHOWN {
        return (0, line.len());
    }
    let anchor = labels.next().unwrap_or(0).min(line.len());
    let mut from = anchor.saturating_sub(LEAD);
    while !line.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (from + MAX_SHOWN).min(line.len());
    while !line.is_char_boundary(to) {
        to -= 1;
    }
    (from, to)
}

/// The file's bytes `start..end` with each sensitive span masked after its first
/// four characters (same byte length).
fn masked(text: &str, start: usize, end: usize, file: FileId, sensitive: &[Span]) -> String {
    // Control characters replaced byte for byte: offsets into the line stay valid.
    let mut line =
        crate::diag::clean::same_length(text.get(start..end).unwrap_or_default()).into_owned();
    for span in sensitive.iter().filter(|s| s.file == file) {
        if span.end <= start || span.start >= end {
            continue;
        }
        let Some(secret) = text.get(span.start..span.end) else {
            continue;
        };
        let mut offset = span.start;
        for (i, c) in secret.chars().enumerate() {
            let next = offset + c.len_utf8();
            if i >= 4 && c != '\n' && offset >= start && next <= end {
                let local = offset - start;
                line.replace_range(local..local + c.len_utf8(), &"*".repeat(c.len_utf8()));
            }
            offset = next;
        }
    }
    line
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        // Without context the column is the label's own: report the file's.
        let column = if context_lines_before == 0 {
            self.column(span.offset()).unwrap_or(inner.column())
        } else {
            inner.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            // miette counts lines from the start of the source, and compares this
            // count across snippets to merge them.
            inner.line_count() + self.first_line,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_around_the_label_and_keep_their_location() {
        let mut files = Files::new();
        let text = format!("first\n{}TARGET tail\nlast\n", "x".repeat(100_000));
        let offset = text.find("TARGET").unwrap();
        let id = files.add("f.kdl", text.clone());
        let span = Span::new(id, offset, offset + 6);
        let (excerpt, spans) = Excerpt::new(&files, id, &[span], &[]).unwrap();
        assert!(excerpt.text.len() < 3 * MAX_SHOWN, "{}", excerpt.text.len());
        let shown = &excerpt.text[spans[0].offset()..spans[0].offset() + spans[0].len()];
        assert_eq!(shown, "TARGET");
        let at = excerpt.read_span(&spans[0], 0, 0).unwrap();
        assert_eq!((at.line(), at.column()), (1, 100_000));
        assert!(excerpt.text.starts_with("first\n…"));
    }

    #[test]
    fn sensitive_text_is_masked_in_the_excerpt() {
        let mut files = Files::new();
        let id = files.add("f.kdl", "key \"sk-abcdefgh\"\n".to_owned());
        let secret = Span::new(id, 5, 16);
        let (excerpt, _) = Excerpt::new(&files, id, &[secret], &[secret]).unwrap();
        assert_eq!(excerpt.text, "key \"sk-a*******\"\n");
    }
}
